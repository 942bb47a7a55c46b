"""qa/evaluation/runner.py and the `qa eval` command, end to end on a SQuAD v2.0 file of four real
paragraphs (tests/data/squad-v2-mini.json: the Normans, Huguenot, Packet switching and Scottish
Parliament paragraphs of /work/shared/eval/squad-v2.0-dev-a.json, 3 answerable + 2 unanswerable
questions each) and on the bundled gold set."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from qa.cli import add_eval_arguments, run_eval_command
from qa.config import Config
from qa.errors import IndexMissingError
from qa.evaluation.data import DEFAULT_EVAL_FILE
from qa.evaluation.runner import squad_index_dir
from tests.conftest import REPO

SQUAD_MINI = REPO / "tests" / "data" / "squad-v2-mini.json"
GOLD_SET = REPO / DEFAULT_EVAL_FILE


def test_squad_cache_dir_depends_on_file_and_settings(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(SQUAD_MINI.read_text(encoding="utf-8") + " ", encoding="utf-8")
    base = squad_index_dir(SQUAD_MINI, Config(), tmp_path)
    assert base == squad_index_dir(SQUAD_MINI, Config(), tmp_path) and base.parent == tmp_path
    assert base != squad_index_dir(other, Config(), tmp_path)
    assert base != squad_index_dir(SQUAD_MINI, Config().with_(chunk_tokens=64), tmp_path)
    elsewhere = tmp_path / "copy" / SQUAD_MINI.name
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(SQUAD_MINI.read_bytes())
    assert squad_index_dir(elsewhere, Config(), tmp_path) == base  # the same file in another folder


# ---------------------------------------------------------------- the command, end to end


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default="index")
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_eval_command_on_squad_file_end_to_end(tmp_path, capsys):
    report = tmp_path / "report"
    args = _args(str(SQUAD_MINI), "--cache", str(tmp_path / "cache"), "--report", str(report), "--json")
    assert run_eval_command(args, Config().with_(index_dir=tmp_path / "unused")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert not (tmp_path / "unused").exists()  # SQuAD paragraphs never go into the --index folder
    assert summary["format"] == "squad-v2.0"
    assert summary["questions"] == {"total": 20, "answerable": 12, "unanswerable": 8, "in_file": 20}
    assert summary["settings"]["documents"] == 4
    assert set(summary["retrieval"]) == {"dense", "bm25", "hybrid"}
    for metrics in summary["retrieval"].values():
        assert metrics["n"] == 12
        assert 0.5 <= metrics["R@10"] <= 1.0  # 4 paragraphs on 4 topics: the gold one is found
        assert metrics["R@1"] <= metrics["R@5"] <= metrics["R@10"]
    answers = summary["answers"]
    assert answers["always_abstain"]["overall"]["f1"] == pytest.approx(8 / 20)
    assert answers["always_abstain"]["unanswerable"]["accuracy"] == 1.0
    assert 0.0 <= answers["system"]["overall"]["f1"] <= 1.0
    assert len(summary["per_question"]) == 20 and summary["latency"]["ask"]["mean_ms"] > 0
    # the best span of an easy question is right, whatever the threshold does with it
    normandy = next(q for q in summary["per_question"] if q["question"] == "In what country is Normandy located?")
    assert normandy["gold_rank"]["dense"] == 1 and normandy["span_f1"] == 1.0

    files = {p.name: p for p in report.iterdir()}
    assert set(files) == {"report.md", "results.json", "recall_at_k.png", "confidence.png"}
    for png in ("recall_at_k.png", "confidence.png"):
        assert files[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[png].stat().st_size > 5000
    md = files["report.md"].read_text(encoding="utf-8")
    assert "always abstain" in md and "| hybrid (answering) |" in md and "recall_at_k.png" in md
    assert json.loads(files["results.json"].read_text(encoding="utf-8"))["questions"]["total"] == 20

    # second run, through the `qa` command and the file's relative path: cached index (nothing
    # embedded, no paragraph indexed twice), --limit samples with the fixed seed, the table is printed
    result = run_qa("eval", str(SQUAD_MINI.relative_to(REPO)), "--cache", str(tmp_path / "cache"), "--limit", "5", "--retriever", "bm25")
    assert result.returncode == 0, result.stderr
    assert "5 of 20 questions" in result.stdout and "always-abstain" in result.stdout
    assert "answers (retriever bm25" in result.stdout.lower()
    assert "0 passages embedded now" in result.stderr and "4 paragraphs indexed" in result.stderr
    assert len(list((tmp_path / "cache").iterdir())) == 1


def run_qa(*argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "qa.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_cli_bad_eval_file_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [', encoding="utf-8")
    result = run_qa("eval", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr and "malformed JSON" in result.stderr


def test_eval_command_on_bundled_set(bundled_index, capsys):
    args = _args("--limit", "12")
    args.file = str(GOLD_SET)
    assert run_eval_command(args, bundled_index) == 0
    table = capsys.readouterr().out
    assert "12 of" in table and "answerable F1" in table and "overall F1" in table
    for name in ("dense", "bm25", "hybrid"):
        assert f"  {name} " in table


def test_eval_on_missing_index_says_how_to_build_it(tmp_path):
    args = _args(str(GOLD_SET))
    with pytest.raises(IndexMissingError, match="qa ingest corpus"):
        run_eval_command(args, Config().with_(index_dir=tmp_path / "none"))
