"""The reader's confidence: logistic calibrators from what the reader saw to the probability that
its answer is right, and the numbers chosen with them — the abstention threshold, the floor of a
"possible answer", and the confidence bands put into words.

Everything here is fitted by `python -m qa.training.fit_calibrator` on the calibration set
(`qa/training/calibration_sets.py`) and saved beside the reader weights (`calibration.json`, with the data
and metrics that produced it); nothing is a hand-set number except the fallback for a reader
that has not been calibrated yet. One calibrator per kind of answer: "span" (a short answer) and
"sentence" (the evidence sentence, for yes/no, why, how and "what did X say" questions), each over
its own features (`FEATURES` lists every one the reader can give).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa.errors import ReaderModelError

CALIBRATION_FILE = "calibration.json"
FORMAT = 2
KINDS = ("span", "sentence")

# Every feature a calibrator may use (`reading_features` computes them all):
FEATURES = {
    "margin": "the span's score minus its passage's no-answer score",
    "log_probability": "log P(span) under its passage's own softmax",
    "joint_margin": "the span's score minus the log-sum of every passage's no-answer score",
    "joint_log_probability": "log P(span) under one softmax over all passages read",
    "joint_null_log_probability": "log P(no answer) under one softmax over all passages read",
    "rank": "the retrieval rank of the answer's passage (0 = first)",
    "agreement": "how many other passages propose the same answer text",
    "question_overlap": "share of the question's content words found in the answer's passage",
    "sentence_overlap": "share of the question's content words found in the answer's sentence",
    "answer_words": "log(1 + words in the answer)",
    "long_for_type": "log(1 + words) beyond 3 for who/when/where/which/how-many questions",
    "question_words": "log(1 + words in the question): short questions are vaguer",
}


@dataclass(frozen=True)
class Candidate:
    """One passage's best span, `passages[passage_index].text[start:end] == text`, and the logits
    the reader gave it (see `qa.reader.span_model.SpanScore`)."""

    passage_index: int
    start: int
    end: int
    text: str
    score: float
    start_null: float
    end_null: float
    start_norm: float
    end_norm: float

    @property
    def margin(self) -> float:
        return self.score - self.start_null - self.end_null

    @property
    def log_probability(self) -> float:
        return self.score - self.start_norm - self.end_norm


_WORD = re.compile(r"\w+")
_SHORT_TYPES = ("who", "whom", "whose", "when", "where", "which")


def norm_text(text: str) -> str:
    """Lower-cased words, for comparing answer texts."""
    return " ".join(_WORD.findall(text.lower()))


def _lse(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def content_overlap(question_terms: Sequence[str], text_terms: Sequence[str]) -> float:
    """Share of the question's distinct terms that the text has (1.0 for a question without any)."""
    wanted = set(question_terms)
    return len(wanted & set(text_terms)) / len(wanted) if wanted else 1.0


def reading_features(
    question: str, best: Candidate, spans: Sequence[Candidate], question_terms: Sequence[str],
    passage_terms: Sequence[str], sentence_terms: Sequence[str], rank: int,
) -> dict[str, float]:
    """Every feature of `FEATURES` for the chosen span `best` among all passages' `spans`."""
    words = len(best.text.split())
    q = re.findall(r"[a-z]+", question.lower())
    short = bool(q) and (q[0] in _SHORT_TYPES or q[:2] == ["how", "many"] or q[:2] == ["how", "much"] or "what year" in question.lower())
    start_all = _lse([s.start_norm for s in spans])
    end_all = _lse([s.end_norm for s in spans])
    return {
        "margin": best.margin,
        "log_probability": max(best.log_probability, -30.0),
        "joint_margin": best.score - _lse([s.start_null + s.end_null for s in spans]),
        "joint_log_probability": max(best.score - start_all - end_all, -30.0),
        "joint_null_log_probability": max(_lse([s.start_null for s in spans]) - start_all + _lse([s.end_null for s in spans]) - end_all, -30.0),
        "rank": float(rank),
        "agreement": float(sum(1 for s in spans if s is not best and norm_text(s.text) == norm_text(best.text) and norm_text(s.text))),
        "question_overlap": content_overlap(question_terms, passage_terms),
        "sentence_overlap": content_overlap(question_terms, sentence_terms),
        "answer_words": math.log1p(words),
        "long_for_type": math.log1p(max(words - 3, 0)) if short else 0.0,
        "question_words": math.log1p(len(question.split())),
    }


@dataclass(frozen=True)
class Logistic:
    """P(right) = sigmoid(bias + weights . features[names])."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, x: Mapping[str, float]) -> float:
        return sigmoid(self.bias + sum(w * x[name] for name, w in zip(self.features, self.weights)))

    def as_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias}


def band_of(confidence: float, bands: tuple[float, float]) -> str:
    """"high" from bands[1], "medium" from bands[0], else "low"."""
    return "high" if confidence >= bands[1] else "medium" if confidence >= bands[0] else "low"


def sigmoid(z: float) -> float:
    """1 / (1 + e^-z), with z clipped to +-60 so that it never overflows."""
    return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))


@dataclass(frozen=True)
class Calibrator:
    """One logistic model per kind of answer, the abstention threshold, the floor below which a
    candidate is not even shown as a possible answer, and the confidence bands: "high" from
    `bands[1]`, "medium" from `bands[0]` (each the lowest confidence at which answers on the
    calibration set were right at least `band_accuracy` of the time)."""

    models: dict[str, Logistic]
    threshold: float
    floor: float
    bands: tuple[float, float]
    band_accuracy: tuple[float, float] = (0.5, 0.8)
    provenance: dict[str, object] = field(default_factory=dict)

    def probability(self, kind: str, x: Mapping[str, float]) -> float:
        """P(the answer is right) for an answer of `kind` with features `x` (`reading_features`)."""
        model = self.models.get(kind) or self.models["span"]
        return model.probability(x)

    def band(self, confidence: float) -> str:
        """"high", "medium" or "low" by the measured bands."""
        return band_of(confidence, self.bands)

    @classmethod
    def uncalibrated(cls) -> Calibrator:
        """sigmoid(margin), threshold 0.5: the reader's own answer-vs-no-answer decision."""
        model = Logistic(("margin",), (1.0,), 0.0)
        return cls({"span": model, "sentence": model}, 0.5, 0.5, (0.5, 0.8),
                   provenance={"note": "not calibrated: sigmoid of the no-answer margin"})

    def save(self, folder: Path) -> Path:
        path = Path(folder) / CALIBRATION_FILE
        record = {
            "format": FORMAT,
            "models": {kind: m.as_dict() for kind, m in self.models.items()},
            "threshold": self.threshold,
            "floor": self.floor,
            "bands": list(self.bands),
            "band_accuracy": list(self.band_accuracy),
            "provenance": self.provenance,
        }
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path


def _unit(record: Mapping[str, object], key: str) -> float:
    value = float(record[key])  # type: ignore[arg-type]  # checked below; JSON numbers
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} {value} outside 0..1")
    return value


def load_calibrator(folder: Path) -> Calibrator:
    """The calibrator saved beside the reader in `folder`; the uncalibrated fallback if none."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        return Calibrator.uncalibrated()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} calibration")
        models = {}
        for kind, m in record["models"].items():
            unknown = [f for f in m["features"] if f not in FEATURES]
            if unknown or len(m["features"]) != len(m["weights"]):
                raise ValueError(f"model {kind!r}: unknown features {unknown} or weights that do not match")
            models[kind] = Logistic(tuple(m["features"]), tuple(float(w) for w in m["weights"]), float(m["bias"]))
        if "span" not in models:
            raise ValueError("no 'span' model")
        bands = (float(record["bands"][0]), float(record["bands"][1]))
        if not 0.0 <= bands[0] <= bands[1] <= 1.0:
            raise ValueError(f"bands {list(bands)} not 0 <= medium <= high <= 1")
        accuracy = tuple(float(a) for a in record.get("band_accuracy", (0.5, 0.8)))
        return Calibrator(models, _unit(record, "threshold"), _unit(record, "floor"), bands,
                          (accuracy[0], accuracy[1]), record.get("provenance", {}))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise ReaderModelError(f"{path}: unusable calibration ({e}); refit it with `python -m qa.training.fit_calibrator`") from None


# ---------------------------------------------------------------------------------------------
# Fitting (used by `python -m qa.training.fit_calibrator`): pure functions over plain arrays.
# ---------------------------------------------------------------------------------------------


def fit_logistic(
    x: NDArray[np.floating], y: NDArray[np.floating], l2: float = 1e-2, iterations: int = 50,
    sample_weight: NDArray[np.floating] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """L2-regularised (weighted) logistic regression by Newton's method; returns (weights, bias)."""
    X = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    sw = np.ones(len(x)) if sample_weight is None else sample_weight.astype(np.float64)
    w = np.zeros(X.shape[1])
    reg = np.full(X.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = np.fromiter((sigmoid(z) for z in X @ w), np.float64, len(X))
        gradient = X.T @ (sw * (p - y)) + reg * w
        hessian = (X * (sw * p * (1 - p))[:, None]).T @ X + np.diag(reg)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def overall_f1_at(
    threshold: float, confidence: Sequence[float], f1: Sequence[float], answerable: Sequence[bool],
    weight: Sequence[float] | None = None,
) -> float:
    """(Weighted) mean SQuAD 2.0 F1 when answering only at confidence >= threshold: an answer
    scores its F1 on an answerable question and 0 on an unanswerable one; an abstention scores 1
    on an unanswerable question and 0 on an answerable one."""
    weights = [1.0] * len(confidence) if weight is None else list(weight)
    total = 0.0
    for c, f, a, w in zip(confidence, f1, answerable, weights):
        answered = c >= threshold
        total += w * ((f if answered else 0.0) if a else (0.0 if answered else 1.0))
    return total / max(sum(weights), 1e-12)


def best_threshold(
    confidence: Sequence[float], f1: Sequence[float], answerable: Sequence[bool], weight: Sequence[float] | None = None,
) -> float:
    """The threshold (on a 0.01 grid) that maximises overall F1; the middle of the best run of
    ties, so that it does not sit on the edge of a plateau."""
    grid = [round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.01)]
    scores = [overall_f1_at(t, confidence, f1, answerable, weight) for t in grid]
    top = max(scores)
    best = [t for t, s in zip(grid, scores) if s >= top - 1e-12]
    return best[len(best) // 2]
