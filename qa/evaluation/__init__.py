"""`qa eval`: retrieval and answer quality on a question set, or retrieval on a test collection
(a BEIR folder, TREC qrels beside a run), with a table, JSON and a report.

`data` reads question files, `beir` test collections, `metrics` scores (pure functions), `runner`
asks the questions or searches the queries, `reports` summarises and formats a run, `plots` draws
it; the command itself is in `qa.cli`.
"""

from qa.evaluation.beir import Collection, load_collection
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
from qa.evaluation.reports import (
    format_collection_markdown,
    format_collection_table,
    format_markdown,
    format_table,
    summarise,
    summarise_collection,
    write_report,
)
from qa.evaluation.runner import evaluate, evaluate_collection, prepare_index

__all__ = [
    "DEFAULT_EVAL_FILE",
    "SEED",
    "Collection",
    "EvalQuestion",
    "EvalSet",
    "evaluate",
    "evaluate_collection",
    "exact_match",
    "f1_score",
    "format_collection_markdown",
    "format_collection_table",
    "format_markdown",
    "format_table",
    "load_collection",
    "load_eval_file",
    "normalize_answer",
    "prepare_index",
    "reliability_table",
    "retrieval_metrics",
    "sample_questions",
    "select_articles",
    "summarise",
    "summarise_collection",
    "write_report",
]
