"""The served networks on ONNX Runtime (qa/model/onnx_runtime.py): the committed weightless graphs, fed
the packaged weights, against sentence-transformers and the PyTorch reader; their checksums."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qa.config import Config
from qa.errors import ModelGraphError
from qa.model.base import base_model_dir, base_weights
from qa.model.onnx_runtime import (
    GRAPH_DIR,
    GRAPHS_FILE,
    SENTENCE_ENCODER,
    SPAN_READER,
    checked_graph,
    new_session,
)
from qa.reader.onnx_reader import span_reader
from qa.reader.span_io import default_model_dir, encode_pair_arrays, truncate_question
from tests.conftest import CORPUS

QUESTIONS = [json.loads(line)["question"] for line in (CORPUS.parent / "eval" / "questions.jsonl").read_text().splitlines()[:20]]


@pytest.fixture(scope="module")
def corpus_chunks():
    from qa.ingest.chunk import chunk_document
    from qa.ingest.read import read_documents

    documents, _ = read_documents([CORPUS], Config())
    return [c.text for d in documents for c in chunk_document(d, Config())]


def test_served_vectors_match_sentence_transformers_encode(embedder, corpus_chunks):
    """Questions and passages as the product encodes them on ONNX Runtime against the packaged
    pipeline run by sentence-transformers (fp32): the same vectors, the same top 3 passages."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(base_model_dir()), device="cpu", local_files_only=True)
    reference.max_seq_length = Config().max_seq_length

    def st(texts):
        return reference.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)

    served_questions = np.stack([embedder.encode_query(q) for q in QUESTIONS])
    served_passages = embedder.query_model.encode(corpus_chunks, 16)
    assert embedder.query_model.runtime == "onnxruntime"
    for got, expected in ((served_questions, st(QUESTIONS)), (served_passages, st(corpus_chunks))):
        cosines = np.sum(got * expected, axis=1)
        assert cosines.min() >= 0.9999, cosines.min()
        assert np.abs(got - expected).max() < 1e-4
    ours = np.argsort(-served_questions @ served_passages.T, axis=1)[:, :3]
    theirs = np.argsort(-st(QUESTIONS) @ st(corpus_chunks).T, axis=1)[:, :3]
    assert (ours == theirs).all()


def test_onnx_reader_logits_match_the_torch_reader(corpus_chunks):
    torch = pytest.importorskip("torch")
    from qa.reader.span_model import best_spans as torch_best_spans
    from qa.reader.span_model import load_reader

    model, shape, _ = load_reader()
    graph = span_reader(str(default_model_dir()))
    for question in QUESTIONS[:4]:
        batch = encode_pair_arrays([truncate_question(question, shape.max_question_tokens)] * 5, corpus_chunks[:5], shape)
        with torch.inference_mode():
            start, end = model(*(torch.from_numpy(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids)))
        ort_start, ort_end = graph.logits(batch)
        assert np.abs(ort_start - start.numpy()).max() < 1e-4
        assert np.abs(ort_end - end.numpy()).max() < 1e-4
        spans = torch_best_spans(start, end, torch.from_numpy(batch.context_mask), shape.max_answer_tokens,
                                 torch.from_numpy(batch.line_ids))
        from qa.reader.span_io import best_spans

        served = best_spans(ort_start, ort_end, batch.context_mask, shape.max_answer_tokens, batch.line_ids)
        assert [(s.start_token, s.end_token) for s in served if s] == [(s.start_token, s.end_token) for s in spans if s]


def test_committed_graphs_are_small_and_carry_no_weights():
    for name in (SENTENCE_ENCODER, SPAN_READER):
        path, weights = checked_graph(name)
        assert path.stat().st_size < 500_000, "weights are fed at load, never stored in the graph"
        assert "encoder.word_embeddings.weight" in weights


def test_a_damaged_or_missing_graph_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "onnx"
    shutil.copytree(GRAPH_DIR, folder)
    path = folder / f"{SPAN_READER}.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelGraphError, match=r"span_reader\.onnx: sha256 .* does not match graphs\.json.*python -m qa\.onnx_export"):
        checked_graph(SPAN_READER, folder)
    path.unlink()
    with pytest.raises(ModelGraphError, match=r"span_reader\.onnx: graph missing; reinstall"):
        checked_graph(SPAN_READER, folder)
    (folder / GRAPHS_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ModelGraphError, match=r"graphs\.json: unreadable"):
        checked_graph(SENTENCE_ENCODER, folder)


def test_weights_that_do_not_fit_the_graph_are_named():
    path, expected = checked_graph(SENTENCE_ENCODER)
    weights = {f"encoder.{k}": v for k, v in base_weights().items()}
    del weights["encoder.layers.0.query.weight"]
    with pytest.raises(ModelGraphError, match=r"model\.safetensors: the weights do not fit sentence_encoder\.onnx \(missing encoder\.layers\.0\.query\.weight\)"):
        new_session(path, expected, weights, "model.safetensors")
    weights["encoder.layers.0.query.weight"] = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(ModelGraphError, match=r"is \[2, 2\], the graph wants \[384, 384\]"):
        new_session(path, expected, weights, "model.safetensors")
