"""Evaluation reports: one run's results summarised into a JSON-ready dict, and that dict shown as
the `qa eval` table, a Markdown report and the report folder (report.md, results.json, plots).

`summarise` is the only function that computes; the table, the Markdown and the plots read only
its dict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.config import RETRIEVERS
from qa.evaluation.beir import Collection
from qa.evaluation.data import EvalQuestion, EvalSet
from qa.evaluation.metrics import (
    COLLECTION_DEPTH,
    COLLECTION_KS,
    SEARCH_DEPTH,
    answer_is_right,
    best_sweep_row,
    exact_match,
    f1_score,
    first_relevant_rank,
    latency_summary,
    mean_retrieval_metrics,
    per_query_retrieval_metrics,
    predictions_at,
    reliability_table,
    retrieval_metrics,
    score_answers,
    threshold_sweep,
)
from qa.evaluation.plots import plot_confidence, plot_recall_curves

TOP_SHOWN = 10  # documents of each ranking kept per query in a test collection's results


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
    answer_type: str | None = None  # "span" | "sentence"


def summarise(
    results: Sequence[QuestionResult],
    eval_set: EvalSet,
    retriever: str,
    threshold: float,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Every number of the run as one JSON-ready dict (the report and the table read only this)."""
    questions = [r.question for r in results]
    answers = [q.answers for q in questions]
    spans = [r.span for r in results]
    confidences = [r.confidence for r in results]
    predictions = predictions_at(spans, confidences, threshold)
    answered = [i for i, span in enumerate(spans) if span is not None]  # the reliability table's answers

    qrels = {q.qid: q.doc_ids for q in questions if q.answerable and q.doc_ids}
    retrieval = {}
    for name in RETRIEVERS:
        if not all(name in r.rankings for r in results):
            continue
        metrics = retrieval_metrics(qrels, {r.question.qid: r.rankings[name] for r in results})
        metrics["latency"] = latency_summary([r.search_seconds[name] for r in results])
        retrieval[name] = metrics

    by_tag: dict[str, dict[str, Any]] = {}
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
                "answer_type": r.answer_type,
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
            "always_answer": score_answers(list(spans), answers),
            "by_tag": by_tag,
        },
        "threshold_sweep": sweep,
        "reliability": reliability_table(
            [confidences[i] for i in answered], [answer_is_right(spans[i], answers[i]) for i in answered]
        ),
        "best_threshold": best_sweep_row(sweep) if sweep else None,
        "latency": {"ask": latency_summary([r.answer_seconds for r in results])},
        "per_question": per_question,
    }


def summarise_collection(
    collection: Collection,
    qids: Sequence[str],
    rankings: dict[str, dict[str, list[str]]],
    seconds: dict[str, list[float]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Every number of a test collection's run as one JSON-ready dict: per retriever (or run file)
    the mean R@k (k in COLLECTION_KS), MRR@10 and nDCG@10 over the judged queries `qids`, given
    `rankings` (retriever -> query id -> documents best first) and search `seconds` per query."""
    qrels = {qid: collection.qrels[qid] for qid in qids}
    retrieval: dict[str, dict[str, Any]] = {}
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    for name, runs in rankings.items():
        per_query[name] = per_query_retrieval_metrics(qrels, runs, COLLECTION_KS)
        retrieval[name] = mean_retrieval_metrics(per_query[name], COLLECTION_KS)
        if name in seconds:
            retrieval[name]["latency"] = latency_summary(seconds[name])
    queries = []
    for qid in qids:
        relevant = [doc_id for doc_id, grade in qrels[qid].items() if grade > 0]
        queries.append({
            "id": qid,
            "query": collection.queries.get(qid),
            "relevant": {doc_id: qrels[qid][doc_id] for doc_id in relevant},
            "first_relevant_rank": {name: first_relevant_rank(runs.get(qid, []), relevant) for name, runs in rankings.items()},
            "top": {name: runs.get(qid, [])[:TOP_SHOWN] for name, runs in rankings.items()},
            "metrics": {name: {k: round(v, 4) for k, v in per_query[name][qid].items()} for name in rankings},
        })
    return {
        "eval_file": str(collection.path),
        "format": collection.format,
        "qrels": f"qrels/{collection.split}.tsv" if collection.split else collection.path.name,
        "settings": settings,
        "queries": {"total": len(qids), "in_file": len(collection.qrels)},
        "retrieval": retrieval,
        "warnings": list(collection.warnings),
        "per_query": queries,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _latency_ms(metrics: dict[str, Any]) -> float | None:
    return (metrics.get("latency") or {}).get("mean_ms")


def _retrieval_lines(retrieval: dict[str, dict[str, Any]], ks: Sequence[int], marked: str | None) -> list[str]:
    """The retrieval table of `qa eval`: R@k for `ks`, MRR@10, nDCG@10 and search ms per query; `marked` gets a *."""
    width = max([10, *(len(name) + 2 for name in retrieval)])
    lines = [f"  {'retriever':<{width}}" + "".join(f"{f'R@{k}':>7}" for k in ks) + f"{'MRR@10':>8}{'nDCG@10':>9}{'ms/q':>8}"]
    for name, m in retrieval.items():
        lines.append(
            f"  {name:<{width}}" + "".join(f"{_fmt(m[f'R@{k}']):>7}" for k in ks)
            + f"{_fmt(m['MRR@10']):>8}{_fmt(m['nDCG@10']):>9}{_fmt(_latency_ms(m), 1):>8}{' *' if name == marked else ''}"
        )
    return lines


def _retrieval_markdown(retrieval: dict[str, dict[str, Any]], ks: Sequence[int], marked: str | None) -> list[str]:
    """The same table in Markdown; `marked` is "(answering)"."""
    lines = [
        "| retriever | " + " | ".join(f"R@{k}" for k in ks) + " | MRR@10 | nDCG@10 | mean ms/q |",
        "| --- |" + " ---: |" * (len(ks) + 3),
    ]
    for name, m in retrieval.items():
        cells = [_fmt(m[f"R@{k}"]) for k in ks] + [_fmt(m["MRR@10"]), _fmt(m["nDCG@10"]), _fmt(_latency_ms(m), 2)]
        lines.append(f"| {name}{' (answering)' if name == marked else ''} | " + " | ".join(cells) + " |")
    return lines


def format_table(summary: dict[str, Any]) -> str:
    """The plain-text table `qa eval` prints."""
    s, q = summary["settings"], summary["questions"]
    lines = [
        f"qa eval: {summary['eval_file']} ({summary['format']}), {q['total']} of {q['in_file']} questions "
        f"({q['answerable']} answerable, {q['unanswerable']} unanswerable); index {s.get('index_dir')}",
        "",
        "Retrieval by gold document (answerable questions, ir-measures):",
        *_retrieval_lines(summary["retrieval"], (1, 5, 10), s["retriever"]),
    ]
    sys_, base = summary["answers"]["system"], summary["answers"]["always_abstain"]
    every = summary["answers"].get("always_answer") or base
    ab = sys_["abstention"]

    def row(name: str, key: str, sub: str) -> str:
        return f"  {name:<28}{_fmt(sys_[key][sub]):>9}{_fmt(base[key][sub]):>16}{_fmt(every[key][sub]):>15}"

    lines += [
        "",
        f"Answers (retriever {s['retriever']}, top {s.get('top_k')} passages, abstain below {s['threshold']:.2f}):",
        f"  {'':<28}{'system':>9}{'always-abstain':>16}{'always-answer':>15}",
        row("answerable EM", "answerable", "em"),
        row("answerable F1", "answerable", "f1"),
        row("unanswerable accuracy", "unanswerable", "accuracy"),
        row("overall EM", "overall", "em"),
        row("overall F1", "overall", "f1"),
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

def format_collection_table(summary: dict[str, Any]) -> str:
    """The plain-text table `qa eval` prints for a BEIR folder or a TREC run (its warnings are
    printed as the collection is read, before it)."""
    s, q = summary["settings"], summary["queries"]
    where = (f"run {s['run_file']}" if s.get("run_file") else
             f"{s.get('documents')} documents, {s.get('chunks')} passages indexed in {s.get('index_dir')}")
    lines = [
        f"qa eval: {summary['eval_file']} ({_judgments(summary)}), {q['total']} of {q['in_file']} judged queries; {where}",
        "",
        "Retrieval by document (graded relevance, ir-measures):",
        *_retrieval_lines(summary["retrieval"], COLLECTION_KS, None),
    ]
    return "\n".join(lines)


def _judgments(summary: dict[str, Any]) -> str:
    """"beir, qrels/test.tsv" for a BEIR folder's split; "trec qrels" for a qrels file."""
    return f"{summary['format']}, {summary['qrels']}" if summary["format"] == "beir" else f"{summary['format']} qrels"


def format_collection_markdown(summary: dict[str, Any]) -> str:
    s, q = summary["settings"], summary["queries"]
    hardest_by = "hybrid" if "hybrid" in summary["retrieval"] else next(iter(summary["retrieval"]))
    lines = [
        f"# Retrieval evaluation: {Path(summary['eval_file']).name}",
        "",
        f"- collection: `{summary['eval_file']}` ({_judgments(summary)}); {q['total']} of {q['in_file']} judged queries"
        + (f", sampled with seed {s.get('seed')}" if q["total"] < q["in_file"] else ""),
        (f"- run: `{s['run_file']}`, scored as it is" if s.get("run_file") else
         f"- index: `{s.get('index_dir')}` ({s.get('documents')} documents, {s.get('chunks')} passages), every copy "
         "of a story ranked"),
        f"- when: {s.get('when')}; wall time {s.get('wall_seconds', 0):.1f} s",
        "",
        "## Retrieval",
        "",
        "By document, over the judged queries with a relevant document; computed with ir-measures (pytrec_eval). "
        "nDCG@10 gains each document's relevance grade; R@k and MRR@10 count relevance ≥ 1."
        + ("" if s.get("run_file") else f" Passages are searched until the {COLLECTION_DEPTH} best documents are "
           "found, each document at the rank of its best passage; ms/q is the search alone (the query's vector "
           "is computed before)."),
        "",
        *_retrieval_markdown(summary["retrieval"], COLLECTION_KS, None),
        "",
        "![recall@k](recall_at_k.png)",
        "",
    ]
    if summary["warnings"]:
        lines += ["## Warnings", "", *(f"- {w}" for w in summary["warnings"]), ""]
    names = list(summary["retrieval"])
    missed = [pq for pq in summary["per_query"] if pq["metrics"][hardest_by]["nDCG@10"] < 1.0]
    hardest = sorted(missed, key=lambda pq: pq["metrics"][hardest_by]["nDCG@10"])[:15]
    lines += [
        f"## Hardest queries (lowest nDCG@10 below 1 with {hardest_by}, first 15)",
        "",
        f"| id | query | relevant (grade) | first relevant rank ({' / '.join(names)}) | nDCG@10 |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for pq in hardest:
        relevant = ", ".join(f"{d} ({g})" for d, g in list(pq["relevant"].items())[:5])
        ranks = " / ".join(str(pq["first_relevant_rank"][n] or "—") for n in names)
        lines.append(f"| {_md(pq['id'])} | {_md(pq['query'] or '—')} | {_md(relevant)} | {ranks} | "
                     f"{pq['metrics'][hardest_by]['nDCG@10']:.3f} |")
    if not hardest:
        lines.append("| | none | | | |")
    lines.append("")
    return "\n".join(lines)


def format_markdown(summary: dict[str, Any]) -> str:
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
        *_retrieval_markdown(summary["retrieval"], (1, 5, 10), s["retriever"]),
    ]
    ab, bab = sys_["abstention"], base["abstention"]
    every = summary["answers"].get("always_answer") or base
    lines += [
        "",
        "![recall@k](recall_at_k.png)",
        "",
        "## Answers",
        "",
        "SQuAD normalisation (lower case, no punctuation or articles); an abstention is right exactly "
        "when the question is unanswerable.",
        "",
        "| metric | system | always abstain | always answer |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {_fmt(sys_[k][m])} | {_fmt(base[k][m])} | {_fmt(every[k][m])} |" for name, k, m in (
            ("answerable EM", "answerable", "em"), ("answerable F1", "answerable", "f1"),
            ("unanswerable accuracy", "unanswerable", "accuracy"), ("overall EM", "overall", "em"),
            ("overall F1", "overall", "f1"))],
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
    if summary.get("reliability"):
        lines += [
            "### Reliability",
            "",
            "The confidence is meant as the probability that the answer is right (F1 ≥ 0.5 with a gold "
            "answer); per confidence bin, the best answers' mean confidence against the fraction right:",
            "",
            "| confidence | questions | mean confidence | fraction right |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [f"| {r['bin']} | {r['n']} | {r['mean_confidence']:.3f} | {r['fraction_right']:.3f} |" for r in summary["reliability"]]
        lines.append("")
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


def write_report(summary: dict[str, Any], report_dir: Path) -> list[Path]:
    """Write report.md, results.json, recall_at_k.png and, for a run with answers, confidence.png
    into `report_dir`."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    answers = "answers" in summary  # a question set; else a test collection, scored on retrieval only
    paths = {
        "json": report_dir / "results.json",
        "md": report_dir / "report.md",
        "recall": report_dir / "recall_at_k.png",
    }
    paths["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(format_markdown(summary) if answers else format_collection_markdown(summary), encoding="utf-8")
    plot_recall_curves(summary, paths["recall"])
    if answers:
        paths["confidence"] = report_dir / "confidence.png"
        plot_confidence(summary, paths["confidence"])
    return list(paths.values())
