"""The index: immutable segments registered by a catalog, read as one.

    index/
      catalog.sqlite     kept states (segments + tombstones), which one is live, every segment's documents
      segments/s000012/  one immutable segment: documents, chunk offsets, vectors, lexical and dense parts
      .lock              held by the one writer

`open_index` reads the live state in one catalog transaction and maps its segments into memory,
checking sizes, shapes and counts (and hashing segments up to `Config.open_verify_bytes`);
`check_index` hashes everything. Rows 0..n_chunks-1 number the live chunks, segment by segment.
Writing is in `qa/store/writer.py`.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Config
from qa.documents import Chunk, Document, chunk_id
from qa.errors import (
    IndexAccessError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    QAError,
    rebuild_hint,
)
from qa.store.catalog import (
    CATALOG,
    LAST_COMMITTED,
    UPGRADABLE,
    Catalog,
    CatalogAccessError,
    CatalogBusyError,
    CatalogError,
    CatalogFormatError,
    DocRecord,
    Version,
)
from qa.store.dense import IVF_FILE, DensePart, dense_top
from qa.store.lexical import FILES as LEXICAL_FILES
from qa.store.lexical import LexicalPart, bm25_top
from qa.store.segment import (
    CHUNKS,
    VECTORS,
    Segment,
    SegmentError,
    check_segment,
    chunk_crc,
    open_segment,
    segment_bytes,
)

SEGMENTS = "segments"
UPLOADS = "uploads"  # the app's uploaded articles (qa/ingest/uploads.py): the one folder of an index that holds articles
UNREADABLE = "unreadable"


def is_index_folder(folder: Path) -> bool:
    """Whether `folder` is a qa index (its catalog, or the record beside it, or the previous format's CURRENT)."""
    return any((folder / name).is_file() for name in (CATALOG, LAST_COMMITTED, "CURRENT"))


def index_holding(path: Path) -> Path | None:
    """The qa index folder that `path` is or lies in, None when it is no part of one (the index's
    uploads/ folder, and what is in it, is no part: those are articles)."""
    real = Path(os.path.realpath(path))
    for folder in (real, *real.parents):
        if is_index_folder(folder):
            inside = real.relative_to(folder).parts
            return None if inside[:1] == (UPLOADS,) else folder
    return None


def corrupt(index_dir: Path, message: str) -> IndexCorruptError:
    return IndexCorruptError(f"{message}; {rebuild_hint(index_dir)}")


def catalog_failure(index_dir: Path, error: CatalogError) -> QAError:
    """The project's error for a catalog that cannot be used as it is: this user may not (access, never
    called damage: a rebuild would drop every kept state), queries kept it busy (try again), another
    format, or damage (with the rebuild command)."""
    if isinstance(error, CatalogAccessError):
        return IndexAccessError(str(error))
    if isinstance(error, CatalogBusyError):
        return IndexLockedError(str(error))
    if isinstance(error, CatalogFormatError):
        if f"format {UPGRADABLE!r} " in str(error):
            return IndexMismatchError(f"{error} (written before catalog rows carried checksums): `qa compact --index "
                                      f"{index_dir}` upgrades it in place, keeping every state; or {rebuild_hint(index_dir)}")
        return IndexMismatchError(f"{error}; {rebuild_hint(index_dir)}")
    return corrupt(index_dir, str(error))


def current_version(index_dir: Path) -> str | None:
    """The live version's name ("v000007"); None when there is no index at all, `UNREADABLE`
    when there is one that cannot be read (so that nothing builds over it)."""
    index_dir = Path(index_dir)
    if not (index_dir / CATALOG).exists():
        legacy = (index_dir / "CURRENT").exists() or (index_dir / SEGMENTS).exists()
        return UNREADABLE if legacy else None
    try:
        catalog = Catalog.open(index_dir)
    except (CatalogError, FileNotFoundError):
        return UNREADABLE
    try:
        head = catalog.head()
        return head.name if head else None
    except CatalogError:
        return UNREADABLE
    finally:
        catalog.close()


# ---------------------------------------------------------------- the read view


class Index:
    """One state of the index, open for reading. Row i (0 <= i < n_chunks) is the i-th live chunk."""

    def __init__(self, index_dir: Path, state: Version, segments: list[Segment], config: Config):
        self.path, self.state, self.version = index_dir, state, state.name
        self._bm25 = (config.bm25_k1, config.bm25_b)
        self.segments = segments
        self._live_rows: list[np.ndarray | None] = []
        self.alive: list[np.ndarray | None] = []  # per segment: which chunk rows are live (None: all)
        dense, lexical, counts, docs = [], [], [], 0
        for seg in segments:
            dead = state.tombstones.get(seg.name, frozenset())
            if any(row >= seg.n_documents for row in dead):
                raise corrupt(index_dir, f"{index_dir / CATALOG}: {state.name} deletes documents {seg.name} does not have")
            alive = ~np.isin(seg.chunks["doc"], np.fromiter(dead, dtype=np.int64)) if dead else None
            self._live_rows.append(None if alive is None else np.flatnonzero(alive))
            self.alive.append(alive)
            dense.append(DensePart(seg.vectors, seg.ivf, alive, seg.rerank_depth, seg.rerank_rows))
            lexical.append(LexicalPart.of(seg.postings, alive))
            counts.append(seg.n_chunks if alive is None else int(alive.sum()))
            docs += seg.n_documents - len(dead)
        self._dense, self._lexical = dense, lexical
        self.live_counts = counts  # live chunks per segment
        self._bases: list[int] = [0, *(int(c) for c in np.cumsum(counts))]
        self.n_chunks = int(self._bases[-1])
        self.n_documents = docs
        if (self.n_chunks, self.n_documents) != (state.n_chunks, state.n_documents):
            raise corrupt(index_dir, f"{index_dir / CATALOG}: {state.name} counts {state.n_documents} documents and "
                          f"{state.n_chunks} chunks, its segments hold {docs} and {self.n_chunks}")

    # -- rows

    def locate(self, row: int) -> tuple[Segment, int]:
        """The segment of live chunk `row` and the chunk's row inside it."""
        if not 0 <= row < self.n_chunks:
            raise IndexError(row)
        part = bisect.bisect_right(self._bases, row) - 1
        offset = row - self._bases[part]
        live = self._live_rows[part]
        return self.segments[part], int(offset if live is None else live[offset])

    def _row(self, part: int, local: int) -> int:
        live = self._live_rows[part]
        return self._bases[part] + (local if live is None else int(np.searchsorted(live, local)))

    def chunk(self, row: int) -> Chunk:
        seg, local = self.locate(row)
        doc_row, ordinal, start, end, crc = seg.chunk_span(local)
        doc = self._document(seg, doc_row)
        text = doc.text[start:end]
        if end > len(doc.text) or chunk_crc(text, seg.vectors[local]) != crc:
            raise corrupt(self.path, f"{seg.path / 'chunks.npy'}: chunk {local} does not hold the text it was written with")
        return Chunk(chunk_id(doc.doc_id, ordinal), doc.doc_id, start, end, text)

    def document(self, row: int) -> Document:
        seg, local = self.locate(row)
        return self._document(seg, seg.chunk_span(local)[0])

    def document_by_id(self, doc_id: str) -> Document | None:
        """The live document `doc_id` (its text and every field, `meta` included), None if absent."""
        by_name = {seg.name: seg for seg in self.segments}
        for record in self.records("doc_id", [doc_id]):
            if record.segment in by_name:
                return self._document(by_name[record.segment], record.row)
        return None

    def _document(self, seg: Segment, doc_row: int) -> Document:
        try:
            return seg.document(doc_row)
        except SegmentError as e:
            raise corrupt(self.path, str(e)) from None

    def chunk_texts(self) -> list[str]:
        return [self.chunk(i).text for i in range(self.n_chunks)]

    @cached_property
    def documents(self) -> list[Document]:
        """Every live document, in row order (reads them all: for listings and tests)."""
        out = []
        for seg in self.segments:
            dead = self.state.tombstones.get(seg.name, frozenset())
            out += [self._document(seg, r) for r in range(seg.n_documents) if r not in dead]
        return out

    def document_records(self) -> list[DocRecord]:
        """The catalog's entry (id, source, title, date, chunk count, ...) of every live document."""
        catalog = open_catalog(self.path)
        try:
            return catalog.documents(self.state)
        except CatalogError as e:
            raise catalog_failure(self.path, e) from None
        finally:
            catalog.close()

    def records(self, column: str, values: Collection[str]) -> list[DocRecord]:
        """The catalog's entries of the live documents whose `column` ("doc_id", "source" or
        "story") is one of `values`; [] when this state's entries are gone (a newer state retired it)."""
        if not values:
            return []
        catalog = open_catalog(self.path)
        try:
            return catalog.documents(self.state, column, values)
        except CatalogError as e:
            raise catalog_failure(self.path, e) from None
        finally:
            catalog.close()

    def stories(self, doc_ids: Collection[str]) -> dict[str, str]:
        """The story (qa/store/stories.py) of each live document of `doc_ids` that has one."""
        return {r.doc_id: r.story for r in self.records("doc_id", doc_ids) if r.story}

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings the index was built with (`Config.index_settings()`); None when it is empty."""
        return dict(self.segments[0].manifest["settings"]) if self.segments else None

    @property
    def vectors(self) -> np.ndarray:
        """The live chunks' vectors, row i = chunk i (a copy: for tests and the benchmark); an
        index without segments has no vector width: (0, 0)."""
        parts = [np.asarray(s.vectors if live is None else s.vectors[live], dtype=np.float32)
                 for s, live in zip(self.segments, self._live_rows)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    # -- search

    def _verify(self, parts: tuple[str, ...]) -> None:
        """Check the parts a search reads against their checksums before it ranks (once per part
        and process; segments up to `Config.open_verify_bytes` were checked on open)."""
        for seg in self.segments:
            # An IVF segment ranks from dense.faiss; its vectors.npy is read row by row under the chunk CRC.
            names = tuple(IVF_FILE if p == VECTORS and seg.ivf is not None else p for p in parts)
            try:
                seg.verify(names)
            except SegmentError as e:
                raise corrupt(self.path, str(e)) from None

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k live chunks of highest inner product with `query`, as (row, score), best first."""
        self._verify((CHUNKS, VECTORS))
        try:
            found = dense_top(self._dense, query, k)
        except SegmentError as e:  # vectors.npy cut short since it was opened
            raise corrupt(self.path, str(e)) from None
        return [(self._row(p, r), s) for p, r, s in found]

    def search_lexical(self, terms: list[str], k: int) -> list[tuple[int, float]]:
        """The k live chunks of highest BM25 score (`Config.bm25_k1`, `bm25_b`) for the query `terms` (from qa.terms), best first."""
        self._verify((CHUNKS, *LEXICAL_FILES.values()))
        try:
            found = bm25_top(self._lexical, terms, k, *self._bm25)
        except (IndexError, ValueError) as e:
            raise corrupt(self.path, f"{self.path / SEGMENTS}: a lexical index is damaged ({e})") from None
        return [(self._row(p, r), s) for p, r, s in found]


# ---------------------------------------------------------------- opening


def open_catalog(index_dir: Path, write: bool = False) -> Catalog:
    """The catalog of the index at `index_dir`, or the project error that says what is wrong with the folder."""
    try:
        return Catalog.open(index_dir, write=write)
    except FileNotFoundError:
        if (index_dir / "CURRENT").exists():
            raise IndexMismatchError(
                f"{index_dir}: this index was written by an older version of qa (format 1); {rebuild_hint(index_dir)}"
            ) from None
        if (index_dir / SEGMENTS).is_dir() and any((index_dir / SEGMENTS).iterdir()):
            raise corrupt(index_dir, f"{index_dir / CATALOG}: missing") from None
        raise IndexMissingError(f"{index_dir}: no index here yet; build one with `qa ingest corpus --index {index_dir}`") from None
    except CatalogError as e:
        raise catalog_failure(index_dir, e) from None


def check_settings(index_dir: Path, catalog: Catalog, config: Config) -> None:
    """IndexMismatchError naming each setting the index was built with that `config` changes."""
    built_with, wanted = catalog.settings, config.index_settings()
    if built_with != wanted:
        diffs = ", ".join(f"{k}={built_with.get(k)!r} (now {v!r})" for k, v in wanted.items() if built_with.get(k) != v)
        raise IndexMismatchError(
            f"{index_dir}: the index was built with other settings: {diffs or built_with}; {rebuild_hint(index_dir)}"
        )


def open_state(index_dir: Path, catalog: Catalog, state: Version, config: Config, verify: bool | None = None,
               dense: bool = True) -> Index:
    """The read view of `state`. verify: True hashes every part, False none, None those of
    segments up to `config.open_verify_bytes`; the catalog rows of the documents of the segments
    hashed are checked too (the others' rows are checked whenever they are read). dense: False
    leaves the segments' IVF indexes unread (`open_segment`): a view for writing, not for dense search."""
    try:
        records = catalog.segment_records(state.segments)
    except CatalogError as e:
        raise catalog_failure(index_dir, e) from None
    segments = []
    for name in state.segments:
        try:
            seg = open_segment(index_dir, records[name], config, verify, dense)
        except SegmentError as e:
            raise corrupt(index_dir, str(e)) from None
        if verify or (verify is None and segment_bytes(seg.manifest) <= config.open_verify_bytes):
            try:
                catalog.segment_documents(name)  # each row's checksum
            except CatalogError as e:
                raise catalog_failure(index_dir, e) from None
        segments.append(seg)
    dims = {s.manifest["dim"] for s in segments}
    if len(dims) > 1:
        raise corrupt(index_dir, f"{index_dir / SEGMENTS}: segments of different dimensions {sorted(dims)}")
    return Index(index_dir, state, segments, config)


def open_index(index_dir: Path, config: Config, verify: bool | None = None) -> Index:
    """Open the live state of the index at `index_dir`.

    Raises IndexMissingError, IndexMismatchError (other model or chunking settings, older format)
    or IndexCorruptError (a part missing, truncated, edited or inconsistent), each naming the part
    and the rebuild command.
    """
    index_dir = Path(index_dir)
    for attempt in range(3):
        catalog = open_catalog(index_dir)
        try:
            check_settings(index_dir, catalog, config)
            with catalog.read_transaction():
                state = catalog.head()
                if state is None:
                    raise IndexMissingError(f"{index_dir}: no index here yet; build one with `qa ingest corpus --index {index_dir}`")
                try:
                    return open_state(index_dir, catalog, state, config, verify)
                except IndexCorruptError:
                    # A writer may have retired this state's segments while we read: look again.
                    if attempt == 2 or current_version(index_dir) == state.name:
                        raise
        except CatalogError as e:
            raise catalog_failure(index_dir, e) from None
        finally:
            catalog.close()
        time.sleep(0.05 * (attempt + 1))
    raise IndexCorruptError(f"{index_dir}: the index kept changing while being read; try again")


# ---------------------------------------------------------------- full verification and history


@dataclass
class CheckReport:
    problems: list[str]
    segments: int = 0
    files: int = 0
    bytes: int = 0
    live: str | None = None
    catalog_damaged: bool = False  # the catalog file itself: a rollback cannot help, only a rebuild


def check_index(index_dir: Path, config: Config) -> CheckReport:
    """Verify every byte of every kept state: the catalog's integrity and shape and every row's
    checksum, each segment's files against their sha256, every document line, chunk offset and
    postings entry, and the catalog's document table against the segments. Each problem names the
    damaged part. The catalog is read first, in one short transaction, so a writer is never kept
    waiting while the segments are hashed; a check that a write overlapped is run again."""
    index_dir = Path(index_dir)
    for _ in range(3):
        report, overlapped = _check_once(index_dir, config)
        if not report.problems or not overlapped:
            break
    return report


def _check_once(index_dir: Path, config: Config) -> tuple[CheckReport, bool]:
    """One check: the report, and whether a write was committed while it ran."""
    catalog = open_catalog(index_dir)
    report = CheckReport(problems=[])
    started = -1
    try:
        damaged = catalog.integrity_problem()
        if damaged:
            report.problems.append(damaged)
            report.catalog_damaged = True
            return report, False
        check_settings(index_dir, catalog, config)
        lost = catalog.lost_commits()
        if lost:
            report.problems.append(lost)
        with catalog.read_transaction():
            started = catalog.last_version_id()
            head = catalog.head()
            report.live = head.name if head else None
            pending = catalog.pending()
            states = catalog.versions() + ([pending] if pending else [])
            names = list(dict.fromkeys(n for s in states for n in s.segments))
            records = catalog.segment_records(names)
            rows = {name: catalog.segment_documents(name) for name in names}
            for name in names:
                catalog.signatures(name)  # their checksums
        for name in names:
            try:
                seg = open_segment(index_dir, records[name], config, verify=False)
            except SegmentError as e:
                report.problems.append(str(e))
                continue
            problems = check_segment(seg)
            report.problems += problems
            report.segments += 1
            report.files += len(seg.manifest["files"]) + 1
            report.bytes += segment_bytes(seg.manifest)
            if not problems:
                report.problems += documents_table_problems(catalog, seg, rows[name])
        if not report.problems:
            for state in states:  # counts and tombstones of every kept state
                try:
                    open_state(index_dir, catalog, state, config, verify=False)
                except IndexCorruptError as e:
                    report.problems.append(str(e).split(f"; {rebuild_hint(index_dir)}")[0])
    except (CatalogAccessError, CatalogBusyError) as e:
        raise catalog_failure(index_dir, e) from None
    except CatalogError as e:
        report.problems.append(str(e))
    try:
        return report, started >= 0 and catalog.last_version_id() != started
    except CatalogError:
        return report, False
    finally:
        catalog.close()


def documents_table_problems(catalog: Catalog, seg: Segment, rows: list[DocRecord] | None = None) -> list[str]:
    """The catalog's document rows of `seg` (read now, or `rows`) compared with the segment's documents."""
    found = [(d.row, d.article, d.source, d.content_hash, d.n_chunks)
             for d in (catalog.segment_documents(seg.name) if rows is None else rows)]
    counts = np.bincount(seg.chunks["doc"], minlength=seg.n_documents) if seg.n_chunks else np.zeros(seg.n_documents)
    expected = [(r, d.article, d.source, d.content_hash, int(counts[r]))
                for r, d in ((r, seg.document(r)) for r in range(seg.n_documents))]
    if found != expected:
        return [f"{catalog.path}: the document table disagrees with segment {seg.name}"]
    return []


def list_versions(index_dir: Path) -> tuple[str | None, list[Version]]:
    """(the live version's name, every kept version oldest first)."""
    index_dir = Path(index_dir)
    catalog = open_catalog(index_dir)
    try:
        with catalog.read_transaction():
            versions = catalog.versions()
            try:
                head = catalog.head()
            except CatalogError:
                if not versions:
                    raise
                return None, versions  # a damaged live-state entry: list the states to roll back to
            return (head.name if head else None), versions
    except CatalogError as e:
        raise catalog_failure(index_dir, e) from None
    finally:
        catalog.close()
