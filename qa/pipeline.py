"""Wires the stages together: ingest files into an index, and search or ask against it.

The CLI, the app and the evaluation call these functions and only format their results.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

from qa.config import Config
from qa.documents import Answer, Document, Passage
from qa.errors import BadInputError
from qa.index import IngestReport, LoadedIndex, current_version, open_index, update_index
from qa.ingest import expand_paths, make_document, read_file, source_doc_id


def file_documents(path: Path, config: Config) -> list[Document]:
    """The cleaned documents of one file (one per JSON/JSONL record). Raises BadInputError."""
    documents = []
    for source, article in read_file(path, config):
        # Absolute paths: the same file named as `corpus` or `./corpus` is one source.
        file_part, hash_sign, record = source.partition("#")
        source = str(Path(file_part).resolve()) + hash_sign + record
        documents.append(make_document(source_doc_id(source), source, article))
    return documents


def refuse_empty_rebuild(documents: list[Document], skipped: list[str], rebuild: bool, config: Config) -> None:
    """`qa ingest TYPO --rebuild` must not replace an index with nothing."""
    if rebuild and not documents:
        first = skipped[0].removeprefix("skipped ") if skipped else ""
        reasons = f" ({first}{f' and {len(skipped) - 1} more' if len(skipped) > 1 else ''})" if skipped else ""
        raise BadInputError(
            f"{config.index_dir}: refusing to rebuild the index from nothing: no readable article in the given "
            f"paths{reasons}; the index is unchanged"
        )


def ingest_paths(
    paths: list[Path], config: Config, rebuild: bool = False, progress: bool = False, embedder=None,
    force: bool = False,
) -> IngestReport:
    """Read, check and clean every file under `paths`, then add them to the index, publishing
    a segment every `Config.segment_chunks` chunks (a killed ingest keeps those; rerun it).

    Bad files are reported in `report.skipped` (one line each) and never reach the index.
    """
    from tqdm import tqdm

    files, missing = expand_paths(paths)
    skipped = [m.message() for m in missing]
    documents: list[Document] = []
    for path in tqdm(files, desc="reading", unit="file", disable=not progress or len(files) < 20):
        try:
            documents += file_documents(path, config)
        except BadInputError as e:
            skipped.append(f"skipped {e}")
    refuse_empty_rebuild(documents, skipped, rebuild, config)
    if not documents:
        report = IngestReport(skipped=skipped)
        if current_version(config.index_dir) is not None:
            index = open_index(config.index_dir, config)
            report.total_documents, report.total_chunks = index.n_documents, index.n_chunks
        return report
    report = update_index(
        config.index_dir, documents, config, embedder=embedder, rebuild=rebuild, show_progress=progress, force=force
    )
    report.skipped = skipped
    return report


def remove_documents(doc_ids: list[str], config: Config) -> IngestReport:
    return update_index(config.index_dir, [], config, remove_ids=tuple(doc_ids))


class QA:
    """Search and ask over the index at `config.index_dir`; models load on first use.

    Each call checks whether a writer has published a newer index version and, if so,
    loads it; until then it keeps answering from the version it has.
    """

    def __init__(self, config: Config):
        from qa.embed import Embedder

        self.config = config
        self.embedder = Embedder(config)
        self._index: LoadedIndex | None = None
        self._reader = None
        self._lock = threading.Lock()

    def index(self) -> LoadedIndex:
        with self._lock:
            live = current_version(self.config.index_dir)
            if self._index is None or (live is not None and live != self._index.version):
                self._index = open_index(self.config.index_dir, self.config)
            return self._index

    def documents(self) -> list[Document]:
        return list(self.index().documents)

    def _question(self, question: str) -> str:
        # The model reads at most 256 word pieces; a huge paste only slows BM25 down.
        return " ".join(str(question).split())[: self.config.max_question_chars]

    def search(
        self,
        question: str,
        k: int | None = None,
        retriever: str | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> list[Passage]:
        """The `k` best passages, from articles dated `since`..`until` (inclusive ISO dates; with
        either given, undated articles are left out). A question asking for the latest news puts
        newer articles first among closely relevant passages (qa/news.py)."""
        from qa.news import DateRange, NewsRetriever, asks_for_latest
        from qa.retrieve import make_retriever

        dates = DateRange.parse(since, until)
        question = self._question(question)
        if not question:
            return []
        index = self.index()
        kind = retriever or self.config.retriever
        found = make_retriever(kind, index, self.embedder, self.config.rrf_k)
        recent = asks_for_latest(question)
        if dates or recent:
            found = NewsRetriever(found, index, dates, recent, self.config.recency_margin)
        return found.search(question, k or self.config.top_k)

    @property
    def reader(self):
        """The reader (loaded on first use): its `default_threshold` is the fitted one."""
        from qa.answer import NeuralReader

        if self._reader is None:
            self._reader = NeuralReader(self.config)
        return self._reader

    def ask(
        self,
        question: str,
        k: int | None = None,
        retriever: str | None = None,
        threshold: float | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> Answer:
        original = question
        question = self._question(question)
        passages = self.search(question, k, retriever, since, until) if question else []
        answer = self.reader.answer(question, passages, threshold=threshold)
        return replace(answer, question=original)
