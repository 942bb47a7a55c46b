"""Reading and cleaning: boilerplate out, body in order, metadata lifted, bad files named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import BadInputError
from qa.ingest import clean_article, read_file
from tests.conftest import CORPUS

BOILERPLATE = [
    "Leave a Reply",
    "Your email address will not be published",
    "Required fields are marked",
    "Sign Up for Our Newsletters",
    "Get notified of the latest updates",
    "You May Also Like",
    "Kalashnikov",  # a "You May Also Like" teaser
    "Chess Olympiad",
    "Similar Readings",
    "NATO chief vows to keep supporting Ukraine",  # a "Similar Readings" item
    "Summary",
    "Statistics",
    "Read Count",
    "Words1",
    "Last Read",
    "Category ID",
    "76dd88a1",
]


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


@pytest.mark.parametrize("name", ["nhk-stoltenberg-visits-armenia.txt", "massispost-armenia-nato-agenda.txt"])
def test_bundled_articles_lose_boilerplate_and_repeats(name):
    [(source, article)] = read_file(CORPUS / name, Config())
    for phrase in BOILERPLATE:
        assert phrase not in article.text, phrase
    paragraphs = _paragraphs(article.text)
    assert len(paragraphs) == len(set(paragraphs))
    # No sentence appears twice either (the NHK page repeats its whole body).
    sentences = re.findall(r"[^.!?]+[.!?]", article.text)
    assert len(sentences) == len(set(s.strip() for s in sentences))


def test_nhk_metadata_is_lifted_and_body_kept():
    [(_, article)] = read_file(CORPUS / "nhk-stoltenberg-visits-armenia.txt", Config())
    assert article.meta["url"] == "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/"
    assert article.meta["date"] == "March 20, 2024"
    assert article.meta["id"] == "76dd88a1-3c5d-4c87-b4f3-0dad4e2272fa"
    assert article.meta["category"] == "nhk"
    assert article.title.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia")
    assert article.text.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia")
    assert "Stoltenberg is said to be the first NATO secretary general to visit Armenia." in article.text
    assert article.text.endswith("will not enhance stability.")
    assert "URL:" not in article.text and "Date:" not in article.text


def test_massispost_body_is_complete():
    [(_, article)] = read_file(CORPUS / "massispost-armenia-nato-agenda.txt", Config())
    assert article.text.startswith("BUENOS AIRES — Joining NATO is not on Armenia’s agenda")
    assert "After Armenia joined the Partnership for Peace program in 1994" in article.text
    assert article.text.endswith("there are good partners in the West,” he said.")
    assert len(_paragraphs(article.text)) == 8


def test_crafted_page_with_comment_form_related_list_and_repeat():
    raw = "\n".join(
        [
            "Title: Harbour reopens after storm",
            "The harbour in Portland reopened on Monday after a week of repairs.",
            "Advertisement",
            "Officials said 42 boats were damaged.",
            "The harbour in Portland reopened on Monday after a week of repairs.",
            "Share this article",
            "Related Articles",
            "Storm hits coast",
            "Ferries cancelled again",
            "URL: https://example.com/harbour",
            "Date: 2024-05-06",
        ]
    )
    article = clean_article(raw)
    assert article.text == (
        "The harbour in Portland reopened on Monday after a week of repairs.\n\nOfficials said 42 boats were damaged."
    )
    assert article.title == "Harbour reopens after storm"
    assert article.meta == {"title": "Harbour reopens after storm", "url": "https://example.com/harbour", "date": "2024-05-06"}


def test_html_page_body_extracted_with_trafilatura(tmp_path):
    body = " ".join(["The city council of Springfield approved a new budget of 12 million dollars on Friday."] * 1)
    html = f"""<html><head><title>Council approves budget</title></head><body>
    <nav><a href="/">Home</a> | <a href="/news">News</a></nav>
    <article><h1>Council approves budget</h1><p>{body}</p>
    <p>The mayor, Ana Lopez, said the money would go to schools and roads over the next two years.</p></article>
    <aside><h3>You May Also Like</h3><ul><li>Mayor visits school</li></ul></aside>
    <div class="comments"><h3>Leave a Reply</h3><p>Your email address will not be published.</p></div>
    <footer>Copyright © 2024 Springfield News. All rights reserved.</footer></body></html>"""
    path = tmp_path / "council.html"
    path.write_text(html, encoding="utf-8")
    [(_, article)] = read_file(path, Config())
    assert "approved a new budget of 12 million dollars" in article.text
    assert "Ana Lopez" in article.text
    for junk in ("Home", "Mayor visits school", "Leave a Reply", "All rights reserved"):
        assert junk not in article.text
    assert article.title == "Council approves budget"


def test_markdown_and_json_records(tmp_path):
    md = tmp_path / "note.md"
    md.write_text("# Bridge opens\n\nThe [new bridge](https://x.org) opened on **Sunday**.\n", encoding="utf-8")
    [(_, article)] = read_file(md, Config())
    assert article.title == "Bridge opens"
    assert "The new bridge opened" in article.text and "https://x.org" not in article.text

    records = [
        {"title": "A", "text": "Alpha happened in Oslo.", "url": "https://a.example", "date": "2024-01-01"},
        {"title": "B", "text": "Beta happened in Rome."},
    ]
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    items = read_file(jsonl, Config())
    assert [a.title for _, a in items] == ["A", "B"]
    assert items[0][1].meta["url"] == "https://a.example" and items[0][0].endswith("#1")
    as_json = tmp_path / "news.json"
    as_json.write_text(json.dumps(records), encoding="utf-8")
    assert [a.text for _, a in read_file(as_json, Config())] == ["Alpha happened in Oslo.", "Beta happened in Rome."]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\n ", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("bad.jsonl", b'{"title": "ok", "text": "fine"}\n{"title": broken\n', "line 2"),
        ("bad.json", b'[{"title": "x", "text": ', "malformed JSON"),
        ("notext.json", b'[{"title": "x"}]', "'text'"),
        ("doc.pdf", b"%PDF-1.4", "unsupported file type"),
        ("empty.html", b"<html><body><nav>Home</nav></body></html>", "no article body"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(BadInputError) as err:
        read_file(path, Config())
    message = str(err.value)
    assert str(path) in message and reason in message and "\n" not in message


def test_latin1_and_cp1252_are_decoded(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("The café owner said “naïve” things about the 5€ coffee.".encode("cp1252"))
    [(_, article)] = read_file(path, Config())
    assert article.text == "The café owner said “naïve” things about the 5€ coffee."


def test_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("A sentence about the news. " * 100, encoding="utf-8")
    with pytest.raises(BadInputError, match="limit"):
        read_file(path, Config().with_(max_file_bytes=1000))
