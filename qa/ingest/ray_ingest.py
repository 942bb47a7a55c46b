"""`qa ingest --ray [ADDRESS]`: read, clean, chunk and embed with Ray Data across a Ray cluster.

The workers read and clean the files (Ray tasks) and chunk and embed the documents (one Ray actor
per CPU, each holding the model); this process, the driver, decides which documents are new or
changed and writes their segments through the same path as `qa ingest` (`qa.pipeline.ingest_paths`), in
input order, publishing every `Config.segment_chunks` chunks. So the index is the one `qa ingest`
builds: the same document and chunk ids, vectors equal within bfloat16 rounding; a killed run
keeps what it published and the same command carries on.

Every node needs this project installed (`pip install '.[ray]'`, same Python) and the article
files at the same path (a shared filesystem). Without an address a local Ray instance is started
(no dashboard, nothing downloaded).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qa.config import Config
from qa.documents import Chunk, Document, SkippedFile, chunk_id
from qa.errors import BadInputError
from qa.store.update import Embedded

_EMBED_BATCH_DOCS = 16  # documents per actor call


def _require_ray() -> ModuleType:
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # no core-worker chatter on the terminal
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise BadInputError("`qa ingest --ray` needs Ray Data: pip install '.[ray]' (or pip install 'ray[data]')") from None
    return ray


def _read_rows(row: dict[str, Any], config: Config) -> list[dict[str, str]]:
    """One file -> a row per document and a row per part left out, as JSON (a Ray Data flat_map task)."""
    from qa.ingest.read import file_documents

    documents, skipped = file_documents(Path(row["path"]), config)
    return [{"document": json.dumps(d.to_record(), ensure_ascii=False), "skipped": ""} for d in documents] + [
        {"document": "", "skipped": json.dumps(asdict(s), ensure_ascii=False)} for s in skipped]


class _ChunkAndEmbed:
    """A Ray Data actor: loads the model once, then chunks and embeds batches of documents."""

    def __init__(self, config: Config, threads: int) -> None:
        import torch

        from qa.model.embed import Embedder

        self.config, self.embedder = config, Embedder(config)
        self.embedder.encode_passages(["warm up"])
        torch.set_num_threads(max(1, threads))

    def __call__(self, batch: dict[str, NDArray[np.object_]]) -> dict[str, NDArray[np.object_]]:
        from qa.ingest.chunk import chunk_document

        docs = [Document.from_record(json.loads(d)) for d in batch["document"]]
        chunked = [chunk_document(doc, self.config) for doc in docs]
        vectors = self.embedder.encode_passages([c.text for chunks in chunked for c in chunks])
        spans, blobs, start = [], [], 0
        for chunks in chunked:
            spans.append(json.dumps([[c.start, c.end] for c in chunks]))
            blobs.append(np.ascontiguousarray(vectors[start : start + len(chunks)], dtype=np.float32).tobytes())
            start += len(chunks)
        return {"document": np.array(batch["document"], dtype=object), "spans": np.array(spans, dtype=object),
                "vectors": np.array(blobs, dtype=object)}


def _connect(address: str | None, workers: int | None, progress: bool) -> ModuleType:
    import logging

    ray = _require_ray()
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, ignore_reinit_error=True)
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=workers or os.cpu_count(), **kwargs)
        except ConnectionError as e:
            raise BadInputError(f"cannot reach the Ray cluster at {address}: {e}") from None
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the same row order as `qa ingest`
    context.enable_progress_bars = progress
    return ray


class RayIngest:
    """Reading and embedding on a Ray cluster, for `qa.pipeline.ingest_paths(..., ray=True)`:
    `read` turns paths into documents and the parts left out, `embed` chunks and embeds the
    changed documents in order (what `qa.store.update.update_index` takes as `embed`, in place of
    `qa.indexing.chunk_and_embed`)."""

    def __init__(self, config: Config, address: str | None = None, workers: int | None = None,
                 progress: bool = False) -> None:
        """Connect to the cluster at `address` (e.g. "ray://head:10001" or "auto"), or start a
        local instance of `workers` CPUs when None."""
        self.config = config
        self.ray = _connect(address, workers, progress)
        self.n_actors = max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def read(self, paths: list[Path]) -> tuple[list[Document], list[SkippedFile]]:
        from qa.ingest.read import expand_paths

        files, skipped = expand_paths(paths)
        documents: list[Document] = []
        if files:
            rows = self.ray.data.from_items([{"path": str(p)} for p in files]).flat_map(
                _read_rows, fn_kwargs={"config": self.config})
            for row in rows.iter_rows():
                if row["skipped"]:
                    skipped.append(SkippedFile(**json.loads(row["skipped"])))
                else:
                    documents.append(Document.from_record(json.loads(row["document"])))
        return documents, skipped

    def embed(self, changed: list[Document]) -> Iterator[Embedded]:
        if not changed:
            return
        ray = self.ray
        ds = ray.data.from_items([{"document": json.dumps(d.to_record(), ensure_ascii=False)} for d in changed])
        actors = min(self.n_actors, max(1, -(-len(changed) // _EMBED_BATCH_DOCS)))
        out = ds.map_batches(
            _ChunkAndEmbed, batch_size=_EMBED_BATCH_DOCS, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=actors), fn_constructor_kwargs={"config": self.config, "threads": 1},
        )
        for row, doc in zip(out.iter_rows(), changed):
            if json.loads(row["document"])["source"] != doc.source:
                raise RuntimeError("Ray Data returned documents out of order")
            spans = json.loads(row["spans"])
            chunks = [Chunk(chunk_id(doc.doc_id, n), doc.doc_id, s, e, doc.text[s:e]) for n, (s, e) in enumerate(spans)]
            yield doc, chunks, np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(spans), -1)
