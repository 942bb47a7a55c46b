"""qa/evaluation/reports.py: a run of three hand-made results summarised, then shown as the table and
the Markdown report (no index or model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.evaluation.data import EvalQuestion, EvalSet
from qa.evaluation.reports import QuestionResult, format_markdown, format_table, summarise


def _result(qid: str, answers: tuple[str, ...], span: str | None, confidence: float, ranking: list[str]) -> QuestionResult:
    question = EvalQuestion(qid, f"{qid}?", answers, ("d1",) if answers else (), ("tag",))
    rankings = {name: ranking for name in ("dense", "bm25", "hybrid")}
    return QuestionResult(question, span, confidence, 0.01, rankings, {name: 0.001 for name in rankings})


def test_summary_scores_the_run_and_the_table_and_markdown_show_it():
    results = [
        _result("a", ("Yerevan",), "Yerevan", 0.9, ["d1", "d2"]),  # right, gold doc first
        _result("b", ("1994",), "Paris", 0.8, ["d2", "d1"]),  # wrong, gold doc second
        _result("c", (), "Gyumri", 0.1, ["d2"]),  # unanswerable, abstained at threshold 0.5
    ]
    eval_set = EvalSet(Path("q.jsonl"), "qa-eval", [r.question for r in results])
    summary = summarise(results, eval_set, "bm25", 0.5, {"top_k": 5})
    assert summary["questions"] == {"total": 3, "answerable": 2, "unanswerable": 1, "in_file": 3}
    assert summary["retrieval"]["bm25"]["R@1"] == pytest.approx(0.5) and summary["retrieval"]["bm25"]["n"] == 2
    system = summary["answers"]["system"]
    assert system["answerable"]["em"] == pytest.approx(0.5) and system["unanswerable"]["accuracy"] == 1.0
    assert system["overall"]["f1"] == pytest.approx(2 / 3)
    # every best span is binned, abstained or not: 0.1 (wrong: unanswerable), 0.8 (wrong), 0.9 (right)
    assert [(r["bin"], r["n"], r["fraction_right"]) for r in summary["reliability"]] == [
        ("0.1-0.2", 1, 0.0),
        ("0.8-0.9", 1, 0.0),
        ("0.9-1.0", 1, 1.0),
    ]
    assert [q["gold_rank"]["bm25"] for q in summary["per_question"]] == [1, 2, None]

    table = format_table(summary)
    assert "3 of 3 questions" in table and "bm25" in table and "always-abstain" in table
    md = format_markdown(summary)
    assert "| bm25 (answering) |" in md and "### Reliability" in md and "| b | b? | 1994 | Paris | 0.80 |" in md
