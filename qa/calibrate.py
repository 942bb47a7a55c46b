"""Fit the reader's confidence calibrator and abstention threshold on held-out questions:
`python -m qa.calibrate ../shared/eval/squad-v2.0-dev-a.json`.

The questions are asked as the product asks them (open-domain: retrieve from an index of the
chosen articles' paragraphs, read the top passages); the winning span's features are fitted by
logistic regression to whether the answer is right (F1 >= 0.5 with a gold answer; any answer to
an unanswerable question is wrong), and the threshold is the one that maximises overall SQuAD 2.0
F1. Written to `calibration.json` beside the reader weights, with its data and metrics.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from qa.calibration import FEATURES, Calibrator, best_threshold, features, fit_logistic, overall_f1_at
from qa.config import Config
from qa.eval.metrics import f1_score, reliability_table
from qa.model_card import write_model_card
from qa.train_data import DEV_A_CALIBRATION_ARTICLES


def collect(eval_file: Path, articles: list[str], config: Config, progress: bool = True) -> tuple[np.ndarray, list[float], list[bool], list[str]]:
    """(features, F1 of the answer the product would give, answerable, article) per question."""
    from tqdm import tqdm

    from qa.answer import NeuralReader
    from qa.eval.data import load_eval_file, select_articles
    from qa.eval.runner import prepare_index
    from qa.pipeline import QA

    eval_set = select_articles(load_eval_file(eval_file), articles)
    config = prepare_index(eval_set, config, None, progress=progress)
    reader = NeuralReader(config)  # the calibrator is fitted to this reader's own scores
    qa = QA(config, reader=reader)
    rows, f1s, answerable, tags = [], [], [], []
    for q in tqdm(eval_set.questions, desc="calibration questions", unit="q", disable=not progress, file=sys.stderr):
        passages = qa.search(q.question)
        reading = reader.best(q.question, passages)
        if reading.candidate is None:
            continue
        text = passages[reading.candidate.passage_index].text[reading.start : reading.end]
        rows.append(features(reading.candidate))
        f1s.append(f1_score(text, q.answers) if q.answerable else 0.0)
        answerable.append(q.answerable)
        tags.append(q.tags[0] if q.tags else "")
    return np.array(rows, dtype=np.float64), f1s, answerable, tags


def fit(x: np.ndarray, f1s: list[float], answerable: list[bool]) -> tuple[np.ndarray, float, float]:
    y = np.array([1.0 if a and f >= 0.5 else 0.0 for f, a in zip(f1s, answerable)])
    weights, bias = fit_logistic(x, y)
    confidence = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    return weights, bias, best_threshold(confidence.tolist(), f1s, answerable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a SQuAD 2.0 file with answerable and unanswerable questions")
    parser.add_argument("--articles", nargs="+", default=list(DEV_A_CALIBRATION_ARTICLES), help="article titles to fit on")
    parser.add_argument("--model", type=Path, help="reader folder (default: the shipped qa/reader_model)")
    args = parser.parse_args(argv)
    config = Config() if args.model is None else Config(reader_model_dir=args.model)
    started = time.time()
    x, f1s, answerable, tags = collect(args.file, args.articles, config)
    weights, bias, threshold = fit(x, f1s, answerable)
    confidence = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    correct = [a and f >= 0.5 for f, a in zip(f1s, answerable)]
    # Out-of-fold check: fit on all articles but one, score the one left out.
    folds = {}
    for held in sorted(set(tags)):
        train = np.array([t != held for t in tags])
        w, b, t = fit(x[train], [f for f, m in zip(f1s, train) if m], [a for a, m in zip(answerable, train) if m])
        c = 1.0 / (1.0 + np.exp(-(x[~train] @ w + b)))
        sub_f1 = [f for f, m in zip(f1s, train) if not m]
        sub_a = [a for a, m in zip(answerable, train) if not m]
        folds[held] = {"questions": len(sub_f1), "threshold": t, "overall_f1": round(overall_f1_at(t, c.tolist(), sub_f1, sub_a), 4)}
    model_dir = Path(args.model) if args.model else None
    from qa.answer import NeuralReader

    folder = NeuralReader(config).model_dir if model_dir is None else model_dir
    calibrator = Calibrator(
        tuple(round(float(w), 6) for w in weights),
        round(float(bias), 6),
        threshold,
        {
            "command": "python -m qa.calibrate " + " ".join(argv if argv is not None else sys.argv[1:]),
            "data": str(args.file),
            "articles": args.articles,
            "questions": len(f1s),
            "answerable": int(sum(answerable)),
            "setting": f"open-domain over the paragraphs of these articles, {config.retriever} retrieval, top {config.top_k} passages",
            "label": "answer right: F1 >= 0.5 with a gold answer (answers to unanswerable questions are wrong)",
            "features": list(FEATURES),
            "overall_f1_at_threshold": round(overall_f1_at(threshold, confidence.tolist(), f1s, answerable), 4),
            "always_answer_answerable_f1": round(float(np.mean([f for f, a in zip(f1s, answerable) if a])), 4),
            "leave_one_article_out": folds,
            "reliability": reliability_table(confidence.tolist(), correct),
            "seconds": round(time.time() - started),
        },
    )
    path = calibrator.save(folder)
    write_model_card(folder)
    print(f"wrote {path}: threshold {threshold}, overall F1 {calibrator.provenance['overall_f1_at_threshold']}, "
          f"leave-one-article-out {folds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
