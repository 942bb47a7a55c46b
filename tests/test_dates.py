"""qa/dates.py and qa/news_retrieval.py: article dates, the date range (deeper retrieval until k pass) and "latest" questions."""

from __future__ import annotations

from datetime import date

import pytest

from qa.dates import DateRange, asks_for_latest, parse_date
from qa.documents import ArticleMeta, Chunk, Document, SearchResult
from qa.errors import BadInputError
from qa.news_retrieval import NewsRetriever, newer_first_when_close
from tests.conftest import FERRY_FEB, FERRY_MAR


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-03-20", date(2024, 3, 20)),
        ("2024-03-20T09:15:00+09:00", date(2024, 3, 20)),
        ("2024-03-20 09:15", date(2024, 3, 20)),
        ("Wed, 20 Mar 2024 09:15:00 GMT", date(2024, 3, 20)),
        ("March 20, 2024", date(2024, 3, 20)),
        ("Published: Mar. 20 2024, 9:15 am", date(2024, 3, 20)),
        ("20 March 2024", date(2024, 3, 20)),
        ("20th Sept 2024", date(2024, 9, 20)),
        ("2024/03/20", date(2024, 3, 20)),
        ("03/04/2024", None),  # day-first or month-first: ambiguous
        ("2024-02-30", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_date_range_parse_and_contains():
    r = DateRange.parse("2024-03-01", "2024-03-31")
    assert r and r.contains("March 20, 2024") and r.contains("2024-03-01") and r.contains("2024-03-31")
    assert not r.contains("2024-02-29") and not r.contains("2024-04-01")
    assert not r.contains(None) and not r.contains("someday")  # undated articles are left out
    assert DateRange.parse(since=date(2024, 3, 1)).contains("2030-01-01")
    assert DateRange.parse(until="2024-03-01").describe() == "dated 2024-03-01 or earlier"
    empty = DateRange.parse(None, "")
    assert not empty and empty.contains(None)  # no range: everything, dated or not
    with pytest.raises(BadInputError, match="since '1 March' is not a date; write it as YYYY-MM-DD"):
        DateRange.parse("1 March")
    with pytest.raises(BadInputError, match="after until"):
        DateRange.parse("2024-03-02", "2024-03-01")


@pytest.mark.parametrize(
    "question, latest",
    [
        ("What is the latest on the ferry?", True),
        ("Who was most recently named captain?", True),
        ("What happened recently in Yerevan?", True),
        ("Who is the current captain?", True),
        ("Who took command of the ferry?", False),
        ("When did Armenia join the Partnership for Peace program?", False),
    ],
)
def test_asks_for_latest(question, latest):
    assert asks_for_latest(question) is latest


def test_newer_first_only_among_close_scores():
    rows = [(0, 1.00), (1, 0.95), (2, 0.91), (3, 0.50)]
    dates = [date(2024, 1, 1), None, date(2024, 3, 1), date(2025, 1, 1)]
    # 0.95 and 0.91 are within 10 % of 1.00: the March article moves ahead of the January one, the
    # undated one keeps its place; the 2025 article scores far lower and stays behind.
    assert [r for r, _ in newer_first_when_close(rows, dates, 0.10)] == [2, 1, 0, 3]
    assert [r for r, _ in newer_first_when_close(rows, dates, 0.0)] == [0, 1, 2, 3]
    assert newer_first_when_close([], [], 0.1) == []


class _FakeIndex:
    """The public read API of an index: n_chunks, document(row), chunk(row)."""

    def __init__(self, dates: list[str | None]):
        self.docs = [Document(ArticleMeta(f"d{i}", f"T{i}", date=d), "text", "src") for i, d in enumerate(dates)]

    @property
    def n_chunks(self) -> int:
        return len(self.docs)

    def document(self, row: int) -> Document:
        return self.docs[row]

    def chunk(self, row: int) -> Chunk:
        return Chunk(f"d{row}#0", f"d{row}", 0, 4, "text")


class _FakeRetriever:
    def __init__(self):
        self.depths: list[int] = []

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        self.depths.append(k)
        return [(row, 1.0 - row / 1000) for row in range(k)]


def test_date_range_retrieves_deeper_until_k_pass():
    # 400 passages; only rows 300, 350 and 399 are in March.
    dates = ["2024-01-05"] * 400
    for row in (300, 350, 399):
        dates[row] = "2024-03-10"
    index, inner = _FakeIndex(dates), _FakeRetriever()
    news = NewsRetriever(inner, index, DateRange.parse("2024-03-01"), prefer_recent=False, recency_margin=0.1)
    assert [r for r, _ in news.ranked_rows("q", 2)] == [300, 350]
    assert inner.depths == [50, 200, 400]  # deeper and deeper, never past the index
    inner.depths.clear()
    assert [p.doc_id for p in news.search("q", 5)] == ["d300", "d350", "d399"]  # all there are
    assert inner.depths[-1] == 400


def test_undated_articles_are_counted_only_above_the_last_passage_kept():
    # Rows 0, 2 and 9 are undated (one article each), row 5 is out of range, the rest in March.
    dates: list[str | None] = ["2024-03-10"] * 60
    for row in (0, 2, 9):
        dates[row] = None
    dates[5] = "2023-01-01"
    news = NewsRetriever(_FakeRetriever(), _FakeIndex(dates), DateRange.parse("2024-03-01"), prefer_recent=False,
                         recency_margin=0.1)
    ranked = news.rank("q", 3)  # rows 1, 3, 4 kept: only rows 0 and 2 ranked above the last
    assert [r for r, _ in ranked.rows] == [1, 3, 4] and ranked.undated_left_out == 2
    assert news.rank("q", 6).undated_left_out == 2  # kept 1, 3, 4, 6, 7, 8: row 9 ranks below them
    assert news.rank("q", 7).undated_left_out == 3  # the 7th kept is row 10: row 9 ranks above it
    no_range = NewsRetriever(_FakeRetriever(), _FakeIndex(dates), DateRange(), prefer_recent=False, recency_margin=0.1)
    assert no_range.rank("q", 3).undated_left_out == 0


def test_ask_since_keeps_the_newer_article_and_latest_prefers_it(dated_index):
    from qa.pipeline import QA

    qa = QA(dated_index)
    question = "Who took command of the Skerry Bay harbour ferry?"
    both = qa.search(question, k=5)
    assert {p.doc_id for p in both} == {FERRY_FEB, FERRY_MAR} and both[0].doc_id == FERRY_FEB
    march = qa.ask(question, since="2024-03-01")
    assert {p.doc_id for p in march.passages} == {FERRY_MAR}
    assert march.answer == "Tomas Lindqvist" and {c.passage.doc_id for c in march.citations} == {FERRY_MAR}
    assert qa.search(question, until="2024-02-29")[0].doc_id == FERRY_FEB
    assert qa.search(question, since="2025-01-01") == []
    # Relevance is close (hybrid): the question that asks for the latest reads the March article first.
    latest = qa.search("Who is the latest captain of the Skerry Bay harbour ferry?", k=5)
    assert latest[0].doc_id == FERRY_MAR
    with pytest.raises(BadInputError, match="not a date"):
        qa.search(question, since="March")


def test_a_date_range_counts_the_undated_articles_it_left_out(bundled_index):
    """The bundled Massis Post interview has no date: a range leaves it out and says so."""
    from qa.pipeline import QA
    from tests.conftest import MASSIS, NHK

    qa = QA(bundled_index)
    question = "Is joining NATO on Armenia's agenda, according to Mirzoyan?"
    everything = qa.retrieve(question)
    assert MASSIS in {p.doc_id for p in everything.passages} and everything.undated_left_out == 0
    ranged = qa.retrieve(question, since="2024-03-01")
    assert {p.doc_id for p in ranged.passages} == {NHK} and ranged.undated_left_out == 1
    assert qa.search(question, since="2024-03-01") == ranged.passages
    answer = qa.ask(question, until="2030-12-31")
    assert answer.undated_left_out == 1 and answer.to_dict()["undated_left_out"] == 1
    assert qa.ask(question).undated_left_out == 0
    # Nothing in range at all: the undated article is still counted.
    assert qa.retrieve(question, since="2030-01-01") == SearchResult([], 1)
