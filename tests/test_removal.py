"""Removal: a removed or changed document leaves the dense, BM25 and hybrid retrievers at once,
for a reader held across the writes and for a new one; no chunk or document keeps its old words."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from qa.errors import IndexLockedError
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.retrieve import RETRIEVERS
from qa.store.index import check_index, list_versions, open_index
from tests.conftest import MASSIS, NHK
from tests.reliability import assert_clean_exit, copy_index, run_cli, run_qa, write_article


def test_removed_and_changed_documents_leave_dense_bm25_and_hybrid(bundled_index, tmp_path, embedder):
    config = copy_index(bundled_index, tmp_path / "index")
    articles = tmp_path / "articles"
    write_article(
        articles / "lighthouse.txt",
        "The Quillmarsh lighthouse keepers voted on Thursday to restore the copper lantern room.",
        "Repairs to the Quillmarsh tower will start in May and close the cliff path for six weeks.",
    )
    festival = write_article(
        articles / "festival.txt",
        "The Vintrabelle lantern parade will cross the old town on Saturday night, organisers said.",
        "Thousands of paper lanterns were folded by school children for the Vintrabelle parade.",
    )
    report = ingest_paths([articles], config, embedder=embedder)
    assert sorted(report.added) == ["festival", "lighthouse"]

    held = QA(config)  # held across both writes below
    for kind in RETRIEVERS:
        assert held.search("Quillmarsh lighthouse keepers", k=1, retriever=kind)[0].doc_id == "lighthouse"
        assert held.search("Vintrabelle lantern parade", k=1, retriever=kind)[0].doc_id == "festival"

    removed = run_qa("remove", "lighthouse", "--index", str(config.index_dir))
    assert_clean_exit(removed, allowed=(0,))
    assert "1 removed" in removed.stdout

    write_article(
        festival,
        "The Oskarveld kite festival will fill the old town square on Saturday, organisers said.",
        "Thousands of paper kites were folded by school children for the Oskarveld festival.",
    )
    report = ingest_paths([festival], config, embedder=embedder)
    assert report.updated == ["festival"] and not report.added

    gone = ("Quillmarsh", "Vintrabelle")
    for qa in (held, QA(config)):
        assert sorted(d.doc_id for d in qa.documents()) == sorted([MASSIS, NHK, "festival"])
        for kind in RETRIEVERS:
            for question in ("Quillmarsh lighthouse keepers copper lantern", "Vintrabelle lantern parade", "Quillmarsh", "Vintrabelle"):
                hits = qa.search(question, k=50, retriever=kind)
                assert all(h.doc_id != "lighthouse" for h in hits), (kind, question)
                assert not any(word in h.text for h in hits for word in gone), (kind, question)
            assert qa.search("Oskarveld kite festival", k=1, retriever=kind)[0].doc_id == "festival"
        assert qa.search("Vintrabelle", retriever="bm25") == [] and qa.search("Quillmarsh", retriever="bm25") == []
    index = open_index(config.index_dir, config)
    assert not any(word in text for text in index.chunk_texts() for word in gone)
    assert not any(word in d.text for d in index.documents for word in gone)


# ---------------------------------------------------------------- issue 28: a removal that stays, never outside the index


def _lose_the_log(index_dir: Path) -> None:
    """What a copy of the index without SQLite's side files (or a crash that loses them) leaves."""
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{index_dir / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)


def _hold_a_read_transaction(catalog: Path, seconds: float) -> threading.Thread:
    """A reader (as `qa check` once was) holding a read transaction on the catalog for `seconds`."""
    held = threading.Event()

    def read() -> None:
        conn = sqlite3.connect(catalog, isolation_level=None)
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM version").fetchall()
        held.set()
        time.sleep(seconds)
        conn.close()

    thread = threading.Thread(target=read)
    thread.start()
    assert held.wait(30)
    return thread


def test_committed_removal_survives_lost_wal(bundled_index, tmp_path, monkeypatch, capsys, embedder):
    """A remove that says "1 removed" is in catalog.sqlite itself: losing every side file of the
    catalog never brings the article back, and the next write never reuses a state number. One
    that readers keep waiting past the busy timeout says in one line that nothing was changed."""
    monkeypatch.setattr("qa.store.catalog.BUSY_TIMEOUT_S", 2.0, raising=False)
    config = copy_index(bundled_index, tmp_path / "index")
    index = str(config.index_dir)
    catalog = config.index_dir / "catalog.sqlite"

    reader = _hold_a_read_transaction(catalog, 8.0)  # longer than the writer waits
    result = run_cli(capsys, "remove", MASSIS, "--index", index)
    reader.join()
    _lose_the_log(config.index_dir)
    listed = sorted(d.doc_id for d in open_index(config.index_dir, config).documents)
    if result.returncode == 0:  # it said removed: then it is, without the log
        assert "1 removed" in result.stdout and listed == [NHK]
    else:  # it said, in one line, that nothing was changed: then nothing was
        assert "busy" in result.stderr and "nothing was changed" in result.stderr and "run the command again" in result.stderr
        assert result.stderr.strip().count("\n") == 0 and listed == [MASSIS, NHK]

    reader = _hold_a_read_transaction(catalog, 0.5)  # done within the writer's wait
    result = run_cli(capsys, "remove", MASSIS, "--index", index)
    reader.join()
    assert result.returncode == 0 and "1 removed" in result.stdout
    before = [v.id for v in list_versions(config.index_dir)[1]]
    _lose_the_log(config.index_dir)
    assert [d.doc_id for d in open_index(config.index_dir, config).documents] == [NHK]
    assert not check_index(config.index_dir, config).problems
    new = write_article(tmp_path / "new" / "kiln.txt", "The brick kiln in Ostrava was restored and fired again this week.")
    ingest_paths([new], config, embedder=embedder)
    live, _ = list_versions(config.index_dir)
    assert int(live[1:]) == max(before) + 1  # a new number, never one committed before
    assert (config.index_dir / "catalog.last-version").read_text(encoding="utf-8") == f"{max(before) + 1}\n"
    assert not check_index(config.index_dir, config).problems


def test_remove_never_follows_uploads_symlink(bundled_index, tmp_path, capsys, embedder):
    """`<index>/uploads` a symbolic link to the folder an article was ingested from: `qa remove` is
    refused in one line and deletes nothing there (it used to delete the article's own file)."""
    config = copy_index(bundled_index, tmp_path / "index")
    news = tmp_path / "news"
    article = write_article(news / "harbour.txt", "The harbour of Skerry Bay reopened on Monday after the storm.")
    assert ingest_paths([article], config, embedder=embedder).added == ["harbour"]
    os.symlink(news, config.index_dir / "uploads")
    result = run_cli(capsys, "remove", "harbour", "--index", str(config.index_dir))
    assert article.read_text(encoding="utf-8").startswith("The harbour of Skerry Bay")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert "uploads is a symbolic link" in result.stderr and "remove the link" in result.stderr
    assert "harbour" in [d.doc_id for d in open_index(config.index_dir, config).documents]
    with pytest.raises(IndexLockedError, match="symbolic link"):
        remove_documents(["harbour"], config)
    assert article.exists()
    (config.index_dir / "uploads").unlink()  # the link gone, the same remove works and keeps the file
    assert remove_documents(["harbour"], config).removed == ["harbour"] and article.exists()


def test_remove_same_id_twice_reports_one_removed(bundled_index, tmp_path, capsys):
    config = copy_index(bundled_index, tmp_path / "index")
    result = run_cli(capsys, "remove", MASSIS, MASSIS, "--index", str(config.index_dir))
    assert result.returncode == 0
    assert f"1 removed ({MASSIS})" in result.stdout and "2 removed" not in result.stdout
    assert "the index holds 1 document," in result.stdout
