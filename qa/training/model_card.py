"""The reader's model card (MODEL_CARD.md), written from the artifact's own records:
`reader.json` (training data, settings, held-out metrics) and `calibration.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.reader.calibration import CALIBRATION_FILE
from qa.reader.span_model import MANIFEST_FILE

CARD_FILE = "MODEL_CARD.md"

SOURCES = """\
Sources of the training data (public GitHub snapshots; see `shared/train/README.md`):
SQuADShifts (Miller et al., 2020; modestyachts/squadshifts-website, no licence file), the MRQA 2019
shared task's SQuAD 1.1 / DROP / DuoRC / RelationExtraction dev sets (Fisch et al., 2019; MIT),
SubjQA (Bjerva et al., 2020; licences of its source data sets), SQuAD 2.0 dev (Rajpurkar et al.,
2018; CC BY-SA 4.0), four articles of it, for reader v3 NewsQA (Trischler et al., 2017; CNN
stories of its train split, research use) and the first ten articles of SQuAD 2.0 train, and for
reader v4 the CNN stories of NewsQA's official dev split as well."""


def group_lines(training: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """Readers v3 and v4: questions read with the passages their retriever returns."""
    groups = training.get("groups")
    if not groups:
        return []
    settings = training.get("settings", {})
    return [
        f"This reader ({manifest.get('scoring')} scoring) read each training question together with the top "
        f"{settings.get('group_k')} passages the product's retrieval returns for it from its own collection (the "
        "answer's passage taking the last place when the retriever missed it; passages of other contexts that "
        "mention the answer left out), under one softmax over every span of every passage and the no-answer "
        "option (shared normalisation, Clark & Gardner 2018). Groups by kind: "
        + ", ".join(f"{kind} {n}" for kind, n in groups.items())
        + f" (NewsQA read {settings.get('news_repeat')}x per epoch; `not-covered`: questions of the replayed sets "
        "asked of the news stories, taught as unanswerable). NewsQA stories (of every pool read: "
        + ", ".join(f"`{Path(d['path']).name}`" for d in training.get("data", []) if "NewsQA" in d["path"])
        + ") are split by a hash of their id: about 70 % train, 30 % calibrate "
        "(`qa.training.groups.newsqa_story_split`), so no story is both trained on and calibrated on; SQuAD 2.0 "
        "train's Spectre_(2015_film) article is kept for calibration.",
        "",
    ]


def averaged_lines(manifest: dict[str, Any]) -> list[str]:
    """The weight averaging that made the artifact (`python -m qa.training.average`), if any."""
    averaged = manifest.get("averaged_with")
    if not averaged:
        return []
    return [f"- then averaged with the reader it was fine-tuned from (`python -m qa.training.average`): "
            f"{averaged['weight']} × `{averaged['reader']}` (weights `{str(averaged['weights_sha256'])[:12]}…`) + "
            f"{1 - averaged['weight']:.2g} × the fine-tuned weights (weight-space ensembling, Wortsman et al. 2022)"]


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
        *averaged_lines(manifest),
        f"- total training time: {sum(t.get('seconds', 0) for t in lineage(training)) / 60:.0f} min",
        "",
        "## Training data",
        "",
        *group_lines(training, manifest),
        f"{'The reader it continued from (v1, v2) read ' if training.get('groups') else ''}"
        f"{lineage(training)[-1].get('questions')} questions ({lineage(training)[-1].get('unanswerable_questions')} unanswerable), every "
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
        lines += calibration_lines(c)
    lines += [
        "## Use and limits",
        "",
        "Made for short factual questions about English news and encyclopedic text, read from passages of "
        "≤ 128 word pieces. Questions that a short span cannot answer (yes/no, why, how, what someone said) "
        "are answered with the sentence around the reader's span (`answer_type: \"sentence\"`); \"What did X "
        "say?\" with a statement attributed to X. Questions about the article itself (when it was published, "
        "which outlet, who wrote it) are answered from the article's fields, not by this model. SQuAD 2.0's "
        "unanswerable questions are written to look answerable; abstention on them is the weakest part.",
        "",
    ]
    path = folder / CARD_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def calibration_lines(c: dict[str, Any]) -> list[str]:
    """The card's section on confidence, abstention, possible answers and bands."""
    p = c.get("provenance", {})
    models = c.get("models", {})
    lines = [
        "## Confidence and abstention",
        "",
        f"Fitted by `{p.get('command')}` on the calibration set (`python -m qa.training.calibration_sets`): "
        f"{p.get('questions')} questions; {p.get('setting')}; label: {p.get('label')}.",
        "",
        *[f"- **{kind}** answers: logistic in {', '.join(m['features'])} (weights {m['weights']}, bias {m['bias']})"
          for kind, m in models.items()],
        f"- threshold **{c.get('threshold')}** ({p.get('threshold_rule')}), mix {p.get('mix')}",
        f"- possible-answer floor **{c.get('floor')}** ({p.get('floor_rule')})",
        f"- bands: medium from {c.get('bands', [None, None])[0]}, high from {c.get('bands', [None, None])[1]} ({p.get('band_rule')})",
        "",
    ]
    at = p.get("at_threshold") or {}
    oof = (p.get("out_of_fold") or {}).get("at_threshold") or {}
    if at:
        lines += [
            "| part | questions | answerable F1 | unanswerable accuracy | overall F1 | always answer | always abstain | out-of-fold overall F1 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[_row([part, r.get("questions", ""), r.get("answerable_f1", "–"), r.get("unanswerable_accuracy", "–"),
                    r.get("overall_f1"), r.get("always_answer_overall_f1"), r.get("always_abstain_overall_f1"),
                    (oof.get(part) or {}).get("overall_f1", "–")]) for part, r in at.items()],
            "",
        ]
    by_part = p.get("bands_by_part_out_of_fold") or {}
    if by_part:
        lines += [
            "How often answers labelled \"high\" and \"medium\" were right, per part (out of fold):",
            "",
            _row(["part", "high: answers", "high: right", "medium: answers", "medium: right"]),
            _row(["---", "---:", "---:", "---:", "---:"]),
            *[_row([part, r["high"]["answers"], r["high"]["right"] if r["high"]["right"] is not None else "–",
                    r["medium"]["answers"], r["medium"]["right"] if r["medium"]["right"] is not None else "–"])
              for part, r in by_part.items()],
            "",
        ]
    baseline = p.get("baseline")
    if baseline and at:
        old_at = (baseline.get("out_of_fold") or {}).get("at_threshold") or {}
        lines += [
            f"Against the reader shipped before (`{baseline.get('reader')}`, weights `{baseline.get('weights_sha256')}…`), "
            "calibrated on the same parts by the same rules; out of fold (calibrators fitted on the other folds, "
            "by story or article), and always answering:",
            "",
            _row(["part", "before: answerable F1", "this: answerable F1", "before: overall F1", "this: overall F1",
                  "before: always-answer F1", "this: always-answer F1"]),
            _row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
            *[_row([part, (old_at.get(part) or {}).get("answerable_f1", "–"), (oof.get(part) or {}).get("answerable_f1", "–"),
                    (old_at.get(part) or {}).get("overall_f1", "–"), (oof.get(part) or {}).get("overall_f1", "–"),
                    (old_at.get(part) or {}).get("always_answer_answerable_f1", "–"),
                    (oof.get(part) or {}).get("always_answer_answerable_f1", "–")]) for part in at],
            "",
        ]
    reliability = p.get("reliability") or {}
    for kind, table in (reliability if isinstance(reliability, dict) else {"span": reliability}).items():
        if isinstance(table, list) and table:
            lines += [f"Reliability ({kind} answers):", "", _row(["confidence", "questions", "mean confidence", "fraction right"]),
                      _row(["---", "---:", "---:", "---:"]),
                      *[_row([r["bin"], r["n"], r["mean_confidence"], r["fraction_right"]]) for r in table], ""]
    return lines
