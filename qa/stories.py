"""Stories when reading: one copy of each story in a ranking, and each passage's other copies.

Which documents are copies of one story is decided when they are written (`qa/store/stories.py`,
MinHash LSH) and stored with each document's row; this module only reads it: `distinct_stories`
keeps the passages of a story's best-ranked copy (`qa/news_retrieval.py`), `with_copies` gives each
passage its story and the story's other live copies (the answer card's "also published by"), and
`copy_order` is the order copies are listed in (`qa list`, the app).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from qa.dates import parse_date
from qa.documents import Passage

if TYPE_CHECKING:
    from qa.store.catalog import DocRecord
    from qa.store.index import Index


def distinct_stories(rows: list[tuple[int, float]], doc_of: Callable[[int], str],
                     story_of: Callable[[list[str]], dict[str, str]]) -> list[tuple[int, float]]:
    """`rows` (best first) without the passages of a story's other copies: for each story only the
    passages of its best-ranked document are kept (several passages of that one article may stay)."""
    docs = [doc_of(r) for r, _ in rows]
    stories = story_of(list(dict.fromkeys(docs)))
    chosen: dict[str, str] = {}  # story -> the document that represents it
    out = []
    for (row, score), doc in zip(rows, docs):
        story = stories.get(doc, doc)
        if chosen.setdefault(story, doc) == doc:
            out.append((row, score))
    return out


def copy_order(record: DocRecord) -> tuple[date, str]:
    """Copies of a story oldest first, undated last, then by id."""
    return parse_date(record.article.date) or date.max, record.doc_id


def with_copies(index: Index, passages: list[Passage]) -> list[Passage]:
    """`passages` with the story of their article and the story's other live copies, oldest first
    (undated last)."""
    if not passages:
        return []
    stories = index.stories({p.doc_id for p in passages})
    members: dict[str, list[DocRecord]] = {}
    for record in index.records("story", set(stories.values())):
        members.setdefault(record.story, []).append(record)

    out = []
    for p in passages:
        story = stories.get(p.doc_id)
        others = sorted((r for r in members.get(story or "", []) if r.doc_id != p.doc_id), key=copy_order)
        copies = tuple(replace(r.article, title=r.article.title or r.doc_id) for r in others)
        out.append(replace(p, story=story, copies=copies))
    return out
