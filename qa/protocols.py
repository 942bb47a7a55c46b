"""The seams between stages: what each stage needs from the one before it, as small Protocols.

The real implementations are `qa.model.embed.Embedder` (both encoders), the retrievers of
`qa/retrieve.py` and `qa/news_retrieval.py`, and `qa.reader.neural.NeuralReader`; a test or the benchmark can
pass any object with these methods instead (no monkey-patching).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from qa.documents import Answer, Passage


class PassageEncoder(Protocol):
    """What ingest needs: passage texts to L2-normalised float32 vectors, row i for text i."""

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray: ...


class QueryEncoder(Protocol):
    """What dense retrieval needs: one question to an L2-normalised float32 vector."""

    def encode_query(self, text: str) -> np.ndarray: ...


class TextEncoder(PassageEncoder, QueryEncoder, Protocol):
    """Both sides of one embedding model (the pipeline indexes and asks with the same one)."""

    @property
    def dimension(self) -> int: ...


class RowRanker(Protocol):
    """Ranks the index's live chunk rows for a question: (row, score) best first, at most k."""

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]: ...


class Retriever(Protocol):
    """The k passages that best match a question, best first."""

    def search(self, question: str, k: int) -> list[Passage]: ...


class Reader(Protocol):
    """Turns a question and its retrieved passages into an answer (or an abstention).

    `question` is the cleaned text that was retrieved with; the Answer reports `asked` (the
    question as the user typed it) when given, else `question`. `threshold` None means
    `default_threshold`."""

    @property
    def default_threshold(self) -> float: ...

    def answer(
        self, question: str, passages: list[Passage], threshold: float | None = None, asked: str | None = None
    ) -> Answer: ...

    def describe(self) -> dict[str, Any]: ...
