"""News-aware retrieval: an article's date restricts and orders what is read, and a story is read once.

- A date range (`--since` / `--until`, inclusive ISO dates) keeps only passages of articles
  dated inside it; an article without a readable date is left out whenever a range is given,
  and the ranking says how many such articles ranked above the last passage kept
  (`Ranked.undated_left_out`). The wrapped retriever is asked for deeper rankings until `k`
  passages pass the filter or the index is exhausted.
- A question that asks for the latest news ("latest", "most recent", "newest", "recently", ...)
  prefers newer articles when relevance is close: among the passages scoring within
  `Config.recency_margin` (10 %) of the best one, newer articles move ahead of older ones (undated
  ones keep their place: their age is unknown); the rest follow in relevance order, and the first
  `k` are kept.
- Copies of one story (qa/stories.py) take one place: only the passages of a story's
  best-ranked copy are kept (`Config.distinct_stories`; `--all-copies` turns it off), asking the
  wrapped retriever deeper as for a date range.

Only the index's public read API is used (`document(row)`, `chunk(row)`, `n_chunks`) and the
retrievers' `ranked_rows`, so this works over any retriever and any index layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

from qa.config import Config
from qa.errors import BadInputError
from qa.protocols import RowRanker
from qa.retrieve import RowRetriever
from qa.store.index import Index
from qa.stories import distinct_stories

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T\s])")
_YMD = re.compile(r"\b(\d{4})[/.](\d{1,2})[/.](\d{1,2})\b")
_MONTH_DAY_YEAR = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\b")
_LATEST = re.compile(
    r"\b(latest|most recent(ly)?|newest|recent|recently|lately|currently|current|nowadays|today|"
    r"this (week|month|year))\b",
    re.IGNORECASE,
)


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def parse_date(text: str | None) -> date | None:
    """The calendar date of an article's date field, or None when there is none or it is ambiguous.

    Reads ISO dates and timestamps ("2024-03-20", "2024-03-20T09:00:00+09:00"), e-mail style
    ("Wed, 20 Mar 2024 09:00:00 GMT"), "2024/03/20", "March 20, 2024", "20 March 2024",
    "Mar. 20 2024". Day-first vs month-first numbers ("03/04/2024") are ambiguous: None."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if m := _ISO.match(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    if m := _YMD.search(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if (m := _MONTH_DAY_YEAR.search(text)) and m[1][:3].lower() in _MONTHS:
        return _make_date(int(m[3]), _MONTHS[m[1][:3].lower()], int(m[2]))
    if (m := _DAY_MONTH_YEAR.search(text)) and m[2][:3].lower() in _MONTHS:
        return _make_date(int(m[3]), _MONTHS[m[2][:3].lower()], int(m[1]))
    return None


def _iso_date(value: str | date | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else f"{text[:40]}… ({len(text):,} characters)"
        raise BadInputError(f"{name} {shown!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-03-01") from None


@dataclass(frozen=True)
class DateRange:
    """Inclusive bounds on an article's date; an empty range (both None) keeps everything."""

    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, since: str | date | None = None, until: str | date | None = None) -> DateRange:
        """From ISO strings (or dates); a bad string or since > until raises BadInputError."""
        low, high = _iso_date(since, "since"), _iso_date(until, "until")
        if low and high and low > high:
            raise BadInputError(f"since {low.isoformat()} is after until {high.isoformat()}; swap them")
        return cls(low, high)

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, article_date: str | None) -> bool:
        """Whether an article with this date field passes; undated articles pass only an empty range."""
        if not self:
            return True
        day = parse_date(article_date)
        if day is None:
            return False
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def describe(self) -> str:
        if self.since and self.until:
            return f"dated {self.since.isoformat()} to {self.until.isoformat()}"
        if self.since:
            return f"dated {self.since.isoformat()} or later"
        if self.until:
            return f"dated {self.until.isoformat()} or earlier"
        return "of any date"


def asks_for_latest(question: str) -> bool:
    """Whether the question asks for the latest / most recent news."""
    return bool(_LATEST.search(question or ""))


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
        return parse_date(self.index.document(row).date)

    def _rows_in_range(self, question: str, k: int) -> Ranked:
        """The best `k` rows whose article is in range, asking the inner retriever ever deeper, and
        how many undated articles the range dropped from above the last row kept."""
        depth, n = max(4 * k, self.depth), self.index.n_chunks
        while True:
            rows = self.inner.ranked_rows(question, min(depth, n))
            kept = [(r, s) for r, s in rows if self.dates.contains(self.index.document(r).date)]
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
        return len({doc.doc_id for doc in (self.index.document(r) for r, _ in rows[:seen]) if parse_date(doc.date) is None})

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
