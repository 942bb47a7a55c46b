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
    assert "2 unchanged" in result.stdout and "1 skipped" in result.stdout
    assert f"skipped {bad}: malformed JSON on line 2" in result.stderr
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
    assert result.returncode == 0 and "1 removed" in result.stdout
    hits = json.loads(run_qa("search", "Mirzoyan", "--index", str(index), "--json").stdout)
    assert all(h["doc_id"] == NHK for h in hits)
