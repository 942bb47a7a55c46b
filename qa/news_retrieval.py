"""News-aware retrieval: an article's date restricts and orders what is read, and a story is read once.

- A date range (`--since` / `--until`, inclusive ISO dates; `qa.dates.DateRange`) keeps only
  passages of articles dated inside it; an article without a readable date is left out whenever a
  range is given, and the ranking says how many such articles ranked above the last passage kept
  (`Ranked.undated_left_out`). The wrapped retriever is asked for deeper rankings until `k`
  passages pass the filter or the index is exhausted.
- A question that asks for the latest news (`qa.dates.asks_for_latest`: "latest", "most recent",
  "newest", "recently", ...) prefers newer articles when relevance is close: among the passages
  scoring within `Config.recency_margin` (10 %) of the best one, newer articles move ahead of
  older ones (undated ones keep their place: their age is unknown); the rest follow in relevance
  order, and the first `k` are kept.
- Copies of one story (qa/stories.py) take one place: only the passages of a story's
  best-ranked copy are kept (`Config.distinct_stories`; `--all-copies` turns it off), asking the
  wrapped retriever deeper as for a date range.

Only the index's public read API is used (`document(row)`, `stories`, `n_chunks`) and the
retrievers' `ranked_rows`, so this works over any retriever and any index layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qa.config import Config
from qa.dates import DateRange, parse_date
from qa.protocols import RowRanker
from qa.retrieve import RowRetriever
from qa.store.index import Index
from qa.stories import distinct_stories


def newer_first_when_close(
    rows: list[tuple[int, float]], dates: list[date | None], margin: float
) -> list[tuple[int, float]]:
    """`rows` (best first), with the dated ones among those scoring within `margin` (a fraction of
    the best score) of the best reordered newest first, equal dates in relevance order. Undated
    rows keep their place (their age is unknown); rows scoring lower keep theirs after them."""
    if not rows or rows[0][1] <= 0:
        return list(rows)
    floor = rows[0][1] * (1.0 - margin)
    slots = [i for i, (_, score) in enumerate(rows) if score >= floor and dates[i] is not None]
    order = list(range(len(rows)))
    ordinals = [d.toordinal() if d is not None else 0 for d in dates]
    for slot, source in zip(slots, sorted(slots, key=lambda i: (-ordinals[i], i))):
        order[slot] = source
    return [rows[i] for i in order]


@dataclass(frozen=True)
class Ranked:
    """Rows of a news-aware ranking, best first, and the undated articles a date range left out
    of them (those ranked above the last row kept: they would have been read without the range)."""

    rows: list[tuple[int, float]]
    undated_left_out: int = 0


class NewsRetriever(RowRetriever):
    """Wraps a retriever: keeps passages of articles in `dates`; with `distinct`, keeps one copy of
    each story (the best-ranked article's passages; qa/stories.py); for a question that asks for
    the latest news (`prefer_recent`), puts newer articles first among the closely relevant passages."""

    def __init__(self, inner: RowRanker, index: Index, dates: DateRange, prefer_recent: bool,
                 recency_margin: float, distinct: bool = False, depth: int = Config.filter_depth):
        self.inner, self.index = inner, index
        self.dates, self.prefer_recent, self.margin = dates, prefer_recent, recency_margin
        self.distinct, self.depth = distinct, depth

    def _article_date(self, row: int) -> date | None:
        return parse_date(self.index.document(row).article.date)

    def _rows_in_range(self, question: str, k: int) -> Ranked:
        """The best `k` rows whose article is in range, asking the inner retriever ever deeper, and
        how many undated articles the range dropped from above the last row kept."""
        depth, n = max(4 * k, self.depth), self.index.n_chunks
        while True:
            rows = self.inner.ranked_rows(question, min(depth, n))
            kept = [(r, s) for r, s in rows if self.dates.contains(self.index.document(r).article.date)]
            if self.distinct:
                kept = distinct_stories(kept, lambda r: self.index.document(r).doc_id, self.index.stories)
            if len(kept) >= k or len(rows) < min(depth, n) or depth >= n:
                kept = kept[:k]
                return Ranked(kept, self._undated_above(rows, kept, k))
            depth *= 4

    def _undated_above(self, rows: list[tuple[int, float]], kept: list[tuple[int, float]], k: int) -> int:
        """The undated articles among `rows` ranked above the last of `kept` (all of `rows` when
        fewer than `k` were kept): the ones a date range left out of what was read."""
        if not self.dates:
            return 0
        seen = len(rows) if len(kept) < k else [r for r, _ in rows].index(kept[-1][0])
        return len({doc.doc_id for doc in (self.index.document(r) for r, _ in rows[:seen]) if parse_date(doc.article.date) is None})

    def rank(self, question: str, k: int) -> Ranked:
        """The best `k` rows (see the class), with the count of undated articles left out."""
        if k <= 0:
            return Ranked([])
        if not self.prefer_recent:
            return self._rows_in_range(question, k)
        # Read deeper, so that a newer article just below the top k can move up.
        ranked = self._rows_in_range(question, 4 * k)
        ordered = newer_first_when_close(ranked.rows, [self._article_date(r) for r, _ in ranked.rows], self.margin)
        return Ranked(ordered[:k], ranked.undated_left_out)

    def ranked_rows(self, question: str, k: int) -> list[tuple[int, float]]:
        return self.rank(question, k).rows
