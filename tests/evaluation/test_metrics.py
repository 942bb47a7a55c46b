"""qa/evaluation/metrics.py: SQuAD normalisation, exact match, F1, abstention, calibration bins and the
retrieval metrics, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from qa.evaluation.metrics import (
    abstention_metrics,
    answer_is_right,
    best_sweep_row,
    exact_match,
    f1_score,
    first_relevant_rank,
    latency_summary,
    mean_retrieval_metrics,
    normalize_answer,
    per_query_retrieval_metrics,
    predictions_at,
    ranked_doc_ids,
    reliability_table,
    retrieval_metrics,
    score_answers,
    threshold_sweep,
)

# ---------------------------------------------------------------- SQuAD normalisation, EM, F1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear ", "apple pear"),
        ("THEATRE the", "theatre"),  # "the" inside a word stays
        ("U.S.-led", "usled"),
        ("Armenia’s agenda", "armenia’s agenda"),  # only ASCII punctuation goes, as in the official script
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_takes_the_best_gold_and_handles_abstention():
    assert exact_match("the Yerevan.", ["Yerevan"]) == 1.0
    assert exact_match("Yerevan city", ["Yerevan", "Gyumri"]) == 0.0
    assert exact_match(None, ["Yerevan"]) == 0.0  # abstained on an answerable question
    assert exact_match(None, []) == 1.0  # abstained on an unanswerable one
    assert exact_match("Yerevan", []) == 0.0  # answered an unanswerable one
    assert exact_match("the", []) == 1.0  # normalises to the empty answer, as in the official script
    # a gold answer that normalises to nothing is dropped (official v2.0 script); if none is left,
    # the question counts as unanswerable for scoring
    assert exact_match(None, ["Yerevan", "."]) == 0.0 and exact_match(None, ["."]) == 1.0


def test_f1_hand_computed():
    # pred tokens: [10th, and, 11th]; gold: [in, 10th, and, 11th, centuries]: 3 common,
    # precision 3/3, recall 3/5, F1 = 2 * 1 * 0.6 / 1.6 = 0.75
    assert f1_score("the 10th and 11th", ["in the 10th and 11th centuries"]) == pytest.approx(0.75)
    # best of two golds: "Denmark" vs "Denmark, Iceland and Norway" = 2*(1)(1/4)/(1.25) = 0.4
    assert f1_score("Denmark", ["Denmark, Iceland and Norway", "Norway"]) == pytest.approx(0.4)
    assert f1_score("Denmark", ["Denmark, Iceland and Norway", "Denmark"]) == 1.0
    # repeated tokens count once per occurrence: pred [a1, a1, b], gold [a1, b, c] -> 2 common,
    # P = 2/3, R = 2/3, F1 = 2/3
    assert f1_score("x x y", ["x y z"]) == pytest.approx(2 / 3)
    assert f1_score("Paris", ["Yerevan"]) == 0.0
    assert f1_score(None, ["Yerevan"]) == 0.0
    assert f1_score(None, []) == 1.0
    assert f1_score("something", []) == 0.0


def test_abstention_precision_and_recall_hand_computed():
    abstained = [True, True, False, True, False]
    unanswerable = [True, False, True, True, False]
    m = abstention_metrics(abstained, unanswerable)
    # abstained on 3, 2 of them unanswerable -> precision 2/3; 3 unanswerable, 2 abstained -> recall 2/3
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["abstained"] == 3 and m["unanswerable"] == 3
    none = abstention_metrics([False, False], [True, False])
    assert none["precision"] is None and none["recall"] == 0.0


def test_score_answers_hand_computed_and_always_abstain_baseline():
    golds = [("Yerevan",), ("1994", "in 1994"), ("Nikol Pashinyan",), (), ()]
    preds = ["Yerevan", "1994 and 2005", None, None, "Paris"]
    s = score_answers(preds, golds)
    # answerable: EM [1, 0, 0]; F1 [1, 2*(1/3)(1)/(4/3)=0.5, 0]
    assert s["answerable"] == {"n": 3, "em": pytest.approx(1 / 3), "f1": pytest.approx(0.5)}
    # unanswerable: abstained on 1 of 2
    assert s["unanswerable"] == {"n": 2, "accuracy": 0.5}
    assert s["overall"]["em"] == pytest.approx(2 / 5)
    assert s["overall"]["f1"] == pytest.approx((1 + 0.5 + 0 + 1 + 0) / 5)
    assert s["answered"] == 3
    assert s["abstention"]["precision"] == pytest.approx(1 / 2) and s["abstention"]["recall"] == pytest.approx(1 / 2)

    base = score_answers([None] * 5, golds)
    assert base["answerable"]["f1"] == 0.0 and base["unanswerable"]["accuracy"] == 1.0
    assert base["overall"]["f1"] == pytest.approx(2 / 5)  # the share of unanswerable questions
    assert base["abstention"]["precision"] == pytest.approx(2 / 5) and base["abstention"]["recall"] == 1.0


def test_threshold_sweep_applies_the_threshold_like_the_reader():
    spans = ["Yerevan", "Paris", None]
    confidences = [0.8, 0.3, 0.0]
    golds = [("Yerevan",), (), ()]
    assert predictions_at(spans, confidences, 0.3) == ["Yerevan", "Paris", None]  # >= threshold answers
    assert predictions_at(spans, confidences, 0.31) == ["Yerevan", None, None]
    rows = threshold_sweep(spans, confidences, golds, thresholds=[0.0, 0.5, 0.9])
    assert [r["overall_f1"] for r in rows] == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert [r["answered"] for r in rows] == [2, 1, 0]
    assert best_sweep_row(rows)["threshold"] == 0.5


def test_reliability_table_hand_computed():
    confidences = [0.05, 0.15, 0.99, 1.0, 0.95]
    right = [True, False, True, False, False]
    rows = reliability_table(confidences, right)
    # empty bins are left out; 1.0 falls in the last bin
    assert [r["bin"] for r in rows] == ["0.0-0.1", "0.1-0.2", "0.9-1.0"]
    assert [r["n"] for r in rows] == [1, 1, 3]
    assert rows[2]["mean_confidence"] == pytest.approx(0.98) and rows[2]["fraction_right"] == pytest.approx(0.3333)
    assert answer_is_right("Yerevan", ["Yerevan"]) and not answer_is_right(None, ["Yerevan"])
    assert not answer_is_right("Yerevan", []) and not answer_is_right("Paris", ["Yerevan"])


# ---------------------------------------------------------------- retrieval metrics (ir-measures)


def test_retrieval_metrics_hand_computed():
    qrels = {"q1": ["a"], "q2": ["b"], "q3": ["c", "d"], "q4": ["e"]}
    runs = {
        "q1": ["a", "x", "y"],  # hit at 1
        "q2": ["x", "y", "b"],  # hit at 3
        "q3": ["c", "x", "d"],  # both relevant, at 1 and 3
        "q4": [],  # nothing retrieved: scores 0, not skipped
        "q5": ["a"],  # not in qrels: ignored
    }
    m = retrieval_metrics(qrels, runs, ks=(1, 3, 5))
    assert m["n"] == 4
    assert m["R@1"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert m["R@3"] == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert m["R@5"] == pytest.approx(0.75)
    assert m["MRR@10"] == pytest.approx((1 + 1 / 3 + 1 + 0) / 4)
    ndcg_q2 = 1 / math.log2(4)
    ndcg_q3 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert m["nDCG@10"] == pytest.approx((1 + ndcg_q2 + ndcg_q3 + 0) / 4)


def test_retrieval_metrics_graded_hand_computed():
    # Graded judgments: nDCG gains the grade, R@k and MRR count relevance >= 1; z is judged not relevant (0).
    qrels = {"q1": {"a": 2, "b": 1, "z": 0}, "q2": ["c"]}
    runs = {"q1": ["z", "b", "a"], "q2": ["c"]}
    per = per_query_retrieval_metrics(qrels, runs, ks=(1, 2))
    # q1: z at 1 (gain 0), b at 2 (gain 1), a at 3 (gain 2): DCG = 1/log2(3) + 2/log2(4); ideal a, b: 2/1 + 1/log2(3)
    assert per["q1"]["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1) / (2 + 1 / math.log2(3)))
    assert per["q1"]["R@1"] == 0.0 and per["q1"]["R@2"] == 0.5 and per["q1"]["MRR@10"] == 0.5
    assert per["q2"] == {"R@1": 1.0, "R@2": 1.0, "MRR@10": 1.0, "nDCG@10": 1.0}
    means = mean_retrieval_metrics(per, ks=(1, 2))
    assert means["n"] == 2 and means["R@2"] == pytest.approx(0.75) and means["MRR@10"] == pytest.approx(0.75)
    assert mean_retrieval_metrics({}, ks=(1,)) == {"R@1": None, "MRR@10": None, "nDCG@10": None, "n": 0}


def test_ranking_helpers():
    assert ranked_doc_ids(["a", "a", "b", "a", "c", "d"], depth=3) == ["a", "b", "c"]
    assert first_relevant_rank(["x", "b", "a"], ["a", "b"]) == 2
    assert first_relevant_rank(["x"], ["a"]) is None
    lat = latency_summary([0.1, 0.2, 0.3, 0.4])
    assert lat["mean_ms"] == pytest.approx(250) and lat["p50_ms"] == pytest.approx(250) and lat["max_ms"] == 400
    assert latency_summary([])["mean_ms"] is None
