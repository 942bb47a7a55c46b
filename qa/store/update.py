"""Adding, replacing and removing documents: decide what changed, have only that embedded, and
publish it as segments while it is embedded, so a long ingest that is killed keeps what it published.

`update_index` is what the pipeline's `index_documents`, `ingest_paths` and `remove_documents`
call. It chunks and embeds nothing itself: it is given `embed`, which turns the changed documents
into (document, chunks, vectors) as a stream (`qa.indexing.chunk_and_embed` here, `qa.ingest.ray_ingest`
on a Ray cluster), and returns what it did as an `UpdateResult`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa.config import Config
from qa.documents import Chunk, Document, SkippedFile, count_noun, quote_name
from qa.errors import BadInputError
from qa.store.catalog import DocRecord
from qa.store.segment import CHUNK_DTYPE
from qa.store.writer import IndexWriter

# (document, its chunks, their vectors) for each changed document, in order.
Embedded = tuple[Document, list[Chunk], NDArray[np.float32]]


@dataclass
class UpdateResult:
    """What `update_index` did (the pipeline turns it into the user's `IngestReport`)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    removed_sources: list[str] = field(default_factory=list)  # the sources of `removed`, in order
    chunks_added: int = 0
    segments_published: int = 0
    total_documents: int = 0
    total_chunks: int = 0


def _with_id(doc: Document, doc_id: str) -> Document:
    return replace(doc, article=replace(doc.article, doc_id=doc_id))


def _assign_doc_ids(incoming: list[Document], taken: dict[str, str]) -> list[Document]:
    """Keep each document's id unless another source already uses it; then add a short source hash."""
    out = []
    taken = dict(taken)
    for doc in incoming:
        owner = taken.get(doc.doc_id)
        if owner is not None and owner != doc.source:
            suffix = hashlib.sha1(doc.source.encode("utf-8")).hexdigest()[:6]
            doc = _with_id(doc, f"{doc.doc_id}-{suffix}")
        taken[doc.doc_id] = doc.source
        out.append(doc)
    return out


def refuse_empty_rebuild(index_dir: Path, documents: Sequence[Document], skipped: Sequence[SkippedFile] = ()) -> None:
    """BadInputError when a rebuild has no document: `qa ingest TYPO --rebuild` must not replace
    an index with nothing. The message names the first of the `skipped` parts and counts the rest."""
    if documents:
        return
    first = f"{quote_name(skipped[0].source)}: {skipped[0].reason}" if skipped else ""
    reasons = f" ({first}{f' and {len(skipped) - 1} more' if len(skipped) > 1 else ''})" if skipped else ""
    raise BadInputError(
        f"{index_dir}: refusing to rebuild the index from nothing: no readable article in the given "
        f"paths{reasons}; the index is unchanged"
    )


def _refuse_destructive_rebuild(writer: IndexWriter, incoming: list[Document], force: bool) -> None:
    refuse_empty_rebuild(writer.index_dir, incoming)
    live = writer.live
    if live is None or force or not live.n_documents:
        return
    # A document is kept when the rebuild is given its source, or a file of the same id (moved folder).
    kept = {(d.segment, d.row) for d in writer.catalog.documents(live, "source", {d.source for d in incoming})}
    kept |= {(d.segment, d.row) for d in writer.catalog.documents(live, "doc_id", {d.doc_id for d in incoming})}
    dropped = live.n_documents - len(kept)
    if dropped * 2 > live.n_documents:
        raise BadInputError(
            f"{writer.index_dir}: refusing to rebuild: it would drop {dropped} of the {live.n_documents} indexed "
            f"documents (the given paths hold {len(incoming)}); check the paths, or pass --force "
            f"(`qa rollback` restores the previous state)"
        )


def update_index(
    index_dir: Path,
    incoming: list[Document],
    config: Config,
    embed: Callable[[list[Document]], Iterable[Embedded]] | None = None,
    remove_ids: tuple[str, ...] = (),
    rebuild: bool = False,
    force: bool = False,
) -> UpdateResult:
    """Add or replace `incoming` documents and drop `remove_ids`.

    Unchanged documents (same source and content hash) cost nothing; a changed document's old
    chunks are deleted in the same state that adds its new ones. `embed` turns the changed
    documents into (document, chunks, vectors), in order, as a stream (it may be None only when no
    document is added or changed). New chunks are published as a segment every
    `config.segment_chunks` chunks or `config.segment_seconds`, so a killed ingest keeps what it
    published and the same command carries on. With `rebuild`, a fresh index of `incoming` is
    built beside the live one (resumable too) and replaces it when complete; a rebuild that would
    drop most of the index, or start from nothing, is refused unless `force`.
    """
    result = UpdateResult()
    remove_ids = tuple(dict.fromkeys(remove_ids))  # `qa remove X X` removes (and counts) X once
    with IndexWriter(Path(index_dir), config, rebuild=rebuild, create=bool(incoming) or rebuild) as writer:
        if rebuild:
            _refuse_destructive_rebuild(writer, incoming, force)
        by_source = writer.lookup("source", [d.source for d in incoming])
        incoming = [_with_id(d, by_source[d.source].doc_id) if d.source in by_source else d for d in incoming]
        by_id = writer.lookup("doc_id", [d.doc_id for d in incoming] + list(remove_ids))
        missing = [doc_id for doc_id in remove_ids if doc_id not in by_id]
        if missing:
            raise BadInputError(
                f"{index_dir}: no document with id {', '.join(missing)}; `qa list --index {index_dir}` shows the ids"
            )
        incoming = _assign_doc_ids(incoming, {k: d.source for k, d in by_id.items() if k not in remove_ids})
        changed: list[Document] = []
        for doc in incoming:
            prior = by_source.get(doc.source)
            if prior is not None and prior.content_hash == doc.content_hash:
                result.unchanged.append(doc.doc_id)
            else:
                (result.updated if prior is not None else result.added).append(doc.doc_id)
                changed.append(doc)
        result.removed = list(remove_ids)
        result.removed_sources = [by_id[i].source for i in remove_ids]
        if changed or remove_ids or rebuild:
            stream: Iterable[Embedded] = []
            if changed:
                if embed is None:
                    raise ValueError("update_index: documents to add need `embed` (e.g. qa.indexing.chunk_and_embed)")
                stream = embed(changed)
            replaced = {d.doc_id: by_source[d.source] for d in changed if d.source in by_source}
            result.chunks_added, result.segments_published = publish_stream(
                writer, stream, replaced, [by_id[i] for i in remove_ids], config
            )
            if rebuild:
                writer.finish_rebuild({d.source for d in incoming})
            writer.maintain()
        result.total_documents, result.total_chunks = writer.work.n_documents, writer.work.n_chunks
    return result


def publish_stream(writer: IndexWriter, embedded: Iterable[Embedded], replaced: dict[str, DocRecord],
                   drops: list[DocRecord], config: Config) -> tuple[int, int]:
    """Publish embedded documents as segments: every `segment_chunks` chunks or `segment_seconds`
    (checked after each document), and at the end, each state deleting the old rows of the
    documents it replaces (and `drops` in the first). Returns (chunks published, segments)."""
    buffer: list[Embedded] = []
    published = segments = 0
    last = time.monotonic()

    def flush() -> None:
        nonlocal drops, published, segments, last
        docs = [doc for doc, _, _ in buffer]
        gone = drops + [replaced[d.doc_id] for d in docs if d.doc_id in replaced]
        action = "rebuild" if writer.rebuild else ("remove" if not docs else "ingest")
        summary = ", ".join(p for p in (f"+{count_noun(len(docs), 'document')}" if docs else "", f"-{len(gone)}" if gone else "") if p)
        if docs:
            rows = np.array([(i, n, c.start, c.end) for i, (_, chunks, _) in enumerate(buffer) for n, c in enumerate(chunks)],
                            dtype=CHUNK_DTYPE)
            writer.publish(docs, rows, np.concatenate([v for _, _, v in buffer]), gone, action, summary)
            published, segments = published + len(rows), segments + 1
        elif gone:
            writer.delete(gone, action, summary)
        drops = []
        buffer.clear()
        last = time.monotonic()

    pending_chunks = 0
    for item in embedded:
        buffer.append(item)
        pending_chunks += len(item[1])
        if pending_chunks >= config.segment_chunks or time.monotonic() - last >= config.segment_seconds:
            flush()
            pending_chunks = 0
    flush()
    return published, segments
