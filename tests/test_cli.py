"""The `qa` command end to end, as a user runs it: real files, real model, real index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, MASSIS, NHK

QA_BIN = [sys.executable, "-m", "qa.cli"]


def run_qa(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*QA_BIN, *args], capture_output=True, text=True, input=stdin, timeout=300)


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("cli") / "index"
    result = run_qa("ingest", str(CORPUS), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stdout and "index holds 2 documents" in result.stdout
    return index


def test_search_json_puts_nhk_first_with_url_and_date(cli_index):
    result = run_qa("search", "first NATO secretary general to visit Armenia", "--index", str(cli_index), "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["doc_id"] == NHK
    assert hits[0]["url"] == "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/"
    assert hits[0]["date"] == "March 20, 2024"
    assert {"doc_id", "title", "url", "date", "chunk_id", "text", "start", "end", "score"} <= set(hits[0])
    assert "first NATO secretary general to visit Armenia" in hits[0]["text"]


def test_search_text_output_and_list(cli_index):
    result = run_qa("search", "Partnership for Peace", "--index", str(cli_index), "-k", "2", "--retriever", "bm25")
    assert result.returncode == 0 and MASSIS in result.stdout and "1994" in result.stdout
    listing = run_qa("list", "--index", str(cli_index))
    assert listing.returncode == 0 and NHK in listing.stdout and MASSIS in listing.stdout


def test_ingest_again_is_unchanged_and_bad_file_is_named(cli_index, tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"title": "x", "text": "ok"}\n{oops\n', encoding="utf-8")
    result = run_qa("ingest", str(CORPUS), str(bad), "--index", str(cli_index))
    assert result.returncode == 1
    assert "1 added" in result.stdout and "2 unchanged" in result.stdout and "1 skipped" in result.stdout
    assert f'Skipped "{bad}:2": malformed JSON at column 2' in result.stderr  # line 1 went in
    assert "Traceback" not in result.stderr


def test_missing_and_mismatched_index_errors_are_one_line(tmp_path, cli_index):
    result = run_qa("search", "anything", "--index", str(tmp_path / "none"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "qa ingest" in result.stderr

    manifest = next(cli_index.glob("v*/manifest.json"))
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(cli_index, copy)
    edited = copy / manifest.parent.name / "manifest.json"
    data = json.loads(edited.read_text())
    data["settings"]["chunk_tokens"] = 64
    edited.write_text(json.dumps(data))
    result = run_qa("search", "anything", "--index", str(copy))
    assert result.returncode == 1 and "--rebuild" in result.stderr and "Traceback" not in result.stderr


def test_remove(tmp_path):
    index = tmp_path / "index"
    assert run_qa("ingest", str(CORPUS), "--index", str(index)).returncode == 0
    result = run_qa("remove", MASSIS, "--index", str(index))
    assert result.returncode == 0 and f"1 removed ({MASSIS})" in result.stdout
    assert "added" not in result.stdout and "updated" not in result.stdout
    assert "index holds 1 document," in result.stdout
    hits = json.loads(run_qa("search", "Mirzoyan", "--index", str(index), "--json").stdout)
    assert all(h["doc_id"] == NHK for h in hits)


def test_list_shows_headlines_and_publishers(cli_index):
    listing = run_qa("list", "--index", str(cli_index)).stdout.splitlines()
    nhk = next(line for line in listing if line.startswith(NHK))
    massis = next(line for line in listing if line.startswith(MASSIS))
    assert "\tnhk.or.jp\tNATO Secretary General Jens Stoltenberg has visited Armenia" in nhk
    assert "March 20, 2024" in nhk
    assert massis.endswith("\tJoining NATO is not on Armenia’s agenda")


def test_ask_cites_headline_publisher_and_date(cli_index):
    result = run_qa("ask", "Who was the first NATO secretary general to visit Armenia?", "--index", str(cli_index))
    assert result.returncode == 0, result.stderr
    cited = [line for line in result.stdout.splitlines() if line.strip().startswith("[1]")]
    assert cited and "| nhk.or.jp | March 20, 2024 | https://www3.nhk.or.jp/" in cited[0]
    assert cited[0].strip().startswith("[1] NATO Secretary General Jens Stoltenberg has visited Armenia")


@pytest.mark.parametrize("k", ["0", "-5", "1000000000"])
def test_out_of_range_k_is_one_line_error(cli_index, k):
    result = run_qa("search", "Armenia", "-k", k, "--index", str(cli_index))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: k (the number of passages) must be a whole number from 1 to 50, not {k}"


def test_ingest_reports_an_unreadable_folder_and_a_newline_in_a_name(tmp_path, monkeypatch, capsys):
    import os

    from qa.cli import main

    root = tmp_path / "archive"
    (root / "locked").mkdir(parents=True)
    (root / "ok.txt").write_text("The harbour in Portland reopened on Monday after repairs.", encoding="utf-8")
    (root / "bad\nname.txt").write_bytes(b"")
    real_scandir = os.scandir

    def scandir(path="."):  # a folder the user may not read (root reads any folder, so pretend)
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code = main(["ingest", str(root), "--index", str(tmp_path / "index")])
    out, err = capsys.readouterr()
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("Skipped")]  # the rest: progress bars
    assert f'Skipped "{root / "locked"}": the folder cannot be read (Permission denied).' in lines
    assert f'Skipped "{root}/bad\\nname.txt": the file is empty.' in lines
    assert len(lines) == 2 and "1 added, 2 skipped" in out
