"""The reader's confidence: a logistic calibrator from the winning span's scores to the
probability that the answer is right, and the abstention threshold chosen with it.

Both are fitted by `python -m qa.calibrate` on held-out questions and saved beside the reader
weights (`calibration.json`, with the data and metrics that produced them); nothing here is a
hand-set number except the fallback for a reader that has not been calibrated yet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from qa.errors import ReaderModelError

CALIBRATION_FILE = "calibration.json"
# Chosen on the calibration articles by leave-one-article-out overall F1: the span's margin over
# the no-answer score (and its probability) carried all the signal; retrieval rank, agreement
# between passages and question words missing from the passage only added noise.
FEATURES = ("margin", "log_probability")


class Scored(Protocol):
    @property
    def margin(self) -> float: ...

    @property
    def probability(self) -> float: ...


def features(candidate: Scored) -> list[float]:
    """The calibrator's inputs for a winning span: its passage's span-minus-no-answer margin and
    the log of its within-passage probability."""
    return [float(candidate.margin), math.log(max(float(candidate.probability), 1e-9))]


@dataclass(frozen=True)
class Calibrator:
    weights: tuple[float, ...]
    bias: float
    threshold: float
    provenance: dict[str, object] = field(default_factory=dict)

    def probability(self, x: Sequence[float]) -> float:
        """P(the answer is right) for a feature vector made by `features`."""
        z = self.bias + sum(w * v for w, v in zip(self.weights, x))
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    @classmethod
    def uncalibrated(cls) -> Calibrator:
        """sigmoid(margin), threshold 0.5: the reader's own answer-vs-no-answer decision."""
        return cls((1.0,) + (0.0,) * (len(FEATURES) - 1), 0.0, 0.5, {"note": "not calibrated: sigmoid of the no-answer margin"})

    def save(self, folder: Path) -> Path:
        path = Path(folder) / CALIBRATION_FILE
        record = {"features": list(FEATURES), **asdict(self)}
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path


def load_calibrator(folder: Path) -> Calibrator:
    """The calibrator saved beside the reader in `folder`; the uncalibrated fallback if none."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        return Calibrator.uncalibrated()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if tuple(record["features"]) != FEATURES:
            raise ValueError(f"features {record['features']} are not {list(FEATURES)}")
        threshold = float(record["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} outside 0..1")
        return Calibrator(tuple(float(w) for w in record["weights"]), float(record["bias"]), threshold, record.get("provenance", {}))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReaderModelError(f"{path}: unusable calibration ({e}); refit it with `python -m qa.calibrate`") from None


def fit_logistic(
    x: NDArray[np.floating], y: NDArray[np.floating], l2: float = 1e-2, iterations: int = 50
) -> tuple[NDArray[np.float64], float]:
    """L2-regularised logistic regression by Newton's method; returns (weights, bias)."""
    X = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    w = np.zeros(X.shape[1])
    reg = np.full(X.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -60, 60)))
        gradient = X.T @ (p - y) + reg * w
        hessian = (X * (p * (1 - p))[:, None]).T @ X + np.diag(reg)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def overall_f1_at(threshold: float, confidence: Sequence[float], f1: Sequence[float], answerable: Sequence[bool]) -> float:
    """Mean SQuAD 2.0 F1 when answering only at confidence >= threshold: an answer scores its F1
    on an answerable question and 0 on an unanswerable one; an abstention scores 1 on an
    unanswerable question and 0 on an answerable one."""
    total = 0.0
    for c, f, a in zip(confidence, f1, answerable):
        answered = c >= threshold
        total += (f if answered else 0.0) if a else (0.0 if answered else 1.0)
    return total / max(len(confidence), 1)


def best_threshold(confidence: Sequence[float], f1: Sequence[float], answerable: Sequence[bool]) -> float:
    """The threshold (on a 0.01 grid) that maximises overall F1; the middle of the best run of
    ties, so that it does not sit on the edge of a plateau."""
    grid = [round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.01)]
    scores = [overall_f1_at(t, confidence, f1, answerable) for t in grid]
    top = max(scores)
    best = [t for t, s in zip(grid, scores) if s >= top - 1e-12]
    return best[len(best) // 2]
