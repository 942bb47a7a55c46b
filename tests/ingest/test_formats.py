"""File formats: per-record JSON and JSON Lines, encodings, control characters, HTML and Markdown
headlines. A bad record is one skip with its `file:line` / `file#N`; the rest of the file goes in."""

from __future__ import annotations

import json

import pytest

from qa.config import Config
from qa.documents import SkippedFile
from qa.ingest.formats import RawArticle, read_records, repair_surrogates


def records(path, config=None):
    items = list(read_records(path, config or Config()))
    return [i for i in items if isinstance(i, RawArticle)], [i for i in items if isinstance(i, SkippedFile)]


GOOD = {"title": "Rail strike", "text": "Rail workers in Leeds walked out on Tuesday over pay."}


def test_jsonl_bad_and_empty_records_are_skipped_with_their_line(tmp_path):
    path = tmp_path / "wires.jsonl"
    lines = [
        json.dumps(GOOD),
        "",  # a blank line is not a record
        "{}",
        json.dumps({"title": "No body", "text": "   "}),
        '{"title": "broken", "text": ',
        "[1, 2]",
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"headline": "Dam", "content": "A new dam on the Tagus will supply water.", "link": "https://x.pt/dam"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    good, skipped = records(path)
    assert [(g.number, g.record, g.fields.get("title")) for g in good] == [(1, ":1", "Rail strike"), (7, ":8", "Dam")]
    assert good[1].fields["url"] == "https://x.pt/dam" and good[1].source == f"{path}#7"
    assert [(s.path, s.record) for s in skipped] == [(str(path), f":{n}") for n in (3, 4, 5, 6, 7)]
    reasons = [s.reason for s in skipped]
    assert "no text" in reasons[0] and "no text" in reasons[1]
    assert "malformed JSON" in reasons[2] and "got a list" in reasons[3] and "nested too deeply" in reasons[4]
    assert skipped[0].message().startswith(f'Skipped "{path}:3": the record has no text')


def test_json_array_bad_records_are_skipped_with_their_number(tmp_path):
    path = tmp_path / "news.json"
    items = [GOOD, {"title": "empty"}, "a string", {**GOOD, "title": "Again", "text": "Second good article text."}]
    path.write_text(json.dumps(items, indent=1), encoding="utf-8")
    good, skipped = records(path)
    assert [g.number for g in good] == [1, 4] and [g.record for g in good] == ["#1", "#4"]
    assert [(s.record, "no text" in s.reason or "got a string" in s.reason) for s in skipped] == [("#2", True), ("#3", True)]


def test_deeply_nested_json_is_one_skipped_file_not_a_crash(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    good, skipped = records(path)
    assert good == [] and len(skipped) == 1
    assert skipped[0].path == str(path) and "nested too deeply" in skipped[0].reason
    obj = tmp_path / "deep-object.json"
    obj.write_text('{"a":' * 50_000 + "1" + "}" * 50_000, encoding="utf-8")
    assert "nested too deeply" in records(obj)[1][0].reason


def test_json_array_that_breaks_half_way_keeps_the_records_before(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text("[" + json.dumps(GOOD) + ", " + json.dumps(GOOD)[:30], encoding="utf-8")
    good, [skip] = records(path)
    assert len(good) == 1 and skip.record == "#2"
    assert "malformed JSON" in skip.reason and "the 1 records before it were read" in skip.reason


def test_json_lines_file_streams_and_the_size_limit_is_per_line(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for n in range(300):
            f.write(json.dumps({"title": f"Story {n}", "text": f"Story number {n} happened in Oslo today."}) + "\n")
        f.write(json.dumps({"title": "huge", "text": "word " * 400}) + "\n")
    good, skipped = records(path, Config().with_(max_file_bytes=1000))
    assert len(good) == 300 and [s.record for s in skipped] == [":301"] and "limit" in skipped[0].reason


def test_body_as_a_list_of_paragraphs(tmp_path):
    path = tmp_path / "paragraphs.json"
    path.write_text(json.dumps([{"title": "Dam", "body": ["A dam opened.", "Farms get water."]}]), encoding="utf-8")
    [article], _ = records(path)
    assert article.text == "A dam opened.\n\nFarms get water."


def test_single_json_object_and_empty_array(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps(GOOD), encoding="utf-8")
    assert [g.fields["title"] for g in records(one)[0]] == ["Rail strike"]
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    assert "no records" in records(empty)[1][0].reason


TEXT = "The harbour authority in Gdansk approved a new container terminal on Monday evening."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "utf-8-sig"])
def test_unicode_text_with_a_byte_order_mark_is_decoded(tmp_path, encoding):
    path = tmp_path / "bom.txt"
    data = TEXT.encode(encoding)
    if not encoding.endswith("sig") and encoding not in ("utf-16", "utf-32"):
        data = "\ufeff".encode(encoding) + data
    path.write_bytes(data)
    [article], skipped = records(path)
    assert skipped == [] and article.text == TEXT


def test_utf16_json_lines(tmp_path):
    path = tmp_path / "wires.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n").encode("utf-16"))
    good, skipped = records(path)
    assert len(good) == 2 and not skipped and good[0].text == GOOD["text"]


def test_nul_and_control_characters_after_the_first_8kb_are_stripped(tmp_path):
    path = tmp_path / "late-nul.txt"
    path.write_bytes(b"The council met on Monday. " * 400 + b"Late\x00 NUL\x01 here\x1b.")
    [article], _ = records(path)
    assert "\x00" not in article.text and "\x01" not in article.text and "Late NUL here." in article.text
    jsonl = tmp_path / "escaped.jsonl"
    jsonl.write_text(json.dumps({"title": "A\u0000B", "text": "Nul\u0000 inside\u0007 a record."}) + "\n", encoding="utf-8")
    [record], _ = records(jsonl)
    assert "\x00" in record.text  # the cleaner strips it; see test_ingest


def test_lone_surrogates_are_repaired():
    assert repair_surrogates("caf\udce9") == "café"
    assert repair_surrogates("plain") == "plain"
    assert "\ud800" not in repair_surrogates("x\ud800y")


# ---------------------------------------------------------------- headlines from the format


BODY = (
    "<p>The old iron bridge over the Douro river in Porto reopened to walkers on Saturday after two years of "
    "repairs.</p><p>Engineers replaced more than four hundred rivets and repainted the whole span.</p>"
)


@pytest.mark.parametrize(
    "head, article_head",
    [
        ('<title>Bridge | Porto News</title><meta property="og:title" content="Bridge reopens in Porto">', ""),
        ("<title>Bridge reopens in Porto - Porto News</title>", ""),
        ("", "<h1>Bridge reopens in Porto</h1>"),
    ],
    ids=["og:title", "title", "h1"],
)
def test_html_headline_from_og_title_title_or_h1(tmp_path, head, article_head):
    path = tmp_path / "bridge.html"
    path.write_text(f"<html><head>{head}</head><body><article>{article_head}{BODY}</article></body></html>",
                    encoding="utf-8")
    [article], _ = records(path)
    assert article.fields["title"] == "Bridge reopens in Porto"


def test_html_publisher_from_og_site_name(tmp_path):
    path = tmp_path / "nhk.html"
    path.write_text(
        '<html><head><meta property="og:site_name" content="NHK WORLD-JAPAN">'
        '<meta property="og:title" content="NATO chief visits Armenia"></head>'
        f"<body><article>{BODY}</article></body></html>", encoding="utf-8")
    [article], _ = records(path)
    assert article.fields["publisher"] == "NHK WORLD-JAPAN"


def test_markdown_heading_is_the_title(tmp_path):
    path = tmp_path / "note.md"
    path.write_text("Some intro line\n\n# Bridge opens\n\nThe [new bridge](https://x.org) opened on **Sunday**.\n",
                    encoding="utf-8")
    [article], _ = records(path)
    assert article.fields["title"] == "Bridge opens"
    assert "The new bridge opened on Sunday." in article.text and "#" not in article.text
    setext = tmp_path / "setext.md"
    setext.write_text("Bridge opens\n============\n\nThe bridge opened on Sunday.\n", encoding="utf-8")
    [article], _ = records(setext)
    assert article.fields["title"] == "Bridge opens" and "===" not in article.text


def test_json_lines_are_streamed_not_read_whole(tmp_path):
    import tracemalloc

    path = tmp_path / "archive.jsonl"
    line = json.dumps({"title": "Story", "text": "The council met on Monday to discuss the harbour. " * 40}) + "\n"
    path.write_text(line * 2000, encoding="utf-8")  # about 4 MB
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for item in read_records(path, Config()) if isinstance(item, RawArticle))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 2000
    assert peak < size / 10, f"peak {peak:,} bytes while reading a {size:,}-byte file"


RIVERSIDE = """<!doctype html><html><head><title>Riverside library reopens after flood repairs | Valley News</title>
<meta property="og:title" content="Riverside library reopens after flood repairs"></head>
<body><nav>Home News Sport</nav>
<article><h1>Riverside library reopens after flood repairs</h1>
<p class="byline">By Ana Ruiz, March 3, 2024</p>
<p>The Riverside public library reopened on Monday after four months of repairs to its flooded basement.</p>
<p>The librarian Tomas Berg said the children's section had been moved to the first floor.</p>
</article><footer>Copyright Valley News</footer></body></html>"""


def test_html_headline_stays_out_of_the_first_sentence(tmp_path):
    """A short page: trafilatura falls back to the <article>'s text on one line, headline and
    byline first; the headline is the title, and each block is its own paragraph again."""
    from qa.ingest.read import read_documents
    from qa.sentences import split_sentences

    path = tmp_path / "riverside.html"
    path.write_text(RIVERSIDE, encoding="utf-8")
    [doc], skipped = read_documents([path], Config())
    assert not skipped and doc.article.title == "Riverside library reopens after flood repairs"
    assert doc.text.split("\n\n") == [
        "Riverside library reopens after flood repairs",
        "By Ana Ruiz, March 3, 2024",
        "The Riverside public library reopened on Monday after four months of repairs to its flooded basement.",
        "The librarian Tomas Berg said the children's section had been moved to the first floor.",
    ]
    assert [doc.text[s:e] for s, e in split_sentences(doc.text)][:3] == doc.text.split("\n\n")[:3]
