"""Running an evaluation: the index the questions are asked against (a SQuAD file's paragraphs
are indexed once and cached by the file's hash), every question asked, the run summarised.

What is measured, per question:
  * retrieval, for every retriever (dense, bm25, hybrid: retrieval is cheap): the documents of the
    top passages, de-duplicated, scored against the gold documents (see `qa.evaluation.metrics`);
  * answering, with the selected retriever: the reader's best span and its confidence, read once
    with threshold 0 so any abstention threshold can be applied afterwards (the answer at
    threshold t is the span when confidence >= t, else an abstention, exactly as the reader does);
  * latency of `QA.ask` (retrieve + read) per question, after a warm-up question loads the models.

This is the module that touches the index, the models and the disk; the models are loaded lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.config import RETRIEVERS, Config
from qa.errors import BadInputError, IndexMissingError
from qa.evaluation.data import SEED, EvalQuestion, EvalSet, sample_questions
from qa.evaluation.metrics import SEARCH_DEPTH, ranked_doc_ids
from qa.evaluation.reports import QuestionResult, summarise
from qa.ingest import slugify
from qa.protocols import PassageEncoder

if TYPE_CHECKING:  # the pipeline (and the models behind it) load when the questions are asked
    from qa.pipeline import QA


def default_cache_dir() -> Path:
    base = os.environ.get("QA_EVAL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-qa" / "eval"


def squad_index_dir(path: Path, config: Config, cache_dir: Path | None = None, articles: Sequence[str] = ()) -> Path:
    """The cached index folder for a SQuAD file: keyed by the file's name and bytes (its paragraphs'
    sources are "NAME#Title/N"), the articles kept and the index settings; not by its folder, so
    the same file given by another path finds the same index."""
    digest = hashlib.sha256(Path(path).read_bytes())
    digest.update(json.dumps([Path(path).name, config.index_settings(), sorted(articles)], sort_keys=True).encode("utf-8"))
    name = f"{slugify(Path(path).stem)[:40]}-{digest.hexdigest()[:16]}"
    return Path(cache_dir or default_cache_dir()) / name


def prepare_index(
    eval_set: EvalSet, config: Config, cache_dir: Path | None, embedder: PassageEncoder | None = None,
    progress: bool = False,
) -> Config:
    """The config whose index the questions are asked against. For SQuAD: the cached paragraph
    index, built or completed first (unchanged paragraphs cost nothing). For the project's own
    format: the given index, which must hold the gold documents."""
    from qa.errors import IndexMismatchError
    from qa.store.index import current_version, open_index
    from qa.store.update import update_index

    if eval_set.documents is not None:
        config = config.with_(index_dir=squad_index_dir(eval_set.path, config, cache_dir, eval_set.articles))
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
    qa: QA,
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
                answer_type=answer.answer_type,
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
) -> dict[str, Any]:
    """Run the whole evaluation and return the summary dict (see `summarise`)."""
    from qa.embed import Embedder
    from qa.pipeline import QA

    started = time.perf_counter()
    questions = sample_questions(eval_set.questions, limit, seed)
    embedder = Embedder(config)
    config = prepare_index(eval_set, config, cache_dir, embedder=embedder, progress=progress)
    qa = QA(config, embedder=embedder)  # one model for indexing and asking
    threshold = qa.reader.default_threshold if threshold is None else threshold
    qa.ask("Who visited the capital on Tuesday?", k=config.top_k)  # warm-up: loads the models
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
        "reader": qa.reader.describe(),
        "articles": list(eval_set.articles),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    summary = summarise(results, eval_set, config.retriever, threshold, settings)
    summary["settings"]["wall_seconds"] = round(time.perf_counter() - started, 2)
    return summary
