"""What the app shows, as HTML: an answer with its article cards, ranked passages, replies.

Pure functions over `Answer` / `Passage` records and the cards of `qa/sources.py`. Every piece
of article text is HTML-escaped; answers are marked by offsets (`text[start:end]`), never by
searching; only http(s) URLs become links. A reply is one HTML block without line breaks, so the
chat's Markdown never reinterprets article text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from qa.documents import Answer, ArticleMeta, Passage, count_noun
from qa.sources import (
    CLOSEST_HEADING,
    CLOSEST_SHOWN,
    FIELD_MISSING,
    NO_ANSWER,
    POSSIBLE_ANSWER,
    ArticleCard,
    below_threshold,
    byline,
    citation_cards,
    confidence_label,
    day_words,
    field_origin,
    passage_cards,
    publisher_name,
    quoted,
    shorten_headline,
    undated_note,
)

if TYPE_CHECKING:
    from qa.ingest.read import IngestReport
    from qa.store.catalog import DocRecord

SHOWN_QUESTION_CHARS = 400  # how much of a long question the chat echoes back
REMOVE_LABEL_CHARS = 160  # a headline in the Remove list: whole up to here (wrapped), then cut at a word


def escape(text: str | None) -> str:
    """HTML-escape, and turn line breaks into <br> so a reply is one HTML block: a blank line
    would end the block in the chat's Markdown and let Markdown reinterpret the article text."""
    text = html.escape(text or "", quote=True)
    text = re.sub(r"[ \t]*\n(\s*\n)+[ \t]*", "<br><br>", text)
    return re.sub(r"[ \t]*\n[ \t]*", "<br>", text)


def highlight(text: str, start: int, end: int) -> str:
    """The passage HTML-escaped, with text[start:end] wrapped in <mark>: cut by offsets, never searched."""
    return highlight_spans(text, ((start, end),))


def highlight_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` HTML-escaped with each (start, end) span (sorted, not overlapping) in <mark>."""
    out: list[str] = []
    at = 0
    for start, end in spans:
        start, end = max(at, min(start, len(text))), max(0, min(end, len(text)))
        if end <= start:
            continue
        out += [escape(text[at:start]), "<mark>", escape(text[start:end]), "</mark>"]
        at = end
    return "".join(out) + escape(text[at:])


def safe_url(url: str | None) -> str | None:
    """`url` stripped when it is http(s), else None (a javascript: or data: URL is never a link)."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def link(title: str, url: str | None) -> str:
    """`title` (already HTML) as a link opening in a new tab, or alone when `url` is not safe."""
    url = safe_url(url)
    if not url:
        return title
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'


def copies_line(copies: Sequence[ArticleMeta]) -> str:
    """"also published by Reuters (1 March 2024) · AP (...)": a story's other copies, each linked."""
    if not copies:
        return ""
    names = []
    for c in copies:
        day = day_words(c.date)
        names.append(link(escape(publisher_name(c.publisher, c.url) or c.doc_id), c.url) + (f" ({escape(day)})" if day else ""))
    return f'<div class="qa-meta qa-copies">also published by {" · ".join(names)}</div>'


def alternatives_block(answer: Answer) -> str:
    """"Other articles: 40 — Reuters, 1 March 2024": the other stories' differing answers."""
    if not answer.alternatives:
        return ""
    rows = []
    for other in answer.alternatives:
        a = other.citation.passage.article
        rows.append(f"<li><strong>{escape(' '.join(other.text.split()))}</strong> — "
                    f"{link(escape(byline(a.publisher, a.url, a.date)), a.url)}"
                    f' <span class="qa-meta" title="{escape(a.title)}">({other.confidence:.2f})</span></li>')
    return f'<div class="qa-alternatives">Other articles:<ul>{"".join(rows)}</ul></div>'


def article_card(card: ArticleCard) -> str:
    """One article: [n], headline linked to the article, publisher · date, the story's other
    copies, then its passages with the answer marked by offsets."""
    a = card.article
    meta = " · ".join(escape(m) for m in (a.publisher, a.date) if m)
    passages = "".join(
        f'<div class="qa-card-passage">{highlight_spans(e.text, e.marks)}</div>' for e in card.excerpts
    )
    return (
        '<div class="qa-card">'
        f'<div class="qa-card-head"><span class="qa-num">[{card.number}]</span>'
        f"{link(escape(a.title) or escape(a.doc_id), a.url)}</div>"
        f'{f"<div class=qa-meta>{meta}</div>" if meta else ""}{copies_line(card.copies)}{passages}</div>'
    )


def _confidence(confidence: float, band: str | None) -> str:
    band_class = f" qa-confidence-{band}" if band else ""
    return (f'<span class="qa-confidence{band_class}" title="the reader\'s calibrated estimate that this answer is right">'
            f"{escape(confidence_label(confidence, band))}</span>")


def _shown_answer(text: str, answer_type: str | None, refs: str, css: str = "qa-answer") -> str:
    if answer_type == "sentence":
        return f'<blockquote class="{css}">{escape(quoted(text))}{refs}</blockquote>'
    text = escape(" ".join(text.split()))
    return f'<p class="{css}">{f"<strong>{text}</strong>" if css == "qa-answer" else text}{refs}</p>'


def _undated(answer: Answer) -> str:
    note = undated_note(answer.undated_left_out)
    return f'<div class="qa-meta qa-undated">{escape(note)}</div>' if note else ""


def answer_html(answer: Answer, threshold: float, dates: str = "") -> str:
    """One chat reply in one of three states, each its own class on the verdict:

    - `qa-answered`: the answer first, with numbered citations [1] [2] and its calibrated band in
      words with the number ("high confidence (0.82)"), then one card per cited article;
    - `qa-possible`: "check the source" first, then the candidate in smaller plain type with its
      confidence below the threshold (never a band word), then its highlighted source;
    - `qa-abstain`: that the indexed articles don't say, with the closest passages folded under it.

    A question about the article itself (`answer_type` "field") shows the field's value (or that
    the article lacks it) and the article's card. A note follows the verdict when a date range left
    undated articles out. One HTML block, no blank lines."""
    if answer.answer_type == "field" and answer.article_field and answer.citations:
        return field_reply(answer)
    if answer.answer is not None and answer.citations:
        cards = citation_cards(answer.citations)
        refs = "".join(f'<sup class="qa-ref">[{c.number}]</sup>' for c in cards)
        verdict = _shown_answer(answer.answer, answer.answer_type, refs)
        meta = f'<div class="qa-meta">{_confidence(answer.confidence, answer.band)} · {count_noun(len(cards), "article")}</div>'
        return (f'<div class="qa-verdict qa-answered">{verdict}{meta}{alternatives_block(answer)}{_undated(answer)}</div>'
                + "".join(article_card(c) for c in cards))
    if answer.candidate is not None:
        possible = answer.candidate
        (card,) = citation_cards([possible.citation])
        verdict = (
            f'<div class="qa-verdict qa-possible"><p class="qa-possible-label">'
            f'<span class="qa-icon" aria-hidden="true">?</span>{POSSIBLE_ANSWER}</p>'
            f'{_shown_answer(possible.text, possible.answer_type, "<sup class=qa-ref>[1]</sup>", "qa-possible-text")}'
            f'<div class="qa-meta">{escape(below_threshold(possible.confidence, threshold))}</div>{_undated(answer)}</div>'
        )
        return verdict + article_card(card)
    cards = passage_cards(answer.passages[:CLOSEST_SHOWN])
    scope = f" {escape(dates)}" if dates else ""
    verdict = (
        f'<div class="qa-verdict qa-abstain"><p class="qa-answer"><strong>{NO_ANSWER}</strong></p>'
        f'<div class="qa-meta">No passage{scope} answers this confidently enough '
        f'(best candidate {answer.confidence:.2f}, threshold {threshold:.2f}).</div>{_undated(answer)}</div>'
    )
    if not cards:
        return verdict + f'<p class="qa-meta">No passage{scope} matched the question at all.</p>'
    return (
        verdict + f'<details class="qa-closest"><summary>{CLOSEST_HEADING} ({count_noun(len(cards), "article")})'
        f'</summary>{"".join(article_card(c) for c in cards)}</details>'
    )


def field_reply(answer: Answer) -> str:
    """The reply to a question about the article itself: the field's value with where it comes
    from, or that the article lacks the field; then the article's card (its first passage)."""
    field = answer.article_field or ""
    (card,) = citation_cards(answer.citations[:1])
    if answer.answer is None:
        verdict = (f'<div class="qa-verdict qa-answered qa-field"><p class="qa-answer"><strong>{escape(FIELD_MISSING[field])}'
                   f'</strong><sup class="qa-ref">[1]</sup></p>{_undated(answer)}</div>')
    else:
        verdict = (f'<div class="qa-verdict qa-answered qa-field"><p class="qa-answer"><strong>{escape(answer.answer)}</strong>'
                   f'<sup class="qa-ref">[1]</sup></p><div class="qa-meta">{escape(field_origin(field))}</div>'
                   f'{_undated(answer)}</div>')
    return verdict + article_card(card)


def format_passages(passages: Sequence[Passage], heading: str = "") -> str:
    """Ranked passages, one card each, with the retriever's score (the Search tab and the
    "Passages read" panel; never the chat)."""
    if not passages:
        return f"<div>{escape(heading)}</div><p class='qa-meta'>No passages.</p>" if heading else "<p>No passages.</p>"
    head = f'<p class="qa-meta">{escape(heading)}</p>' if heading else ""
    rows = []
    for rank, p in enumerate(passages, start=1):
        (card,) = passage_cards([p])
        rows.append(
            f'<div class="qa-rank qa-meta">#{rank} <span class="qa-score" '
            f'title="retrieval score: comparable only within one retriever">score {p.score:.4f}</span></div>'
            + article_card(replace(card, number=rank))
        )
    return head + "".join(rows)


def shown_question(question: str) -> str:
    """The question as the chat echoes it: whitespace collapsed, a long one cut with its length."""
    q = " ".join(str(question).split())
    if not q:
        return "<em>(empty question)</em>"
    if len(q) > SHOWN_QUESTION_CHARS:
        return f"<p>{escape(q[:SHOWN_QUESTION_CHARS])} … <em>({len(q):,} characters)</em></p>"
    return f"<p>{escape(q)}</p>"


def message(text: str) -> str:
    """A plain reply (a hint or an error) as one escaped paragraph."""
    return f"<p>{escape(text)}</p>"


def index_holds(n_documents: int, n_chunks: int) -> str:
    """"3 articles, 12 passages": what an index holds, in the app's words."""
    return f"{count_noun(n_documents, 'article')}, {count_noun(n_chunks, 'passage')}"


def upload_lines(report: IngestReport) -> list[str]:
    """The reply to an upload that was ingested: the files skipped, the articles added, updated
    and unchanged, and what the index now holds."""
    lines = [skipped.message() for skipped in report.skipped]
    for label, ids in (("added", report.added), ("updated", report.updated), ("unchanged", report.unchanged)):
        if ids:
            lines.append(f"{label.capitalize()}: {', '.join(ids)}.")
    if not (report.added or report.updated):
        lines.append("Nothing new was added; the index is unchanged.")
    lines.append(f"The index holds {index_holds(report.total_documents, report.total_chunks)}; new questions see them.")
    return lines


def removal_question(chosen: Sequence[tuple[str, str]]) -> str:
    """The question asked before removing the chosen (doc_id, headline) articles: each whole headline."""
    items = "".join(f"<li>{escape(title or doc_id)} <span class='qa-meta'>({escape(doc_id)})</span></li>"
                    for doc_id, title in chosen)
    return (f"<p><strong>Remove {count_noun(len(chosen), 'article')} from the index?</strong></p>"
            f"<ul class='qa-remove-list'>{items}</ul>")


def removed_line(report: IngestReport) -> str:
    """The reply to a removal: the ids taken out and how many articles are left."""
    return f"Removed: {', '.join(report.removed)}. The index holds {count_noun(report.total_documents, 'article')}."


def article_rows(stories: Sequence[Sequence[DocRecord]]) -> tuple[list[list[str | int]], list[tuple[str, str]]]:
    """The Articles table (doc_id, headline, date, URL, passages), one story after another, a copy's
    headline marked "=" (the same story as the row above); and the (label, doc_id) choices of
    articles to remove: the whole headline (a very long one cut at a word, "…") and the id."""
    rows: list[list[str | int]] = []
    choices: list[tuple[str, str]] = []
    for copies in stories:
        for n, r in enumerate(copies):
            title = r.article.title or r.doc_id
            rows.append([r.doc_id, f"= {title}" if n else title, r.article.date or "", r.article.url or "", r.n_chunks])
            choices.append((f"{shorten_headline(title, REMOVE_LABEL_CHARS)} ({r.doc_id})", r.doc_id))
    return rows, choices
