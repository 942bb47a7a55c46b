"""Properties of cleaning and chunking that must hold for any input text.

1. For any text, the cleaner and the chunker keep offsets exact: every chunk is the slice of the
   cleaned text its offsets name, chunks cover every non-space character of the cleaned text, and
   chunk starts strictly increase.
2. For a generated article (body paragraphs of ordinary sentences with boilerplate blocks, metadata
   lines and repeated paragraphs mixed in), cleaning keeps every distinct body paragraph, in order,
   and nothing else.
3. The same article on one line keeps every body sentence: with its paragraphs separated by runs of
   spaces (the CNN/NewsQA dump layout) it cleans exactly as the multi-line page does; separated by
   a single space or by nothing at all, no body sentence is lost (boilerplate may stay).
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.config import Config
from qa.ingest.chunk import chunk_document
from qa.ingest.clean import clean_article, normalise_for_dedup
from qa.ingest.read import make_document

# A small budget makes the chunker take every path (packing, overlap, splitting over-long
# sentences on word pieces) on texts of a few hundred characters.
SMALL = Config().with_(chunk_tokens=24, chunk_overlap_tokens=8)
SETTINGS = dict(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _warm_models():
    """Load the tokenizer and sentence splitter once, outside the timed examples."""
    from qa.model.base import load_wordpiece_tokenizer
    from qa.sentences import split_sentences

    load_wordpiece_tokenizer()
    split_sentences("Warm up. The sentence splitter.")


def check_chunks(text: str, config: Config) -> None:
    """Clean `text`, chunk it, and check the offset invariants."""
    article = clean_article(text)
    doc = make_document("doc", "mem://doc", article)
    chunks = chunk_document(doc, config)
    covered = bytearray(len(doc.text))
    for n, c in enumerate(chunks):
        assert c.doc_id == "doc" and c.chunk_id == f"doc#{n}"
        assert 0 <= c.start < c.end <= len(doc.text)
        assert doc.text[c.start : c.end] == c.text
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    lost = [(i, ch) for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters of the cleaned text in no chunk: {lost[:10]}"
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts)), "chunk starts must strictly increase"
    if doc.text.strip():
        assert chunks, "a non-blank document must give at least one chunk"


# ------------------------------------------------------------------ 1. any text

# Words and separators from several scripts, punctuation that ends sentences or not, odd spaces,
# control and format characters, and line breaks of every kind.
_PIECES = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12),
    st.sampled_from(
        [
            " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u2028", "\u3000", "\x0b", "\x0c",
            ".", ". ", "? ", "! ", "...", ",", ";", ":", "—", "“", "”", "'", "\"", "(", ")", "-",
            "Mr.", "U.S.", "e.g.", "café", "naïve", "Ереван", "Հայաստան", "東京都", "。", "😀", "\u200b",
            "\x01", "\x08", "\ufeff", "\ufffd", "\u0301", "ﬁ", "URL: https://example.com/a", "Leave a Reply", "Advertisement",
        ]
    ),
    st.text(min_size=1, max_size=6),  # anything at all, surrogates excluded by hypothesis
)
ANY_TEXT = st.lists(_PIECES, max_size=120).map("".join)


@settings(**SETTINGS)
@given(text=ANY_TEXT)
@example(text="...0:0:\x080BP02A02A02A02A02A")  # a dropped control character at a word-piece split
@example(text="Caf\ufffd " + "word " * 40 + "\ufffd end.")  # U+FFFD from a lossy decode
def test_any_text_chunks_have_exact_offsets_and_cover_the_cleaned_text(text):
    check_chunks(text, SMALL)


@settings(**SETTINGS)
@given(text=ANY_TEXT)
def test_any_text_with_default_chunk_settings(text):
    check_chunks(text, Config())


# ------------------------------------------------------------------ 2. generated articles

WORDS = (
    "the council river market farmers said new bridge opened city on a of minister talks with in and "
    "report after week rain school budget workers vote plan museum harbour train mayor station north "
    "south village election court judge police ferry festival hospital doctors teachers price bread "
    "winter summer storm road tunnel factory engineers union strike government agreement border"
).split()

_word = st.sampled_from(WORDS)


@st.composite
def sentences(draw) -> str:
    words = draw(st.lists(_word, min_size=4, max_size=18))
    end = draw(st.sampled_from([".", ".", ".", "?", "!"]))
    return words[0].capitalize() + " " + " ".join(words[1:]) + end


# A paragraph is one line of 1-4 sentences; an occasional long run-on sentence exercises the
# word-piece splitter.
paragraphs = st.lists(sentences(), min_size=1, max_size=4).map(" ".join)

INLINE_BOILERPLATE = [
    "Advertisement",
    "Share",
    "Tweet",
    "Read more",
    "Subscribe now",
    "Sign up for our newsletter to get the news in your inbox.",
    "Copyright © 2024 Example News. All rights reserved.",
    "Skip to content",
    "267",
    "(5 comments)",
]
META_LINES = [
    "URL: https://news.example.com/2024/03/20/story",
    "Date: March 20, 2024",
    "ID: 76dd88a1-3c5d-4c87-b4f3-0dad4e2272fa",
    "Category: world",
    "Author: Jane Doe",
    "Last Read: 2024/03/20 21:47",
]
TAIL_BLOCKS = [
    ["You May Also Like", "Mayor visits the new school in the north", "Storm closes the harbour road"],
    [
        "Leave a Reply",
        "Your email address will not be published. Required fields are marked *",
        "Comment *",
        "Name *",
        "Email *",
        "Website",
        "Save my name, email, and website in this browser for the next time I comment.",
        "Post Comment",
    ],
    ["Similar Readings (5 items)", "Union strike ends after the vote", "Festival returns to the village"],
    ["Related Articles", "Court rules on the border agreement"],
    ["Statistics", "267", "Words1", "Read Count"],
]


@st.composite
def articles(draw):
    """(raw page, body paragraphs as they must come out, first URL) for a generated page."""
    # Distinct sentences: a repeated long sentence is dropped as a repeated page block.
    sentence_lists = draw(st.lists(st.lists(sentences(), min_size=1, max_size=4), min_size=1, max_size=8))
    seen: set[str] = set()
    bodies = []
    for group in sentence_lists:
        fresh = []
        for sentence in group:
            if normalise_for_dedup(sentence) not in seen:
                seen.add(normalise_for_dedup(sentence))
                fresh.append(sentence)
        if fresh:
            bodies.append(" ".join(fresh))
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(META_LINES)))
    for n, body in enumerate(bodies):
        lines.append(body)
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["boilerplate", "meta", "repeat", "repeat-variant"]))
            if kind == "boilerplate":
                lines.append(draw(st.sampled_from(INLINE_BOILERPLATE)))
            elif kind == "meta":
                lines.append(draw(st.sampled_from(META_LINES)))
            elif kind == "repeat":
                lines.append(bodies[draw(st.integers(0, n))])
            else:  # the same paragraph with other case and punctuation is still a repeat
                lines.append(bodies[draw(st.integers(0, n))].upper().replace(".", " ."))
    if draw(st.booleans()):
        lines.extend(draw(st.sampled_from(TAIL_BLOCKS)))
        if draw(st.booleans()):
            lines.extend(META_LINES)  # scrapers append metadata after the tail sections too
    separator = draw(st.sampled_from(["\n", "\n\n", "\r\n", "\n \n", "\n\t\n\n"]))
    indent = draw(st.sampled_from(["", " ", "  ", "\t"]))
    raw = separator.join(indent + line + draw(st.sampled_from(["", " ", "\t"])) for line in lines)
    url = next((line.split(": ", 1)[1] for line in lines if line.startswith("URL: ")), None)
    return raw, bodies, url, lines


@settings(**SETTINGS)
@given(article=articles())
def test_cleaning_keeps_every_body_paragraph_in_order_and_drops_the_rest(article):
    raw, bodies, url, _ = article
    cleaned = clean_article(raw)
    assert cleaned.text.split("\n\n") == bodies
    for body in bodies:
        assert body in cleaned.text
    assert cleaned.meta.get("url") == url
    for line in ("You May Also Like", "Leave a Reply", "URL:", "Advertisement", "All rights reserved", "Read Count"):
        assert line not in cleaned.text
    assert cleaned.title and bodies[0].startswith(cleaned.title.rstrip("…"))


@settings(**SETTINGS)
@given(article=articles())
def test_generated_articles_chunk_with_exact_offsets(article):
    raw, *_ = article
    check_chunks(raw, SMALL)


@settings(**SETTINGS)
@given(article=articles(), run=st.sampled_from(["   ", "      ", " \t  ", "\u00a0\u00a0\u00a0"]))
def test_one_line_article_with_space_runs_cleans_like_the_page(article, run):
    raw, bodies, url, lines = article
    one_line = clean_article(run.join(lines))
    assert one_line.text == clean_article(raw).text == "\n\n".join(bodies)
    assert one_line.meta.get("url") == url


def _squeeze(text: str) -> str:
    return " ".join(text.split())


_GLUED_AFTER_FURNITURE = ["The the the the.", "Sign up for our newsletter to get the news in your inbox.", "267",
                          "The the the the the.", "(5 comments)", "The the council."]


@settings(**SETTINGS)
@given(article=articles(), glue=st.sampled_from([" ", ""]))
@example(article=("", ["The the the the.", "The the the the the.", "The the council."], None, _GLUED_AFTER_FURNITURE),
         glue="")
def test_one_line_article_without_paragraph_breaks_keeps_every_body_sentence(article, glue):
    _, bodies, _, lines = article
    cleaned = _squeeze(clean_article(glue.join(lines)).text)
    position = 0
    for body in bodies:
        for sentence in _sentences_of(body):
            found = cleaned.find(sentence, position)
            assert found >= 0, (sentence, cleaned)
            position = found + len(sentence)
    check_chunks(glue.join(lines), SMALL)


def _sentences_of(paragraph: str) -> list[str]:
    import re

    return [s for s in re.findall(r"[^.?!]+[.?!]", paragraph)]


@settings(max_examples=20, deadline=None)
@given(words=st.lists(_word, min_size=30, max_size=80), glue=st.sampled_from([" ", "  ", "\u00a0", " \ufffd "]))
def test_overlong_run_on_sentence_is_covered_by_word_piece_splits(words, glue):
    """A sentence longer than the chunk budget is split on word pieces without losing characters,
    including characters the tokenizer drops (a U+FFFD left by a lossy decode, a control character)."""
    check_chunks(glue.join(words), SMALL)  # 30+ words: always over the 24-word-piece budget
