"""Running an evaluation: the index the questions are asked against (a SQuAD file's paragraphs
are indexed once and cached by the file's hash), every question asked, the run summarised; or a
test collection's corpus indexed the same way and every judged query searched (`evaluate_collection`).

What is measured, per question:
  * retrieval, for every retriever (dense, bm25, hybrid: retrieval is cheap): the documents of the
    top passages, de-duplicated, scored against the gold documents (see `qa.evaluation.metrics`);
  * answering, with the selected retriever: the reader's best span and its confidence, read once
    with threshold 0 so any abstention threshold can be applied afterwards (the answer at
    threshold t is the span when confidence >= t, else an abstention, exactly as the reader does);
  * latency of `QA.ask` (retrieve + read) per question, after a warm-up question loads the models.

This is the module that touches the disk, and the index and the models through the pipeline
(`qa.pipeline`: `index_documents`, `QA`, `load_embedder`); the models are loaded lazily.
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
from qa.documents import Document
from qa.errors import BadInputError, IndexMissingError
from qa.evaluation.beir import Collection
from qa.evaluation.data import SEED, EvalQuestion, EvalSet, sample_questions
from qa.evaluation.metrics import COLLECTION_DEPTH, COLLECTION_MAX_PASSAGES, SEARCH_DEPTH, ranked_doc_ids
from qa.evaluation.reports import QuestionResult, summarise, summarise_collection
from qa.ingest.read import IngestReport, slugify
from qa.protocols import PassageEncoder

if TYPE_CHECKING:  # the pipeline (and the models behind it) load when the questions are asked
    from qa.pipeline import QA


def default_cache_dir() -> Path:
    base = os.environ.get("QA_EVAL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-qa" / "eval"


def _cache_dir(stem: str, data: Path, key: list[object], cache_dir: Path | None) -> Path:
    """`cache_dir`/<stem>-<hash of the file `data` and `key`>."""
    with open(data, "rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    digest.update(json.dumps(key, sort_keys=True).encode("utf-8"))
    return Path(cache_dir or default_cache_dir()) / f"{slugify(stem)[:40]}-{digest.hexdigest()[:16]}"


def squad_index_dir(path: Path, config: Config, cache_dir: Path | None = None, articles: Sequence[str] = ()) -> Path:
    """The cached index folder for a SQuAD file: keyed by the file's name and bytes (its paragraphs'
    sources are "NAME#Title/N"), the articles kept and the index settings; not by its folder, so
    the same file given by another path finds the same index."""
    return _cache_dir(Path(path).stem, Path(path), [Path(path).name, config.index_settings(), sorted(articles)], cache_dir)


def collection_index_dir(folder: Path, config: Config, cache_dir: Path | None = None) -> Path:
    """The cached index folder for a BEIR folder's corpus: keyed by the bytes of its corpus.jsonl
    (its documents' sources are "corpus.jsonl#ID") and the index settings."""
    return _cache_dir(f"beir-{Path(folder).name}", Path(folder) / "corpus.jsonl", ["corpus.jsonl", config.index_settings()],
                      cache_dir)


def index_cached(documents: list[Document], config: Config, embedder: PassageEncoder | None, progress: bool) -> IngestReport:
    """Index `documents` into the evaluation cache at `config.index_dir`, built or completed
    (unchanged documents cost nothing); a cache written by an older index format is rebuilt."""
    from qa.errors import IndexMismatchError
    from qa.pipeline import index_documents

    try:
        return index_documents(documents, config, embedder=embedder, progress=progress)
    except IndexMismatchError:
        return index_documents(documents, config, embedder=embedder, progress=progress, rebuild=True)


def prepare_index(
    eval_set: EvalSet, config: Config, cache_dir: Path | None, embedder: PassageEncoder | None = None,
    progress: bool = False,
) -> Config:
    """The config whose index the questions are asked against. For SQuAD: the cached paragraph
    index, built or completed first (unchanged paragraphs cost nothing). For the project's own
    format: the given index, which must hold the gold documents."""
    from qa.pipeline import index_exists, list_documents

    if eval_set.documents is not None:
        config = config.with_(index_dir=squad_index_dir(eval_set.path, config, cache_dir, eval_set.articles))
        report = index_cached(eval_set.documents, config, embedder, progress)
        print(
            f"{eval_set.path}: {report.total_documents} paragraphs indexed in {config.index_dir} "
            f"({report.chunks_added} passages embedded now, {report.total_chunks} in all)",
            file=sys.stderr,
        )
        return config
    if not index_exists(config):
        raise IndexMissingError(
            f"{config.index_dir}: no index here yet; build it first with `qa ingest corpus --index {config.index_dir}` "
            f"(the questions in {eval_set.path} are about the articles in corpus/)"
        )
    indexed = {r.doc_id for r in list_documents(config).records}
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
    from qa.pipeline import QA, load_embedder

    started = time.perf_counter()
    questions = sample_questions(eval_set.questions, limit, seed)
    embedder = load_embedder(config)
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


# ---------------------------------------------------------------- test collections (BEIR folders, TREC runs)


def rank_documents(qa: QA, text: str, retriever: str, depth: int = COLLECTION_DEPTH) -> list[str]:
    """The `depth` best documents for `text`, each at the rank of its best passage: passages are
    searched `depth` deep, then four times deeper until `depth` documents are found, the index
    is exhausted or `Config.max_top_k` is reached."""
    k = min(depth, qa.config.max_top_k)
    while True:
        passages = qa.search(text, k=k, retriever=retriever)
        ranking = ranked_doc_ids((p.doc_id for p in passages), depth)
        if len(ranking) == depth or len(passages) < k or k == qa.config.max_top_k:
            return ranking
        k = min(4 * k, qa.config.max_top_k)


def search_collection(
    qa: QA, queries: dict[str, str], retrievers: Sequence[str] = RETRIEVERS, progress: bool = False
) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[float]]]:
    """Every query searched with every retriever: (retriever -> query id -> documents best
    first, retriever -> seconds per query). The seconds are the search alone: the query's vector
    is computed (and cached by the encoder) before, as the answer's search does in `run_questions`."""
    from tqdm import tqdm

    for name in retrievers:  # warm-up: loads the model and each retriever's index
        qa.search("warm-up", k=1, retriever=name)
    rankings: dict[str, dict[str, list[str]]] = {name: {} for name in retrievers}
    seconds: dict[str, list[float]] = {name: [] for name in retrievers}
    for qid, text in tqdm(queries.items(), desc="queries", unit="q", disable=not progress, file=sys.stderr):
        qa.search(text, k=1, retriever="dense")
        for name in retrievers:
            t0 = time.perf_counter()
            rankings[name][qid] = rank_documents(qa, text, name)
            seconds[name].append(time.perf_counter() - t0)
    return rankings, seconds


def evaluate_collection(
    collection: Collection,
    config: Config,
    *,
    limit: int | None = None,
    seed: int = SEED,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a test collection and return the summary dict (see `summarise_collection`): its run
    as it is, or its corpus indexed (cached by the corpus's hash) and every judged query (`limit`
    of them sampled with `seed`) searched with every retriever. Every copy of a story is ranked:
    the judgments are per document, and a judged copy must be findable."""
    started = time.perf_counter()
    qids = sample_questions(list(collection.qrels), limit, seed)
    settings: dict[str, Any] = {"limit": limit, "seed": seed, "depth": COLLECTION_DEPTH}
    seconds: dict[str, list[float]] = {}
    if collection.run is not None:
        run_name = collection.run_path.name if collection.run_path else "run"
        rankings = {run_name: {qid: collection.run.get(qid, []) for qid in qids}}
        settings["run_file"] = str(collection.run_path)
    else:
        from qa.pipeline import QA, load_embedder

        embedder = load_embedder(config)
        config = config.with_(
            index_dir=collection_index_dir(collection.path, config, cache_dir),
            max_top_k=max(config.max_top_k, COLLECTION_MAX_PASSAGES),
            distinct_stories=False,
        )
        report = index_cached(collection.documents or [], config, embedder, progress)
        print(
            f"{collection.path}: {report.total_documents} documents indexed in {config.index_dir} "
            f"({report.chunks_added} passages embedded now, {report.total_chunks} in all)",
            file=sys.stderr,
        )
        qa = QA(config, embedder=embedder)
        rankings, seconds = search_collection(qa, {qid: collection.queries[qid] for qid in qids}, progress=progress)
        index = qa.index()
        settings.update({
            "index_dir": str(config.index_dir),
            "documents": len(index.documents),
            "chunks": index.n_chunks,
            "model": config.model_name,
        })
    settings["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    summary = summarise_collection(collection, qids, rankings, seconds, settings)
    summary["settings"]["wall_seconds"] = round(time.perf_counter() - started, 2)
    return summary
