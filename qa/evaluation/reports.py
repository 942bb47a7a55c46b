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
from qa.evaluation.data import EvalQuestion, EvalSet
from qa.evaluation.metrics import (
    SEARCH_DEPTH,
    answer_is_right,
    best_sweep_row,
    exact_match,
    f1_score,
    first_relevant_rank,
    latency_summary,
    predictions_at,
    reliability_table,
    retrieval_metrics,
    score_answers,
    threshold_sweep,
)
from qa.evaluation.plots import plot_confidence, plot_recall_curves


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


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_table(summary: dict[str, Any]) -> str:
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
        "| retriever | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | mean ms/q |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in summary["retrieval"].items():
        lines.append(
            f"| {name}{' (answering)' if name == s['retriever'] else ''} | {_fmt(m['R@1'])} | {_fmt(m['R@5'])} | "
            f"{_fmt(m['R@10'])} | {_fmt(m['MRR@10'])} | {_fmt(m['nDCG@10'])} | {_fmt(m['latency']['mean_ms'], 2)} |"
        )
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
