"""One install: `pip install .` into a fresh virtual environment gives a working `qa` and `app.py`.

Builds the venv with plain pip (no system site-packages; pip's own cache and the machine's
configured wheel sources are used, nothing is special-cased), then runs, as a new user would:

    python3 -m venv v && v/bin/pip install . && v/bin/qa ingest corpus && v/bin/qa ask "..."

Only the files a clone has are copied (the package, app.py, corpus/), so nothing of the
developer's checkout (.venv, egg-info, build/) helps. About a minute on 2 cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

REPO = Path(__file__).resolve().parent.parent
NATO_Q = "Who was the first NATO secretary general to visit Armenia?"
PROBE = "reader_model/install-probe.json"  # stands for package data such as the reader's weights


def _run(cmd: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def test_pip_install_gives_a_working_qa_and_app(tmp_path):
    src = tmp_path / "news-qa"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "app.py", src)
    shutil.copytree(REPO / "corpus", src / "corpus")
    shutil.copytree(REPO / "qa", src / "qa", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "qa" / PROBE).parent.mkdir(exist_ok=True)
    (src / "qa" / PROBE).write_text("{}\n", encoding="utf-8")
    venv = tmp_path / "v"
    try:
        _run([sys.executable, "-m", "venv", venv], tmp_path)
        # --no-compile: bytecode for the thousands of modules nobody imports is the slowest part.
        _run([venv / "bin/pip", "install", "-q", "--no-compile", src], tmp_path)
        site = json.loads(_run([venv / "bin/python", "-c",
                                "import json, qa, sys; print(json.dumps([qa.__file__, sys.prefix]))"], tmp_path).stdout)
        assert Path(site[0]).parent != src / "qa" and Path(site[1]) == venv  # the installed copy, in the venv
        assert (Path(site[0]).parent / PROBE).is_file()  # package data under qa/ is installed

        ingest = _run([venv / "bin/qa", "ingest", "corpus"], src)
        assert "2 added" in ingest.stdout
        answer = _run([venv / "bin/qa", "ask", NATO_Q], src)
        assert "Stoltenberg" in answer.stdout.splitlines()[1], answer.stdout
        assert "usage" in _run([venv / "bin/python", "app.py", "--help"], src).stdout  # the app's imports resolve

        # An editable install over it works too (what `make` does).
        _run([venv / "bin/pip", "install", "-q", "--no-compile", "--no-deps", "-e", src], tmp_path)
        where = _run([venv / "bin/python", "-c", "import qa; print(qa.__file__)"], tmp_path).stdout.strip()
        assert Path(where) == src / "qa" / "__init__.py"
        assert "nhk-stoltenberg-visits-armenia" in _run([venv / "bin/qa", "list"], src).stdout
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~1.7 GB
