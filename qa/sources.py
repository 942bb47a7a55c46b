"""An answer's citations as numbered cards (`ArticleCard`), one per article: what the app and the CLI show.

Pure functions over `Citation` / `Passage` records. Citation `n` of the answer text is card `n`;
a card holds every cited passage of its article, with overlapping passages merged into one
excerpt and the answers marked by offsets (`excerpt.text[start:end]`), never by searching.
(Elsewhere a "source" is the file an article was read from, `Document.source`; only this module's
name still says "sources".)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qa.documents import ArticleMeta, Citation, Passage, count_noun
from qa.ingest.clean import publisher_from_url

# The words the CLI and the app both show (the README's answer card quotes them; tests/test_readme.py).
NO_ANSWER = "The indexed articles don't say."
# A possible answer is not an answer: it carries no band word ("low confidence" belongs to answers).
POSSIBLE_ANSWER = "Possible answer — check the source before relying on it"
CLOSEST_HEADING = "The closest passages"
CLOSEST_SHOWN = 3  # passages shown with an abstention (folded away in the app)
# Questions about the article itself (qa/reader/article_fields.py): where the answer came from, and what
# is said when the article lacks the field.
FIELD_NAMES = {"date": "publication date", "publisher": "publisher", "author": "author"}
FIELD_MISSING = {
    "date": "The article is undated: the index has no publication date for it.",
    "publisher": "The index has no publisher for the article.",
    "author": "The index has no author (byline) for the article.",
}


def field_origin(field: str) -> str:
    """"from the article's publication date field": where a field answer comes from."""
    return f"from the article's {FIELD_NAMES.get(field, field)} field"


def shorten_headline(text: str, width: int) -> str:
    """A headline on one line, cut at a word boundary with "…" when longer than `width` (listings
    only: the index keeps it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + "…"


def confidence_label(confidence: float, band: str | None) -> str:
    """"high confidence (0.82)": an answer's calibrated band in words (`NeuralReader.band`, from
    `Calibrator.bands`) with the number; "confidence 0.82" when the reader gave no band."""
    return f"{band} confidence ({confidence:.2f})" if band else f"confidence {confidence:.2f}"


def below_threshold(confidence: float, threshold: float) -> str:
    """"confidence 0.12, below the 0.17 needed to answer": why a possible answer is not the answer."""
    return f"confidence {confidence:.2f}, below the {threshold:.2f} needed to answer"


def undated_note(n: int) -> str:
    """"1 undated article left out by the date range.": said with a reply when a date range
    dropped articles that have no date; "" when it dropped none."""
    return f"{count_noun(n, 'undated article')} left out by the date range." if n else ""


@dataclass(frozen=True)
class Excerpt:
    """A slice of an article's cleaned text with the spans to highlight (offsets into `text`)."""

    text: str
    start: int  # offset of `text` in the article
    marks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ArticleCard:
    number: int  # the [n] the answer cites
    article: ArticleMeta  # its publisher as shown: the host of its URL when it has none (`publisher_name`)
    excerpts: tuple[Excerpt, ...]
    copies: tuple[ArticleMeta, ...] = ()  # the story's other indexed copies ("also published by ...")


def publisher_name(publisher: str | None, url: str | None) -> str | None:
    """The article's publisher, else the host of its URL as people write it (`publisher_from_url`)."""
    if publisher and publisher.strip():
        return publisher.strip()
    return publisher_from_url(url)


def quoted(text: str) -> str:
    """A sentence answer inside one pair of curly double quotes, whitespace collapsed. Its own
    quotation marks never double the outer ones: a sentence that is itself a quotation loses its
    outer pair, a quotation opened but not closed within the sentence (or closed but not opened)
    is completed or dropped, and what remains inside becomes single quotes (‘…’)."""
    t = " ".join(text.split())
    chars, inside = list(t), False
    for i, ch in enumerate(chars):  # straight quotes to curly: they alternate, opening first
        if ch == '"':
            chars[i], inside = ("”", False) if inside else ("“", True)
        elif ch in "“”":
            inside = ch == "“"
    t = "".join(chars)
    if t.startswith("“") and t.count("“") == 1 and (t.endswith("”") or t[-2:] in (".”", "”.") or "”" not in t):
        t = t[1:].replace("”", "") if t.count("”") <= 1 else t[1:]
    depth, out = 0, []
    for ch in t:
        if ch == "“":
            depth += 1
            out.append("‘")
        elif ch == "”":
            if depth:  # a close without its open is dropped
                depth -= 1
                out.append("’")
        else:
            out.append(ch)
    body = "".join(out).strip() + "’" * depth
    return f"“{body}”"


def day_words(article_date: str | None) -> str | None:
    """An article's date as people write it ("1 March 2024"), the field as given when it does not
    read as a date, None when there is none."""
    from qa.dates import parse_date

    day = parse_date(article_date)
    if day is None:
        return article_date.strip() or None if article_date else None
    return f"{day.day} {day:%B %Y}"


def byline(publisher: str | None, url: str | None, article_date: str | None) -> str:
    """"Reuters, 1 March 2024": who published an article and when (what is known of it)."""
    return ", ".join(p for p in (publisher_name(publisher, url), day_words(article_date)) if p) or "an undated article"


def _merge(pieces: list[tuple[int, str, list[tuple[int, int]]]]) -> tuple[Excerpt, ...]:
    """Pieces (article offset, text, marks in article offsets) -> excerpts: overlapping or touching
    pieces of the same article become one, marks are made relative and overlapping marks joined."""
    merged: list[tuple[int, str, list[tuple[int, int]]]] = []
    for start, text, marks in sorted(pieces, key=lambda p: p[0]):
        if merged and start <= merged[-1][0] + len(merged[-1][1]):
            prev_start, prev_text, prev_marks = merged[-1]
            prev_end = prev_start + len(prev_text)
            tail = text[prev_end - start :] if start + len(text) > prev_end else ""
            merged[-1] = (prev_start, prev_text + tail, prev_marks + marks)
        else:
            merged.append((start, text, list(marks)))
    excerpts = []
    for start, text, marks in merged:
        spans: list[tuple[int, int]] = []
        for a, b in sorted((a - start, b - start) for a, b in marks):
            a, b = max(0, a), min(len(text), b)
            if b <= a:
                continue
            if spans and a <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], b))
            else:
                spans.append((a, b))
        excerpts.append(Excerpt(text, start, tuple(spans)))
    return tuple(excerpts)


def _shown(article: ArticleMeta) -> ArticleMeta:
    """The article as a card shows it: its publisher, else the host of its URL (`publisher_name`)."""
    return replace(article, publisher=publisher_name(article.publisher, article.url))


def _cards(items: list[tuple[Passage, tuple[int, int] | None]]) -> list[ArticleCard]:
    order: list[str] = []
    first: dict[str, Passage] = {}
    pieces: dict[str, dict[str, tuple[int, str, list[tuple[int, int]]]]] = {}
    for passage, span in items:
        doc = passage.doc_id
        if doc not in first:
            order.append(doc)
            first[doc] = passage
            pieces[doc] = {}
        chunk = passage.chunk
        start, text, marks = pieces[doc].get(chunk.chunk_id, (chunk.start, chunk.text, []))
        if span is not None:
            marks = marks + [(chunk.start + span[0], chunk.start + span[1])]
        pieces[doc][chunk.chunk_id] = (start, text, marks)
    return [
        ArticleCard(
            number=n,
            article=_shown(first[doc].article),
            excerpts=_merge(list(pieces[doc].values())),
            copies=first[doc].copies,
        )
        for n, doc in enumerate(order, start=1)
    ]


def citation_cards(citations: list[Citation]) -> list[ArticleCard]:
    """One card per cited article, numbered in order of first citation (the primary is [1])."""
    return _cards([(c.passage, (c.answer_start, c.answer_end)) for c in citations])


def passage_cards(passages: list[Passage]) -> list[ArticleCard]:
    """One card per article for passages without an answer (the closest passages of an abstention)."""
    return _cards([(p, None) for p in passages])
