"""The lexical tokeniser: one word pattern, one stop-word list and one stemmer, for the lexical
index and for questions alike (and for any other module that compares words).

Words are runs of two or more word characters, lower-cased; Lucene's English stop words are
dropped; the rest are Snowball (Porter 2) stemmed by PyStemmer. This is what the project's BM25
used through bm25s (`stopwords="en"`, PyStemmer English), kept identical so rankings carry over.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

# Lucene's English stop set (also bm25s's "en" list).
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
_WORD = re.compile(r"(?u)\b\w\w+\b")


class WordStemmer(Protocol):
    """What the project uses of PyStemmer's `Stemmer.Stemmer` (the library has no type information)."""

    def stemWord(self, word: str) -> str: ...

    def stemWords(self, words: list[str]) -> list[str]: ...


@lru_cache(maxsize=1)
def _stemmer() -> WordStemmer:
    import Stemmer

    stemmer: WordStemmer = Stemmer.Stemmer("english")
    return stemmer


def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """The stemmed, lower-cased, non-stop-word terms of `text`, in order, duplicates kept."""
    return terms_of_many([text])[0]


def terms_of_many(texts: list[str]) -> list[list[str]]:
    """`terms` of each text; each distinct word is stemmed once per call."""
    words = [[w for w in _WORD.findall(t.lower()) if w not in STOPWORDS] for t in texts]
    vocab = list({w for ws in words for w in ws})
    stems = dict(zip(vocab, _stemmer().stemWords(vocab)))
    return [[stems[w] for w in ws] for ws in words]
