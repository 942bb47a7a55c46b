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
READER_WEIGHTS = "reader_model/reader.safetensors"  # package data: the trained reader


FERRY = "The Skerry Bay harbour ferry crosses the bay twelve times a day and carries about 900 passengers."
HTML_PAGE = """<!doctype html><html><head><title>Kiln restored in Ostrava</title>
<meta property="og:site_name" content="Example News"></head><body><nav>Home | World | Sport</nav>
<article><h1>Kiln restored in Ostrava</h1>
<p>The old brick kiln in Ostrava was restored by volunteers over two summers and fired again this week.</p>
<p>About three hundred people came to watch the first firing, the city's heritage office said on Friday.</p>
</article><footer>Copyright Example News</footer></body></html>"""


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
    venv = tmp_path / "v"
    try:
        _run([sys.executable, "-m", "venv", venv], tmp_path)
        # --no-compile: bytecode for the thousands of modules nobody imports is the slowest part.
        _run([venv / "bin/pip", "install", "-q", "--no-compile", src], tmp_path)
        site = json.loads(_run([venv / "bin/python", "-c",
                                "import json, qa, sys; print(json.dumps([qa.__file__, sys.prefix]))"], tmp_path).stdout)
        assert Path(site[0]).parent != src / "qa" and Path(site[1]) == venv  # the installed copy, in the venv
        assert (Path(site[0]).parent / READER_WEIGHTS).is_file()  # package data under qa/ is installed

        # The venv's own pip, never upgraded: what a new user has (Python 3.11 ships pip 23.2).
        print(_run([venv / "bin/pip", "--version"], tmp_path).stdout)
        ingest = _run([venv / "bin/qa", "ingest", "corpus"], src)
        assert "2 added" in ingest.stdout
        # Every reader works from a plain install: HTML (trafilatura, jusText, lxml_html_clean) and JSON Lines.
        more = src / "more"
        more.mkdir()
        (more / "page.html").write_text(HTML_PAGE, encoding="utf-8")
        (more / "feed.jsonl").write_text(json.dumps({"title": "Ferry timetable", "text": FERRY}) + "\n", encoding="utf-8")
        added = _run([venv / "bin/qa", "ingest", "more"], src)
        assert "2 added" in added.stdout, added.stdout + added.stderr
        listed = _run([venv / "bin/qa", "list"], src).stdout
        assert "Kiln restored in Ostrava" in listed and "Ferry timetable" in listed
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
