"""Crashes: a write killed with SIGKILL at each of its steps leaves the last complete version
usable and the next write working; a killed long ingest resumes embedding only what it did not
publish; one writer at a time, while readers keep answering from the last complete version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import IndexLockedError
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.store.index import check_index, current_version, open_index
from qa.store.lock import WriterLock
from tests.conftest import CORPUS, MASSIS, NHK
from tests.reliability import (
    DEMO_QUESTION,
    QA_CMD,
    REPO,
    assert_clean_exit,
    assert_searchable,
    copy_index,
    leftovers,
    passage_texts,
    run_qa,
    write_article,
)

_TOWNS = [
    "Aldmere", "Brackenford", "Corrowick", "Dunhallow", "Elderbeck", "Fennimoor",
    "Glastonmere", "Hollowcrest", "Ivybridge", "Jarrowfield", "Kestrelton", "Larkspur",
]


@pytest.fixture(scope="module")
def extra_corpus(tmp_path_factory) -> Path:
    """A dozen small invented articles: more to ingest than the two bundled ones."""
    root = tmp_path_factory.mktemp("extra")
    for n, town in enumerate(_TOWNS):
        write_article(
            root / f"{town.lower()}-news.txt",
            f"The {town} town council opened a new public library on Monday after {n + 3} years of work.",
            f"Mayor Ellen Varga said the library in {town} would stay open late on weekdays for students. "
            f"The building cost {n + 2} million euros and was paid for by a regional grant.",
            f"Local shop owners in {town} said the library had already brought more visitors to the market square. "
            "A second branch is planned for the northern district next spring.",
        )
    return root


# ====================================================================== atomic writes under kill -9

# Runs one ingest in a child process with a stand-in embedder (random unit vectors of the model's
# size, so no model is loaded) and SIGKILLs itself, or waits for a "go" file, at a chosen point of
# the write: before or after the n-th call of a function the writer uses. With "many", one process
# loads everything once (the chunker's spaCy and tokenizer) and forks a child for each job: the
# kill-at-each-step runs then cost one start-up instead of one each.
DRIVER = r'''
import json, os, signal, sys, time
from pathlib import Path

import numpy as np

import qa.store.catalog as qc
import qa.store.segment as qs
import qa.store.writer as qw
from qa.config import Config
from qa.pipeline import ingest_paths

signals = Path(os.environ["QA_TEST_SIGNALS"])
settings = {k: int(v) for k, v in (item.split("=") for item in os.environ.get("QA_TEST_CONFIG", "").split(",") if item)}
rebuild = os.environ.get("QA_TEST_REBUILD") == "1"


def ingest(index_dir, point, when, nth, action, paths):
    def act():
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        (signals / "started").touch()
        deadline = time.time() + 120
        while not (signals / "go").exists() and time.time() < deadline:
            time.sleep(0.02)

    class FakeEmbedder:
        calls = 0

        def encode_passages(self, texts, show_progress=False):
            FakeEmbedder.calls += 1
            if point == "embed" and FakeEmbedder.calls == nth:
                act()
            with open(signals / "embedded.txt", "a", encoding="utf-8") as log:
                log.writelines(" ".join(t.split()) + "\n" for t in texts)
            rng = np.random.default_rng(len(texts))
            v = rng.standard_normal((len(texts), 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    targets = {
        "np.save": (qs.np, "save", None),
        "fsync_file": (qs, "fsync_file", None),
        "fsync_dir": (qs, "fsync_dir", None),
        "rename": (qw.os, "rename", lambda args: Path(args[1]).parent.name == "segments"),
        "commit": (qc.Catalog, "set_head", None),  # inside the publishing transaction, before COMMIT
        "gc": (qw.IndexWriter, "collect_garbage", None),
    }
    if point in targets:
        owner, name, match = targets[point]
        original = getattr(owner, name)
        calls = [0]

        def patched(*args, **kwargs):
            if match is not None and not match(args):
                return original(*args, **kwargs)
            calls[0] += 1
            if calls[0] == nth and when == "before":
                act()
            result = original(*args, **kwargs)
            if calls[0] == nth and when == "after":
                act()
            return result

        setattr(owner, name, patched)

    config = Config().with_(index_dir=Path(index_dir), **settings)
    report = ingest_paths([Path(p) for p in paths], config, embedder=FakeEmbedder(), rebuild=rebuild)
    print(report.summary())


if sys.argv[1] != "many":
    index_dir, point, when, nth, action = sys.argv[1:6]
    ingest(index_dir, point, when, int(nth), action, sys.argv[6:])
    sys.exit(0)

from qa.ingest.chunk import chunk_document
from qa.ingest.read import read_documents

jobs = json.loads(sys.argv[2])  # {name: [index_dir, point, when, nth, paths]}
documents, _ = read_documents([Path(p) for p in next(iter(jobs.values()))[4]], Config())
chunk_document(documents[0], Config())  # the chunker's models, loaded once before forking
results = {}
for name, (index_dir, point, when, nth, paths) in jobs.items():
    log = signals / f"{name}.log"
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        code = 0
        try:
            ingest(index_dir, point, when, nth, "kill", paths)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    results[name] = [os.waitstatus_to_exitcode(status), log.read_text(encoding="utf-8", errors="replace")]
print(json.dumps(results))
'''

# (point, before/after, n-th call, state the index must be in afterwards)
CRASH_POINTS = [
    ("embed", "before", 1, "old"),  # chunks cut, nothing embedded or written
    ("np.save", "before", 1, "old"),  # documents.jsonl written in the tmp folder
    ("np.save", "before", 3, "old"),  # chunks.npy written, vectors.npy not
    ("np.save", "before", 5, "old"),  # half-way through saving the lexical index
    ("fsync_file", "before", 1, "old"),  # every part written, no manifest
    ("fsync_dir", "before", 1, "old"),  # manifest written, folder not yet renamed into segments/
    ("rename", "after", 1, "old"),  # segment folder in place, the catalog does not name it
    ("commit", "after", 1, "old"),  # catalog rows written, transaction not committed
    ("gc", "before", 1, "new"),  # new state committed, old states not yet collected
]
_CRASH_IDS = [f"{when}-{point}-{nth}" for point, when, nth, _ in CRASH_POINTS]


def _driver_env(root: Path, signals: Path, settings: str = "", rebuild: bool = False) -> tuple[Path, dict[str, str]]:
    driver = root / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER, encoding="utf-8")
    signals.mkdir(exist_ok=True)
    return driver, dict(os.environ, QA_TEST_SIGNALS=str(signals), PYTHONPATH=str(REPO), QA_TEST_CONFIG=settings,
                        QA_TEST_REBUILD="1" if rebuild else "0", TOKENIZERS_PARALLELISM="false")


def start_driver(root: Path, index_dir: Path, point: str, when: str, nth: int, action: str, paths: list[Path],
                 settings: str = "", rebuild: bool = False):
    signals = root / f"signals-{index_dir.parent.name}"
    driver, env = _driver_env(root, signals, settings, rebuild)
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(index_dir), point, when, str(nth), action, *map(str, paths)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, signals


@pytest.fixture(scope="module")
def crash_runs(tmp_path_factory, bundled_index, extra_corpus) -> dict[str, tuple[Config, int, str]]:
    """Every crash point run once, each on its own copy of the bundled index, by children forked
    from one process that loaded everything once."""
    root = tmp_path_factory.mktemp("crash")
    configs = {name: copy_index(bundled_index, root / name / "index") for name in _CRASH_IDS}
    jobs = {name: [str(configs[name].index_dir), point, when, nth, [str(extra_corpus)]]
            for (point, when, nth, _), name in zip(CRASH_POINTS, _CRASH_IDS)}
    driver, env = _driver_env(root, root / "signals")
    proc = subprocess.run([sys.executable, str(driver), "many", json.dumps(jobs)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: (configs[name], *results[name]) for name in _CRASH_IDS}


def assert_complete_version(config: Config, old_ids: list[str], old_version: str, expect: str) -> None:
    """The live version opens, passes verification, and is the old or the new one, whole."""
    index = open_index(config.index_dir, config, verify=True)
    ids = [d.doc_id for d in index.documents]
    if expect == "old":
        assert index.version == old_version and ids == old_ids
    else:
        assert index.version != old_version and ids[: len(old_ids)] == old_ids and len(ids) > len(old_ids)
    assert_searchable(config)


def assert_next_write_works(config: Config, tmp_path: Path, embedder) -> None:
    """A new ingest succeeds after the killed writer: the lock is free and its tmp files are cleaned."""
    with WriterLock(config.index_dir):
        pass
    new = write_article(
        tmp_path / "after" / "quillmarsh-ferry.txt",
        "The Quillmarsh ferry resumed crossings to the island on Friday after the storm damage was repaired.",
    )
    report = ingest_paths([new], config, embedder=embedder)
    assert report.added == ["quillmarsh-ferry"], report.summary()
    assert leftovers(config.index_dir) == []
    index = open_index(config.index_dir, config)
    assert NHK in [d.doc_id for d in index.documents]
    assert QA(config).search("Quillmarsh ferry crossings", k=1, retriever="bm25")[0].doc_id == "quillmarsh-ferry"
    assert_searchable(config)


@pytest.mark.parametrize("point", CRASH_POINTS, ids=_CRASH_IDS)
def test_kill_at_each_step_of_a_write_leaves_a_usable_index(point, crash_runs, bundled_index, tmp_path, embedder):
    config, returncode, output = crash_runs["-".join([point[1], point[0], str(point[2])])]
    assert returncode == -signal.SIGKILL, f"the child was not killed at {point}: {output[-2000:]}"
    old_version = current_version(bundled_index.index_dir)
    assert_complete_version(config, [MASSIS, NHK], old_version, point[3])
    assert_next_write_works(config, tmp_path, embedder)


def _kill_when_embedding_starts(proc: subprocess.Popen, deadline_s: float = 300) -> bool:
    """SIGKILL `proc` as soon as its progress output shows the embedding stage; whether it did."""
    import select

    seen, deadline = b"", time.monotonic() + deadline_s
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
            if b"embedding" in seen:
                proc.send_signal(signal.SIGKILL)
                return True
    return False


@pytest.mark.parametrize("moment", ["starting", "embedding"])
def test_sigkill_of_qa_ingest_leaves_the_previous_index_usable(moment, bundled_index, extra_corpus, tmp_path, embedder):
    """The real `qa ingest`, killed while it starts and once it shows the embedding stage: the kill
    must land (each step of the write itself is killed in `test_kill_at_each_step_of_a_write...`)."""
    config = copy_index(bundled_index, tmp_path / "index")
    old_version = current_version(config.index_dir)
    proc = subprocess.Popen(
        [*QA_CMD, "ingest", str(extra_corpus), "--index", str(config.index_dir)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        if moment == "starting":
            time.sleep(0.5)  # far less than importing the libraries takes
            proc.send_signal(signal.SIGKILL)
        else:
            assert _kill_when_embedding_starts(proc), "the ingest never showed its embedding stage"
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL  # the kill landed, before the ingest could finish
    assert_complete_version(config, [MASSIS, NHK], old_version, "old")
    assert_next_write_works(config, tmp_path, embedder)


def many_articles(root: Path, n: int) -> Path:
    """n short invented articles of one chunk each, every one with its own words."""
    from bench.synth import name_pool

    names = name_pool()
    for i in range(n):
        place, person = names[2 * i], names[2 * i + 1]
        write_article(
            root / f"{place.lower()}-report.txt",
            f"The {place} harbour board met on Tuesday and approved a new ferry pier after {i + 2} years of talks.",
            f"Board chair {person} said the pier in {place} would open to passengers next spring.",
        )
    return root


def _embedded(signals: Path) -> list[str]:
    path = signals / "embedded.txt"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.mark.parametrize("rebuild", [False, True], ids=["ingest", "rebuild"])
def test_killed_long_ingest_resumes_embedding_only_what_was_not_published(rebuild, bundled_index, tmp_path):
    """A long ingest publishes a segment every `segment_chunks` chunks (here 8; 4 chunks are embedded
    at a time). Killed with -9 in the middle, it keeps what it published; the same command again
    embeds only what was not published. A rebuild does the same beside the live index, which
    readers keep seeing until the rebuild completes."""
    articles = many_articles(tmp_path / "articles", 30)
    paths = [articles, CORPUS] if rebuild else [articles]
    config = copy_index(bundled_index, tmp_path / "run" / "index")
    old = set(passage_texts(config))
    settings = "segment_chunks=8,batch_size=1"
    first, signals = start_driver(tmp_path, config.index_dir, "embed", "before", 6, "kill", paths, settings, rebuild)
    first.communicate(timeout=300)
    assert first.returncode == -signal.SIGKILL
    embedded_first = _embedded(signals)
    assert len(embedded_first) == 20  # five calls of four chunks; the sixth was killed

    if rebuild:  # readers still see the old index; the two published segments wait in a pending state
        assert set(passage_texts(config)) == old and current_version(config.index_dir) == "v000001"
        published = embedded_first[:16]
    else:
        published = sorted(" ".join(t.split()) for t in set(passage_texts(config)) - old)
        assert len(published) == 16 and set(published) <= set(embedded_first)  # two segments of 8

    second, _ = start_driver(tmp_path, config.index_dir, "none", "before", 0, "kill", paths, settings, rebuild)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    embedded_second = _embedded(signals)[len(embedded_first):]
    new_texts = {" ".join(t.split()) for t in passage_texts(config)} - {" ".join(t.split()) for t in old}
    assert not set(embedded_second) & set(published)  # nothing published is embedded again
    if rebuild:  # the rebuild also re-embeds the two bundled articles (a fresh index)
        assert len(embedded_second) == 30 + 9 - 16
    else:
        assert sorted(set(embedded_second) | set(published)) == sorted(new_texts)
        assert len(embedded_second) == 30 - 16
    index = open_index(config.index_dir, config, verify=True)
    assert index.n_documents == 32 and check_index(config.index_dir, config).problems == []
    assert leftovers(config.index_dir) == []


# ====================================================================== one writer, readers keep answering


def test_writer_lock_refuses_a_second_writer_while_readers_keep_answering(bundled_index, tmp_path):
    config = copy_index(bundled_index, tmp_path / "w" / "index")
    old_version = current_version(config.index_dir)
    held = QA(config)
    assert_searchable(config, held)
    new = write_article(
        tmp_path / "new" / "zennorbrook-mill.txt",
        "The Zennorbrook water mill ground its first flour in a century on Sunday, volunteers said.",
    )
    # The writer stops half-way through writing its tmp folder (documents.jsonl and chunks.npy are there).
    writer, signals = start_driver(tmp_path, config.index_dir, "np.save", "before", 2, "wait", [new])
    try:
        deadline = time.monotonic() + 120
        while not (signals / "started").exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert leftovers(config.index_dir), "the writer should be part-way through its tmp folder"

        # Readers answer from the last complete version.
        assert_searchable(config, held)
        assert_searchable(config, QA(config))
        assert held.search("Zennorbrook water mill", retriever="bm25") == []
        searched = run_qa("search", DEMO_QUESTION, "--index", str(config.index_dir), "--json")
        assert_clean_exit(searched, allowed=(0,))
        assert json.loads(searched.stdout)[0]["doc_id"] == NHK

        # A second writer is refused, in the library and on the command line.
        with pytest.raises(IndexLockedError, match="another qa process"):
            ingest_paths([CORPUS], config, rebuild=True)
        with pytest.raises(IndexLockedError, match="another qa process"):
            remove_documents([MASSIS], config)
        second = run_qa("ingest", str(new), "--index", str(config.index_dir))
        assert_clean_exit(second, allowed=(1,))
        assert second.stderr.strip().count("\n") == 0
        assert second.stderr.startswith("error: ") and "another qa process" in second.stderr
        assert current_version(config.index_dir) == old_version
    finally:
        (signals / "go").touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert "1 added" in out

    # The reader held across the write picks up the new version on its next call.
    hits = held.search("Zennorbrook water mill", k=3, retriever="bm25")
    assert hits and hits[0].doc_id == "zennorbrook-mill"
    assert held.index().version != old_version
    assert sorted(d.doc_id for d in held.documents()) == sorted([MASSIS, NHK, "zennorbrook-mill"])
    assert leftovers(config.index_dir) == []


