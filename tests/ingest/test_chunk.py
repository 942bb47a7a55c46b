"""Chunking: exact offsets, token budget, sentence alignment and overlap."""

from __future__ import annotations

from qa.config import Config
from qa.ingest.chunk import chunk_document
from qa.ingest.read import make_document, read_documents
from qa.model.base import load_wordpiece_tokenizer
from qa.sentences import split_sentences
from tests.conftest import CORPUS


def _doc(name: str):
    [doc], _ = read_documents([CORPUS / name], Config())
    return doc


def _tokens(text: str) -> int:
    return len(load_wordpiece_tokenizer().encode(text, add_special_tokens=False).ids)


def test_chunk_offsets_are_exact_and_within_budget():
    config = Config()
    for name in ("nhk-stoltenberg-visits-armenia.txt", "massispost-armenia-nato-agenda.txt"):
        doc = _doc(name)
        chunks = chunk_document(doc, config)
        assert len(chunks) > 1
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert _tokens(c.text) <= config.chunk_tokens + 2  # joining sentences may merge a word piece
        assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
        # Consecutive chunks overlap a little, or touch, and always move forward.
        for a, b in zip(chunks, chunks[1:]):
            assert a.start < b.start <= a.end + 2


def test_chunks_start_and_end_on_sentence_boundaries():
    doc = _doc("massispost-armenia-nato-agenda.txt")
    bounds = split_sentences(doc.text)
    starts, ends = {s for s, _ in bounds}, {e for _, e in bounds}
    for c in chunk_document(doc, Config()):
        assert c.start in starts and c.end in ends


def test_sentence_splitter_keeps_abbreviations():
    text = "Mr. Smith went to Washington on Jan. 5. He met the U.S. president.\nNew paragraph here."
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["Mr. Smith went to Washington on Jan. 5.", "He met the U.S. president.", "New paragraph here."]


def test_overlong_sentence_is_split_on_words():
    from qa.ingest.clean import CleanedArticle

    text = " ".join(f"word{i}" for i in range(600)) + "."
    doc = make_document("long", "long", CleanedArticle(text=text, title="t"))
    config = Config().with_(chunk_tokens=64, chunk_overlap_tokens=0)
    chunks = chunk_document(doc, config)
    assert len(chunks) > 5
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert _tokens(c.text) <= 64
        assert not c.text.startswith(" ") and (c.start == 0 or doc.text[c.start - 1] == " ")
    assert "".join(doc.text[c.start : c.end] + " " for c in chunks).strip() == text
