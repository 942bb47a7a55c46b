"""Reciprocal rank fusion (qa/retrieve.py, HybridRetriever) with hand-computed numbers:
score(row) = sum over the dense and BM25 rankings of 1 / (rrf_k + rank), rank counted from 1."""

from __future__ import annotations

import pytest

from qa.config import Config
from qa.retrieve import HybridRetriever, make_retriever


class RankingIndex:
    """A stand-in index that returns fixed dense and BM25 rankings (row, score), cut at k."""

    def __init__(self, dense: list[int], bm25: list[int], n_chunks: int = 100):
        self.dense, self.bm25, self.n_chunks = dense, bm25, n_chunks
        self.asked: list[tuple[str, int]] = []

    def search_dense(self, query, k: int) -> list[tuple[int, float]]:
        self.asked.append(("dense", k))
        return [(row, 1.0 - i / 100) for i, row in enumerate(self.dense[:k])]

    def search_lexical(self, terms: list[str], k: int) -> list[tuple[int, float]]:
        self.asked.append(("bm25", k))
        return [(row, 10.0 - i) for i, row in enumerate(self.bm25[:k])]


class NoEncoder:
    def encode_query(self, question: str):
        return None


def fuse(dense: list[int], bm25: list[int], k: int = 10, config: Config | None = None) -> list[tuple[int, float]]:
    retriever = make_retriever("hybrid", RankingIndex(dense, bm25), NoEncoder(), config or Config())
    assert isinstance(retriever, HybridRetriever)
    return retriever.ranked_rows("a question", k)


def test_rrf_k_comes_from_config():
    assert Config().rrf_k == 60
    retriever = make_retriever("hybrid", RankingIndex([], []), NoEncoder(), Config().with_(rrf_k=7))
    assert isinstance(retriever, HybridRetriever) and retriever.rrf_k == 7


def test_two_rankings_fused_by_hand():
    # dense: 10, 20, 30, 40; BM25: 30, 10, 50 (k = 60)
    found = fuse([10, 20, 30, 40], [30, 10, 50])
    assert found == [
        (10, pytest.approx(1 / 61 + 1 / 62)),  # dense 1, BM25 2: 0.0325225
        (30, pytest.approx(1 / 63 + 1 / 61)),  # dense 3, BM25 1: 0.0322664
        (20, pytest.approx(1 / 62)),  # dense 2 only
        (50, pytest.approx(1 / 63)),  # BM25 3 only
        (40, pytest.approx(1 / 64)),  # dense 4 only
    ]
    assert found[0][1] == pytest.approx(0.0325225, abs=1e-7) and found[1][1] == pytest.approx(0.0322664, abs=1e-7)


def test_fused_scores_with_another_rrf_k():
    # rrf_k = 1: row 1 is dense 1 and BM25 2 (1/2 + 1/3), row 3 BM25 1 (1/2), row 2 dense 2 (1/3).
    found = fuse([1, 2], [3, 1], config=Config().with_(rrf_k=1))
    assert found == [(1, pytest.approx(1 / 2 + 1 / 3)), (3, pytest.approx(1 / 2)), (2, pytest.approx(1 / 3))]


def test_ties_keep_the_order_rows_are_first_met():
    # Rows 1 and 3 both score 1/61, rows 2 and 4 both 1/62: the dense ranking is read first and the
    # sort is stable, so a dense row comes before a BM25 row of the same score.
    assert [row for row, _ in fuse([1, 2], [3, 4])] == [1, 3, 2, 4]
    # Mirror images score exactly the same (1/61 + 1/62 = 1/62 + 1/61): the dense ranking's order wins.
    found = fuse([5, 6], [6, 5])
    assert [row for row, _ in found] == [5, 6] and found[0][1] == found[1][1] == pytest.approx(1 / 61 + 1 / 62)


def test_k_cuts_the_fused_ranking_and_depth_bounds_the_reading():
    index = RankingIndex(list(range(100, 160)), list(range(159, 99, -1)))
    retriever = HybridRetriever(index, NoEncoder(), rrf_k=60, depth=3)
    found = retriever.ranked_rows("a question", 2)
    assert index.asked == [("dense", 3), ("bm25", 3)]  # read max(k, depth) deep
    # dense 100, 101, 102 and BM25 159, 158, 157: no row in both, so the ranks alternate, k = 2 kept.
    assert found == [(100, pytest.approx(1 / 61)), (159, pytest.approx(1 / 61))]
    index.asked.clear()
    assert len(retriever.ranked_rows("a question", 5)) == 5 and index.asked == [("dense", 5), ("bm25", 5)]


def test_an_empty_ranking_leaves_the_other():
    assert fuse([7, 8], []) == [(7, pytest.approx(1 / 61)), (8, pytest.approx(1 / 62))]
    assert fuse([], []) == []
