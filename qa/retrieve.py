"""Retrievers over a loaded index: dense (FAISS), lexical (BM25) and hybrid (reciprocal rank fusion).

Each ranks the index's rows (`ranked_rows`); `RowRetriever.search`, the one search path they all
share, turns the ranking into passages, best first. Scores are comparable only within one
retriever. Retrieval knows nothing about answering.
"""

from __future__ import annotations

from qa.config import RETRIEVERS, Config
from qa.documents import Passage
from qa.errors import BadInputError
from qa.protocols import QueryEncoder
from qa.store.index import Index
from qa.terms import terms

__all__ = [
    "RETRIEVERS", "BM25Retriever", "DenseRetriever", "HybridRetriever", "RowRetriever", "checked_retriever",
    "make_retriever", "passage_at",
]


def passage_at(index: Index, row: int, score: float) -> Passage:
    """The passage of chunk `row` with its article's metadata."""
    return Passage(chunk=index.chunk(row), article=index.document(row).article, score=float(score))


class RowRetriever:
    """A retriever that ranks rows of `index`; `search` is the same for all of them."""

    index: Index

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        raise NotImplementedError

    def search(self, question: str, k: int) -> list[Passage]:
        return [passage_at(self.index, r, s) for r, s in self.ranked_rows(question, k)]


class DenseRetriever(RowRetriever):
    """Cosine similarity between the question vector and the chunk vectors."""

    def __init__(self, index: Index, embedder: QueryEncoder):
        self.index, self.embedder = index, embedder

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        k = min(k, self.index.n_chunks)
        if k <= 0:
            return []
        return self.index.search_dense(self.embedder.encode_query(question), k)


class BM25Retriever(RowRetriever):
    """Okapi BM25 over stemmed words (qa.terms), across every segment as one index."""

    def __init__(self, index: Index):
        self.index = index

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        return self.index.search_lexical(terms(question), min(k, self.index.n_chunks))


class HybridRetriever(RowRetriever):
    """Reciprocal rank fusion of dense and BM25 rankings: score = sum 1 / (rrf_k + rank), each
    ranking read `depth` deep (at least k)."""

    def __init__(self, index: Index, embedder: QueryEncoder, rrf_k: int, depth: int):
        self.index = index
        self.dense, self.bm25 = DenseRetriever(index, embedder), BM25Retriever(index)
        self.rrf_k, self.depth = rrf_k, depth

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        depth = max(k, self.depth)
        fused: dict[int, float] = {}
        for ranking in (self.dense.ranked_rows(question, depth), self.bm25.ranked_rows(question, depth)):
            for rank, (row, _) in enumerate(ranking, start=1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (self.rrf_k + rank)
        return sorted(fused.items(), key=lambda item: -item[1])[:k]


def checked_retriever(kind: object) -> str:
    """`kind` if it names a retriever, else BadInputError listing the retrievers."""
    if kind not in RETRIEVERS:
        raise BadInputError(f"unknown retriever {kind!r}; choose one of {', '.join(RETRIEVERS)}")
    return str(kind)


def make_retriever(kind: str, index: Index, embedder: QueryEncoder, config: Config) -> RowRetriever:
    """The retriever called `kind` (one of RETRIEVERS) over `index`, with `config`'s fusion settings."""
    kind = checked_retriever(kind)
    if kind == "dense":
        return DenseRetriever(index, embedder)
    if kind == "bm25":
        return BM25Retriever(index)
    return HybridRetriever(index, embedder, rrf_k=config.rrf_k, depth=config.hybrid_depth)
