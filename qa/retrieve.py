"""Retrievers over a loaded index: dense (FAISS), lexical (BM25) and hybrid (reciprocal rank fusion).

Each returns passages best first; scores are comparable only within one retriever.
Retrieval knows nothing about answering.
"""

from __future__ import annotations

from qa.config import RETRIEVERS
from qa.documents import Passage
from qa.index import LoadedIndex
from qa.terms import terms


def passage_at(index: LoadedIndex, row: int, score: float) -> Passage:
    """The passage of chunk `row` with its article's metadata."""
    doc = index.document(row)
    return Passage(
        chunk=index.chunk(row), title=doc.title, url=doc.url, date=doc.date, score=float(score),
        publisher=doc.publisher,
    )


class DenseRetriever:
    """Cosine similarity between the question vector and the chunk vectors."""

    def __init__(self, index: LoadedIndex, embedder):
        self.index, self.embedder = index, embedder

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        k = min(k, self.index.n_chunks)
        if k <= 0:
            return []
        return self.index.search_dense(self.embedder.encode_query(question), k)

    def search(self, question: str, k: int) -> list[Passage]:
        return [passage_at(self.index, r, s) for r, s in self.ranked_rows(question, k)]


class BM25Retriever:
    """Okapi BM25 over stemmed words (qa.terms), across every segment as one index."""

    def __init__(self, index: LoadedIndex):
        self.index = index

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        return self.index.search_lexical(terms(question), min(k, self.index.n_chunks))

    def search(self, question: str, k: int) -> list[Passage]:
        return [passage_at(self.index, r, s) for r, s in self.ranked_rows(question, k)]


class HybridRetriever:
    """Reciprocal rank fusion of dense and BM25 rankings: score = sum 1 / (rrf_k + rank)."""

    def __init__(self, index: LoadedIndex, embedder, rrf_k: int = 60, depth: int = 50):
        self.index = index
        self.dense, self.bm25 = DenseRetriever(index, embedder), BM25Retriever(index)
        self.rrf_k, self.depth = rrf_k, depth

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        depth = max(k, self.depth)
        fused: dict[int, float] = {}
        for ranking in (self.dense.ranked_rows(question, depth), self.bm25.ranked_rows(question, depth)):
            for rank, (row, _) in enumerate(ranking, start=1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (self.rrf_k + rank)
        best = sorted(fused.items(), key=lambda item: -item[1])[:k]
        return best

    def search(self, question: str, k: int) -> list[Passage]:
        return [passage_at(self.index, r, s) for r, s in self.ranked_rows(question, k)]


def make_retriever(kind: str, index: LoadedIndex, embedder, rrf_k: int = 60):
    if kind == "dense":
        return DenseRetriever(index, embedder)
    if kind == "bm25":
        return BM25Retriever(index)
    if kind == "hybrid":
        return HybridRetriever(index, embedder, rrf_k=rrf_k)
    raise ValueError(f"unknown retriever {kind!r}; choose one of {', '.join(RETRIEVERS)}")
