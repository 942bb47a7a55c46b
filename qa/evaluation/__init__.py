"""`qa eval`: retrieval and answer quality on a question set, with a table, JSON and a report.

`data` reads question files, `metrics` scores (pure functions), `runner` asks the questions,
`reports` summarises and formats a run, `plots` draws it; the command itself is in `qa.cli`.
"""

from qa.evaluation.data import (
    DEFAULT_EVAL_FILE,
    SEED,
    EvalQuestion,
    EvalSet,
    load_eval_file,
    sample_questions,
    select_articles,
)
from qa.evaluation.metrics import (
    exact_match,
    f1_score,
    normalize_answer,
    reliability_table,
    retrieval_metrics,
)
from qa.evaluation.reports import format_markdown, format_table, summarise, write_report
from qa.evaluation.runner import evaluate, prepare_index

__all__ = [
    "DEFAULT_EVAL_FILE",
    "SEED",
    "EvalQuestion",
    "EvalSet",
    "evaluate",
    "exact_match",
    "f1_score",
    "format_markdown",
    "format_table",
    "load_eval_file",
    "normalize_answer",
    "prepare_index",
    "reliability_table",
    "retrieval_metrics",
    "sample_questions",
    "select_articles",
    "summarise",
    "write_report",
]
