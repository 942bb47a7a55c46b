"""The reader on ONNX Runtime (float32): its weightless graph (`qa/model/onnx/span_reader.onnx`)
given the weights of one artifact folder, one session per folder and process."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qa.errors import ModelGraphError
from qa.model.onnx_runtime import SPAN_READER, checked_graph, new_session
from qa.reader.span_io import WEIGHTS_FILE, EncodedPairs, ReaderShape, reader_weights

if TYPE_CHECKING:
    import onnxruntime


@dataclass
class SpanReaderGraph:
    """The reader of one artifact folder on ONNX Runtime, float32."""

    session: onnxruntime.InferenceSession
    shape: ReaderShape
    manifest: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> SpanReaderGraph:
        """The reader in `folder`, its weights checked as `qa.reader.span_model.load_reader` checks them."""
        weights, shape, manifest = reader_weights(folder)
        path, expected = checked_graph(SPAN_READER)
        extra = sorted(set(weights) - set(expected))
        if extra:
            raise ModelGraphError(f"{folder / str(manifest.get('weights', WEIGHTS_FILE))}: parameter {extra[0]} is not in "
                                  f"{path.name}: the reader's architecture changed; rebuild the graphs with `python -m qa.onnx_export`")
        return cls(new_session(path, expected, weights, str(folder / str(manifest.get("weights", WEIGHTS_FILE)))), shape, manifest)

    def logits(self, batch: EncodedPairs) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Start and end logits (batch, tokens) of encoded (question, passage) pairs."""
        start, end = self.session.run(None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
                                             "token_type_ids": batch.token_type_ids})
        return start, end


_READER_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _span_reader(folder: str) -> SpanReaderGraph:
    return SpanReaderGraph.load(Path(folder))


def span_reader(folder: str) -> SpanReaderGraph:
    """The reader in `folder`, loaded once per process."""
    with _READER_LOCK:
        return _span_reader(folder)


def preload_span_reader(folder: str) -> None:
    """Start building the reader of `folder` in a background thread, so that a cold `qa ask`
    reads its weights and builds the session while the question is encoded and retrieved
    (hashing, numpy and ONNX Runtime release the GIL). Errors are left for `span_reader` to raise."""

    def load() -> None:
        with contextlib.suppress(Exception):
            span_reader(folder)

    threading.Thread(target=load, name="qa-reader-preload", daemon=True).start()
