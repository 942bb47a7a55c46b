"""The front door: the CLI, the app (through `qa/chat.py`), the evaluation (`qa/evaluation/runner.py`)
and the training groups (`qa/training/groups.py`) reach the index and the models only through this
module (and format its results); nothing of theirs reaches into `qa/store/` or the models.

- ingest: `ingest_paths` (files and folders, read by `qa/ingest/read.py`; on a Ray cluster with
  `RaySettings`) and `index_documents` (documents already in memory: an evaluation set's paragraphs
  or corpus, a training collection's contexts), `remove_documents`: the changed documents are
  chunked and embedded here (`qa/indexing.py`; `qa/ingest/ray_ingest.py` on a cluster) as the store
  (`qa/store/update.py`) publishes them;
- the model: `load_embedder` (one model to index and ask with);
- the index: `index_exists`, `check_index`, `index_versions`, `compact_index`, `rollback_index`;
- questions: `QA.search`, `QA.ask` (inputs checked by `clean_question`, `checked_k`, `checked_threshold`);
- the app: `stage_uploads` / `add_uploads`, `list_documents`, `FirstBuild`.
"""

from __future__ import annotations

import math
import numbers
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Config
from qa.documents import Answer, Document, Passage, SearchResult, SkippedFile
from qa.errors import BadInputError, QAError
from qa.ingest.formats import repair_surrogates
from qa.ingest.read import IngestReport, read_documents
from qa.ingest.uploads import StagedUploads, restore, stage, unused
from qa.protocols import PassageEncoder, Reader, TextEncoder
from qa.store.catalog import DocRecord
from qa.store.index import UPLOADS, Index, corrupt, current_version, open_index

if TYPE_CHECKING:
    from qa.dates import DateRange
    from qa.reader.article_fields import FieldQuestion
    from qa.store.catalog import Version
    from qa.store.index import CheckReport
    from qa.store.update import Embedded


def ingest_paths(
    paths: list[Path], config: Config, rebuild: bool = False, progress: bool = False,
    embedder: PassageEncoder | None = None, force: bool = False, ray: RaySettings | None = None,
) -> IngestReport:
    """Read, check and clean every file under `paths`, then add them to the index, publishing
    a segment every `Config.segment_chunks` chunks (a killed ingest keeps those; rerun it).

    Bad files, folders and records are reported in `report.skipped` (`SkippedFile`s: the path, the
    record, the reason) and never reach the index. With `progress`, every long stage (reading,
    chunking, embedding, writing) shows a tqdm bar with an ETA. `embedder` (default: the
    configured model) turns the chunks into vectors. With `ray`, files are read and cleaned, and
    documents chunked and embedded, on a Ray cluster (`qa/ingest/ray_ingest.py`); the rest is the same.
    """
    from qa.store.lock import checked_index_folder
    from qa.store.update import refuse_empty_rebuild

    checked_index_folder(config.index_dir)  # before anything is read: `--index afile` fails at once
    embed: Callable[[list[Document]], Iterable[Embedded]] | None = None
    read: Callable[[list[Path]], tuple[list[Document], list[SkippedFile]]]
    if ray is None:
        read = partial(read_documents, config=config, progress=progress)
    else:
        from qa.ingest.ray_ingest import RayIngest

        cluster = RayIngest(config, ray.address, ray.workers, progress)
        read, embed = cluster.read, cluster.embed
    documents, skipped = read(paths)
    if rebuild:
        refuse_empty_rebuild(config.index_dir, documents, skipped)
    uploads = upload_dir(config)
    kept_uploads = 0
    if rebuild and uploads.is_dir() and not uploads.is_symlink() and not any(
        uploads.resolve() == p.resolve() or uploads.resolve() in p.resolve().parents for p in paths
    ):
        # Articles uploaded in the app live in <index>/uploads/ and stay in the index across a
        # rebuild (`qa remove` takes one out, deleting its copy there).
        more, more_skipped = read([uploads])
        documents, skipped, kept_uploads = documents + more, skipped + more_skipped, len(more)
    if not documents:
        report = IngestReport(skipped=skipped)
        if current_version(config.index_dir) is not None:
            index = open_index(config.index_dir, config)
            report.total_documents, report.total_chunks = index.n_documents, index.n_chunks
        return report
    report = _update_index(config, documents, embedder, progress, rebuild=rebuild, force=force, embed=embed)
    report.skipped = skipped
    report.uploads_kept = kept_uploads
    return report


def index_documents(
    documents: list[Document], config: Config, embedder: PassageEncoder | None = None, progress: bool = False,
    rebuild: bool = False,
) -> IngestReport:
    """Add or update documents already in memory (an evaluation set's paragraphs or corpus, a
    training collection's contexts), as `ingest_paths` does with the documents of files:
    unchanged ones (same source and content) cost nothing. With `rebuild`, a fresh index of
    `documents` replaces whatever the folder held (an evaluation cache in an older format)."""
    return _update_index(config, documents, embedder, progress, rebuild=rebuild, force=rebuild)


def _update_index(
    config: Config, documents: list[Document], embedder: PassageEncoder | None, progress: bool,
    remove_ids: tuple[str, ...] = (), rebuild: bool = False, force: bool = False,
    embed: Callable[[list[Document]], Iterable[Embedded]] | None = None,
) -> IngestReport:
    """The store's `update_index`, the changed documents chunked and embedded on the way
    (`qa.indexing.chunk_and_embed` with `embedder`, unless `embed` is given), as a report."""
    from qa.indexing import chunk_and_embed
    from qa.store.update import update_index

    if embed is None:
        embed = partial(chunk_and_embed, embedder=embedder, config=config, show_progress=progress)
    done = update_index(config.index_dir, documents, config, embed, remove_ids=remove_ids, rebuild=rebuild,
                        force=force)
    return IngestReport(**vars(done))


@dataclass(frozen=True)
class RaySettings:
    """`qa ingest --ray [ADDRESS]`: the cluster (e.g. "ray://head:10001" or "auto"; None starts a
    local instance of `workers` CPUs, default all)."""

    address: str | None = None
    workers: int | None = None


def upload_dir(config: Config) -> Path:
    """Where the app keeps the files uploaded to it: they are the sources of those documents."""
    return Path(config.index_dir) / UPLOADS


def remove_documents(doc_ids: list[str], config: Config) -> IngestReport:
    """Take documents out of the index (an id given twice counts once); a removed document's file in
    <index>/uploads/ is deleted too once no indexed document comes from it (so a rebuild does not bring
    it back). Only a file directly in that real folder is deleted, never through a link."""
    import os

    from qa.documents import split_source

    report = _update_index(config, [], None, False, remove_ids=tuple(dict.fromkeys(doc_ids)))
    # Sources are absolute, resolved paths; the index folder is resolved, its uploads/ folder is not.
    uploads = Path(os.path.realpath(config.index_dir)) / UPLOADS
    if uploads.is_symlink() or not uploads.is_dir():
        return report
    files = {Path(split_source(s)[0]) for s in report.removed_sources}
    files = {f for f in files if f.parent == uploads}
    if files:
        still = {Path(split_source(r.source)[0]) for r in open_index(config.index_dir, config).document_records()}
        for f in files - still:
            f.unlink(missing_ok=True)  # a link is removed itself, never followed
    return report


def load_embedder(config: Config) -> TextEncoder:
    """The configured embedding model (loaded on first use): pass it to `index_documents` and `QA`
    to index and ask with one model."""
    from qa.model.embed import Embedder

    return Embedder(config)


def index_exists(config: Config) -> bool:
    """Whether there is an index at `config.index_dir` (readable or not): nothing should build over it."""
    return current_version(config.index_dir) is not None


def check_index(config: Config) -> CheckReport:
    """Hash every part of every kept state of the index (`qa check`); the report names each damaged part."""
    from qa.store.index import check_index as check_store

    return check_store(config.index_dir, config)


def index_versions(config: Config) -> tuple[str | None, list[Version]]:
    """(the live version's name, every kept version oldest first) (`qa versions`)."""
    from qa.store.index import list_versions

    return list_versions(config.index_dir)


def compact_index(config: Config) -> str:
    """Merge the index's segments into one, dropping deleted documents; a one-line summary (`qa compact`)."""
    from qa.store.writer import compact

    return compact(config.index_dir, config)


def rollback_index(config: Config, version: str | None = None) -> str:
    """Make a kept state live again (default: the one before the live one); a one-line summary (`qa rollback`)."""
    from qa.store.writer import rollback

    return rollback(config.index_dir, config, version)


@dataclass(frozen=True)
class Question:
    """One question, cleaned once (`clean_question`)."""

    asked: str  # as given (None as "", lone surrogates repaired): what the Answer reports
    text: str  # whitespace collapsed, at most `Config.max_question_chars`: what retrieval and the reader use


def clean_question(question: object, config: Config) -> Question:
    """The question as asked and as read. None is empty; lone surrogates (bytes that were not
    UTF-8) are repaired as input files are decoded; anything else that is not text is refused."""
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise BadInputError(f"the question must be text, not {type(question).__name__}")
    asked = repair_surrogates(question)
    # The model reads at most 256 word pieces; a huge paste only slows BM25 down.
    return Question(asked, " ".join(asked.split())[: config.max_question_chars])


class QA:
    """Search and ask over the index at `config.index_dir`; models load on first use.

    Each call checks whether a writer has published a newer index version and, if so,
    loads it; until then it keeps answering from the version it has. `embedder` and `reader`
    default to the configured models; a test or the benchmark may pass stand-ins.
    """

    def __init__(self, config: Config, embedder: TextEncoder | None = None, reader: Reader | None = None):
        self.config = config
        self.embedder = embedder if embedder is not None else load_embedder(config)
        self._index: Index | None = None
        self._reader = reader
        self._lock = threading.Lock()

    def index(self) -> Index:
        with self._lock:
            live = current_version(self.config.index_dir)
            if self._index is None or (live is not None and live != self._index.version):
                self._index = open_index(self.config.index_dir, self.config)
            return self._index

    def documents(self) -> list[Document]:
        return list(self.index().documents)

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
        newer articles first among closely relevant passages (qa/news_retrieval.py)."""
        return self.retrieve(question, k, retriever, since, until).passages

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        retriever: str | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> SearchResult:
        """`search`'s passages, with how many undated articles the date range left out of them."""
        q = clean_question(question, self.config)
        return self._retrieve(q.text, *self._checked(k, retriever, since, until))

    def _checked(
        self, k: object, retriever: str | None, since: str | date | None, until: str | date | None
    ) -> tuple[int, str, DateRange]:
        """The number of passages, the retriever's name and the date range, or BadInputError."""
        from qa.dates import DateRange
        from qa.retrieve import checked_retriever

        return checked_k(k, self.config), checked_retriever(retriever or self.config.retriever), DateRange.parse(since, until)

    def _retrieve(self, text: str, k: int, kind: str, dates: DateRange) -> SearchResult:
        """`retrieve` for a question already cleaned and settings already checked."""
        from qa.dates import asks_for_latest
        from qa.news_retrieval import NewsRetriever, Ranked
        from qa.retrieve import make_retriever, passage_at
        from qa.stories import with_copies

        if not text:
            return SearchResult([])
        index = self.index()
        found = make_retriever(kind, index, self.embedder, self.config)
        recent = asks_for_latest(text)
        distinct = self.config.distinct_stories
        if dates or recent or distinct:
            ranked = NewsRetriever(found, index, dates, recent, self.config.recency_margin, distinct,
                                   self.config.filter_depth).rank(text, k)
        else:
            ranked = Ranked(found.ranked_rows(text, k))
        passages = [passage_at(index, row, score) for row, score in ranked.rows]
        return SearchResult(with_copies(index, passages), ranked.undated_left_out)

    @property
    def reader(self) -> Reader:
        """The reader (loaded on first use): its `default_threshold` is the fitted one."""
        if self._reader is None:
            from qa.reader.neural import NeuralReader

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
        """The reader's answer from the `k` best passages (see `search`); the Answer carries the
        question as asked."""
        from qa.reader.article_fields import field_question

        q = clean_question(question, self.config)
        k, kind, dates = self._checked(k, retriever, since, until)
        threshold = checked_threshold(threshold)
        about_article = field_question(q.text)
        if about_article is not None:
            return self._ask_field(q, about_article, k, kind, dates)
        reader = self.reader  # made before retrieval: the neural reader's network loads meanwhile
        found = self._retrieve(q.text, k, kind, dates)
        answer = reader.answer(q.text, found.passages, threshold=threshold, asked=q.asked)
        return replace(answer, undated_left_out=found.undated_left_out) if found.undated_left_out else answer

    def _ask_field(self, q: Question, fq: FieldQuestion, k: int, kind: str, dates: DateRange) -> Answer:
        """A question about an article's own date, publisher or author: answered from the field of
        the article it names (or the best-ranked one), never from the text."""
        from qa.reader.article_fields import field_answer, pick_article

        found = self._retrieve(fq.search_text, k, kind, dates)
        passages = found.passages
        index = self.index()
        sources = {r.doc_id: r.source for r in index.records("doc_id", {p.doc_id for p in passages})}
        chosen = pick_article(fq, passages, sources)
        value: str | None = None
        if chosen is not None:
            if fq.field == "author":
                document = index.document_by_id(chosen.doc_id)
                value = document.meta.get("author") if document else None
            else:
                value = chosen.article.date if fq.field == "date" else chosen.article.publisher
        answer = field_answer(q.asked, fq, chosen, value, passages)
        return replace(answer, undated_left_out=found.undated_left_out) if found.undated_left_out else answer


def checked_k(k: object, config: Config) -> int:
    """The number of passages: `config.top_k` when None, else a whole number in 1..config.max_top_k."""
    if k is None:
        return config.top_k
    value = _finite_number(k)
    if value is not None and value == int(value) and 1 <= value <= config.max_top_k:
        return int(value)
    raise BadInputError(f"k (the number of passages) must be a whole number from 1 to {config.max_top_k}, "
                        f"not {_shown(k)}")


def checked_threshold(threshold: object) -> float | None:
    """The abstention threshold: None (the configured one) or a finite number in 0..1."""
    if threshold is None:
        return None
    value = _finite_number(threshold)
    if value is not None and 0.0 <= value <= 1.0:
        return value
    raise BadInputError(f"the threshold must be a number from 0 to 1, not {_shown(threshold)}")


def _finite_number(value: object) -> float | None:
    """`value` as a float when it is a finite int or float (not a bool, not text), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def stage_uploads(paths: list[Path], config: Config) -> StagedUploads:
    """Copy files uploaded in the app into <index>/uploads/ (`qa.ingest.uploads.stage`), ready for
    `add_uploads`; the refused ones are in `.refused`."""
    return stage(paths, upload_dir(config))


def add_uploads(
    staged: StagedUploads, config: Config, embedder: PassageEncoder | None = None, progress: bool = False
) -> IngestReport:
    """Ingest the staged uploads. When ingest fails, every staged file is put back as it was and
    the error raised; after it, a staged file that gave no article is put back as it was. The
    report's skipped files are named as the user knows them."""
    try:
        report = ingest_paths([f.path for f in staged.files], config, embedder=embedder, progress=progress)
    except Exception:
        restore(staged.files)
        raise
    shown = {f.path: f.shown for f in staged.files}
    report.skipped = [
        replace(s, path=shown.get(Path(s.path).resolve(), Path(s.path).resolve().name)) for s in report.skipped
    ]
    ids = {*report.added, *report.updated, *report.unchanged}
    sources = [r.source for r in open_index(config.index_dir, config).document_records() if r.doc_id in ids]
    restore(unused(staged.files, sources))
    return report


@dataclass(frozen=True)
class DocumentList:
    """The indexed documents, as `qa list` and the app's Articles tab show them."""

    records: tuple[DocRecord, ...]  # in index order
    # One tuple per story, in the order its first copy was indexed; its copies oldest first (undated last).
    stories: tuple[tuple[DocRecord, ...], ...]
    n_chunks: int
    version: str


def list_documents(config: Config, index: Index | None = None) -> DocumentList:
    """The documents of `index` (default: the index at `config.index_dir`, opened), by story.
    IndexCorruptError when the catalog disagrees with the segments."""
    from qa.stories import copy_order

    if index is None:
        index = open_index(config.index_dir, config)
    records = index.document_records()
    if [d.doc_id for d in index.documents] != [r.doc_id for r in records]:
        raise corrupt(config.index_dir, f"{config.index_dir / 'catalog.sqlite'}: the document table disagrees with "
                      f"the segments (`qa rollback --index {config.index_dir}` may restore an undamaged state)")
    stories: dict[str, list[DocRecord]] = {}
    for r in records:
        stories.setdefault(r.story or r.doc_id, []).append(r)
    grouped = tuple(tuple(sorted(copies, key=copy_order)) for copies in stories.values())
    return DocumentList(tuple(records), grouped, index.n_chunks, index.version)


class FirstBuild:
    """Builds the index at `config.index_dir` from the folder `corpus` in a background thread when
    there is none yet (the app's first start); questions wait for it with `wait`. What it does is
    printed as it goes; a failure is kept in `error` (one line) instead of raised."""

    def __init__(self, config: Config, corpus: Path | None, embedder: PassageEncoder | None = None):
        self.config = config
        self.corpus = corpus
        self.error: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if corpus is None or index_exists(config):
            self._done.set()
        else:
            self._thread = threading.Thread(target=self._build, args=(corpus, embedder), daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block until no build is pending, at most `timeout_s`; False when it is still running."""
        return self._done.wait(timeout_s)

    def _build(self, corpus: Path, embedder: PassageEncoder | None) -> None:
        try:
            print(f"No index at {self.config.index_dir}: building it from {corpus} (first start) ...", flush=True)
            report = ingest_paths([corpus], self.config, progress=True, embedder=embedder)
            for skipped in report.skipped:
                print(skipped.message(), file=sys.stderr)
            print(f"Index ready: {report.summary()} ({self.config.index_dir})", flush=True)
        except QAError as e:
            self.error = str(e)
            print(f"error: {e}", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - reported by the app, which keeps running
            self.error = f"unexpected {type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self._done.set()
