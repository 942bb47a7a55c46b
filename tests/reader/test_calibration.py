"""The confidence calibrator (qa/reader/calibration.py): pure functions checked against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qa.errors import ReaderModelError
from qa.reader.calibration import (
    Calibrator,
    Candidate,
    Logistic,
    best_threshold,
    content_overlap,
    fit_logistic,
    load_calibrator,
    overall_f1_at,
    reading_features,
)


def _c(i: int, text: str, score: float, null: float = 0.0, norm: float = 5.0) -> Candidate:
    return Candidate(i, 0, len(text), text, score, null / 2, null / 2, norm, norm)


def test_reading_features_by_hand():
    a = _c(0, "Jens Stoltenberg", 6.0, null=2.0, norm=4.0)
    b = _c(1, "Stoltenberg", 3.0, null=1.0, norm=3.0)
    c = _c(2, "jens stoltenberg", 2.0, null=4.0, norm=5.0)
    f = reading_features("Who visited Yerevan?", a, [a, b, c], ["visit", "yerevan"], ["visit", "armenia"], ["visit"], 0)
    assert f["margin"] == pytest.approx(4.0)
    assert f["log_probability"] == pytest.approx(6.0 - 8.0)
    # one softmax over all passages: log-sum-exp of the per-passage normalisers (4, 3, 5)
    lse = math.log(math.exp(4) + math.exp(3) + math.exp(5))
    assert f["joint_log_probability"] == pytest.approx(6.0 - 2 * lse)
    assert f["joint_margin"] == pytest.approx(6.0 - math.log(math.exp(2) + math.exp(1) + math.exp(4)))
    nulls = math.log(math.exp(1) + math.exp(0.5) + math.exp(2))
    assert f["joint_null_log_probability"] == pytest.approx(2 * (nulls - lse))
    assert f["agreement"] == 1.0  # "jens stoltenberg" is the same answer; "Stoltenberg" is not
    assert f["question_overlap"] == 0.5 and f["sentence_overlap"] == 0.5
    assert f["answer_words"] == pytest.approx(math.log(3))
    assert f["long_for_type"] == 0.0
    long = _c(0, "the long answer of many words", 1.0)
    assert reading_features("Who?", long, [long], [], [], [], 2)["long_for_type"] == pytest.approx(math.log(1 + 3))
    assert content_overlap([], ["x"]) == 1.0


def test_overall_f1_counts_answers_and_abstentions():
    confidence = [0.9, 0.2, 0.8, 0.1]
    f1 = [0.5, 1.0, 0.0, 0.0]
    answerable = [True, True, False, False]
    # threshold 0.5: answers q1 (0.5) and q3 (wrong: unanswerable); abstains on q2 (0) and q4 (right: 1)
    assert overall_f1_at(0.5, confidence, f1, answerable) == pytest.approx((0.5 + 0 + 0 + 1) / 4)
    assert overall_f1_at(1.01, confidence, f1, answerable) == pytest.approx(0.5)  # always abstain
    assert best_threshold(confidence, f1, answerable) in [round(t, 2) for t in np.arange(0.81, 0.90, 0.01)]
    # weighted: the unanswerable questions count three times as much
    assert overall_f1_at(0.5, confidence, f1, answerable, [1, 1, 3, 3]) == pytest.approx((0.5 + 0 + 0 + 3) / 8)


def test_fit_logistic_recovers_a_separating_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.2 + 0.3 * rng.normal(size=400) > 0).astype(float)
    w, b = fit_logistic(x, y)
    assert w[0] > 0 > w[1]
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.9


def test_calibrator_round_trip_and_bad_files(tmp_path):
    c = Calibrator({"span": Logistic(("margin", "rank"), (0.5, -0.1), -1.0), "sentence": Logistic(("margin",), (0.3,), 0.0)},
                   0.42, 0.2, (0.3, 0.7), provenance={"note": "test"})
    c.save(tmp_path)
    loaded = load_calibrator(tmp_path)
    assert loaded == c
    x = {"margin": 3.0, "rank": 1.0}
    assert loaded.probability("span", x) == pytest.approx(1 / (1 + math.exp(-(-1.0 + 1.5 - 0.1))))
    assert loaded.probability("sentence", x) == pytest.approx(1 / (1 + math.exp(-0.9)))
    assert [loaded.band(v) for v in (0.1, 0.3, 0.69, 0.7)] == ["low", "medium", "medium", "high"]
    assert load_calibrator(tmp_path / "nowhere") == Calibrator.uncalibrated()
    record = json.loads((tmp_path / "calibration.json").read_text())
    record["threshold"] = 7
    (tmp_path / "calibration.json").write_text(json.dumps(record))
    with pytest.raises(ReaderModelError, match="calibration.json.*threshold"):
        load_calibrator(tmp_path)
    record["threshold"] = 0.4
    record["models"]["span"]["features"] = ["margin", "shoe_size"]
    (tmp_path / "calibration.json").write_text(json.dumps(record))
    with pytest.raises(ReaderModelError, match="unknown features.*shoe_size.*qa.training.fit_calibrator"):
        load_calibrator(tmp_path)
