"""The pipeline (qa/pipeline.py) over stand-ins for the embedder and the reader: no model loads."""

from __future__ import annotations

import numpy as np
import pytest

from qa.documents import Answer, Passage
from qa.errors import BadInputError
from qa.pipeline import QA, clean_question
from tests.conftest import NHK


class FixedEmbedder:
    """Every question is the same unit vector (only dense scores depend on it)."""

    dimension = 384

    def encode_query(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, np.float32)
        v[0] = 1.0
        return v

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return np.stack([self.encode_query(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


class RecordingReader:
    """Always abstains; records what it was given."""

    default_threshold = 0.5

    def __init__(self):
        self.calls: list[tuple[str, list[Passage], float | None, str | None]] = []

    def answer(self, question, passages, threshold=None, asked=None) -> Answer:
        self.calls.append((question, passages, threshold, asked))
        return Answer(question if asked is None else asked, None, 0.0, [], passages)

    def describe(self) -> dict:
        return {"reader": "recording"}


def test_the_question_is_cleaned_once_and_the_answer_carries_it_as_asked(bundled_index):
    reader = RecordingReader()
    qa = QA(bundled_index, embedder=FixedEmbedder(), reader=reader)
    asked = "  Who was the first NATO\n secretary   general to visit Armenia?  "
    answer = qa.ask(asked, k=3, retriever="bm25", threshold=0.2)
    [(question, passages, threshold, seen)] = reader.calls
    assert question == "Who was the first NATO secretary general to visit Armenia?" and seen == asked
    assert answer.question == asked and threshold == 0.2
    assert len(passages) == 3 and passages[0].doc_id == NHK
    assert [p.chunk.chunk_id for p in passages] == [
        p.chunk.chunk_id for p in qa.search(asked, k=3, retriever="bm25")
    ]


def test_an_empty_question_reads_nothing(bundled_index):
    reader = RecordingReader()
    answer = QA(bundled_index, embedder=FixedEmbedder(), reader=reader).ask("   ")
    assert answer.question == "   " and reader.calls == [("", [], None, "   ")]


def test_clean_question_cuts_long_questions_and_refuses_non_text(bundled_index):
    q = clean_question("a  b " * 1000, bundled_index)
    assert len(q.text) == bundled_index.max_question_chars and "  " not in q.text
    assert clean_question(None, bundled_index).text == ""
    with pytest.raises(BadInputError, match="must be text"):
        clean_question(42, bundled_index)


@pytest.mark.parametrize("call", ["ask", "search"])
def test_an_unknown_retriever_is_bad_input(bundled_index, call):
    qa = QA(bundled_index, embedder=FixedEmbedder(), reader=RecordingReader())
    with pytest.raises(BadInputError, match="unknown retriever 'telepathy'; choose one of dense, bm25, hybrid"):
        getattr(qa, call)("Who visited Armenia?", retriever="telepathy")


def test_list_documents_keeps_index_order_and_groups_copies_by_story(archive, archive_index):
    from qa.dates import parse_date
    from qa.pipeline import list_documents

    listed = list_documents(archive_index)
    assert len(listed.records) == len(archive[1]) and len(listed.stories) == len(set(archive[1].values()))
    assert sorted(r.doc_id for story in listed.stories for r in story) == sorted(r.doc_id for r in listed.records)
    index_order = [r.doc_id for r in listed.records]
    starts = [min(index_order.index(r.doc_id) for r in story) for story in listed.stories]
    assert starts == sorted(starts)  # stories in the order their first copy was indexed
    for story in listed.stories:
        assert len({r.story for r in story}) == 1
        dated = [r.article.date for r in story]
        days = [parse_date(d) for d in dated if d]
        assert days == sorted(days) and [d for d in dated if not d] == dated[len(days):]
