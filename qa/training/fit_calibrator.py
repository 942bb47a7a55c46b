"""Fit the reader's confidence on the calibration set: `python -m qa.training.fit_calibrator` (after
`python -m qa.training.calibration_sets`).

Every question of the three parts (`qa/training/calibration_sets.py`: answerable news, questions the
archive does not cover, in-article traps) is asked as the product asks it — open-domain over its
part's archive, the configured retriever, the top k passages — and what the reader saw is
recorded once (`records-<reader>.jsonl` in the parts folder). Then, in seconds:

  * a logistic calibrator per kind of answer ("span", "sentence"), over the features that improve
    out-of-fold overall F1 on the mix (greedy forward selection; folds by story or article),
    label: the answer is right (a span with F1 >= 0.5; a sentence that holds a gold answer);
  * the threshold that maximises overall F1 on the mix `qa.training.calibration_sets.MIX`;
  * the floor of a possible answer: the confidence that at most 10 % of the questions the archive
    does not cover reach;
  * the bands: "high" from the lowest confidence where answers were right >= 80 % of the time
    (mix-weighted), "medium" >= 50 %.

Written to `calibration.json` beside the reader weights with the data and metrics behind it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Config
from qa.evaluation.metrics import f1_score, reliability_table
from qa.reader.calibration import (
    FEATURES,
    KINDS,
    Calibrator,
    Logistic,
    best_threshold,
    fit_logistic,
    norm_text,
    overall_f1_at,
)
from qa.training.calibration_sets import MIX, PARTS
from qa.training.model_card import write_model_card

NOT_COVERED_REACHING_FLOOR = 0.10
BAND_ACCURACY = (0.5, 0.8)
FOLDS = 5


def collect(part: str, eval_file: Path, config: Config, progress: bool = True) -> list[dict[str, Any]]:
    """One record per question: the reader's choice, its kind, its features, its F1 and whether
    it is right, the question's part and fold key."""
    from tqdm import tqdm

    from qa.evaluation.data import load_eval_file
    from qa.evaluation.runner import prepare_index
    from qa.pipeline import QA
    from qa.reader.neural import NeuralReader

    eval_set = load_eval_file(eval_file)
    config = prepare_index(eval_set, config, None, progress=progress)
    reader = NeuralReader(config)
    qa = QA(config, reader=reader)
    records = []
    for q in tqdm(eval_set.questions, desc=f"calibration: {part}", unit="q", disable=not progress, file=sys.stderr):
        passages = qa.search(q.question)
        started = time.perf_counter()
        reading = reader.best(q.question, passages)
        read_ms = (time.perf_counter() - started) * 1000
        if reading.candidate is None or reading.features is None:
            continue
        text = passages[reading.candidate.passage_index].text[reading.start : reading.end]
        f1 = f1_score(text, q.answers) if q.answerable else 0.0
        holds = q.answerable and any(norm_text(a) and norm_text(a) in norm_text(text) for a in q.answers)
        right = (holds if reading.kind == "sentence" else f1 >= 0.5) and q.answerable
        records.append({
            "part": part, "qid": q.qid, "question": q.question, "answerable": q.answerable, "kind": reading.kind,
            "answer": text, "f1": f1, "right": bool(right),
            # Sentence answers are scored by whether they hold the answer (what the reader of the card needs).
            "score": (1.0 if holds else 0.0) if reading.kind == "sentence" else f1,
            # Folds by story (news) or by article (the Wikipedia parts).
            "fold": q.doc_ids[0] if part in ("news", "not-covered") else (q.tags[0] if q.tags else q.doc_ids[0]),
            "cited_gold_first": bool(q.doc_ids) and passages[reading.candidate.passage_index].doc_id in q.doc_ids,
            "features": reading.features,
            "read_ms": round(read_ms, 1),
        })
    return records


def _reader_key(folder: Path) -> str:
    from qa.reader.span_model import read_manifest

    return str(read_manifest(folder).get("weights_sha256", ""))[:12]


def load_records(parts_dir: Path, config: Config, reader_dir: Path, parts: Sequence[str] = PARTS) -> list[dict[str, Any]]:
    """The records of every part for this reader, collected once and cached beside the parts
    (by the part's bytes, the reader, the passages read and their length, the retriever)."""
    records = []
    for part in parts:
        path = parts_dir / f"{part}.json"
        if not path.exists():
            raise SystemExit(f"{path}: missing; build the calibration set first with `python -m qa.training.calibration_sets`")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        cache = parts_dir / (f"records-{part}-{digest}-{_reader_key(reader_dir)}-k{config.top_k}-"
                             f"c{config.chunk_tokens}-{config.retriever}.jsonl")
        if not cache.exists():
            rows = collect(part, path, config)
            cache.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        records += [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines() if line]
    return records


def mix_weights(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Each part weighs its share of `MIX`, spread evenly over its questions."""
    counts = {p: sum(1 for r in records if r["part"] == p) for p in PARTS}
    return np.array([MIX[r["part"]] / counts[r["part"]] for r in records])


def _fold_of(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % FOLDS


def _matrix(records: Sequence[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.array([[r["features"][n] for n in names] for r in records], dtype=np.float64).reshape(len(records), len(names))


def fit_model(records: Sequence[dict[str, Any]], names: Sequence[str], weight: np.ndarray) -> Logistic:
    y = np.array([1.0 if r["right"] else 0.0 for r in records])
    w, b = fit_logistic(_matrix(records, names), y, sample_weight=weight / weight.mean())
    return Logistic(tuple(names), tuple(round(float(v), 6) for v in w), round(float(b), 6))


def confidences(records: Sequence[dict[str, Any]], models: dict[str, Logistic]) -> list[float]:
    return [(models.get(r["kind"]) or models["span"]).probability(r["features"]) for r in records]


def out_of_fold(records: Sequence[dict[str, Any]], names: dict[str, tuple[str, ...]], weight: np.ndarray) -> list[float]:
    """Each question's confidence from calibrators fitted on the other folds (by story or article)."""
    folds = np.array([_fold_of(r["fold"]) for r in records])
    out = np.zeros(len(records))
    for f in range(FOLDS):
        train = folds != f
        models = {}
        for kind in KINDS:
            idx = [int(i) for i in np.flatnonzero(train) if records[int(i)]["kind"] == kind]
            if len(idx) >= 10:
                models[kind] = fit_model([records[i] for i in idx], names[kind], weight[idx])
        models.setdefault("span", Logistic(("margin",), (1.0,), 0.0))
        held = np.flatnonzero(~train)
        out[held] = confidences([records[int(i)] for i in held], models)
    return out.tolist()


def oof_mix_f1(records: Sequence[dict[str, Any]], names: dict[str, tuple[str, ...]], weight: np.ndarray) -> float:
    """Overall F1 on the mix with out-of-fold confidences and a threshold chosen out of fold too."""
    conf = out_of_fold(records, names, weight)
    folds = np.array([_fold_of(r["fold"]) for r in records])
    scores = [r["score"] for r in records]
    answerable = [r["answerable"] for r in records]
    total = 0.0
    for f in range(FOLDS):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        t = best_threshold([conf[i] for i in tr], [scores[i] for i in tr], [answerable[i] for i in tr], weight[tr].tolist())
        total += overall_f1_at(t, [conf[i] for i in te], [scores[i] for i in te], [answerable[i] for i in te], weight[te].tolist()) * weight[te].sum()
    return float(total / weight.sum())


def oof_log_likelihood(records: Sequence[dict[str, Any]], names: dict[str, tuple[str, ...]], weight: np.ndarray) -> float:
    """Mean log-likelihood of the labels under out-of-fold confidences, each part weighing its
    share of the mix: a proper score, so it rewards confidences that mean the same on every part."""
    conf = np.clip(np.array(out_of_fold(records, names, weight)), 1e-6, 1 - 1e-6)
    right = np.array([1.0 if r["right"] else 0.0 for r in records])
    return float(np.sum(weight * (right * np.log(conf) + (1 - right) * np.log(1 - conf))) / weight.sum())


OBJECTIVES = {"mix-f1": (oof_mix_f1, 0.002), "log-likelihood": (oof_log_likelihood, 0.001)}


def select_features(records: Sequence[dict[str, Any]], weight: np.ndarray, base: dict[str, tuple[str, ...]],
                    objective: str = "mix-f1") -> tuple[dict[str, tuple[str, ...]], list[dict[str, Any]]]:
    """Greedy forward selection per kind: add the feature that most improves the out-of-fold
    `objective` (mix F1, or the mix-weighted log-likelihood), while it improves it by at least
    its minimum gain."""
    score_of, min_gain = OBJECTIVES[objective]
    names = dict(base)
    tried: list[dict[str, Any]] = []
    score = score_of(records, names, weight)
    tried.append({"features": {k: list(v) for k, v in names.items()}, f"oof_{objective}": round(score, 4)})
    for kind in KINDS:
        while True:
            best_gain, best_name = min_gain, None
            for name in FEATURES:
                if name in names[kind]:
                    continue
                trial = {**names, kind: names[kind] + (name,)}
                s = score_of(records, trial, weight)
                tried.append({"kind": kind, "added": name, f"oof_{objective}": round(s, 4)})
                if s - score > best_gain:
                    best_gain, best_name = s - score, name
            if best_name is None:
                break
            names[kind] += (best_name,)
            score += best_gain
    return names, tried


def part_metrics(records: Sequence[dict[str, Any]], conf: Sequence[float], threshold: float) -> dict[str, dict[str, float | int]]:
    """Per part (and the mix): answerable F1, unanswerable accuracy, overall F1, at the threshold,
    always answering and always abstaining; news: how often the cited article is the gold one."""
    out: dict[str, dict[str, float | int]] = {}
    for part in PARTS:
        idx = [i for i, r in enumerate(records) if r["part"] == part]
        if not idx:
            continue
        rs = [records[i] for i in idx]
        c = [conf[i] for i in idx]
        ans = [r for r, ci in zip(rs, c) if r["answerable"]]
        una = [ci for r, ci in zip(rs, c) if not r["answerable"]]
        row: dict[str, float | int] = {"questions": len(rs), "answerable": len(ans)}
        if ans:
            row["answerable_f1"] = round(float(np.mean([r["f1"] if ci >= threshold else 0.0 for r, ci in zip(rs, c) if r["answerable"]])), 4)
            row["always_answer_answerable_f1"] = round(float(np.mean([r["f1"] for r in ans])), 4)
            row["cited_gold_first"] = round(float(np.mean([r["cited_gold_first"] for r in ans])), 4)
        if una:
            row["unanswerable_accuracy"] = round(float(np.mean([ci < threshold for ci in una])), 4)
        row["overall_f1"] = round(overall_f1_at(threshold, c, [r["f1"] for r in rs], [r["answerable"] for r in rs]), 4)
        row["always_answer_overall_f1"] = round(overall_f1_at(0.0, c, [r["f1"] for r in rs], [r["answerable"] for r in rs]), 4)
        row["always_abstain_overall_f1"] = round(len(una) / len(rs), 4)
        row["answered"] = sum(1 for ci in c if ci >= threshold)
        out[part] = row
    weight = mix_weights(records)
    f1s = [r["f1"] for r in records]
    answerable = [r["answerable"] for r in records]
    out["mix"] = {
        "overall_f1": round(overall_f1_at(threshold, conf, f1s, answerable, weight.tolist()), 4),
        "always_answer_overall_f1": round(overall_f1_at(0.0, conf, f1s, answerable, weight.tolist()), 4),
        "always_abstain_overall_f1": round(overall_f1_at(1.01, conf, f1s, answerable, weight.tolist()), 4),
    }
    return out


# The parts whose answers the bands must describe (the not-covered part has no right answer).
BAND_PARTS = ("news", "traps", "clean")


def part_bands(records: Sequence[dict[str, Any]], conf: Sequence[float], min_answers: int = 20) -> tuple[tuple[float, float], dict[str, Any]]:
    """Bands that mean the same on every kind of archive: "high" from the lowest confidence at
    which, on each part, the answers at or above it were right >= 80 % of the time; "medium" from
    the lowest confidence at which, on each part, the answers between it and "high" were right
    >= 50 %. Each edge is the highest of the parts' edges (0.01 grid); a part that reaches an
    accuracy at no confidence (with `min_answers` answers) is left out of that edge and named."""
    grid = [round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.01)]
    by_part = {p: ([c for c, r in zip(conf, records) if r["part"] == p], [r["right"] for r in records if r["part"] == p])
               for p in BAND_PARTS}

    def lowest(part: str, accuracy: float, top: float) -> float | None:
        c, right = by_part[part]
        for t in grid:
            kept = [r for ci, r in zip(c, right) if t <= ci < top]
            if len(kept) >= min_answers and sum(kept) >= accuracy * len(kept):
                return t
        return None

    high_edges = {p: lowest(p, BAND_ACCURACY[1], 2.0) for p in BAND_PARTS if by_part[p][0]}
    high = max((e for e in high_edges.values() if e is not None), default=1.0)
    medium_edges = {p: lowest(p, BAND_ACCURACY[0], high) for p in BAND_PARTS if by_part[p][0]}
    medium = min(high, max((e for e in medium_edges.values() if e is not None), default=high))
    return (medium, high), {"high": high_edges, "medium": medium_edges,
                            "unreachable": {"high": [p for p, e in high_edges.items() if e is None],
                                            "medium": [p for p, e in medium_edges.items() if e is None]}}


def bands_by_part(records: Sequence[dict[str, Any]], conf: Sequence[float], bands: tuple[float, float]) -> dict[str, dict[str, Any]]:
    """Per part, how often answers labelled "high" and "medium" were right: the bands must mean
    the same accuracy on every kind of archive."""
    out: dict[str, dict[str, Any]] = {}
    for part in PARTS:
        row: dict[str, Any] = {}
        for band, low, high in (("high", bands[1], 2.0), ("medium", bands[0], bands[1])):
            right = [r["right"] for r, c in zip(records, conf) if r["part"] == part and low <= c < high]
            row[band] = {"answers": len(right), "right": round(float(np.mean(right)), 4) if right else None}
        out[part] = row
    return out


def calibrate(records: list[dict[str, Any]], command: str, parts_dir: Path, objective: str = "mix-f1") -> Calibrator:
    """Fit everything on `records` (see the module docstring); features chosen by `objective`."""
    started = time.time()
    weight = mix_weights(records)
    # A sentence answer is judged whole: how much of the question it covers starts in its model.
    base: dict[str, tuple[str, ...]] = {"span": ("margin", "log_probability"),
                                        "sentence": ("margin", "log_probability", "sentence_overlap")}
    names, tried = select_features(records, weight, base, objective)
    models = {}
    for kind in KINDS:
        idx = [i for i, r in enumerate(records) if r["kind"] == kind]
        models[kind] = fit_model([records[i] for i in idx], names[kind], weight[idx]) if len(idx) >= 10 else fit_model(records, names["span"], weight)
    conf = confidences(records, models)
    scores = [r["score"] for r in records]
    answerable = [r["answerable"] for r in records]
    threshold = best_threshold(conf, scores, answerable, weight.tolist())
    uncovered = sorted(c for c, r in zip(conf, records) if r["part"] == "not-covered")
    floor = uncovered[min(len(uncovered) - 1, int((1 - NOT_COVERED_REACHING_FLOOR) * len(uncovered)))] if uncovered else threshold
    floor = round(min(floor + 0.005, threshold), 3)
    bands, band_edges = part_bands(records, conf)
    oof = out_of_fold(records, names, weight)
    provenance: dict[str, object] = {
        "command": command,
        "parts": {p: str(parts_dir / f"{p}.json") for p in PARTS},
        "mix": MIX,
        "setting": "open-domain over each part's archive, hybrid retrieval, top 5 passages",
        "label": "answer right: a span with F1 >= 0.5 against a gold answer, a sentence that holds one; any answer to an unanswerable question is wrong",
        "threshold_rule": "maximises overall F1 on the mix (sentence answers count 1 when they hold a gold answer)",
        "floor_rule": f"at most {NOT_COVERED_REACHING_FLOOR:.0%} of the not-covered questions reach it",
        "band_rule": f"on every part ({', '.join(BAND_PARTS)}): answers at or above 'high' right >= {BAND_ACCURACY[1]:.0%} "
                     f"of the time, answers between 'medium' and 'high' right >= {BAND_ACCURACY[0]:.0%}; each edge the highest "
                     "of the parts' edges (a part that reaches the accuracy at no confidence is left out and named)",
        "band_edges_by_part": band_edges,
        "questions": {p: sum(1 for r in records if r["part"] == p) for p in PARTS},
        "kinds": {k: sum(1 for r in records if r["kind"] == k) for k in KINDS},
        "at_threshold": part_metrics(records, conf, threshold),
        "out_of_fold": {"mix_overall_f1": round(oof_mix_f1(records, names, weight), 4),
                        "at_threshold": part_metrics(records, oof, threshold)},
        "bands_by_part": bands_by_part(records, conf, bands),
        "bands_by_part_out_of_fold": bands_by_part(records, oof, bands),
        "feature_selection": f"greedy forward, out-of-fold {objective}",
        "features_tried": tried,
        "reliability": {k: reliability_table([c for c, r in zip(conf, records) if r["kind"] == k],
                                             [r["right"] for r in records if r["kind"] == k]) for k in KINDS},
        "seconds_fitting": round(time.time() - started, 1),
    }
    return Calibrator(models, threshold, floor, bands, BAND_ACCURACY, provenance)


def baseline_record(baseline: Path, parts_dir: Path, config: Config, command: str, objective: str) -> dict[str, Any]:
    """Another reader calibrated on the same parts by the same rules (never saved): its metrics at
    its own threshold, out of fold, and always answering."""
    records = load_records(parts_dir, config.with_(reader_model_dir=baseline), baseline)
    fitted = calibrate(records, command, parts_dir, objective)
    return {"reader": str(baseline), "weights_sha256": _reader_key(baseline), "threshold": fitted.threshold,
            "at_threshold": fitted.provenance["at_threshold"], "out_of_fold": fitted.provenance["out_of_fold"],
            "bands": list(fitted.bands), "bands_by_part": fitted.provenance["bands_by_part"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.fit_calibrator", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=Path, default=Path("runs/calibration"), help="the folder `python -m qa.training.calibration_sets` wrote")
    parser.add_argument("--model", type=Path, help="reader folder (default: the shipped qa/reader_model)")
    parser.add_argument("--report-only", action="store_true", help="print the metrics of the saved calibrator; write nothing")
    parser.add_argument("--objective", choices=sorted(OBJECTIVES), default="mix-f1",
                        help="what feature selection maximises out of fold: the mix's overall F1, or the mix-weighted "
                             "log-likelihood (confidences that mean the same on every part)")
    parser.add_argument("--baseline", type=Path,
                        help="another reader folder (the one shipped before) calibrated the same way, out of fold, "
                             "for the comparison recorded with the calibrator and shown on the model card")
    args = parser.parse_args(argv)
    from qa.reader.neural import NeuralReader

    config = Config() if args.model is None else Config(reader_model_dir=args.model)
    folder = NeuralReader(config).model_dir
    records = load_records(args.parts, config, folder)
    if args.report_only:
        calibrator = NeuralReader(config).calibrator
        conf = [calibrator.probability(r["kind"], r["features"]) for r in records]
        print(json.dumps(part_metrics(records, conf, calibrator.threshold), indent=1))
        return 0
    command = "python -m qa.training.fit_calibrator " + " ".join(argv if argv is not None else sys.argv[1:])
    calibrator = calibrate(records, command, args.parts, args.objective)
    if args.baseline:
        calibrator.provenance["baseline"] = baseline_record(args.baseline, args.parts, config, command, args.objective)
    path = calibrator.save(folder)
    write_model_card(folder)
    at = calibrator.provenance["at_threshold"]
    print(f"wrote {path}: threshold {calibrator.threshold}, floor {calibrator.floor}, bands {calibrator.bands}, "
          f"features {[(k, m.features) for k, m in calibrator.models.items()]}")
    print(json.dumps({"at_threshold": at, "out_of_fold": calibrator.provenance["out_of_fold"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
