"""Article dates and date questions: pure functions and types, nothing of the index.

- `parse_date` reads an article's date field in the common formats (None when there is none or
  it is ambiguous); `iso_day` reads a day as a date range's bounds are written (YYYY-MM-DD).
- `DateRange` (`--since` / `--until`, inclusive ISO dates) says whether an article's date is
  inside it; an article without a readable date is outside any range that is given.
- `asks_for_latest` says whether a question asks for the latest news ("latest", "most recent",
  "newest", "recently", ...).

Retrieval that uses them (a date range, newer first, one copy per story) is `qa/news_retrieval.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

from qa.errors import BadInputError

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


def iso_day(text: str) -> date:
    """A day as a date range's bounds are written, YYYY-MM-DD (spaces around it allowed); else
    ValueError saying how to write it (a long text shown cut). `--since`/`--until`, the app and /ask."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        shown = text if len(text) <= 40 else f"{text[:40]}… ({len(text):,} characters)"
        raise ValueError(f"{shown!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-03-01") from None


def _iso_date(value: str | date | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    text = str(value).strip()
    if not text:
        return None
    try:
        return iso_day(text)
    except ValueError as e:
        raise BadInputError(f"{name} {e}") from None


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
