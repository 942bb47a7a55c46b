"""The confidence calibrator (qa/calibration.py): pure functions checked against hand-computed values."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from qa.calibration import Calibrator, best_threshold, features, fit_logistic, load_calibrator, overall_f1_at
from qa.errors import ReaderModelError


@dataclass
class Span:
    passage_index: int
    margin: float
    probability: float
    start: int = 0
    end: int = 0


def test_features_of_a_span():
    assert features(Span(1, 2.5, 0.5)) == pytest.approx([2.5, np.log(0.5)])


def test_overall_f1_counts_answers_and_abstentions():
    confidence = [0.9, 0.2, 0.8, 0.1]
    f1 = [0.5, 1.0, 0.0, 0.0]
    answerable = [True, True, False, False]
    # threshold 0.5: answers q1 (0.5) and q3 (wrong: unanswerable); abstains on q2 (0) and q4 (right: 1)
    assert overall_f1_at(0.5, confidence, f1, answerable) == pytest.approx((0.5 + 0 + 0 + 1) / 4)
    assert overall_f1_at(1.01, confidence, f1, answerable) == pytest.approx(0.5)  # always abstain
    assert best_threshold(confidence, f1, answerable) in [round(t, 2) for t in np.arange(0.81, 0.90, 0.01)]


def test_fit_logistic_recovers_a_separating_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.2 + 0.3 * rng.normal(size=400) > 0).astype(float)
    w, b = fit_logistic(x, y)
    assert w[0] > 0 > w[1]
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.9


def test_calibrator_round_trip_and_bad_files(tmp_path):
    c = Calibrator((0.5, 0.1), -1.0, 0.42, {"note": "test"})
    c.save(tmp_path)
    loaded = load_calibrator(tmp_path)
    assert loaded == c
    assert 0.0 < loaded.probability(features(Span(0, 3.0, 0.9))) < 1.0
    assert load_calibrator(tmp_path / "nowhere") == Calibrator.uncalibrated()
    record = json.loads((tmp_path / "calibration.json").read_text())
    record["threshold"] = 7
    (tmp_path / "calibration.json").write_text(json.dumps(record))
    with pytest.raises(ReaderModelError, match="calibration.json.*threshold"):
        load_calibrator(tmp_path)
