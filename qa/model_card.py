"""The reader's model card (MODEL_CARD.md), written from the artifact's own records:
`reader.json` (training data, settings, held-out metrics) and `calibration.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.calibration import CALIBRATION_FILE
from qa.reader_model import MANIFEST_FILE

CARD_FILE = "MODEL_CARD.md"

SOURCES = """\
Sources of the training data (public GitHub snapshots; see `shared/train/README.md`):
SQuADShifts (Miller et al., 2020; modestyachts/squadshifts-website, no licence file), the MRQA 2019
shared task's SQuAD 1.1 / DROP / DuoRC / RelationExtraction dev sets (Fisch et al., 2019; MIT),
SubjQA (Bjerva et al., 2020; licences of its source data sets) and SQuAD 2.0 dev (Rajpurkar et al.,
2018; CC BY-SA 4.0), four articles of it."""


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def lineage(training: dict[str, Any]) -> list[dict[str, Any]]:
    """This run's training record, then the record of each reader it continued from."""
    chain = [training]
    while chain[-1].get("continued_from"):
        chain.append(chain[-1]["continued_from"])
    return chain


def write_model_card(folder: Path) -> Path:
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    training = manifest.get("training", {})
    settings = training.get("settings", {})
    weights = folder / manifest["weights"]
    lines = [
        "# News QA reader",
        "",
        "An extractive question-answering reader: all-MiniLM-L6-v2 (6 layers, hidden size 384) with a "
        "linear start/end head; the no-answer score of a passage is the score of its [CLS] token. It reads "
        "`[CLS] question [SEP] passage [SEP]` (question ≤ "
        f"{manifest['shape']['max_question_tokens']} word pieces, whole input ≤ {manifest['shape']['max_seq_tokens']}) "
        f"and answers with a span of ≤ {manifest['shape']['max_answer_tokens']} word pieces.",
        "",
        f"- base model: {manifest.get('base_model')}; its word-embedding matrix was frozen in training and is "
        f"read from the installed package (sha256 of the matrix checked on load: `{manifest['base_word_embeddings_sha256'][:16]}…`)",
        f"- weights: `{manifest['weights']}`, every other parameter in fp16, {weights.stat().st_size / 1e6:.1f} MB, "
        f"sha256 `{manifest['weights_sha256']}` (checked on load)",
        f"- trained by: `{training.get('command')}` in {training.get('seconds', 0) / 60:.0f} min on {training.get('hardware')}",
        *[f"  - continuing a reader trained by: `{t.get('command')}` in {t.get('seconds', 0) / 60:.0f} min"
          for t in lineage(training)[1:]],
        f"- total training time: {sum(t.get('seconds', 0) for t in lineage(training)) / 60:.0f} min",
        "",
        "## Training data",
        "",
        f"{training.get('questions')} questions ({training.get('unanswerable_questions')} unanswerable), every "
        "context cut into the passages the index makes (sentence-aligned, ≤ "
        f"{training.get('passage_budget', {}).get('chunk_tokens')} word pieces). Each epoch reads, per answerable "
        "question, one passage holding its answer; with probability "
        f"{settings.get('same_context_rate')} one passage of the same context without it; with probability "
        f"{settings.get('retrieved_rate')} one passage of another context of the same set that BM25 ranks high "
        "for the question and that does not mention the answer; per unanswerable question one passage of its context.",
        "",
        _row(["file", "bytes"]),
        _row(["---", "---:"]),
        *[_row([f"`{Path(d['path']).name}`" + (f" (articles {', '.join(d['train_articles'])})" if d.get("train_articles") else ""),
                d["bytes"]]) for d in training.get("data", [])],
        "",
        SOURCES,
        "",
        "## Settings",
        "",
        _row(["setting", "value"]),
        _row(["---", "---"]),
        *[_row([k, v]) for k, v in settings.items()],
        _row(["optimiser", "AdamW, linear warm-up then linear decay, gradient clipping at 1.0"]),
        _row(["precision", "bf16 autocast on CPUs with native bf16, else fp32"]),
        _row(["steps", training.get("steps")]),
        "",
        "## Held-out check after each epoch",
        "",
        "Closed-domain, on the held-out SQuAD 2.0 dev-a articles: every passage of the question's own "
        "paragraph is read; answerable F1 always answering, and the best overall F1 over no-answer margins.",
        "",
        _row(["epoch", "step", "questions", "answerable F1", "best overall F1"]),
        _row(["---:", "---:", "---:", "---:", "---:"]),
        *[_row([h["epoch"], h["step"], h["heldout"].get("questions"), h["heldout"].get("answerable_f1"),
                h["heldout"].get("best_overall_f1")]) for h in training.get("history", []) if h.get("heldout")],
        "",
    ]
    calibration_path = folder / CALIBRATION_FILE
    if calibration_path.exists():
        c = json.loads(calibration_path.read_text(encoding="utf-8"))
        p = c.get("provenance", {})
        lines += [
            "## Confidence and abstention",
            "",
            f"The confidence is a logistic function of the winning span's {', '.join(c['features'])} "
            f"(weights {c['weights']}, bias {c['bias']}), fitted by `{p.get('command')}` on {p.get('questions')} "
            f"questions ({p.get('answerable')} answerable) of {', '.join(p.get('articles', []))}: {p.get('setting')}; "
            f"label: {p.get('label')}. The reader abstains below **{c['threshold']}**, the threshold that "
            f"maximises overall F1 there ({p.get('overall_f1_at_threshold')}; leave-one-article-out: "
            + ", ".join(f"{a} {v['overall_f1']} at {v['threshold']}" for a, v in p.get("leave_one_article_out", {}).items())
            + ").",
            "",
            _row(["confidence", "questions", "mean confidence", "fraction right"]),
            _row(["---", "---:", "---:", "---:"]),
            *[_row([r["bin"], r["n"], r["mean_confidence"], r["fraction_right"]]) for r in p.get("reliability", [])],
            "",
        ]
    lines += [
        "## Use and limits",
        "",
        "Made for short factual questions about English news and encyclopedic text, read from passages of "
        "≤ 128 word pieces. Questions that a short span cannot answer (yes/no, why, how, what someone said) "
        "are answered with the sentence around the reader's span (`answer_type: \"sentence\"`); the reader "
        "was not trained on such questions. SQuAD 2.0's unanswerable questions are written to look "
        "answerable; abstention on them is the weakest part.",
        "",
    ]
    path = folder / CARD_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
