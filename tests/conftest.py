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
    from qa.embed import Embedder

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
