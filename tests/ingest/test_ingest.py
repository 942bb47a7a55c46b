"""Reading and cleaning: boilerplate out, body in order, metadata lifted, bad files named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.config import Config
from qa.documents import Document, SkippedFile
from qa.ingest.clean import clean_article
from qa.ingest.read import read_documents
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


def _documents(path: Path, config: Config | None = None) -> list[Document]:
    """The documents of one file, read by the ingest entry point; nothing of it may be skipped."""
    documents, skipped = read_documents([path], config or Config())
    assert not skipped, [s.message() for s in skipped]
    return documents


def _skipped(path: Path, config: Config | None = None) -> SkippedFile:
    """The one part of a file that the ingest entry point leaves out."""
    _, skipped = read_documents([path], config or Config())
    [left_out] = skipped
    return left_out


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


@pytest.mark.parametrize("name", ["nhk-stoltenberg-visits-armenia.txt", "massispost-armenia-nato-agenda.txt"])
def test_bundled_articles_lose_boilerplate_and_repeats(name):
    [article] = _documents(CORPUS / name)
    for phrase in BOILERPLATE:
        assert phrase not in article.text, phrase
    paragraphs = _paragraphs(article.text)
    assert len(paragraphs) == len(set(paragraphs))
    # No sentence appears twice either (the NHK page repeats its whole body).
    sentences = re.findall(r"[^.!?]+[.!?]", article.text)
    assert len(sentences) == len(set(s.strip() for s in sentences))


def test_nhk_metadata_is_lifted_and_body_kept():
    [article] = _documents(CORPUS / "nhk-stoltenberg-visits-armenia.txt")
    assert article.article.url == "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/"
    assert article.article.date == "March 20, 2024"
    assert article.meta["id"] == "76dd88a1-3c5d-4c87-b4f3-0dad4e2272fa"
    assert article.meta["category"] == "nhk"
    assert article.article.title.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia")
    assert article.text.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia")
    assert "Stoltenberg is said to be the first NATO secretary general to visit Armenia." in article.text
    assert article.text.endswith("will not enhance stability.")
    assert "URL:" not in article.text and "Date:" not in article.text


def test_massispost_body_is_complete():
    [article] = _documents(CORPUS / "massispost-armenia-nato-agenda.txt")
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
    [article] = _documents(path)
    assert "approved a new budget of 12 million dollars" in article.text
    assert "Ana Lopez" in article.text
    for junk in ("Home", "Mayor visits school", "Leave a Reply", "All rights reserved"):
        assert junk not in article.text
    assert article.article.title == "Council approves budget"


def test_markdown_and_json_records(tmp_path):
    md = tmp_path / "note.md"
    md.write_text("# Bridge opens\n\nThe [new bridge](https://x.org) opened on **Sunday**.\n", encoding="utf-8")
    [article] = _documents(md)
    assert article.article.title == "Bridge opens"
    assert "The new bridge opened" in article.text and "https://x.org" not in article.text

    records = [
        {"title": "A", "text": "Alpha happened in Oslo.", "url": "https://a.example", "date": "2024-01-01"},
        {"title": "B", "text": "Beta happened in Rome."},
    ]
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    items = _documents(jsonl)
    assert [a.article.title for a in items] == ["A", "B"]
    assert items[0].article.url == "https://a.example" and items[0].source.endswith("#1")
    as_json = tmp_path / "news.json"
    as_json.write_text(json.dumps(records), encoding="utf-8")
    assert [a.text for a in _documents(as_json)] == ["Alpha happened in Oslo.", "Beta happened in Rome."]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\n ", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("bad.jsonl", b'{"title": "ok", "text": "fine"}\n{"title": broken\n', ".jsonl:2\": malformed JSON"),
        ("bad.json", b'[{"title": "x", "text": ', "malformed JSON"),
        ("notext.json", b'[{"title": "x"}]', 'no text (a non-empty "text" field)'),
        ("doc.pdf", b"%PDF-1.4", "unsupported file type"),
        ("empty.html", b"<html><body><nav>Home</nav></body></html>", "no article body"),
    ],
)
def test_bad_files_are_skipped_with_one_line_naming_the_file(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    message = _skipped(path).message()
    assert str(path) in message and reason in message and "\n" not in message


def test_latin1_and_cp1252_are_decoded(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("The café owner said “naïve” things about the 5€ coffee.".encode("cp1252"))
    [article] = _documents(path)
    assert article.text == "The café owner said “naïve” things about the 5€ coffee."


def test_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("A sentence about the news. " * 100, encoding="utf-8")
    assert "limit" in _skipped(path, Config().with_(max_file_bytes=1000)).reason


# ---------------------------------------------------------------- real archives: per record, any layout

# CNN articles as a public dump gives them: one JSON record per article, its paragraphs on one line
# separated by runs of spaces; one ends in a magazine's copyright line, one record is empty.
CNN_RECORDS = [
    {
        "url": "http://edition.cnn.com/2011/SHOWBIZ/celebrity.news.gossip/07/15/jennifer.lopez.marc.anthony.split/",
        "paragraphs": [
            "(CNN) -- Jennifer Lopez and Marc Anthony are ending their marriage after seven years, the couple told "
            "People magazine on Friday.",
            '"This was a very difficult decision," the couple said in a statement. "We have come to an amicable '
            'conclusion on all matters."',
            "The couple married in 2004 and have three-year-old twins, Max and Emme.",
            "Lopez and Anthony recently appeared together on the television show American Idol.",
        ],
        "tail": "© 2011 People and Time Inc. All rights reserved.",
    },
    {
        "url": "http://edition.cnn.com/2011/WORLD/asiapcf/03/14/japan.nuclear.plant/index.html",
        "paragraphs": [
            "TOKYO, Japan (CNN) -- A second explosion rocked the Fukushima Daiichi nuclear plant on Monday, injuring "
            "11 workers, Japan's nuclear safety agency said.",
            "The blast at the plant's No. 3 reactor came two days after a similar explosion at the No. 1 reactor.",
            "Officials said the reactor's inner containment vessel was intact and the risk of radiation leaking was "
            "low.",
        ],
        "tail": "",
    },
    {"url": "http://edition.cnn.com/2011/empty/", "paragraphs": [], "tail": ""},
    {
        "url": "http://edition.cnn.com/2011/SPORT/football/05/28/champions.league.final/",
        "paragraphs": [
            "LONDON, England (CNN) -- Barcelona beat Manchester United 3-1 at Wembley on Saturday to win the "
            "Champions League for the fourth time.",
            "Pedro, Lionel Messi and David Villa scored for the Spanish champions after Wayne Rooney had equalized.",
            "Barcelona coach Pep Guardiola said it was the best team he had ever coached.",
        ],
        "tail": "",
    },
]


def write_cnn_jsonl(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for record in CNN_RECORDS:
            text = "     ".join(record["paragraphs"]) + (f"  {record['tail']}" if record["tail"] else "")
            f.write(json.dumps({"url": record["url"], "text": ("   " + text + "   ") if text else ""}) + "\n")
    return path


def test_cnn_style_jsonl_ingests_every_good_record_with_its_full_text(tmp_path, embedder):
    from qa.pipeline import ingest_paths
    from qa.store.index import open_index

    path = write_cnn_jsonl(tmp_path / "cnn.jsonl")
    config = Config().with_(index_dir=tmp_path / "index")
    report = ingest_paths([path], config, embedder=embedder)

    assert sorted(report.added) == ["cnn-1", "cnn-2", "cnn-4"]
    [skipped] = report.skipped
    assert (skipped.path, skipped.record) == (str(path), ":3") and "no text" in skipped.reason
    docs = {d.doc_id: d for d in open_index(config.index_dir, config).documents}
    for n, record in enumerate(CNN_RECORDS, start=1):
        if record["paragraphs"]:
            doc = docs[f"cnn-{n}"]
            assert doc.text == "\n\n".join(record["paragraphs"])  # every paragraph, the copyright line out
            assert doc.article.publisher == "edition.cnn.com" and doc.article.url == record["url"]
    assert docs["cnn-1"].article.title.startswith("Jennifer Lopez and Marc Anthony are ending their marriage")
    assert docs["cnn-2"].article.title.startswith("A second explosion rocked the Fukushima Daiichi nuclear plant")


def test_bundled_articles_get_headlines_and_publishers():
    [nhk] = _documents(CORPUS / "nhk-stoltenberg-visits-armenia.txt")
    [massis] = _documents(CORPUS / "massispost-armenia-nato-agenda.txt")
    assert massis.article.title == "Joining NATO is not on Armenia’s agenda"
    assert nhk.article.title.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia") and len(nhk.article.title) <= 101
    assert nhk.article.publisher == "nhk.or.jp" and massis.article.publisher is None


def test_unreadable_subfolder_and_missing_path_are_reported(tmp_path, monkeypatch):
    import os

    from qa.ingest.read import expand_paths

    root = tmp_path / "archive"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "hidden.txt").write_text("A story nobody can read.", encoding="utf-8")
    (root / "ok.txt").write_text("The harbour reopened on Monday.", encoding="utf-8")
    os.chmod(root / "locked", 0)
    if os.geteuid() == 0:  # root reads any folder: make scandir fail as it does for a user
        real_scandir = os.scandir

        def scandir(path="."):
            if os.fspath(path).endswith("locked"):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        files, skipped = expand_paths([root, tmp_path / "nope"])
    finally:
        os.chmod(root / "locked", 0o755)
    assert files == [root / "ok.txt"]
    assert [(s.path, s.reason) for s in skipped] == [
        (str(root / "locked"), "the folder cannot be read (Permission denied)"),
        (str(tmp_path / "nope"), "no such file or folder"),
    ]


def test_skip_messages_are_one_sentence_with_the_name_quoted():
    from qa.documents import SkippedFile

    skip = SkippedFile("/data/evil\nname \"x\".txt", "the file is empty")
    assert skip.message() == 'Skipped "/data/evil\\nname \\"x\\".txt": the file is empty.'
    assert SkippedFile("a.jsonl", "malformed JSON.", ":3").message() == 'Skipped "a.jsonl:3": malformed JSON.'


def test_report_summary_reads_as_a_sentence():
    from qa.documents import SkippedFile
    from qa.ingest.read import IngestReport

    one = IngestReport(added=["a"], skipped=[SkippedFile("x", "y")], chunks_added=1, total_documents=1, total_chunks=1)
    assert one.summary() == "1 added, 1 skipped, 1 chunk embedded; the index holds 1 document, 1 chunk"
    removed = IngestReport(removed=["massis"], total_documents=1, total_chunks=12)
    assert removed.summary() == "1 removed (massis); the index holds 1 document, 12 chunks"
    assert "added" not in removed.summary() and "updated" not in removed.summary()


def test_every_long_stage_has_a_progress_bar_with_a_total(tmp_path, embedder, monkeypatch):
    """Reading, chunking and embedding (which publishes a segment every few thousand chunks) report
    through tqdm with a total (so the bar has an ETA); the app's gr.Progress(track_tqdm=True) shows
    the same bars."""
    import tqdm as tqdm_module

    from qa.pipeline import ingest_paths

    bars = []

    class Recorded(tqdm_module.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.shown = not kwargs.get("disable", False)
            bars.append(self)

    monkeypatch.setattr(tqdm_module, "tqdm", Recorded)
    path = write_cnn_jsonl(tmp_path / "cnn.jsonl")
    ingest_paths([path], Config().with_(index_dir=tmp_path / "index"), embedder=embedder, progress=True)
    stages = {bar.desc: bar for bar in bars if bar.shown}
    assert {"reading", "chunking", "embedding"} <= set(stages)
    for bar in stages.values():
        assert bar.shown and bar.total and bar.n == bar.total, (bar.desc, bar.n, bar.total)
    assert stages["reading"].total == path.stat().st_size


def test_linked_folders_are_followed_once(tmp_path):
    from qa.ingest.read import expand_paths

    root = tmp_path / "archive"
    (root / "2024").mkdir(parents=True)
    (root / "2024" / "a.txt").write_text("The harbour reopened.", encoding="utf-8")
    (root / "latest").symlink_to(root / "2024", target_is_directory=True)
    (root / "2024" / "loop").symlink_to(root, target_is_directory=True)
    files, skipped = expand_paths([root])
    assert [f.name for f in files] == ["a.txt"] and skipped == []


def test_control_characters_escaped_inside_json_never_reach_a_document(tmp_path):
    from qa.ingest.read import read_documents

    path = tmp_path / "escaped.jsonl"
    path.write_text(json.dumps({"title": "Nul\u0000 title", "text": "Nul\u0000 inside\u0007 a record about the harbour."})
                    + "\n", encoding="utf-8")
    [doc], skipped = read_documents([path], Config())
    assert not skipped
    assert doc.text == "Nul inside a record about the harbour." and doc.article.title == "Nul title"


def test_a_record_source_is_its_file_and_number_and_its_id_says_both():
    from qa.documents import record_source, split_source
    from qa.ingest.read import source_doc_id

    assert record_source("/a/feed.jsonl", 7) == "/a/feed.jsonl#7" and record_source("/a/b.txt") == "/a/b.txt"
    assert split_source("/a/feed.jsonl#7") == ("/a/feed.jsonl", 7)
    assert split_source("/a/issue#3.txt") == ("/a/issue#3.txt", None)  # a "#" in a name is not a record
    assert source_doc_id("/a/Feed.jsonl#7") == "feed-7" and source_doc_id("/a/issue#3.txt") == "issue-3"


def test_ingest_dot_skips_the_index_folder(tmp_path, monkeypatch, capsys, embedder):
    """`qa ingest .` next to `index/`: the index's own files (documents.jsonl, the catalog) are never
    read as articles, however often it runs; named explicitly, the index is reported as skipped.
    The app's uploads/ folder inside an index holds articles and is read when named."""
    from qa.cli import main
    from qa.store.index import open_index

    work = tmp_path / "work"
    work.mkdir()
    (work / "harbour.txt").write_text("Harbour reopens\n\nThe harbour of Skerry Bay reopened on Monday after the "
                                      "storm, the port authority said.\n", encoding="utf-8")
    monkeypatch.chdir(work)
    for run in range(3):
        assert main(["ingest", ".", "--index", "index"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert ("1 added" if run == 0 else "1 unchanged") in out and "the index holds 1 document," in out
    config = Config().with_(index_dir=work / "index")
    [doc] = open_index(config.index_dir, config).documents
    assert doc.doc_id == "harbour" and doc.article.publisher is None

    assert main(["ingest", "index", "index/segments", "--index", "index"]) == 1
    err = capsys.readouterr().err
    assert err.count("part of the qa index at") == 2 and '"index": part of the qa index' in err

    uploads = work / "index" / "uploads"
    uploads.mkdir()
    (uploads / "ferry.txt").write_text("The night ferry to Ystad was cancelled because of the storm.\n", encoding="utf-8")
    assert main(["ingest", "index/uploads", "--index", "index"]) == 0
    assert "1 added" in capsys.readouterr().out
