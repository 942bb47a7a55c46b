"""The `qa` command end to end, as a user runs it: real files, real model, real index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.sources import NO_ANSWER, POSSIBLE_ANSWER
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
    # the rank and the retriever that found each passage, not a score; passages apart
    assert "found by bm25 #1" in result.stdout and "[0." not in result.stdout
    assert "\n\n2. " in result.stdout
    hybrid = run_qa("search", "first NATO secretary general to visit Armenia", "--index", str(cli_index), "-k", "1")
    assert "found by dense #" in hybrid.stdout and ", bm25 #" in hybrid.stdout
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

    import shutil
    import sqlite3

    copy = tmp_path / "copy"
    shutil.copytree(cli_index, copy)
    with sqlite3.connect(copy / "catalog.sqlite") as conn:  # the index was built with other settings
        settings = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
        settings["chunk_tokens"] = 64
        conn.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (json.dumps(settings),))
    conn.close()
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
    lines = result.stdout.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("[1] "))
    assert lines[at].startswith("[1] NATO Secretary General Jens Stoltenberg has visited Armenia")  # the headline
    assert lines[at + 1].strip().startswith("nhk.or.jp · March 20, 2024 · https://www3.nhk.or.jp/")


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


# ---------------------------------------------------------------- first run: fast start, empty input, dates

NATO_Q = "Who was the first NATO secretary general to visit Armenia?"
HEAVY = ("torch", "transformers", "sentence_transformers", "spacy", "gradio")
IMPORTS_AFTER = (
    "import sys, json\n"
    "from qa.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
    "print(json.dumps({'code': code, 'heavy': [m for m in %r if m in sys.modules]}), file=sys.stderr)\n" % (HEAVY,)
)


def _imports(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", IMPORTS_AFTER, *args], capture_output=True, text=True, timeout=120)
    return json.loads(result.stderr.strip().splitlines()[-1])


def test_light_commands_never_import_torch(cli_index, tmp_path):
    import shutil

    from qa.cli import build_parser

    copy = tmp_path / "index"
    shutil.copytree(cli_index, copy)
    commands = [["--help"], ["list", "--index", str(cli_index)], ["remove", MASSIS, "--index", str(copy)],
                ["ask", "", "--index", str(cli_index)]]
    if "versions" in build_parser()._subparsers._group_actions[0].choices:  # qa versions, where it exists
        commands.append(["versions", "--index", str(cli_index)])
    for args in commands:
        seen = _imports(*args)
        assert seen["heavy"] == [], (args, seen)
        assert seen["code"] == (1 if args[0] == "ask" else 0), (args, seen)
    assert MASSIS not in run_qa("list", "--index", str(copy)).stdout  # the remove did happen


def test_ask_and_search_serve_without_torch_or_the_evaluation_package(cli_index):
    """Questions are answered on ONNX Runtime (qa/model/onnx_runtime.py): torch and `qa eval`'s package stay unloaded."""
    code = IMPORTS_AFTER.replace(repr(HEAVY), repr(("torch", "qa.evaluation", "transformers", "sentence_transformers")))
    out = {}
    why = "Why is Russia on the alert?"  # answered with a sentence: spaCy's splitter, without torch
    for args in (["ask", NATO_Q, "--index", str(cli_index)], ["search", NATO_Q, "--index", str(cli_index)],
                 ["list", "--index", str(cli_index)], ["ask", why, "--index", str(cli_index)]):
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
        seen = json.loads(result.stderr.strip().splitlines()[-1])
        assert seen == {"code": 0, "heavy": []}, (args, seen)
        out[args[0], args[1]] = result.stdout
    assert out["ask", NATO_Q].startswith(f"Q: {NATO_Q}\nA: Stoltenberg [1]")


def test_empty_question_is_an_error_before_any_model_loads(cli_index):
    for question in ("", "   "):
        result = run_qa("ask", question, "--index", str(cli_index))
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.strip() == 'error: the question is empty; ask something, e.g. qa ask "Who visited Armenia?"'


def test_ask_text_puts_the_verdict_first_with_numbered_citations(bundled_index, capsys):
    from qa.cli import main

    assert main(["ask", NATO_Q, "--index", str(bundled_index.index_dir)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"Q: {NATO_Q}"
    assert lines[1].startswith("A: ") and "Stoltenberg" in lines[1] and lines[1].endswith("[1]")
    words = lines[2].split()
    assert words[0] in {"high", "medium", "low"} and words[1] == "confidence"
    blocks = [line for line in lines if line.startswith("[")]
    assert blocks[0].startswith("[1] ") and len(blocks) == len({b.split(" ", 1)[1] for b in blocks})
    answer = lines[1].removeprefix("A: ").removesuffix(" [1]")
    assert "March 20, 2024" in out and f"[[{answer}]]" in out  # the answer highlighted in its passage

    assert main(["ask", "What is the capital of France?", "--index", str(bundled_index.index_dir)]) == 0
    declined = capsys.readouterr().out.splitlines()
    assert declined[1] == f"A: {NO_ANSWER}" and declined[3] == "The closest passages:"


def test_since_until_restrict_the_sources(dated_index, capsys):
    from qa.cli import main
    from tests.conftest import FERRY_FEB, FERRY_MAR

    index = str(dated_index.index_dir)
    question = "Who took command of the Skerry Bay harbour ferry?"
    result = run_qa("ask", question, "--since", "2024-03-01", "--index", index, "--json")  # as a user runs it
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {p["doc_id"] for p in answer["passages"]} == {FERRY_MAR}
    assert answer["answer"] == "Tomas Lindqvist" and answer["citations"][0]["doc_id"] == FERRY_MAR
    assert main(["search", question, "--until", "2024-02-29", "--index", index, "--json"]) == 0
    assert {h["doc_id"] for h in json.loads(capsys.readouterr().out)} == {FERRY_FEB}
    assert main(["search", question, "--since", "2030-01-01", "--index", index]) == 0
    assert "no passages found in articles dated in that range" in capsys.readouterr().out
    bad = run_qa("ask", question, "--since", "March 1", "--index", index)
    assert bad.returncode == 2 and "is not a date; write it as YYYY-MM-DD" in bad.stderr


def test_a_date_range_says_how_many_undated_articles_it_left_out(bundled_index, capsys):
    """The bundled Massis Post interview is undated: --since leaves it out, and the reply says so."""
    from qa.cli import main

    index = str(bundled_index.index_dir)
    question = "Is joining NATO on Armenia's agenda, according to Mirzoyan?"
    note = "1 undated article left out by the date range."
    assert main(["ask", question, "--since", "2024-03-01", "--index", index]) == 0
    assert f"   {note}" in capsys.readouterr().out.splitlines()
    assert main(["ask", question, "--since", "2024-03-01", "--index", index, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["undated_left_out"] == 1 and MASSIS not in {p["doc_id"] for p in answer["passages"]}
    assert main(["search", question, "--until", "2030-12-31", "--index", index]) == 0
    assert capsys.readouterr().out.rstrip().endswith(note)
    assert main(["ask", question, "--index", index]) == 0
    assert "undated" not in capsys.readouterr().out


def test_versions_counts_in_the_singular_where_one(cli_index):
    result = run_qa("versions", "--index", str(cli_index))
    assert result.returncode == 0
    assert "1 segments" not in result.stdout and "+1 documents" not in result.stdout
    assert " 1 segment " in result.stdout


def test_a_candidate_below_the_threshold_is_a_possible_answer(bundled_index, capsys):
    from qa.cli import main

    index = str(bundled_index.index_dir)
    # Forced below the threshold, a candidate above the fitted floor is offered, never as the answer.
    assert main(["ask", NATO_Q, "--index", index, "--threshold", "1", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["answer"] is None and answer["citations"] == []
    candidate = answer["candidate"]
    assert "Stoltenberg" in candidate["text"] and 0 < candidate["confidence"] < 1
    cited = candidate["citation"]
    assert cited["passage"][cited["answer_start"] : cited["answer_end"]] == candidate["text"]
    assert main(["ask", NATO_Q, "--index", index, "--threshold", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"A: {POSSIBLE_ANSWER}: ") and lines[1].endswith("[1]")  # check the source, then the text
    assert lines[2] == f"   confidence {candidate['confidence']:.2f}, below the 1.00 needed to answer"
    assert "low confidence" not in "\n".join(lines)
    assert any(f"[[{candidate['text']}]]" in line for line in lines)  # highlighted in its passage
    # Below the floor it is not even a possible answer.
    assert main(["ask", "What is the capital of France?", "--index", index, "--json"]) == 0
    declined = json.loads(capsys.readouterr().out)
    assert declined["answer"] is None and declined["candidate"] is None


# ---------------------------------------------------------------- issue 28: the index folder and permissions


def test_ingest_into_an_index_path_that_is_a_file_fails_at_once(tmp_path, monkeypatch, capsys):
    """`--index afile`: one line naming the path and the fix, before a single article is read."""
    from qa.cli import main
    from qa.ingest import read as ingest

    afile = tmp_path / "afile"
    afile.write_text("not an index\n", encoding="utf-8")

    def never(*args, **kwargs):
        raise AssertionError("articles were read before the index folder was checked")

    monkeypatch.setattr(ingest, "read_documents", never)
    monkeypatch.setattr("qa.pipeline.read_documents", never)
    for index in (afile, afile / "index"):
        assert main(["ingest", str(CORPUS), "--index", str(index)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "unexpected" not in err
        assert err.startswith(f"error: {afile} is a file, not a folder") and "give --index a folder" in err
    assert afile.read_text(encoding="utf-8") == "not an index\n"


def _as_another_user(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`qa ARGS` run by a user who does not own the index: `nobody` when this is root (who may read
    and write anything), else this user (the files are made unreadable to their owner too)."""
    import os

    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "HOME": str(cwd), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*prefix, *QA_BIN, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture
def shared_copy(cli_index):
    """A copy of the CLI's index in a folder every user may enter (pytest's tmp folders are private)."""
    import os
    import shutil
    import stat
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="qa-perm-"))
    root.chmod(0o755)
    copy = root / "index"
    shutil.copytree(cli_index, copy)
    for path in (copy, *copy.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield copy
    for path in (copy, *copy.rglob("*")):  # writable again, so it can be deleted
        os.chmod(path, stat.S_IRWXU | (stat.S_IRWXU if path.is_dir() else 0))
    shutil.rmtree(root)


def test_permission_problems_are_named_as_such_never_damage(shared_copy):
    """An unreadable catalog is a permission problem (a rebuild would drop every kept state), and
    `qa remove` on an index this user may not write does not say to delete `.lock`."""
    catalog = shared_copy / "catalog.sqlite"
    catalog.chmod(0o000)
    for command in (["list"], ["check"], ["versions"], ["search", "Armenia", "--retriever", "bm25"]):
        result = _as_another_user(*command, "--index", str(shared_copy), cwd=shared_copy.parent)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert "may not read" in result.stderr and "not damaged" in result.stderr, result.stderr
        assert "rebuild" not in result.stderr and "damaged:" not in result.stderr, result.stderr
    catalog.chmod(0o644)

    (shared_copy / ".lock").touch()
    for path in (shared_copy, shared_copy / ".lock"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    result = _as_another_user("remove", MASSIS, "--index", str(shared_copy), cwd=shared_copy.parent)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "may not change the index" in result.stderr and "not damaged" in result.stderr, result.stderr
    assert "remove it" not in result.stderr and "rebuild" not in result.stderr, result.stderr
    shared_copy.chmod(0o755)
    assert MASSIS in run_qa("list", "--index", str(shared_copy)).stdout
