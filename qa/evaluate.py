"""`qa eval`: retrieval and answer quality on a question set, with a table, JSON and a report.

Two input formats become one list of `EvalQuestion`s:
  * the project's own JSON Lines gold set (eval/questions.jsonl, described in eval/README.md),
    asked against an existing index (the bundled questions are about corpus/);
  * SQuAD JSON, v1.1 or v2.0: every paragraph becomes a document (id `<title-slug>-<n>`) in an
    index cached by the file's hash, and every question is asked open-domain against all of them.

What is measured, per question:
  * retrieval, for every retriever (dense, bm25, hybrid: retrieval is cheap): the documents of the
    top passages, de-duplicated, scored against the gold documents with ir-measures
    (R@1..10, MRR@10, nDCG@10), over the answerable questions;
  * answering, with the selected retriever: the reader's best span and its confidence, read once
    with threshold 0 so any abstention threshold can be applied afterwards (the answer at
    threshold t is the span when confidence >= t, else an abstention, exactly as the reader does);
    SQuAD exact match and F1, abstention precision and recall, the always-abstain baseline;
  * latency of `QA.ask` (retrieve + read) per question, after a warm-up question loads the models.

Pure functions over plain data come first; those touching the index, the models or the disk follow.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import random
import re
import statistics
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from qa.config import RETRIEVERS, Config
from qa.documents import Document
from qa.errors import BadInputError, IndexMissingError
from qa.ingest import slugify

DEFAULT_EVAL_FILE = Path("eval/questions.jsonl")
RECALL_KS = tuple(range(1, 11))
METRIC_DEPTH = 10  # documents per question the retrieval metrics look at
SEARCH_DEPTH = 50  # passages searched per question; several passages can share one document
SEED = 0
FORMAT_HINT = "see eval/README.md for the format"


# ---------------------------------------------------------------- the question set


@dataclass(frozen=True)
class EvalQuestion:
    """One question. `answers` empty means the articles cannot answer it.

    `doc_ids` are the gold documents for retrieval (for SQuAD: the question's own paragraph,
    kept for unanswerable questions too, though retrieval is scored on answerable ones only).
    """

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    tags: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class EvalSet:
    path: Path
    format: str  # "qa-eval" | "squad-v1.1" | "squad-v2.0"
    questions: list[EvalQuestion]
    documents: list[Document] | None = None  # SQuAD paragraphs to index; None: ask the given index


def _str_list(value: object, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInputError(f"{where}: '{key}' must be a list of strings; {FORMAT_HINT}")
    return tuple(value)


def parse_question_record(record: object, where: str, default_id: str) -> EvalQuestion:
    """One object of the project's own format (see eval/README.md)."""
    if not isinstance(record, dict):
        raise BadInputError(f"{where}: expected a JSON object, got {type(record).__name__}; {FORMAT_HINT}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadInputError(f"{where}: 'question' must be a non-empty string; {FORMAT_HINT}")
    answers = tuple(a for a in _str_list(record.get("answers"), where, "answers") if a.strip())
    doc_ids = _str_list(record.get("doc_ids"), where, "doc_ids")
    if answers and not doc_ids:
        raise BadInputError(f"{where}: an answerable question needs 'doc_ids' (its gold articles); {FORMAT_HINT}")
    qid = record.get("id", default_id)
    if not isinstance(qid, (str, int)):
        raise BadInputError(f"{where}: 'id' must be a string; {FORMAT_HINT}")
    return EvalQuestion(str(qid), question.strip(), answers, doc_ids, _str_list(record.get("tags"), where, "tags"))


def parse_question_lines(text: str, path: Path) -> list[EvalQuestion]:
    """The project's format: one JSON object per line; blank lines and `#` comment lines are skipped."""
    questions = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(
                f"{path}: line {lineno} is not valid JSON ({e.msg}); each line must be one question object, "
                f"{FORMAT_HINT}"
            ) from None
        questions.append(parse_question_record(record, f"{path}:{lineno}", f"q{lineno}"))
    return questions


def squad_documents_and_questions(data: object, path: Path) -> EvalSet:
    """SQuAD v1.1 / v2.0 JSON: one Document per paragraph (text = context, unchanged, so the gold
    offsets stay valid), one EvalQuestion per question with that paragraph as its gold document."""
    from qa.ingest import content_hash

    def bad(detail: str) -> BadInputError:
        return BadInputError(
            f"{path}: not a SQuAD file ({detail}); expected data[].title, data[].paragraphs[].context "
            f"and paragraphs[].qas[].question/answers, {FORMAT_HINT}"
        )

    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise bad("no 'data' list")
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    seen_ids: set[str] = set()
    impossible_seen = False
    for a_idx, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise bad(f"data[{a_idx}] has no 'paragraphs' list")
        raw_title = str(article.get("title") or f"article-{a_idx}")
        title = raw_title.replace("_", " ")
        slug = slugify(raw_title)
        for p_idx, paragraph in enumerate(article["paragraphs"]):
            where = f"data[{a_idx}].paragraphs[{p_idx}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise bad(f"{where} has no 'context' string")
            doc_id = f"{slug}-{p_idx}"
            context = paragraph["context"]
            documents.append(
                Document(
                    doc_id=doc_id,
                    title=title,
                    text=context,
                    source=f"{path}#{raw_title}/{p_idx}",
                    content_hash=content_hash(context, title, None, None),
                )
            )
            for q_idx, qa in enumerate(paragraph.get("qas") or []):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise bad(f"{where}.qas[{q_idx}] has no 'question' string")
                impossible = bool(qa.get("is_impossible", False))
                impossible_seen |= impossible
                answers: list[str] = []
                if not impossible:
                    for ans in qa.get("answers") or []:
                        text = ans.get("text") if isinstance(ans, dict) else None
                        if not isinstance(text, str):
                            raise bad(f"{where}.qas[{q_idx}].answers has an entry without 'text'")
                        if text.strip() and text not in answers:
                            answers.append(text)
                qid = str(qa.get("id") or f"{doc_id}-q{q_idx}")
                if qid in seen_ids:
                    qid = f"{qid}-{doc_id}-{q_idx}"
                seen_ids.add(qid)
                questions.append(EvalQuestion(qid, qa["question"].strip(), tuple(answers), (doc_id,), (slug,)))
    if not documents:
        raise bad("no paragraphs")
    version = str(data.get("version", ""))
    fmt = "squad-v2.0" if version.startswith("v2") or impossible_seen else "squad-v1.1"
    return EvalSet(path, fmt, questions, documents)


def parse_eval_text(text: str, path: Path) -> EvalSet:
    """Detect the format: a JSON object with `data` is SQuAD; a JSON array or an object with
    `questions` holds the project's question objects; anything else is read as JSON Lines."""
    stripped = text.lstrip()
    whole = None
    if stripped[:1] in ("{", "[") and path.suffix != ".jsonl":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as e:
            if stripped[:1] == "[" or path.suffix == ".json":
                raise BadInputError(
                    f"{path}: malformed JSON on line {e.lineno}, column {e.colno} ({e.msg}); "
                    f"fix the file or give a SQuAD or JSON Lines question file, {FORMAT_HINT}"
                ) from None
    if isinstance(whole, dict) and "data" in whole:
        eval_set = squad_documents_and_questions(whole, path)
    elif isinstance(whole, list) or (isinstance(whole, dict) and isinstance(whole.get("questions"), list)):
        records = whole if isinstance(whole, list) else whole["questions"]
        questions = [parse_question_record(r, f"{path}: question {n}", f"q{n}") for n, r in enumerate(records, 1)]
        eval_set = EvalSet(path, "qa-eval", questions)
    elif isinstance(whole, dict):
        raise BadInputError(f"{path}: a JSON object without 'data' (SQuAD) or 'questions'; {FORMAT_HINT}")
    else:
        eval_set = EvalSet(path, "qa-eval", parse_question_lines(text, path))
    if not eval_set.questions:
        raise BadInputError(f"{path}: no questions found; {FORMAT_HINT}")
    ids = collections.Counter(q.qid for q in eval_set.questions)
    duplicates = [qid for qid, n in ids.items() if n > 1]
    if duplicates:
        raise BadInputError(f"{path}: duplicate question id {duplicates[0]!r}; give every question its own 'id'")
    return eval_set


def load_eval_file(path: Path) -> EvalSet:
    """Read a question file in either format; BadInputError names the file and the fix."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file; give a question file (default {DEFAULT_EVAL_FILE})") from None
    except IsADirectoryError:
        raise BadInputError(f"{path}: is a folder; give a question file (.jsonl, or SQuAD .json)") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not UTF-8 text; save it as UTF-8 JSON or JSON Lines") from None
    return parse_eval_text(text, path)


def sample_questions(questions: Sequence[EvalQuestion], limit: int | None, seed: int = SEED) -> list[EvalQuestion]:
    """`limit` questions drawn without replacement with a fixed seed, kept in file order; all when
    `limit` is None or not smaller than the set."""
    if limit is None or limit >= len(questions):
        return list(questions)
    if limit < 0:
        raise BadInputError(f"--limit must be a positive number, got {limit}")
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


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


def abstention_metrics(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict:
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


def score_answers(predictions: Sequence[str | None], answers: Sequence[Sequence[str]]) -> dict:
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
) -> list[dict]:
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


def best_threshold(sweep: Sequence[dict]) -> dict:
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


def _measures(ks: Sequence[int]):
    import ir_measures
    from ir_measures import R, RR, nDCG

    named = {f"R@{k}": R @ k for k in ks}
    named["MRR@10"] = RR @ 10
    named["nDCG@10"] = nDCG @ 10
    return ir_measures, named


def retrieval_metrics(
    qrels: dict[str, Iterable[str]], runs: dict[str, Sequence[str]], ks: Sequence[int] = RECALL_KS
) -> dict:
    """Mean R@k, MRR@10 and nDCG@10 over every query of `qrels` (binary relevance), computed per
    query by ir-measures (pytrec_eval). `runs` gives each query's documents best first; a query
    with no retrieved document, or missing from `runs`, scores 0 (pytrec_eval would skip it)."""
    ir_measures, named = _measures(ks)
    qrel_rows = [ir_measures.Qrel(qid, doc_id, 1) for qid, docs in qrels.items() for doc_id in set(docs)]
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
    n = len(per_query)
    means = {name: (sum(q[name] for q in per_query.values()) / n if n else None) for name in named}
    means["n"] = n
    return means


def first_relevant_rank(ranking: Sequence[str], gold: Iterable[str]) -> int | None:
    gold = set(gold)
    return next((rank for rank, doc_id in enumerate(ranking, start=1) if doc_id in gold), None)


def latency_summary(seconds: Sequence[float]) -> dict:
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


# ---------------------------------------------------------------- one run, summarised


@dataclass
class QuestionResult:
    """What the system did with one question."""

    question: EvalQuestion
    span: str | None  # the reader's best span at threshold 0 (None: nothing to propose)
    confidence: float
    answer_seconds: float
    rankings: dict[str, list[str]] = field(default_factory=dict)  # retriever -> doc ids, best first
    search_seconds: dict[str, float] = field(default_factory=dict)
    answer_doc_id: str | None = None  # document of the span's citation


def summarise(
    results: Sequence[QuestionResult],
    eval_set: EvalSet,
    retriever: str,
    threshold: float,
    settings: dict,
) -> dict:
    """Every number of the run as one JSON-ready dict (the report and the table read only this)."""
    questions = [r.question for r in results]
    answers = [q.answers for q in questions]
    spans = [r.span for r in results]
    confidences = [r.confidence for r in results]
    predictions = predictions_at(spans, confidences, threshold)

    qrels = {q.qid: q.doc_ids for q in questions if q.answerable and q.doc_ids}
    retrieval = {}
    for name in RETRIEVERS:
        if not all(name in r.rankings for r in results):
            continue
        metrics = retrieval_metrics(qrels, {r.question.qid: r.rankings[name] for r in results})
        metrics["latency"] = latency_summary([r.search_seconds[name] for r in results])
        retrieval[name] = metrics

    by_tag: dict[str, dict] = {}
    for tag in sorted({t for q in questions for t in q.tags}):
        idx = [i for i, q in enumerate(questions) if tag in q.tags]
        if len(by_tag) >= 40:  # SQuAD tags are article titles; keep the table readable
            break
        s = score_answers([predictions[i] for i in idx], [answers[i] for i in idx])
        by_tag[tag] = {"n": s["n"], "em": s["overall"]["em"], "f1": s["overall"]["f1"]}

    sweep = threshold_sweep(spans, confidences, answers)
    per_question = []
    for r, pred in zip(results, predictions):
        q = r.question
        per_question.append(
            {
                "id": q.qid,
                "question": q.question,
                "gold_answers": list(q.answers),
                "gold_doc_ids": list(q.doc_ids),
                "tags": list(q.tags),
                "prediction": pred,
                "span": r.span,
                "confidence": round(r.confidence, 4),
                "answer_doc_id": r.answer_doc_id,
                "em": exact_match(pred, q.answers),
                "f1": round(f1_score(pred, q.answers), 4),
                "span_f1": round(f1_score(r.span, q.answers), 4) if q.answerable else None,
                "gold_rank": {name: first_relevant_rank(rk, q.doc_ids) for name, rk in r.rankings.items()},
                "latency_ms": round(1000 * r.answer_seconds, 2),
            }
        )
    return {
        "eval_file": str(eval_set.path),
        "format": eval_set.format,
        "settings": {**settings, "retriever": retriever, "threshold": threshold},
        "questions": {
            "total": len(questions),
            "answerable": sum(q.answerable for q in questions),
            "unanswerable": sum(not q.answerable for q in questions),
            "in_file": len(eval_set.questions),
        },
        "retrieval": retrieval,
        "answers": {
            "system": score_answers(predictions, answers),
            "always_abstain": score_answers([None] * len(answers), answers),
            "by_tag": by_tag,
        },
        "threshold_sweep": sweep,
        "best_threshold": best_threshold(sweep) if sweep else None,
        "latency": {"ask": latency_summary([r.answer_seconds for r in results])},
        "per_question": per_question,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_table(summary: dict) -> str:
    """The plain-text table `qa eval` prints."""
    s, q = summary["settings"], summary["questions"]
    lines = [
        f"qa eval: {summary['eval_file']} ({summary['format']}), {q['total']} of {q['in_file']} questions "
        f"({q['answerable']} answerable, {q['unanswerable']} unanswerable); index {s.get('index_dir')}",
        "",
        "Retrieval by gold document (answerable questions, ir-measures):",
        f"  {'retriever':<10}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR@10':>8}{'nDCG@10':>9}{'ms/q':>8}",
    ]
    for name, m in summary["retrieval"].items():
        mark = " *" if name == s["retriever"] else ""
        lines.append(
            f"  {name:<10}{_fmt(m['R@1']):>7}{_fmt(m['R@5']):>7}{_fmt(m['R@10']):>7}"
            f"{_fmt(m['MRR@10']):>8}{_fmt(m['nDCG@10']):>9}{_fmt(m['latency']['mean_ms'], 1):>8}{mark}"
        )
    sys_, base = summary["answers"]["system"], summary["answers"]["always_abstain"]
    ab = sys_["abstention"]
    lines += [
        "",
        f"Answers (retriever {s['retriever']}, top {s.get('top_k')} passages, abstain below {s['threshold']:.2f}):",
        f"  {'':<28}{'system':>9}{'always-abstain':>16}",
        f"  {'answerable EM':<28}{_fmt(sys_['answerable']['em']):>9}{_fmt(base['answerable']['em']):>16}",
        f"  {'answerable F1':<28}{_fmt(sys_['answerable']['f1']):>9}{_fmt(base['answerable']['f1']):>16}",
        f"  {'unanswerable accuracy':<28}{_fmt(sys_['unanswerable']['accuracy']):>9}"
        f"{_fmt(base['unanswerable']['accuracy']):>16}",
        f"  {'overall EM':<28}{_fmt(sys_['overall']['em']):>9}{_fmt(base['overall']['em']):>16}",
        f"  {'overall F1':<28}{_fmt(sys_['overall']['f1']):>9}{_fmt(base['overall']['f1']):>16}",
        f"  {'abstention precision':<28}{_fmt(ab['precision']):>9}"
        f"{_fmt(base['abstention']['precision']):>16}",
        f"  {'abstention recall':<28}{_fmt(ab['recall']):>9}{_fmt(base['abstention']['recall']):>16}",
        f"  answered {sys_['answered']} of {sys_['n']}, abstained on {ab['abstained']}",
    ]
    best = summary.get("best_threshold")
    if best:
        lines.append(
            f"  best threshold on this set: {best['threshold']:.2f} (overall F1 {_fmt(best['overall_f1'])}, "
            f"answerable F1 {_fmt(best['answerable_f1'])}, unanswerable acc. {_fmt(best['unanswerable_accuracy'])})"
        )
    lat = summary["latency"]["ask"]
    lines += [
        "",
        f"Latency per question (retrieve + read): mean {_fmt(lat['mean_ms'], 1)} ms, "
        f"p50 {_fmt(lat['p50_ms'], 1)} ms, p95 {_fmt(lat['p95_ms'], 1)} ms, max {_fmt(lat['max_ms'], 1)} ms",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- report: Markdown, JSON, plots


def plot_recall_curves(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, m in summary["retrieval"].items():
        ks = [k for k in RECALL_KS if m.get(f"R@{k}") is not None]
        ax.plot(ks, [m[f"R@{k}"] for k in ks], marker="o", label=name)
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("recall@k (gold document in top k)")
    ax.set_xticks(list(RECALL_KS))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Retrieval: {Path(summary['eval_file']).name}, {summary['questions']['answerable']} questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confidence(summary: dict, path: Path) -> None:
    """Left: scores against the abstention threshold, with the always-abstain line. Right: the
    reader's confidence for right answers, wrong answers and unanswerable questions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = summary["threshold_sweep"]
    current = summary["settings"]["threshold"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    ts = [r["threshold"] for r in sweep]
    for key, label in (
        ("overall_f1", "overall F1"),
        ("answerable_f1", "answerable F1"),
        ("unanswerable_accuracy", "unanswerable accuracy"),
    ):
        values = [r[key] for r in sweep]
        if any(v is not None for v in values):
            left.plot(ts, [math.nan if v is None else v for v in values], label=label)
    baseline = summary["answers"]["always_abstain"]["overall"]["f1"]
    left.axhline(baseline, color="grey", linestyle="--", label="always abstain (overall F1)")
    left.axvline(current, color="black", linestyle=":", label=f"threshold {current:.2f}")
    left.set_xlabel("abstention threshold (answer when confidence ≥ threshold)")
    left.set_ylim(0, 1.02)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title("Scores by threshold")

    groups = {"right answer (F1 ≥ 0.5)": [], "wrong answer": [], "unanswerable": []}
    for q in summary["per_question"]:
        if q["span"] is None:
            continue
        if not q["gold_answers"]:
            groups["unanswerable"].append(q["confidence"])
        elif (q["span_f1"] or 0) >= 0.5:
            groups["right answer (F1 ≥ 0.5)"].append(q["confidence"])
        else:
            groups["wrong answer"].append(q["confidence"])
    bins = [i / 20 for i in range(21)]
    colours = ["tab:green", "tab:red", "tab:grey"]
    right.hist(list(groups.values()), bins=bins, stacked=True, label=list(groups), color=colours)
    right.axvline(current, color="black", linestyle=":")
    right.set_xlabel("reader confidence of its best span")
    right.set_ylabel("questions")
    right.legend(fontsize=8)
    right.set_title("Confidence vs correctness")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_markdown(summary: dict) -> str:
    s, q = summary["settings"], summary["questions"]
    sys_, base = summary["answers"]["system"], summary["answers"]["always_abstain"]
    lines = [
        f"# Evaluation: {Path(summary['eval_file']).name}",
        "",
        f"- file: `{summary['eval_file']}` ({summary['format']}); {q['total']} of {q['in_file']} questions "
        f"({q['answerable']} answerable, {q['unanswerable']} unanswerable)"
        + (f", sampled with seed {s.get('seed')}" if q["total"] < q["in_file"] else ""),
        f"- index: `{s.get('index_dir')}` ({s.get('documents')} documents, {s.get('chunks')} passages)",
        f"- answering: retriever **{s['retriever']}**, top {s.get('top_k')} passages, abstain below "
        f"confidence {s['threshold']:.2f}",
        f"- when: {s.get('when')}; wall time {s.get('wall_seconds', 0):.1f} s",
        "",
        "## Retrieval",
        "",
        "By gold document, over the answerable questions; computed with ir-measures. Passages are "
        f"searched {SEARCH_DEPTH} deep and de-duplicated to their documents.",
        "",
        "| retriever | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | mean ms/q |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in summary["retrieval"].items():
        lines.append(
            f"| {name}{' (answering)' if name == s['retriever'] else ''} | {_fmt(m['R@1'])} | {_fmt(m['R@5'])} | "
            f"{_fmt(m['R@10'])} | {_fmt(m['MRR@10'])} | {_fmt(m['nDCG@10'])} | {_fmt(m['latency']['mean_ms'], 2)} |"
        )
    ab, bab = sys_["abstention"], base["abstention"]
    lines += [
        "",
        "![recall@k](recall_at_k.png)",
        "",
        "## Answers",
        "",
        "SQuAD normalisation (lower case, no punctuation or articles); an abstention is right exactly "
        "when the question is unanswerable.",
        "",
        "| metric | system | always abstain |",
        "| --- | ---: | ---: |",
        f"| answerable EM | {_fmt(sys_['answerable']['em'])} | {_fmt(base['answerable']['em'])} |",
        f"| answerable F1 | {_fmt(sys_['answerable']['f1'])} | {_fmt(base['answerable']['f1'])} |",
        f"| unanswerable accuracy | {_fmt(sys_['unanswerable']['accuracy'])} | "
        f"{_fmt(base['unanswerable']['accuracy'])} |",
        f"| overall EM | {_fmt(sys_['overall']['em'])} | {_fmt(base['overall']['em'])} |",
        f"| overall F1 | {_fmt(sys_['overall']['f1'])} | {_fmt(base['overall']['f1'])} |",
        f"| abstention precision | {_fmt(ab['precision'])} | {_fmt(bab['precision'])} |",
        f"| abstention recall | {_fmt(ab['recall'])} | {_fmt(bab['recall'])} |",
        f"| answered / abstained | {sys_['answered']} / {ab['abstained']} | 0 / {bab['abstained']} |",
        "",
    ]
    best = summary.get("best_threshold")
    if best:
        lines += [
            f"Best threshold on this set (chosen on the set itself, so optimistic): **{best['threshold']:.2f}**, "
            f"overall F1 {_fmt(best['overall_f1'])}, answerable F1 {_fmt(best['answerable_f1'])}, "
            f"unanswerable accuracy {_fmt(best['unanswerable_accuracy'])}.",
            "",
        ]
    lines += ["![confidence](confidence.png)", ""]
    if summary["answers"]["by_tag"]:
        lines += ["### By tag", "", "| tag | questions | EM | F1 |", "| --- | ---: | ---: | ---: |"]
        for tag, t in summary["answers"]["by_tag"].items():
            lines.append(f"| {tag} | {t['n']} | {_fmt(t['em'])} | {_fmt(t['f1'])} |")
        lines.append("")
    lat = summary["latency"]["ask"]
    lines += [
        "## Latency",
        "",
        f"`QA.ask` per question (retrieve top {s.get('top_k')} + read), after a warm-up question: mean "
        f"{_fmt(lat['mean_ms'], 1)} ms, median {_fmt(lat['p50_ms'], 1)} ms, p95 {_fmt(lat['p95_ms'], 1)} ms, "
        f"max {_fmt(lat['max_ms'], 1)} ms.",
        "",
        "## Errors (first 15)",
        "",
        "| id | question | gold | system | confidence |",
        "| --- | --- | --- | --- | ---: |",
    ]
    shown = 0
    for pq in summary["per_question"]:
        if pq["em"] >= 1.0 or shown >= 15:
            continue
        shown += 1
        gold = " / ".join(pq["gold_answers"][:3]) or "*(unanswerable)*"
        pred = pq["prediction"] if pq["prediction"] is not None else f"*(abstain; best span: {pq['span']})*"
        lines.append(f"| {pq['id']} | {_md(pq['question'])} | {_md(gold)} | {_md(pred)} | {pq['confidence']:.2f} |")
    if shown == 0:
        lines.append("| | none | | | |")
    lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def write_report(summary: dict, report_dir: Path) -> list[Path]:
    """Write report.md, results.json, recall_at_k.png and confidence.png into `report_dir`."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": report_dir / "results.json",
        "md": report_dir / "report.md",
        "recall": report_dir / "recall_at_k.png",
        "confidence": report_dir / "confidence.png",
    }
    paths["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(format_markdown(summary), encoding="utf-8")
    plot_recall_curves(summary, paths["recall"])
    plot_confidence(summary, paths["confidence"])
    return list(paths.values())


# ---------------------------------------------------------------- running the system


def default_cache_dir() -> Path:
    base = os.environ.get("QA_EVAL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-qa" / "eval"


def squad_index_dir(path: Path, config: Config, cache_dir: Path | None = None) -> Path:
    """The cached index folder for a SQuAD file: keyed by the file's bytes and the index settings."""
    digest = hashlib.sha256(Path(path).read_bytes())
    digest.update(json.dumps(config.index_settings(), sort_keys=True).encode("utf-8"))
    name = f"{slugify(Path(path).stem)[:40]}-{digest.hexdigest()[:16]}"
    return Path(cache_dir or default_cache_dir()) / name


def prepare_index(eval_set: EvalSet, config: Config, cache_dir: Path | None, embedder=None, progress=False) -> Config:
    """The config whose index the questions are asked against. For SQuAD: the cached paragraph
    index, built or completed first (unchanged paragraphs cost nothing). For the project's own
    format: the given index, which must hold the gold documents."""
    from qa.errors import IndexMismatchError
    from qa.index import current_version, open_index, update_index

    if eval_set.documents is not None:
        config = config.with_(index_dir=squad_index_dir(eval_set.path, config, cache_dir))
        try:
            report = update_index(config.index_dir, eval_set.documents, config, embedder=embedder, show_progress=progress)
        except IndexMismatchError:  # a cache written by an older index format: rebuild it
            report = update_index(config.index_dir, eval_set.documents, config, embedder=embedder,
                                  show_progress=progress, rebuild=True, force=True)
        print(
            f"{eval_set.path}: {report.total_documents} paragraphs indexed in {config.index_dir} "
            f"({report.chunks_added} passages embedded now, {report.total_chunks} in all)",
            file=sys.stderr,
        )
        return config
    if current_version(config.index_dir) is None:
        raise IndexMissingError(
            f"{config.index_dir}: no index here yet; build it first with `qa ingest corpus --index {config.index_dir}` "
            f"(the questions in {eval_set.path} are about the articles in corpus/)"
        )
    indexed = {d.doc_id for d in open_index(config.index_dir, config, verify=False).documents}
    gold = {d for q in eval_set.questions for d in q.doc_ids}
    missing = sorted(gold - indexed)
    if gold and len(missing) == len(gold):
        raise BadInputError(
            f"{eval_set.path}: none of its gold documents ({', '.join(missing[:3])}, ...) is in the index "
            f"{config.index_dir}; ingest the articles it was written for "
            f"(`qa ingest corpus --index {config.index_dir}`)"
        )
    if missing:
        print(
            f"warning: {len(missing)} gold document(s) of {eval_set.path} not in {config.index_dir}: "
            f"{', '.join(missing[:5])}",
            file=sys.stderr,
        )
    return config


def run_questions(
    qa,
    questions: Sequence[EvalQuestion],
    retriever: str,
    top_k: int,
    retrievers: Sequence[str] = RETRIEVERS,
    progress: bool = False,
) -> list[QuestionResult]:
    """Ask every question (threshold 0, so the best span and its confidence are always seen) and
    rank documents with every retriever."""
    from tqdm import tqdm

    results = []
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress, file=sys.stderr):
        start = time.perf_counter()
        answer = qa.ask(q.question, k=top_k, retriever=retriever, threshold=0.0)
        elapsed = time.perf_counter() - start
        rankings, timings = {}, {}
        for name in retrievers:
            t0 = time.perf_counter()
            passages = qa.search(q.question, k=SEARCH_DEPTH, retriever=name)
            timings[name] = time.perf_counter() - t0
            rankings[name] = ranked_doc_ids(p.doc_id for p in passages)
        results.append(
            QuestionResult(
                question=q,
                span=answer.answer,
                confidence=float(answer.confidence),
                answer_seconds=elapsed,
                rankings=rankings,
                search_seconds=timings,
                answer_doc_id=answer.citations[0].passage.doc_id if answer.citations else None,
            )
        )
    return results


def evaluate(
    eval_set: EvalSet,
    config: Config,
    *,
    limit: int | None = None,
    seed: int = SEED,
    threshold: float | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> dict:
    """Run the whole evaluation and return the summary dict (see `summarise`)."""
    from qa.embed import Embedder
    from qa.pipeline import QA

    started = time.perf_counter()
    questions = sample_questions(eval_set.questions, limit, seed)
    embedder = Embedder(config)
    config = prepare_index(eval_set, config, cache_dir, embedder=embedder, progress=progress)
    qa = QA(config)
    qa.embedder = embedder  # one model for indexing and asking
    threshold = config.abstain_threshold if threshold is None else threshold
    qa.ask("Who visited the capital on Tuesday?", k=config.top_k)  # warm-up: loads the models and spaCy
    results = run_questions(qa, questions, config.retriever, config.top_k, progress=progress)
    index = qa.index()
    settings = {
        "index_dir": str(config.index_dir),
        "documents": len(index.documents),
        "chunks": index.n_chunks,
        "top_k": config.top_k,
        "search_depth": SEARCH_DEPTH,
        "limit": limit,
        "seed": seed,
        "model": config.model_name,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    summary = summarise(results, eval_set, config.retriever, threshold, settings)
    summary["settings"]["wall_seconds"] = round(time.perf_counter() - started, 2)
    return summary


# ---------------------------------------------------------------- the `qa eval` command


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        default=str(DEFAULT_EVAL_FILE),
        help=f"question file: the project's JSON Lines format or SQuAD v1.1/v2.0 JSON (default {DEFAULT_EVAL_FILE})",
    )
    parser.add_argument(
        "--retriever",
        choices=RETRIEVERS,
        help=f"retriever the answers use (default {Config().retriever}); retrieval metrics always cover all three",
    )
    parser.add_argument("-k", type=int, help=f"passages the reader reads (default {Config().top_k})")
    parser.add_argument(
        "--threshold", type=float, help=f"abstain below this confidence (default {Config().abstain_threshold})"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate N questions sampled with a fixed seed")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed for --limit (default {SEED})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--report", metavar="DIR", help="write report.md, results.json and PNG plots into DIR")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="where indexes of SQuAD files are cached by file hash (default $QA_EVAL_CACHE or ~/.cache/news-qa/eval); "
        "--index applies to the project's own question files",
    )


def run_eval_command(args: argparse.Namespace, config: Config) -> int:
    """`qa eval`: print the table (or JSON), write the report if asked; 0 on success."""
    eval_set = load_eval_file(Path(args.file or DEFAULT_EVAL_FILE))
    if getattr(args, "k", None):
        if args.k < 1:
            raise BadInputError(f"-k must be at least 1, got {args.k}")
        config = config.with_(top_k=args.k)
    if args.limit is not None and args.limit < 1:
        raise BadInputError(f"--limit must be at least 1, got {args.limit}")
    summary = evaluate(
        eval_set,
        config,
        limit=args.limit,
        seed=args.seed,
        threshold=args.threshold,
        cache_dir=Path(args.cache) if args.cache else None,
        progress=sys.stderr.isatty() and not args.json,
    )
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        print(format_table(summary))
    if args.report:
        paths = write_report(summary, Path(args.report))
        print(f"report written: {', '.join(str(p) for p in paths)}", file=sys.stderr if args.json else sys.stdout)
    return 0
