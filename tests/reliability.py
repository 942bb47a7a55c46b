"""What the crash, damage and odd-input tests share: the `qa` command run as a user runs it (or
in-process), a writable copy of an index, what a killed writer can leave behind, and the check
that an index still answers the demo question with every retriever.

Indexes are built in tmp folders, never in the project's own `index/`. The real `qa` console
script is run where the test is about what a user sees (exit codes, stderr); the library is called
in-process (with the session's shared embedder) where the test is about the index itself.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from qa.config import Config
from qa.pipeline import QA
from qa.retrieve import RETRIEVERS
from qa.store.index import open_index
from tests.conftest import NHK

REPO = Path(__file__).resolve().parent.parent
_SCRIPT = REPO / ".venv" / "bin" / "qa"
QA_CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qa.cli"]
DEMO_QUESTION = "first NATO secretary general to visit Armenia"
# The segments of the `two_versions` index (tests/conftest.py): the live state's newest, and the older one.
LIVE, OTHER = "segments/s000002", "segments/s000001"


def run_qa(*args, stdin: str | bytes | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*QA_CMD, *args], capture_output=True, text=not isinstance(stdin, bytes) and not any(
            isinstance(a, bytes) for a in args
        ), input=stdin, timeout=timeout, cwd=REPO,
    )


def as_text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def assert_clean_exit(result: subprocess.CompletedProcess, allowed=(0, 1)) -> None:
    """No traceback, an expected exit code, and an error (if any) on one line."""
    out, err = as_text(result.stdout), as_text(result.stderr)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert result.returncode in allowed, f"exit {result.returncode}: {err}"
    assert "unexpected" not in err, err  # the CLI's last-resort handler for exceptions it did not expect
    if result.returncode == 1:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) <= 1


def run_cli(capsys, *args) -> subprocess.CompletedProcess:
    """The `qa` command in-process (a subprocess costs seconds of imports): exit code and output."""
    from qa.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    result = subprocess.CompletedProcess(args, code, out, err)
    assert_clean_exit(result, allowed=(0, 1))
    return result


def copy_index(config: Config, target: Path) -> Config:
    shutil.copytree(config.index_dir, target)
    return config.with_(index_dir=target)


def leftovers(index_dir: Path) -> list[str]:
    """What a killed writer can leave: `.tmp-*` folders and segment folders no catalog entry names."""
    names = sorted(p.name for p in index_dir.iterdir() if p.name.startswith((".tmp-", ".CURRENT.tmp-")))
    if (index_dir / "segments").is_dir() and (index_dir / "catalog.sqlite").exists():
        conn = sqlite3.connect(index_dir / "catalog.sqlite")
        known = {row[0] for row in conn.execute("SELECT name FROM segment")}
        conn.close()
        names += sorted(p.name for p in (index_dir / "segments").iterdir() if p.name not in known)
    return names


def write_article(path: Path, *paragraphs: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


def assert_searchable(config: Config, qa: QA | None = None) -> None:
    """The demo question finds the NHK article first with every retriever."""
    qa = qa or QA(config)
    for kind in RETRIEVERS:
        hits = qa.search(DEMO_QUESTION, k=3, retriever=kind)
        assert hits and hits[0].doc_id == NHK, kind
        assert "first NATO secretary general" in hits[0].text


def passage_texts(config: Config) -> set[str]:
    return set(open_index(config.index_dir, config).chunk_texts())
