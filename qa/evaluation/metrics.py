"""Evaluation metrics: the one SQuAD normalisation, exact match and F1, abstention, calibration
bins and retrieval metrics, as pure functions over plain data (strings, lists, dicts).

Every script that scores an answer (`qa eval`, `qa.training.fit_calibrator`, `qa.training.train`) imports these, so the
numbers they report mean the same thing.
"""

from __future__ import annotations

import collections
import math
import re
import statistics
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RECALL_KS = tuple(range(1, 11))
METRIC_DEPTH = 10  # documents per question the retrieval metrics look at
SEARCH_DEPTH = 50  # passages searched per question; several passages can share one document
# A test collection (BEIR folder, TREC run) is scored as the field does: nDCG@10, MRR@10 and
# recall down to 100 documents.
COLLECTION_KS = (1, 5, 10, 100)
COLLECTION_DEPTH = max(COLLECTION_KS)  # documents ranked per query
# Passages searched at most to find them (deepened 4x at a time): 32 a document covers long
# documents of many passages; a query that still finds fewer is scored on those it found.
COLLECTION_MAX_PASSAGES = 32 * COLLECTION_DEPTH


# ---------------------------------------------------------------- answer metrics (SQuAD)


def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lower case, drop ASCII punctuation and the articles
    a/an/the, collapse white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def _golds(answers: Sequence[str]) -> list[str]:
    # As the official SQuAD v2.0 script: gold answers that normalise to nothing (".") are dropped,
    # and a question left without any has the single gold answer "" (abstaining scores 1).
    return [a for a in answers if normalize_answer(a)] or [""]


def exact_match(prediction: str | None, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer. `prediction` None
    (abstain) matches only an unanswerable question (`answers` empty)."""
    pred = normalize_answer(prediction or "")
    return float(any(pred == normalize_answer(g) for g in _golds(answers)))


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str | None, answers: Sequence[str]) -> float:
    """The SQuAD token-overlap F1 against the best-matching gold answer."""
    pred = normalize_answer(prediction or "").split()
    return max(_token_f1(pred, normalize_answer(g).split()) for g in _golds(answers))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def abstention_metrics(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict[str, Any]:
    """Abstaining treated as predicting "unanswerable": precision = share of abstentions that were
    on unanswerable questions, recall = share of unanswerable questions abstained on (None when
    there is nothing to divide by)."""
    both = sum(1 for a, u in zip(abstained, unanswerable) if a and u)
    n_abstained, n_unanswerable = sum(map(bool, abstained)), sum(map(bool, unanswerable))
    return {
        "precision": both / n_abstained if n_abstained else None,
        "recall": both / n_unanswerable if n_unanswerable else None,
        "abstained": n_abstained,
        "unanswerable": n_unanswerable,
    }


def score_answers(predictions: Sequence[str | None], answers: Sequence[Sequence[str]]) -> dict[str, Any]:
    """EM and F1 overall and on the answerable questions, accuracy on the unanswerable ones
    (share abstained), and abstention precision/recall. `None` in `predictions` is an abstention."""
    if len(predictions) != len(answers):
        raise ValueError("one prediction per question")
    em = [exact_match(p, a) for p, a in zip(predictions, answers)]
    f1 = [f1_score(p, a) for p, a in zip(predictions, answers)]
    has = [bool(a) for a in answers]
    abstained = [p is None for p in predictions]
    return {
        "n": len(answers),
        "answerable": {
            "n": sum(has),
            "em": _mean([e for e, h in zip(em, has) if h]),
            "f1": _mean([f for f, h in zip(f1, has) if h]),
        },
        "unanswerable": {
            "n": len(has) - sum(has),
            "accuracy": _mean([float(a) for a, h in zip(abstained, has) if not h]),
        },
        "overall": {"em": _mean(em), "f1": _mean(f1)},
        "answered": len(predictions) - sum(abstained),
        "abstention": abstention_metrics(abstained, [not h for h in has]),
    }


def predictions_at(spans: Sequence[str | None], confidences: Sequence[float], threshold: float) -> list[str | None]:
    """What the reader answers at `threshold`: its best span, or None below the threshold."""
    return [s if s is not None and c >= threshold else None for s, c in zip(spans, confidences)]


def threshold_sweep(
    spans: Sequence[str | None],
    confidences: Sequence[float],
    answers: Sequence[Sequence[str]],
    thresholds: Iterable[float] | None = None,
) -> list[dict[str, Any]]:
    """Answer scores at each abstention threshold (default 0.00, 0.02, ..., 1.00)."""
    if thresholds is None:
        thresholds = [round(i / 50, 2) for i in range(51)]
    rows = []
    for t in thresholds:
        s = score_answers(predictions_at(spans, confidences, t), answers)
        rows.append(
            {
                "threshold": t,
                "answerable_f1": s["answerable"]["f1"],
                "unanswerable_accuracy": s["unanswerable"]["accuracy"],
                "overall_f1": s["overall"]["f1"],
                "answered": s["answered"],
            }
        )
    return rows


def answer_is_right(prediction: str | None, answers: Sequence[str]) -> bool:
    """The calibration label: an answer was given, the question has a gold answer and the F1
    with it is at least 0.5 (any answer to an unanswerable question is wrong)."""
    return prediction is not None and bool(answers) and f1_score(prediction, answers) >= 0.5


def reliability_table(confidences: Sequence[float], right: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Confidence against correctness, in equal-width bins: for the answers whose confidence falls
    in a bin, the mean confidence and the fraction that are right (`right[i]` for answer i, see
    `answer_is_right`); empty bins are left out. A calibrated reader has the two close in every bin."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c and (c < hi or b == bins - 1)]
        if idx:
            rows.append({
                "bin": f"{lo:.1f}-{hi:.1f}",
                "n": len(idx),
                "mean_confidence": round(sum(confidences[i] for i in idx) / len(idx), 4),
                "fraction_right": round(sum(bool(right[i]) for i in idx) / len(idx), 4),
            })
    return rows


def best_sweep_row(sweep: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The sweep row with the highest overall F1 (the lowest such threshold on ties)."""
    return max(sweep, key=lambda r: (r["overall_f1"] or 0.0, -r["threshold"]))


# ---------------------------------------------------------------- retrieval metrics (ir-measures)


def ranked_doc_ids(doc_ids: Iterable[str], depth: int = METRIC_DEPTH) -> list[str]:
    """Documents in order of their best passage: duplicates dropped, at most `depth`."""
    out: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in out:
            out.append(doc_id)
            if len(out) == depth:
                break
    return out


def metric_names(ks: Sequence[int]) -> list[str]:
    """The retrieval metrics reported, in table order: R@k for each k, MRR@10, nDCG@10."""
    return [*(f"R@{k}" for k in ks), "MRR@10", "nDCG@10"]


def _measures(ks: Sequence[int]) -> tuple[Any, dict[str, Any]]:
    import ir_measures
    from ir_measures import RR, R, nDCG

    return ir_measures, dict(zip(metric_names(ks), [*(R @ k for k in ks), RR @ 10, nDCG @ 10]))


Judgments = Iterable[str] | Mapping[str, int]  # relevant document ids, or document id -> graded relevance


def per_query_retrieval_metrics(
    qrels: Mapping[str, Judgments], runs: Mapping[str, Sequence[str]], ks: Sequence[int] = RECALL_KS
) -> dict[str, dict[str, float]]:
    """R@k, MRR@10 and nDCG@10 of every query of `qrels`, computed by ir-measures (pytrec_eval).

    A query's judgments are its relevant document ids (relevance 1) or a mapping of document id to
    graded relevance (R@k and MRR count relevance >= 1; nDCG@10 gains the grade itself, as
    trec_eval and BEIR do). `runs` gives each query's documents best first; a query with no
    retrieved document, or missing from `runs`, scores 0 (pytrec_eval would skip it)."""
    ir_measures, named = _measures(ks)
    qrel_rows = [
        ir_measures.Qrel(qid, doc_id, int(grade))
        for qid, judged in qrels.items()
        for doc_id, grade in (judged.items() if isinstance(judged, Mapping) else dict.fromkeys(judged, 1).items())
    ]
    run_rows = [
        ir_measures.ScoredDoc(qid, doc_id, float(len(ranking) - rank))  # distinct scores: no tie-breaking
        for qid, ranking in runs.items()
        if qid in qrels
        for rank, doc_id in enumerate(ranking)
    ]
    per_query: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in named} for qid in qrels}
    by_measure = {m: name for name, m in named.items()}
    if qrel_rows and run_rows:
        for row in ir_measures.iter_calc(list(named.values()), qrel_rows, run_rows):
            per_query[row.query_id][by_measure[row.measure]] = float(row.value)
    return per_query


def mean_retrieval_metrics(per_query: Mapping[str, Mapping[str, float]], ks: Sequence[int] = RECALL_KS) -> dict[str, Any]:
    """The mean of each metric of `per_query_retrieval_metrics` over its queries (None when there
    are none), and their number `n`."""
    n = len(per_query)
    means: dict[str, Any] = {
        name: (sum(q[name] for q in per_query.values()) / n if n else None) for name in metric_names(ks)
    }
    means["n"] = n
    return means


def retrieval_metrics(
    qrels: Mapping[str, Judgments], runs: Mapping[str, Sequence[str]], ks: Sequence[int] = RECALL_KS
) -> dict[str, Any]:
    """Mean R@k, MRR@10 and nDCG@10 over every query of `qrels` (see `per_query_retrieval_metrics`)."""
    return mean_retrieval_metrics(per_query_retrieval_metrics(qrels, runs, ks), ks)


def first_relevant_rank(ranking: Sequence[str], gold: Iterable[str]) -> int | None:
    gold = set(gold)
    return next((rank for rank, doc_id in enumerate(ranking, start=1) if doc_id in gold), None)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """Mean, median, 95th percentile and max, in milliseconds."""
    if not seconds:
        return {"mean_ms": None, "p50_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "mean_ms": 1000 * statistics.fmean(ordered),
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * p95,
        "max_ms": 1000 * ordered[-1],
    }
