"""An answer's sources (qa/sources.py): publisher names, quoted sentence answers, and numbered
cards with merged excerpts, on hand-made Passage / Citation records."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from qa.documents import ArticleMeta, Chunk, Citation, Passage
from qa.sources import ArticleCard, Excerpt, citation_cards, passage_cards, publisher_name, quoted

# "Stoltenberg visited Yerevan." is [0, 28), " He met Pashinyan." [28, 46), " They discussed NATO." [46, 67).
NHK = "Stoltenberg visited Yerevan. He met Pashinyan. They discussed NATO."
MASSIS = "Armenia will stay in the CSTO, the minister said."


def passage(doc_id: str, text: str, start: int, end: int, chunk_no: int, copies=(), **meta) -> Passage:
    chunk = Chunk(f"{doc_id}:{chunk_no}", doc_id, start, end, text[start:end])
    return Passage(chunk=chunk, article=ArticleMeta(doc_id, meta.pop("title", doc_id.upper()), **meta), score=1.0,
                   copies=copies)


def cite(p: Passage, words: str, nth: int = 0) -> Citation:
    """A citation of `words` in `p` (its `nth` place), checked against the passage text."""
    start = -1
    for _ in range(nth + 1):
        start = p.text.index(words, start + 1)
    return Citation(p, start, start + len(words))


# publisher_name


@pytest.mark.parametrize(
    ("publisher", "url", "expected"),
    [
        (" Reuters ", "https://www.nhk.or.jp/a", "Reuters"),  # the named publisher wins, trimmed
        (None, "https://www.nhk.or.jp/news/1", "nhk.or.jp"),  # else the host without "www."
        ("  ", "http://WWW.Example.COM:8080/p?q=1", "example.com"),  # blank counts as none; host lower-cased
        (None, "https://www3.nhk.or.jp/nhkworld/", "nhk.or.jp"),  # the one host rule: qa.ingest.clean.publisher_from_url
        (None, None, None),
        ("", "", None),
        (None, "not a url", None),
    ],
)
def test_publisher_name(publisher, url, expected):
    assert publisher_name(publisher, url) == expected


# quoted


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Armenia will stay in the CSTO.", "“Armenia will stay in the CSTO.”"),
        ("  Armenia   will\nstay. ", "“Armenia will stay.”"),  # whitespace collapsed
        # A quotation inside: its marks become single quotes, the outer pair is never doubled.
        ("“We cooperate with NATO,” he said.", "“‘We cooperate with NATO,’ he said.”"),
        ('"We cooperate with NATO," he said.', "“‘We cooperate with NATO,’ he said.”"),  # straight quotes alike
        ("He said “we will stay” and left.", "“He said ‘we will stay’ and left.”"),
        ('She called it "historic".', "“She called it ‘historic’.”"),
        ("“We are here,” he said, “to stay.”", "“‘We are here,’ he said, ‘to stay.’”"),
        # A sentence that is itself a quotation loses its own pair.
        ("“Armenia will stay.”", "“Armenia will stay.”"),
        ("“A whole quote”.", "“A whole quote.”"),
        ('"Armenia will stay."', "“Armenia will stay.”"),
        # Opened but not closed: completed; closed but not opened: dropped.
        ("He said “we will stay.", "“He said ‘we will stay.’”"),
        ("It ended” there.", "“It ended there.”"),
    ],
)
def test_quoted(sentence, expected):
    out = quoted(sentence)
    assert out == expected
    assert out.count("“") == 1 and out.count("”") == 1 and out.startswith("“") and out.endswith("”")


# citation_cards / passage_cards


def test_cards_numbered_by_first_citation_one_per_article():
    first = passage("nhk", NHK, 0, 46, 0, url="https://www3.nhk.or.jp/news/1", date="March 20, 2024")
    other = passage("massis", MASSIS, 0, len(MASSIS), 0, publisher="Massis Post")
    later = passage("nhk", NHK, 29, 67, 1)  # overlaps `first`: " He met Pashinyan." is in both
    cards = citation_cards([cite(first, "Yerevan"), cite(other, "CSTO"), cite(later, "NATO")])
    assert [(c.number, c.article.doc_id) for c in cards] == [(1, "nhk"), (2, "massis")]
    nhk, massis = cards
    # The card takes its metadata from the article's first cited passage; the publisher falls back to the host.
    assert nhk.article == ArticleMeta("nhk", "NHK", "https://www3.nhk.or.jp/news/1", "March 20, 2024", "nhk.or.jp")
    assert (massis.article.title, massis.article.publisher) == ("MASSIS", "Massis Post")
    # Overlapping passages [0, 46) and [29, 67) become one excerpt [0, 67); marks in its offsets.
    assert nhk.excerpts == (Excerpt(NHK, 0, ((20, 27), (62, 66))),)
    assert [nhk.excerpts[0].text[a:b] for a, b in nhk.excerpts[0].marks] == ["Yerevan", "NATO"]
    assert massis.excerpts == (Excerpt(MASSIS, 0, ((25, 29),)),) and MASSIS[25:29] == "CSTO"


def test_one_passage_cited_twice_is_one_excerpt_with_joined_marks():
    p = passage("nhk", NHK, 0, 46, 0)
    spans = [cite(p, "visited Yerevan"), cite(p, "Yerevan. He met"), cite(p, "Pashinyan")]
    (card,) = citation_cards(spans)
    # [12, 27) and [20, 35) overlap: joined to [12, 35); [36, 45) stays apart.
    assert card.excerpts == (Excerpt(NHK[:46], 0, ((12, 35), (36, 45))),)
    assert card.excerpts[0].text[12:35] == "visited Yerevan. He met"


def test_separate_passages_stay_apart_in_article_order_and_touching_ones_join():
    late = passage("nhk", NHK, 47, 67, 2)  # "They discussed NATO."
    early = passage("nhk", NHK, 0, 28, 0)  # "Stoltenberg visited Yerevan."
    (card,) = citation_cards([cite(late, "NATO"), cite(early, "Stoltenberg")])
    assert card.excerpts == (Excerpt("Stoltenberg visited Yerevan.", 0, ((0, 11),)), Excerpt("They discussed NATO.", 47, ((15, 19),)))
    middle = passage("nhk", NHK, 28, 47, 1)  # " He met Pashinyan. " touches both
    (card,) = citation_cards([cite(late, "NATO"), cite(early, "Stoltenberg"), cite(middle, "Pashinyan")])
    assert card.excerpts == (Excerpt(NHK, 0, ((0, 11), (36, 45), (62, 66))),)


def test_copies_come_with_the_card():
    copy = ArticleMeta("massis-copy", "Armenia stays", None, "2024-03-21", "Azatutyun")
    p = passage("massis", MASSIS, 0, len(MASSIS), 0, copies=(copy,))
    (card,) = citation_cards([cite(p, "minister")])
    assert card.copies == (copy,)


def test_passage_cards_have_no_marks():
    cards = passage_cards([passage("nhk", NHK, 0, 28, 0), passage("massis", MASSIS, 0, 7, 0), passage("nhk", NHK, 29, 46, 1)])
    assert [(c.number, c.article.doc_id) for c in cards] == [(1, "nhk"), (2, "massis")]
    assert cards[0].excerpts == (Excerpt(NHK[:28], 0), Excerpt("He met Pashinyan.", 29))
    assert cards[1].excerpts == (Excerpt("Armenia", 0),)
    assert citation_cards([]) == [] and passage_cards([]) == []


def test_quoted_straight_quotes_alternate_whatever_precedes_them():
    assert quoted('He said:"We stay." Then he left.') == "“He said:‘We stay.’ Then he left.”"


def test_an_articles_metadata_is_declared_once_and_carried_by_every_record():
    """A document, its catalog row, a passage and a card hold the one `ArticleMeta`, and a story's
    copies are `ArticleMeta`s too: none declares a field of its own for the article's metadata."""
    from typing import get_type_hints

    from qa.documents import Document
    from qa.store.catalog import DocRecord

    names = {f.name for f in fields(ArticleMeta)}
    for record in (Document, DocRecord, Passage, ArticleCard):
        hints = get_type_hints(record)
        assert hints["article"] is ArticleMeta and not names & {f.name for f in fields(record)}, record
    for record in (Passage, ArticleCard):
        assert get_type_hints(record)["copies"] == tuple[ArticleMeta, ...]
    # The card shows its passage's record (the publisher, when missing, taken from the URL's host).
    p = passage("nhk", NHK, 0, 28, 0, title="Stoltenberg visits", url="https://www3.nhk.or.jp/news/1", date="2024-03-20")
    (card,) = citation_cards([cite(p, "Yerevan")])
    assert card.article == replace(p.article, publisher="nhk.or.jp")
