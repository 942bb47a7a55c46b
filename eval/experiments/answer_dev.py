"""Develop and fit the extractive reader (qa/answer.py) on SQuAD 2.0 dev questions, open-domain style.

Every SQuAD paragraph of the 8 articles in /work/shared/eval/squad-v2.0-dev-a.json is one document;
each question retrieves the top-5 paragraphs by dense cosine (all-MiniLM-L6-v2, numpy dot product)
and the reader answers from them. Articles are split in two: the ranker and the confidence model
are fit, and the abstention threshold chosen, on FIT_ARTICLES only; all reported numbers come from
TEST_ARTICLES, which the fit never saw.

Variants compared (all on the same retrieved passages and parsed sentences):
  sentence   the reader's best sentence as the answer (no span extraction)
  hand       typed span candidates, hand-set ranker weights (no fitting)
  untyped    fitted ranker without the expected-answer-type features
  typed      fitted ranker with the expected-answer-type features (the shipped method)

Usage:
  .venv/bin/python eval/experiments/answer_dev.py [--limit N] [--seed 0] [--cache /tmp/answer_dev.pkl]
Prints the fitted coefficients to paste into qa/answer.py and a table of test-split numbers.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import pickle
import random
import re
import string
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qa import answer as A  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.documents import Chunk, Passage  # noqa: E402
from qa.embed import Embedder  # noqa: E402

DATA = Path("/work/shared/eval/squad-v2.0-dev-a.json")
FIT_ARTICLES = ("Normans", "1973_oil_crisis", "Yuan_dynasty", "Imperialism")
TEST_ARTICLES = ("Huguenot", "Packet_switching", "Scottish_Parliament", "French_and_Indian_War")
TOP_K = 5
TYPE_FEATURES = ("type_primary", "type_secondary", "focus_match")
# The hand-set ranker weights used before any fitting (the "hand" variant).
HAND_RANKER = ((1.5, 0.5, 0.0, 0.3, 0.3, 0.8, 2.0, 2.0, 0.5, 0.5, 1.0, -1.0, -0.8), -4.0)


# ---- SQuAD v2 scoring (the official normalisation) ----------------------------------------------


def normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1(pred: str, gold: str) -> float:
    p, g = normalize(pred).split(), normalize(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if not p or not g:
        return float(p == g)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def best_em_f1(pred: str, golds: list[str]) -> tuple[float, float]:
    return _best_em_f1(pred, tuple(golds))


@functools.lru_cache(maxsize=None)
def _best_em_f1(pred: str, golds: tuple[str, ...]) -> tuple[float, float]:
    return (
        max(float(normalize(pred) == normalize(g)) for g in golds),
        max(f1(pred, g) for g in golds),
    )


# ---- data and retrieval ------------------------------------------------------------------------


class PrecomputedEmbedder(Embedder):
    """The real Embedder, with question vectors batch-encoded up front (as a retriever would have)."""

    def __init__(self, config: Config, queries: dict[str, np.ndarray]):
        super().__init__(config)
        self._pre = queries

    def encode_query(self, text: str) -> np.ndarray:
        v = self._pre.get(text)
        return v if v is not None else super().encode_query(text)


def load_questions(limit: int | None, seed: int):
    data = json.loads(DATA.read_text())["data"]
    passages, questions = [], []
    for article in data:
        title = article["title"]
        for i, para in enumerate(article["paragraphs"]):
            ctx = para["context"]
            chunk = Chunk(chunk_id=f"{title}-{i}", doc_id=f"{title}-{i}", start=0, end=len(ctx), text=ctx)
            passages.append(Passage(chunk, title, None, None, 0.0))
            for qa in para["qas"]:
                golds = [a["text"] for a in qa.get("answers", [])]
                questions.append(
                    {"id": qa["id"], "article": title, "question": qa["question"], "golds": golds,
                     "impossible": bool(qa.get("is_impossible")) or not golds, "doc_id": f"{title}-{i}"}
                )
    if limit:
        rng = random.Random(seed)
        questions = rng.sample(questions, min(limit, len(questions)))
    return passages, questions


def extract(limit: int | None, seed: int, cache: Path) -> dict:
    """Retrieve and run the reader's `read` on every question; cache the readings."""
    if cache.exists():
        stored = pickle.loads(cache.read_bytes())
        if stored["limit"] == limit and stored["seed"] == seed:
            return stored
    config = Config()
    passages, questions = load_questions(limit, seed)
    base = Embedder(config)
    t0 = time.time()
    p_vecs = base.encode_passages([p.text for p in passages])
    q_vecs = base.encode_passages([q["question"] for q in questions])
    print(f"encoded {len(passages)} paragraphs + {len(questions)} questions in {time.time() - t0:.0f}s", file=sys.stderr)
    embedder = PrecomputedEmbedder(config, {q["question"]: v for q, v in zip(questions, q_vecs)})
    reader = A.ExtractiveReader(config, embedder)
    t0 = time.time()
    for n, (q, qv) in enumerate(zip(questions, q_vecs)):
        scores = p_vecs @ qv
        top = np.argsort(-scores)[:TOP_K]
        retrieved = [
            Passage(passages[i].chunk, passages[i].title, None, None, float(scores[i])) for i in top
        ]
        q["retrieved_gold"] = any(p.doc_id == q["doc_id"] for p in retrieved)
        q["passages"] = retrieved
        q["reading"] = reader.read(q["question"], retrieved)
        if n % 200 == 0:
            print(f"  {n}/{len(questions)} {time.time() - t0:.0f}s", file=sys.stderr)
    print(f"read {len(questions)} questions in {time.time() - t0:.0f}s "
          f"({(time.time() - t0) / max(1, len(questions)) * 1000:.0f} ms each, incl. paragraph-length passages)",
          file=sys.stderr)
    stored = {"limit": limit, "seed": seed, "questions": questions}
    cache.write_bytes(pickle.dumps(stored))
    return stored


# ---- variants ----------------------------------------------------------------------------------


def features_of(reading: A.Reading, typed: bool) -> np.ndarray:
    X = np.array([c.features for c in reading.candidates], dtype=float).reshape(-1, len(A.CANDIDATE_FEATURES))
    if not typed:
        for name in TYPE_FEATURES:
            X[:, A.CANDIDATE_FEATURES.index(name)] = 0.0
        X[:, A.CANDIDATE_FEATURES.index("type_unknown")] = 1.0
    return X


def fit_ranker(questions: list[dict], typed: bool) -> tuple[tuple[float, ...], float]:
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for q in questions:
        r = q["reading"]
        if q["impossible"] or not r.candidates:
            continue
        X.append(features_of(r, typed))
        y.extend(float(best_em_f1(c.text, q["golds"])[1] >= 0.5) for c in r.candidates)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(np.vstack(X), np.array(y))
    return tuple(round(float(w), 4) for w in model.coef_[0]), round(float(model.intercept_[0]), 4)


def choose(q: dict, ranker, typed: bool):
    """The chosen candidate's text and its confidence features under `ranker`."""
    r = q["reading"]
    if not r.candidates:
        return None, None
    X = features_of(r, typed)
    logits = list(X @ np.array(ranker[0]) + ranker[1])
    best = int(np.argmax(logits))
    info = r.info if typed else A.QuestionInfo(r.info.wh, "", (), (), r.info.terms, r.info.proper_terms)
    cands = [A.Candidate(c.passage_index, c.start, c.end, c.text, c.label, c.sentence, tuple(x))
             for c, x in zip(r.candidates, X)]
    feats = A.confidence_features(info, cands, logits, best, q["passages"])
    return r.candidates[best].text, feats


def choose_sentence(q: dict):
    """The best-scored sentence as the answer (the no-span baseline)."""
    r = q["reading"]
    if not r.sentences:
        return None, None
    s = max(r.sentences, key=lambda s: s.score)
    return s.text, (s.score, s.cosine, s.lexical)


def fit_calibrator(preds: list[tuple[dict, str | None, tuple | None]]):
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for q, text, feats in preds:
        if text is None:
            continue
        X.append(feats)
        y.append(float(not q["impossible"] and best_em_f1(text, q["golds"])[1] >= 0.5))
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(X), np.array(y))
    return tuple(round(float(w), 4) for w in model.coef_[0]), round(float(model.intercept_[0]), 4)


def confidences(preds, calibrator) -> list[float]:
    w, b = calibrator
    return [0.0 if t is None else A._sigmoid(A.linear(w, b, f)) for _, t, f in preds]


def score(preds, confs, threshold: float) -> dict:
    """SQuAD v2 numbers: answer when confidence >= threshold, else abstain."""
    em = f1s = 0.0
    has_em = has_f1 = has_em_forced = has_f1_forced = 0.0
    n_has = n_no = no_correct = 0
    for (q, text, _), conf in zip(preds, confs):
        answered = text is not None and conf >= threshold
        if q["impossible"]:
            n_no += 1
            ok = float(not answered)
            no_correct += ok
            em += ok
            f1s += ok
        else:
            n_has += 1
            e, f = best_em_f1(text, q["golds"]) if text is not None else (0.0, 0.0)
            has_em_forced += e
            has_f1_forced += f
            if answered:
                has_em += e
                has_f1 += f
                em += e
                f1s += f
    n = max(1, n_has + n_no)
    return {
        "HasAns_EM_forced": 100 * has_em_forced / max(1, n_has),
        "HasAns_F1_forced": 100 * has_f1_forced / max(1, n_has),
        "HasAns_EM": 100 * has_em / max(1, n_has),
        "HasAns_F1": 100 * has_f1 / max(1, n_has),
        "NoAns_acc": 100 * no_correct / max(1, n_no),
        "EM": 100 * em / n,
        "F1": 100 * f1s / n,
        "always_abstain_F1": 100 * n_no / n,
        "n": n_has + n_no,
    }


def best_threshold(preds, confs) -> float:
    grid = np.round(np.arange(0.0, 1.001, 0.01), 2)
    return float(max(grid, key=lambda t: (score(preds, confs, t)["F1"], -t)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="sample this many questions (fixed seed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/answer_dev.pkl"))
    args = ap.parse_args()

    questions = extract(args.limit, args.seed, args.cache)["questions"]
    fit = [q for q in questions if q["article"] in FIT_ARTICLES]
    test = [q for q in questions if q["article"] in TEST_ARTICLES]
    print(f"fit: {len(fit)} questions ({', '.join(FIT_ARTICLES)}); test: {len(test)} ({', '.join(TEST_ARTICLES)})")
    for name, qs in (("fit", fit), ("test", test)):
        has = [q for q in qs if not q["impossible"]]
        print(f"  {name}: gold paragraph in top-{TOP_K} for {100 * np.mean([q['retrieved_gold'] for q in has]):.1f}% of answerable")

    rows = {}
    shipped = None
    for variant in ("sentence", "hand", "untyped", "typed"):
        if variant == "sentence":
            pick = choose_sentence
        else:
            typed = variant != "untyped"
            ranker = HAND_RANKER if variant == "hand" else fit_ranker(fit, typed)
            pick = lambda q, ranker=ranker, typed=typed: choose(q, ranker, typed)  # noqa: E731
        fit_preds = [(q, *pick(q)) for q in fit]
        test_preds = [(q, *pick(q)) for q in test]
        calibrator = fit_calibrator(fit_preds)
        threshold = best_threshold(fit_preds, confidences(fit_preds, calibrator))
        rows[variant] = {"threshold": threshold, **score(test_preds, confidences(test_preds, calibrator), threshold)}
        rows[variant]["fit_F1"] = score(fit_preds, confidences(fit_preds, calibrator), threshold)["F1"]
        if variant == "typed":
            shipped = (ranker, calibrator, threshold)

    cols = ["threshold", "HasAns_EM_forced", "HasAns_F1_forced", "HasAns_EM", "HasAns_F1", "NoAns_acc", "EM", "F1",
            "always_abstain_F1", "fit_F1"]
    print("\nTEST split (" + ", ".join(TEST_ARTICLES) + "); threshold and models fit on FIT split")
    print(f"{'variant':10s} " + " ".join(f"{c:>17s}" for c in cols))
    for name, row in rows.items():
        print(f"{name:10s} " + " ".join(f"{row[c]:17.2f}" for c in cols))

    ranker, calibrator, threshold = shipped
    print("\n# paste into qa/answer.py")
    print(f"RANKER_WEIGHTS = {ranker[0]}\nRANKER_BIAS = {ranker[1]}")
    print(f"CALIBRATOR_WEIGHTS = {calibrator[0]}\nCALIBRATOR_BIAS = {calibrator[1]}")
    print(f"# abstain threshold (max overall F1 on FIT split): {threshold}")
    fit_preds = [(q, *choose(q, ranker, True)) for q in fit]
    test_preds = [(q, *choose(q, ranker, True)) for q in test]
    print("\nshipped method: overall F1 by threshold (fit / test)")
    for t in (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
        a = score(fit_preds, confidences(fit_preds, calibrator), t)
        b = score(test_preds, confidences(test_preds, calibrator), t)
        print(f"  {t:.2f}: fit F1 {a['F1']:.2f}  test F1 {b['F1']:.2f}  test HasAns_F1 {b['HasAns_F1']:.2f}  test NoAns {b['NoAns_acc']:.2f}")


if __name__ == "__main__":
    main()
