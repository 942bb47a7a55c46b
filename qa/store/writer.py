"""Writing the index: append segments, delete with tombstones, publish states, compact, roll back.

One writer at a time holds `index/.lock`. A publish writes a segment folder beside the index,
fsyncs it, renames it into `segments/`, then commits one catalog transaction that registers it
and makes the new state live; a writer killed at any step leaves the previous state live, and
the next writer clears what it left (`.tmp-*` folders, segment folders no state names). A
write never deletes a segment that a kept state names, so the live state is never deleted.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qa.config import Config
from qa.documents import Document, count_noun
from qa.errors import BadInputError, IndexCorruptError, IndexMismatchError
from qa.store.catalog import CATALOG, Catalog, CatalogError, DocRecord, Version, version_name
from qa.store.dense import dense_kind, stored_vectors
from qa.store.index import (
    SEGMENTS,
    Index,
    catalog_failure,
    check_settings,
    corrupt,
    documents_table_problems,
    open_catalog,
    open_state,
)
from qa.store.lexical import Postings, build_postings, write_merged_postings
from qa.store.lock import WriterLock
from qa.store.segment import (
    CHUNK_DTYPE,
    NAME,
    VECTORS,
    NpyRows,
    Segment,
    SegmentRecord,
    SegmentWriter,
    chunk_crc,
    document_from_line,
    document_line,
    fsync_dir,
    segment_name,
    write_segment,
)
from qa.store.stories import Sketch, assign_stories, stored_sketches

_EMPTY = Version(0, "", "", "", "", (), {}, 0, 0)
# Writes a new segment into the folder it is given, under the name it is given; returns what
# `qa.store.segment.SegmentWriter.finish` does (its manifest and that manifest's sha256).
SegmentWrite = Callable[[Path, str], tuple[dict[str, Any], str]]


class IndexWriter:
    """The one writer of an index folder (a context manager holding the lock).

    `work` is the state being extended: the live one, or with `rebuild` a pending state that
    queries do not see until `finish_rebuild` (a rebuild killed half-way is resumed by the next
    rebuild, which keeps the documents it had already embedded)."""

    def __init__(self, index_dir: Path, config: Config, rebuild: bool = False, check_live: bool = True,
                 create: bool = True) -> None:
        self.index_dir, self.config, self.rebuild = Path(index_dir), config, rebuild
        self.check_live = check_live  # False for a rollback: the way past a damaged live state
        if not create and not (self.index_dir / CATALOG).exists():
            # remove, compact and rollback never start an index (a mistyped --index must not make one):
            # the project's error for what is there (nothing, an older format, a lost catalog).
            open_catalog(self.index_dir).close()
        self.run = uuid.uuid4().hex[:12]
        self._lock = WriterLock(self.index_dir)

    def __enter__(self) -> IndexWriter:
        self._lock.__enter__()
        try:
            self.catalog = self._open_catalog()
            self._clear_leftovers()
            lost = self.catalog.lost_commits()
            if lost and self.check_live and not self.rebuild:
                # The next state would take a number already committed once: the way on is explicit.
                raise corrupt(self.index_dir, f"{lost}; `qa rollback {version_name(self.catalog.last_version_id())}` "
                              "carries on from the state it has (then repeat the lost writes)")
            if lost:
                self.catalog.skip_lost_numbers()
            self.live_damage: str | None = None
            try:
                self.live = self.catalog.head()
            except CatalogError as e:
                if self.check_live:
                    raise
                self.live, self.live_damage = None, str(e)  # a rollback gets past a damaged live state
            if self.rebuild:
                self.work = self.catalog.pending() or replace(_EMPTY, pending=True)
            else:
                self._discard_pending()
                self.work = self.live or _EMPTY
                if self.check_live:
                    self.catalog.versions()  # every kept state's entry intact (else named, with the way out)
                if self.live is not None and self.check_live:
                    # Refuse to write on damage (the IVF indexes, which writing never reads, are left unread).
                    open_state(self.index_dir, self.catalog, self.live, self.config, dense=False)
        except CatalogError as e:
            self._lock.__exit__(None, None, None)
            raise catalog_failure(self.index_dir, e) from None
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.catalog.close()
        finally:
            self._lock.__exit__(exc_type, exc, tb)
        # Damage found while writing is reported like damage found on open: named, with the way out
        # (a commit that queries kept waiting, or one this user may not make, is said to be not made).
        if isinstance(exc, CatalogError):
            raise catalog_failure(self.index_dir, exc) from None
        if isinstance(exc, sqlite3.DatabaseError):
            raise corrupt(self.index_dir, f"{self.index_dir / CATALOG}: unreadable ({' '.join(str(exc).split())})") from None

    def _open_catalog(self) -> Catalog:
        d = self.index_dir
        fresh = not (d / CATALOG).exists() and not (d / "CURRENT").exists() and not (
            (d / SEGMENTS).is_dir() and any(NAME.fullmatch(p.name) for p in (d / SEGMENTS).iterdir())
        )
        if fresh:
            return Catalog.create(d, self.config.index_settings())
        try:
            catalog = open_catalog(d, write=True)
            try:
                check_settings(d, catalog, self.config)
                if self.rebuild:  # every served row read once: a rebuild starts afresh from a damaged catalog
                    catalog.head(), catalog.versions(), catalog.pending()
                    for name in catalog.all_segment_names():
                        catalog.segment_documents(name), catalog.signatures(name)
            except IndexMismatchError:
                catalog.close()
                raise
            except CatalogError as e:
                catalog.close()
                raise catalog_failure(d, e) from None
            return catalog
        except (IndexMismatchError, IndexCorruptError):
            if not self.rebuild:
                raise
        # A rebuild is the way out of a damaged, older or differently configured index.
        for old in d.iterdir():
            if old.name == "CURRENT" or (old.is_dir() and old.name.startswith("v") and old.name[1:].isdigit()):
                remove_entry(old)
        return Catalog.create(d, self.config.index_settings())

    # ------------------------------------------------------------ lookups in the work state

    def lookup(self, column: str, values: Iterable[str]) -> dict[str, DocRecord]:
        """The work state's live documents whose `column` ("doc_id" or "source") is in `values`."""
        values = list(dict.fromkeys(values))
        if not values or not self.work.segments:
            return {}
        return {getattr(d, column): d for d in self.catalog.documents(self.work, column, values)}

    def open_work(self) -> Index:
        return open_state(self.index_dir, self.catalog, self.work, self.config, verify=False, dense=False)

    # ------------------------------------------------------------ publishing

    def publish(self, documents: list[Document], chunk_rows: NDArray[np.void], vectors: NDArray[np.floating],
                drop: Sequence[DocRecord] = (), action: str = "ingest", summary: str = "",
                postings: Postings | None = None) -> None:
        """Append one segment of `documents` (chunk_rows["doc"] = row in `documents`, vectors row
        i = chunk i) and delete `drop`, as one new state. A segment is always whole documents, and at
        most `Config.max_segment_chunks` chunks (ValueError beyond: publish fewer at a time)."""
        if len(chunk_rows) > self.config.max_segment_chunks:
            raise ValueError(f"{self.index_dir}: a segment of {len(chunk_rows)} chunks is over the memory budget "
                             f"(Config.segment_memory_mb: at most {self.config.max_segment_chunks}); publish fewer at a time")
        texts = [documents[int(r["doc"])].text[int(r["start"]) : int(r["end"])] for r in chunk_rows]
        lines = [document_line(d) for d in documents]
        counts = np.bincount(chunk_rows["doc"], minlength=len(documents)) if len(chunk_rows) else [0] * len(documents)
        # Each document's story: the copies it has among the live rows and in this batch (qa/store/stories.py).
        stories, sketches = assign_stories(documents, self.catalog, self.work, {(d.segment, d.row) for d in drop},
                                           self.config)
        records = [DocRecord("", i, d.article, d.source, d.content_hash, int(n), story)
                   for i, (d, n, story) in enumerate(zip(documents, counts, stories))]
        vectors = stored_vectors(vectors, dense_kind(len(chunk_rows), self.config))  # CRCs are of the stored values
        crcs = np.array([chunk_crc(t, v) for t, v in zip(texts, vectors)], dtype=np.uint32)
        postings = postings or build_postings(texts)
        del texts  # the segment is written from here on: what it no longer needs, it does not hold

        def write(folder: Path, name: str) -> tuple[dict[str, Any], str]:
            return write_segment(folder, name, lines, chunk_rows, vectors, postings, self.config, crcs)

        self._publish(write if lines else None, records, drop, action, summary, sketches=sketches)

    def delete(self, drop: Sequence[DocRecord], action: str, summary: str) -> None:
        """Delete the documents `drop` as one new state (no new segment)."""
        self._publish(None, [], drop, action, summary)

    def _publish(
        self, write: SegmentWrite | None, records: list[DocRecord], drop: Sequence[DocRecord], action: str, summary: str,
        replacing: tuple[str, ...] = (), sketches: Sequence[Sketch | None] = (),
    ) -> None:
        """A new state: the segment `write` makes (given a new folder and the segment's name; its
        documents' catalog entries are `records`; None: no new segment) in place of the segments
        `replacing`, less the documents `drop`."""
        segments = [s for s in self.work.segments if s not in replacing]
        tombstones = {k: set(v) for k, v in self.work.tombstones.items() if k not in replacing}
        n_docs, n_chunks = self.work.n_documents, self.work.n_chunks
        new = None
        if write is not None:
            name = self._new_segment_name()
            tmp = self.index_dir / f".tmp-{name}-{os.getpid()}"
            manifest, sha = write(tmp, name)
            (self.index_dir / SEGMENTS).mkdir(exist_ok=True)
            os.rename(tmp, self.index_dir / SEGMENTS / name)
            fsync_dir(self.index_dir / SEGMENTS)
            size = sum(info["size"] for info in manifest["files"].values())
            added_docs, added_chunks = int(manifest["n_documents"]), int(manifest["n_chunks"])
            new = (SegmentRecord(name, added_docs, added_chunks, sha), size,
                   [replace(r, segment=name) for r in records], sketches)
            position = min((self.work.segments.index(s) for s in replacing), default=len(segments))
            segments.insert(position, name)
            if not replacing:
                n_docs, n_chunks = n_docs + added_docs, n_chunks + added_chunks
        for d in drop:
            if d.row not in tombstones.setdefault(d.segment, set()):
                tombstones[d.segment].add(d.row)
                n_docs, n_chunks = n_docs - 1, n_chunks - d.n_chunks
        with self.catalog.write_transaction():
            if new is not None:
                self.catalog.add_segment(*new)
            if self.work.pending and self.work.id:
                self.catalog.delete_version(self.work.id)
            version_id = self.catalog.add_version(
                self.run, action, summary, segments, tombstones, n_docs, n_chunks, pending=self.work.pending
            )
            if not self.work.pending:
                self.catalog.set_head(version_id)
        self.work = self.catalog.version(version_id)
        if not self.work.pending:
            self.live = self.work

    def _new_segment_name(self) -> str:
        """A number never used before: above the catalog's count and any folder on disk."""
        folder = self.index_dir / SEGMENTS
        on_disk = [int(p.name[1:]) for p in folder.iterdir() if NAME.fullmatch(p.name)] if folder.is_dir() else []
        return segment_name(max([self.catalog.segments_made(), *on_disk]) + 1)

    def finish_rebuild(self, sources: set[str]) -> None:
        """Make the pending state live, without the documents of sources this rebuild was not given."""
        stale = [d for d in self.catalog.documents(self.work) if d.source not in sources] if self.work.segments else []
        if stale:
            self.delete(stale, "rebuild", "drop documents not given to the rebuild")
        with self.catalog.write_transaction():
            version_id = self.catalog.add_version(
                self.run, "rebuild", count_noun(self.work.n_documents, "document"), self.work.segments, self.work.tombstones,
                self.work.n_documents, self.work.n_chunks,
            )
            self.catalog.set_head(version_id)
            if self.work.id:
                self.catalog.delete_version(self.work.id)
        self.work = self.live = self.catalog.version(version_id)
        self.rebuild = False

    # ------------------------------------------------------------ compaction

    def compact(self, full: bool) -> bool:
        """Merge segments: all of them (`full`, also dropping every tombstone) into as few as the
        memory budget allows (`Config.max_segment_chunks` each), or, past `Config.max_segments`
        segments that are not full, the smallest ones (`pick_merge`). Returns whether anything was merged."""
        if not full and len(self.work.segments) <= self.config.max_segments:
            return False
        index = self.open_work()
        sizes, limit = index.live_counts, self.config.max_segment_chunks
        if full:
            groups = [g for g in pack_segments(sizes, limit) if len(g) > 1 or any(index.alive[i] is not None for i in g)]
        else:
            groups = [g for g in [pick_merge(sizes, self.config.max_segments, limit)] if g]
        for group in groups:
            self._merge([index.segments[i].name for i in group], sum(sizes[i] for i in group))
        return bool(groups)

    def _merge(self, names: list[str], n_chunks: int) -> None:
        """One state in which the segments `names` (of the work state, in its order) are replaced by
        one segment of their live documents, written a part at a time (`write_merged`)."""
        index = self.open_work()
        chosen = [[s.name for s in index.segments].index(name) for name in names]
        records = merged_records(index, chosen, self.catalog)
        summary = f"merged {count_noun(len(names), 'segment')} ({count_noun(n_chunks, 'chunk')})"
        if not records:  # nothing live in them: the state just drops them
            self._publish(None, [], [], "compact", summary, replacing=tuple(names))
            return
        # Stories and MinHash signatures move with their rows (copied, not recomputed from the texts).
        signatures = {name: self.catalog.signatures(name) for name in names}
        sketches = stored_sketches([signatures[old.segment].get(old.row) for old, _ in records], self.config)
        del signatures

        def write(folder: Path, name: str) -> tuple[dict[str, Any], str]:
            return write_merged(folder, name, index, chosen, [old for old, _ in records], self.config)

        self._publish(write, [new for _, new in records], [], "compact", summary, replacing=tuple(names), sketches=sketches)

    def maintain(self) -> None:
        """After a write: merge past `Config.max_segments`, then drop states no longer kept."""
        while self.compact(full=False):
            pass
        self.collect_garbage()

    # ------------------------------------------------------------ history and clean-up

    def collect_garbage(self) -> None:
        """Keep the live state, a pending rebuild, and the last state of each of the last
        `Config.keep_versions` writes; forget the rest, then delete segments no kept state names."""
        damaged: dict[int, str] = {}
        # Only a rollback (the way past damage) gets here with a damaged state's entry: it is dropped.
        versions = self.catalog.versions(damaged if not self.check_live else None)
        last_of_run: dict[str, int] = {}
        for v in versions:
            last_of_run[v.run] = max(v.id, last_of_run.get(v.run, 0))
        keep = set(sorted(last_of_run.values())[-self.config.keep_versions :])
        if self.live is not None:
            keep.add(self.live.id)
        pending = self.catalog.pending()
        kept = [v for v in versions if v.id in keep] + ([pending] if pending else [])
        named = {s for v in kept for s in v.segments}
        dropped = [v.id for v in versions if v.id not in keep] + sorted(damaged)
        forgotten = self.catalog.all_segment_names() - named
        if dropped or forgotten:
            with self.catalog.write_transaction():
                for version_id in dropped:
                    self.catalog.delete_version(version_id)
                for name in forgotten:
                    self.catalog.forget_segment(name)
            self._clear_leftovers()

    def _discard_pending(self) -> None:
        if self.catalog.has_pending():
            with self.catalog.write_transaction():
                self.catalog.delete_pending()

    def _clear_leftovers(self) -> None:
        """Delete what killed writers left: `.tmp-*` entries and segment folders no catalog entry
        names (written and renamed, never committed). Only the lock holder calls this."""
        known = self.catalog.all_segment_names()
        folders = self.index_dir / SEGMENTS
        candidates = [p for p in self.index_dir.iterdir() if p.name.startswith((".tmp-", ".CURRENT.tmp-"))]
        if folders.is_dir() and not folders.is_symlink():  # (a linked segments/ is refused by the lock)
            candidates += [p for p in folders.iterdir() if p.name not in known]
        for p in candidates:
            if p.name.endswith(f"-{os.getpid()}") or p.name.endswith(f"-{os.getpid()}.sqlite"):
                continue
            remove_entry(p)


def remove_entry(path: Path) -> None:
    """Delete `path` inside the index: a folder with what is in it, a file, or a link itself (never
    what a link points to: nothing outside the index is ever deleted)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)  # rmtree deletes links inside, never follows them
    else:
        path.unlink(missing_ok=True)


def pick_merge(sizes: list[int], max_segments: int, limit: int | None = None) -> list[int]:
    """Which segments to merge when more than `max_segments` are not full: the smallest, taking the
    next smallest while it is no bigger than all taken so far, so that a chunk is rewritten about
    log2(n) times over an index's life rather than on every merge; never more than `limit` chunks
    in all (the memory budget's largest segment; None: no limit). A segment of at least half the
    limit is full: it is never merged again, so adding an article to a large index never rewrites one."""
    small = [i for i in range(len(sizes)) if limit is None or 2 * sizes[i] < limit]
    if len(small) <= max_segments:
        return []
    limit = sum(sizes) if limit is None else limit
    order = sorted(small, key=lambda i: (sizes[i], i))
    chosen, total = order[:2], sizes[order[0]] + sizes[order[1]]
    if total > limit:
        return []
    for i in order[2:]:
        if sizes[i] > total or total + sizes[i] > limit:
            break
        chosen.append(i)
        total += sizes[i]
    return sorted(chosen)


def pack_segments(sizes: list[int], limit: int) -> list[list[int]]:
    """Consecutive runs of segments of at most `limit` chunks each (a segment larger than `limit`
    alone): what a full compaction merges, keeping the segments' order."""
    groups: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        if groups and total + size <= limit:
            groups[-1].append(i)
            total += size
        else:
            groups.append([i])
            total = size
    return groups


def merged_records(index: Index, chosen: list[int], catalog: Catalog) -> list[tuple[DocRecord, DocRecord]]:
    """The catalog entry of each live document of segments `chosen` of `index`, in their order:
    (where it is, where it will be in the merged segment)."""
    # Only those segments' rows are read (and checked): a merge of a few small segments must not read
    # every document row of the index (2.9 million at the 10M bench: 37 s).
    out: list[tuple[DocRecord, DocRecord]] = []
    for i in chosen:
        name = index.segments[i].name
        dead = index.state.tombstones.get(name, frozenset())
        for d in catalog.segment_documents(name):
            if d.row not in dead:
                out.append((d, replace(d, row=len(out))))
    return out


# Chunks whose vectors are copied (and converted) at a time when segments are merged.
_MERGE_CHUNKS = 65_536


def write_merged(folder: Path, name: str, index: Index, chosen: list[int], documents: list[DocRecord],
                 config: Config) -> tuple[dict[str, Any], str]:
    """Write into `folder` one segment of the live documents (`documents`, in order, from
    `merged_records`), chunks, vectors and postings of segments `chosen` of `index`, streamed: lines
    and vectors are copied a block at a time (a chunk's CRC is taken again only where its vector
    changes, float32 going into a float16 segment) and postings are remapped, never re-tokenised."""
    segments = [index.segments[i] for i in chosen]
    live_docs: dict[str, list[int]] = {}
    for d in documents:
        live_docs.setdefault(d.segment, []).append(d.row)
    n_chunks = sum(index.live_counts[i] for i in chosen)
    out = SegmentWriter(folder, name, n_chunks, int(segments[0].manifest["dim"]), config)
    try:
        for i, seg in zip(chosen, segments):
            rows = np.array(live_docs.get(seg.name, []), dtype=np.int64)
            first = out.add_documents(seg.doc_lines(rows))
            new_doc = np.full(seg.n_documents, -1, dtype=np.int64)
            new_doc[rows] = first + np.arange(len(rows))
            live, source = index.alive[i], NpyRows(seg.path / VECTORS)
            for start in range(0, seg.n_chunks, _MERGE_CHUNKS):
                was = source[start : start + _MERGE_CHUNKS]
                block = np.arange(start, start + len(was))
                if live is not None:
                    was, block = was[live[block]], block[live[block]]
                chunk_rows = np.asarray(seg.chunks)[block]
                moved = np.zeros(len(block), dtype=CHUNK_DTYPE)
                for key in CHUNK_DTYPE.names or ():  # a structured dtype: names is never None
                    moved[key] = chunk_rows[key]
                moved["doc"] = new_doc[chunk_rows["doc"]]
                vectors = stored_vectors(was, out.kind)
                crcs = chunk_rows["crc32"].copy()
                if vectors.dtype != was.dtype:
                    crcs = _crcs_again(seg, chunk_rows, vectors, crcs, np.flatnonzero(np.any(vectors != was, axis=1)))
                out.add_chunks(moved, vectors, crcs)
        return out.finish(lambda path: write_merged_postings(path, [(s.postings, index.alive[i]) for i, s in zip(chosen, segments)]))
    except BaseException:
        out.abandon()
        raise


def _crcs_again(seg: Segment, chunk_rows: NDArray[np.void], vectors: NDArray[np.floating], crcs: NDArray[np.uint32],
                changed: NDArray[np.int64]) -> NDArray[np.uint32]:
    """`crcs` with those of the `changed` chunks taken again from their text and their stored vectors."""
    if not len(changed):
        return crcs
    doc_rows = np.unique(chunk_rows["doc"][changed]).astype(np.int64)
    texts = {int(r): document_from_line(line).text for r, line in zip(doc_rows, seg.doc_lines(doc_rows))}
    for i in changed:
        row = chunk_rows[i]
        crcs[i] = chunk_crc(texts[int(row["doc"])][int(row["start"]) : int(row["end"])], vectors[i])
    return crcs


# ---------------------------------------------------------------- the operations


def compact(index_dir: Path, config: Config) -> str:
    """Merge the segments of the live state into as few as `Config.segment_memory_mb` allows (one,
    unless the index is large), dropping deleted documents for good."""
    with IndexWriter(Path(index_dir), config, create=False) as writer:
        if writer.live is None:
            return "nothing to compact: the index is empty"
        before = len(writer.work.segments)
        merged = writer.compact(full=True)
        writer.collect_garbage()
        if not merged:
            full = "" if before == 1 else ", each as large as Config.segment_memory_mb allows"
            return f"nothing to compact: {count_noun(before, 'segment')}{full}, no deleted documents ({writer.work.name})"
        return (f"compacted {count_noun(before, 'segment')} into {len(writer.work.segments)} without deleted documents "
                f"({writer.work.name}: {count_noun(writer.work.n_documents, 'document')}, {count_noun(writer.work.n_chunks, 'chunk')})")


def rollback(index_dir: Path, config: Config, version: str | None = None) -> str:
    """Make a kept state live again, as a new state (so a rollback can be undone too).

    Without `version`: the state before the live one, i.e. the last write undone. When the live
    state is itself a rollback, nothing is done: a rollback killed after its commit and run again
    must not go back a second time; going further back, or undoing it, names the state. A state
    already live is not restored again. A damaged live state (or its damaged entry) is got past by
    naming the state to restore; a state whose entry is damaged is dropped."""
    index_dir = Path(index_dir)
    with IndexWriter(index_dir, config, check_live=False, create=False) as writer:
        damaged = writer.catalog.integrity_problem()
        if damaged:  # a rollback writes a new state into this catalog: it must be sound
            raise corrupt(index_dir, f"{damaged}; a rollback cannot repair the catalog itself")
        broken: dict[int, str] = {}
        kept = writer.catalog.versions(broken)
        live = writer.live
        listed = f"`qa versions --index {index_dir}` lists them"
        if live is None and writer.live_damage is None:
            raise BadInputError(f"{index_dir}: nothing to roll back: the index has no state yet")
        if version is None:
            if live is None:
                raise BadInputError(f"{writer.live_damage}; name the state to restore: `qa rollback VERSION` ({listed})")
            if live.action == "rollback":
                return (f"nothing to do: the live state {live.name} is already a rollback ({live.summary}, {live.created}); "
                        f"to go further back or undo it, name the state: `qa rollback VERSION` ({listed})")
            earlier = [v for v in kept if v.id < live.id and (v.segments, v.tombstones) != (live.segments, live.tombstones)]
            if not earlier:
                raise BadInputError(f"{index_dir}: no earlier state is kept; {listed}")
            target = earlier[-1]
        else:
            number = version.lower().lstrip("v").lstrip("0")
            matches = [v for v in kept if v.name == version or str(v.id) == number]
            if not matches:
                problem = next((p for i, p in broken.items() if str(i) == number), None)
                if problem:
                    raise corrupt(index_dir, problem)
                raise BadInputError(f"{index_dir}: no kept state {version!r}; kept: {', '.join(v.name for v in kept)}")
            target = matches[0]
            if live is not None and (target.segments, target.tombstones) == (live.segments, live.tombstones):
                return f"nothing to do: {target.name}'s state is the live one ({live.name})"
        # Refuse to restore a damaged state: every byte of it, and the catalog's entries of its documents.
        index = open_state(index_dir, writer.catalog, target, config, verify=True)
        for seg in index.segments:
            if documents_table_problems(writer.catalog, seg):
                raise corrupt(index_dir, f"{writer.catalog.path}: the document table disagrees with segment "
                              f"{seg.name}; a rollback cannot repair the catalog itself")
        del index
        with writer.catalog.write_transaction():
            version_id = writer.catalog.add_version(
                writer.run, "rollback", f"restored {target.name}", target.segments, target.tombstones,
                target.n_documents, target.n_chunks,
            )
            writer.catalog.set_head(version_id)
        writer.work = writer.live = writer.catalog.version(version_id)
        writer.collect_garbage()
        dropped = f"; dropped the damaged entries of {', '.join(version_name(i) for i in sorted(broken))}" if broken else ""
        return (f"restored {target.name} as {writer.live.name}: {count_noun(target.n_documents, 'document')}, "
                f"{count_noun(target.n_chunks, 'chunk')}{dropped}")
