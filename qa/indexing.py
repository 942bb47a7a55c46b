"""Indexing: documents into chunks and vectors, as a stream the index store publishes while it flows.

`chunk_and_embed` is the `embed` the pipeline hands `qa.store.update.update_index` (which decides
which documents changed and publishes them as segments); `qa ingest --ray` hands it
`qa.ingest.ray_ingest.RayIngest.embed` instead, which does the same on a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

from qa.config import Config
from qa.documents import Chunk, Document
from qa.protocols import PassageEncoder
from qa.store.update import Embedded


def chunk_and_embed(
    docs: list[Document], embedder: PassageEncoder | None, config: Config, show_progress: bool = False
) -> Iterator[Embedded]:
    """Chunk the documents in a background thread while the chunks of earlier documents are
    embedded (the encoder releases the GIL while it computes), embedding whole documents a few
    hundred chunks at a time and yielding each document as soon as its batch is embedded
    (`embedder` None: the configured model)."""
    import queue
    import threading

    from tqdm import tqdm

    from qa.ingest.chunk import chunk_document

    if embedder is None:
        from qa.model.embed import Embedder

        embedder = Embedder(config)
    chunked: queue.SimpleQueue[tuple[Document, list[Chunk]] | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for doc in tqdm(docs, desc="chunking", unit="doc", delay=1.0, disable=not show_progress):
                if stop.is_set():
                    return
                chunked.put((doc, chunk_document(doc, config)))
            chunked.put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            chunked.put(e)

    producer = threading.Thread(target=produce, name="qa-chunking", daemon=True)
    producer.start()
    step = max(1, config.batch_size * 4)
    try:
        with tqdm(total=0, desc="embedding", unit="chunk", disable=not show_progress) as progress:
            waiting: list[tuple[Document, list[Chunk]]] = []
            finished = False
            while not finished:
                item = chunked.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    finished = True
                else:
                    waiting.append(item)
                    progress.total = (progress.total or 0) + len(item[1])
                    if sum(len(c) for _, c in waiting) < step:
                        continue
                if not waiting:
                    continue
                texts = [c.text for _, chunks in waiting for c in chunks]
                vectors = embedder.encode_passages(texts)
                start = 0
                for doc, chunks in waiting:
                    yield doc, chunks, vectors[start : start + len(chunks)]
                    start += len(chunks)
                progress.update(len(texts))
                waiting = []
    finally:
        stop.set()

