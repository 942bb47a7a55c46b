"""Shared fixtures: the bundled corpus and one real index built from it with the real model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Config

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
NHK = "nhk-stoltenberg-visits-armenia"
MASSIS = "massispost-armenia-nato-agenda"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def embedder():
    from qa.model.embed import Embedder

    return Embedder(Config())


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory, embedder) -> Config:
    """A read-only index of the bundled corpus; copy it (see `fresh_index`) before writing."""
    from qa.pipeline import ingest_paths

    config = Config().with_(index_dir=tmp_path_factory.mktemp("bundled") / "index")
    report = ingest_paths([CORPUS], config, embedder=embedder)
    assert len(report.added) == 2 and not report.skipped
    return config


def launch_app_over_copy(config: Config, target: Path):
    """Launch `app.py`'s app in-process on a free port over a copy of `config`'s index.
    Returns (demo, url, config of the copy)."""
    import socket

    import app

    shutil.copytree(config.index_dir, target)
    config = config.with_(index_dir=target)
    demo = app.build_app(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/", config


@pytest.fixture
def fresh_index(bundled_index, tmp_path) -> Config:
    """A writable copy of the bundled index."""
    target = tmp_path / "index"
    shutil.copytree(bundled_index.index_dir, target)
    return bundled_index.with_(index_dir=target)


# Two dated articles on one story, a month apart (the date-range and "latest" tests).
FERRY_FEB = "ferry-captain-february"
FERRY_MAR = "ferry-captain-march"
DATED_ARTICLES = {
    FERRY_FEB: (
        "Skerry Bay harbour ferry gets a new captain\nURL: https://example.org/news/ferry-february\n"
        "Date: 2024-02-10\n\n"
        "Captain Ingrid Valdemarsen took command of the Skerry Bay harbour ferry on Monday.\n\n"
        "The Skerry Bay harbour ferry crosses the bay twelve times a day and carries about 900 passengers.\n"
    ),
    FERRY_MAR: (
        "Skerry Bay ferry changes hands again\nURL: https://example.org/news/ferry-march\n"
        "Date: March 15, 2024\n\n"
        "Captain Tomas Lindqvist took command of the Skerry Bay harbour ferry on Friday.\n\n"
        "The harbour authority said the timetable of the ferry stays the same.\n"
    ),
}


@pytest.fixture(scope="session")
def dated_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dated")
    for name, text in DATED_ARTICLES.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def dated_index(dated_corpus, tmp_path_factory, embedder) -> Config:
    from qa.pipeline import ingest_paths

    config = Config().with_(index_dir=tmp_path_factory.mktemp("dated-index") / "index")
    assert len(ingest_paths([dated_corpus], config, embedder=embedder).added) == 2
    return config


@pytest.fixture(scope="session")
def two_versions(tmp_path_factory, embedder) -> Config:
    """An index with two states: v1 of the corpus (segment s000001), v2 with one article edited
    (1994 -> 1996): segment s000002 holds its new text, and v2 deletes its old rows in s000001."""
    from qa.pipeline import ingest_paths
    from qa.store.index import current_version

    root = tmp_path_factory.mktemp("versions")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    config = Config().with_(index_dir=root / "index")
    ingest_paths([corpus], config, embedder=embedder)
    path = corpus / f"{MASSIS}.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("1994", "1996"), encoding="utf-8")
    report = ingest_paths([corpus], config, embedder=embedder)
    assert report.updated == [MASSIS]
    assert sorted(p.name for p in (config.index_dir / "segments").iterdir()) == ["s000001", "s000002"]
    assert current_version(config.index_dir) == "v000002"
    return config


# The generated news archive (bench/archive.py): copies of one story, similar different stories,
# and two dated flood reports whose death toll changed (tests/test_stories.py, test_alternatives.py).
@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    from bench.archive import write_archive

    folder = tmp_path_factory.mktemp("archive") / "articles"
    return folder, write_archive(folder)


@pytest.fixture(scope="session")
def archive_index(archive, tmp_path_factory, embedder) -> Config:
    from qa.pipeline import ingest_paths

    config = Config().with_(index_dir=tmp_path_factory.mktemp("archive-index") / "index")
    report = ingest_paths([archive[0]], config, embedder=embedder)
    assert len(report.added) == len(archive[1]) and not report.skipped
    return config
