"""Cleaning on any layout: boilerplate drops only itself, one-line articles are split into
paragraphs, and every article gets a real headline and a publisher."""

from __future__ import annotations

import pytest

from qa.ingest.clean import clean_article, cut_headline, headline, publisher_from_url, strip_controls, title_from_url

RUN = "     "  # paragraphs separated by a run of spaces, as in the CNN/NewsQA dump

CNN_PARAGRAPHS = [
    "(CNN) -- Actress Jennifer Lopez and singer Marc Anthony are ending their marriage, the couple told People "
    "magazine on Friday.",
    '"This was a very difficult decision," the couple said in a statement. "We have come to an amicable '
    'conclusion on all matters."',
    "The couple married in 2004 and have three-year-old twins, Max and Emme.",
    "Lopez and Anthony recently appeared together as judges on the television show American Idol.",
]


def test_copyright_notice_at_the_end_of_a_one_line_article_drops_only_itself():
    raw = RUN.join(CNN_PARAGRAPHS) + " © 2011 People and Time Inc. All rights reserved."
    article = clean_article(raw)
    assert article.text == "\n\n".join(CNN_PARAGRAPHS)


@pytest.mark.parametrize(
    "furniture",
    [
        "© 2011 People and Time Inc. All rights reserved.",
        "See the full article at PEOPLE.com.",
        "Sign up for our newsletter to get the latest news in your inbox.",
        "Copyright 2011 CNN. All rights reserved. This material may not be published, broadcast, rewritten, or "
        "redistributed.",
        "Click here to subscribe.",
    ],
)
def test_furniture_sentence_inside_a_long_line_drops_only_itself(furniture):
    first, second = CNN_PARAGRAPHS[2], CNN_PARAGRAPHS[3]
    article = clean_article(f"{first} {furniture} {second}")
    assert article.text == f"{first} {second}"


def test_a_news_sentence_that_mentions_a_privacy_policy_is_kept():
    sentence = (
        "The regulator said on Tuesday that the company had changed its privacy policy without telling the "
        "millions of people who use its messaging service every day."
    )
    assert clean_article(sentence).text == sentence


def test_one_line_article_without_breaks_is_split_into_paragraphs_at_sentences():
    sentences = [
        f"Sentence {n} of the report says that the council in Springfield voted on the new budget for the "
        f"harbour, the schools and the roads."
        for n in range(30)
    ]
    raw = " ".join(sentences)
    article = clean_article(raw)
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) > 3
    assert " ".join(paragraphs) == raw  # nothing lost, nothing added, split only between sentences
    assert all(p.endswith("roads.") for p in paragraphs)
    assert all(len(p) < 1000 for p in paragraphs)


def test_glued_sentences_and_metadata_inside_one_line():
    raw = "URL: https://example.com/harbour-reopens-after-storm" + RUN + "Date: May 6, 2024" + RUN + (
        "The harbour reopened on Monday.Advertisement" + RUN + "Officials said 42 boats were damaged."
    )
    article = clean_article(raw)
    assert article.meta["url"] == "https://example.com/harbour-reopens-after-storm"
    assert article.meta["date"] == "May 6, 2024"
    assert article.text == "The harbour reopened on Monday.\n\nOfficials said 42 boats were damaged."


def test_metadata_key_glued_to_body_text_is_not_lifted_with_it():
    raw = "Date: March 20, 2024 The council voted to close the old market on Friday."
    article = clean_article(raw)
    assert "date" not in article.meta
    assert "The council voted to close the old market on Friday." in article.text


def test_repeated_body_on_one_line_is_kept_once():
    body = [
        "Stoltenberg and Pashinyan held a joint news conference in Yerevan on Tuesday.",
        "Pashinyan said his country is keen to expand its partnership with NATO.",
    ]
    article = clean_article(" ".join(["NATO's chief visited Armenia for two days this week."] + body + body))
    assert article.text.count(body[0]) == 1 and article.text.count(body[1]) == 1


def test_hard_wrapped_lines_are_joined_into_their_paragraph():
    raw = (
        "The harbour in Portland reopened on Monday after a week of\n"
        "repairs, the port authority said.\n\n"
        "Officials said 42 boats were damaged.\n"
    )
    assert clean_article(raw).text == (
        "The harbour in Portland reopened on Monday after a week of repairs, the port authority said.\n\n"
        "Officials said 42 boats were damaged."
    )


def test_control_characters_are_stripped_everywhere():
    text = "The mayor\x00 said\x07 the\ufeff budget\x1b was\x85approved." + " More words here." * 1000 + "\x00End."
    cleaned = clean_article(text).text
    assert not any(ord(c) < 32 and c != "\n" for c in cleaned) and "\ufeff" not in cleaned
    assert cleaned.startswith("The mayor said the budget was\napproved.") or cleaned.startswith(
        "The mayor said the budget was")
    assert strip_controls("a\r\nb\rc\u2028d\x00e") == "a\nb\nc\nde"


# ---------------------------------------------------------------- headlines and publishers


def test_headline_is_the_first_line_when_it_reads_like_one():
    article = clean_article("Harbour reopens after storm\n\nThe harbour in Portland reopened on Monday.")
    assert article.title == "Harbour reopens after storm"
    # Not a headline: a sentence, a byline, a date.
    for first in ("The harbour in Portland reopened on Monday.", "By Jane Doe", "March 20, 2024"):
        assert headline([first, "The harbour in Portland reopened on Monday."]) != first


def test_headline_from_the_url_slug_then_from_the_first_sentence():
    body = ["The harbour in Portland reopened on Monday after a week of repairs to the storm-damaged piers and "
            "the ferry terminal, officials said."]
    assert headline(body, "https://news.example.com/2024/05/06/harbour-reopens-after-storm.html") == (
        "Harbour reopens after storm")
    assert title_from_url("https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/") is None
    assert title_from_url("https://example.com/article/12345") is None
    cut = headline(body, "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/")
    assert cut.endswith("…") and len(cut) <= 101 and body[0].startswith(cut.rstrip("…"))
    assert not cut.rstrip("…").endswith((" the", " of", " to", " a"))


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("BUENOS AIRES — Joining NATO is not on Armenia’s agenda, Foreign Minister Ararat Mirzoyan said in an "
         "interview with Argentine TV channel Todo Noticias.", "Joining NATO is not on Armenia’s agenda"),
        ("WASHINGTON (CNN) -- The Senate passed the budget on Friday.", "The Senate passed the budget on Friday"),
        ("(CNN) -- Lopez and Anthony are splitting up.", "Lopez and Anthony are splitting up"),
        ("Short and plain.", "Short and plain"),
    ],
)
def test_first_sentence_headline_drops_the_dateline_and_cuts_at_a_clause(sentence, expected):
    assert cut_headline(sentence) == expected


def test_title_is_stored_whole_however_long():
    long_title = "A very long headline " * 12
    article = clean_article(f"Title: {long_title.strip()}\nThe harbour reopened on Monday.")
    assert article.title == long_title.strip()


@pytest.mark.parametrize(
    "url, publisher",
    [
        ("https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/", "nhk.or.jp"),
        ("https://www.massispost.com/2024/03/x/", "massispost.com"),
        ("http://edition.cnn.com/2011/SHOWBIZ/07/15/jlo.marc.anthony/", "edition.cnn.com"),
        ("not a url", None),
        (None, None),
    ],
)
def test_publisher_from_the_url_host(url, publisher):
    assert publisher_from_url(url) == publisher


def test_publisher_from_a_metadata_line_wins_over_the_host():
    article = clean_article("Publisher: NHK WORLD-JAPAN\nURL: https://www3.nhk.or.jp/news/x/\nNATO's chief visited.")
    assert article.publisher == "NHK WORLD-JAPAN"
    assert clean_article("URL: https://www3.nhk.or.jp/news/x/\nNATO's chief visited.").publisher == "nhk.or.jp"
