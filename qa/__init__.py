"""Extractive question answering over a local archive of news articles."""

from qa.config import Config
from qa.documents import Answer, ArticleMeta, Chunk, Citation, Document, Passage
from qa.errors import BadInputError, IndexCorruptError, IndexLockedError, IndexMismatchError, QAError

__all__ = [
    "Answer",
    "ArticleMeta",
    "BadInputError",
    "Chunk",
    "Citation",
    "Config",
    "Document",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexMismatchError",
    "Passage",
    "QAError",
]
