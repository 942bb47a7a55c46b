"""The nine gaps a probe of bad inputs, damage and hostile files found (issue 20), one test each
named after the case: each failed before the fix. Indexes are copies in tmp folders."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa.chat import Chat
from qa.config import Config
from qa.errors import IndexCorruptError
from qa.ingest.read import expand_paths, read_documents
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.store.index import check_index, current_version, open_index
from tests.conftest import MASSIS, NHK
from tests.reliability import LIVE, copy_index, run_cli

GOOD = "The harbour of Skerry Bay reopened on Monday after the storm, the port authority said."


def _texts(config: Config) -> list[str]:
    return [d.text for d in open_index(config.index_dir, config).documents]


# ---------------------------------------------------------------- 1. NUL in the first 8 KB


def test_nul_in_first_8kb_keeps_good_records_of_a_jsonl_file(tmp_path):
    path = tmp_path / "feed.jsonl"
    good = [json.dumps({"title": f"Story {i}", "text": f"{GOOD} Story number {i}."}) for i in range(3)]
    path.write_bytes(("\n".join(good) + "\n").encode() + b'{"title": "cut", "text": "half\x00\x00\x00\x00' + b"\x00" * 400)
    docs, skipped = read_documents([path], Config())
    assert [d.article.title for d in docs] == ["Story 0", "Story 1", "Story 2"]
    assert [s.record for s in skipped] == [":4"]


def test_nul_in_first_8kb_of_a_txt_file_is_stripped_not_binary(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(b"Harbour reopens\n\nThe harbour of Skerry Bay re\x00opened on Monday after the storm.\n")
    docs, skipped = read_documents([path], Config())
    assert not skipped and "reopened on Monday" in docs[0].text and "\x00" not in docs[0].text


def test_nul_at_the_start_of_a_file_is_still_binary(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x00\x01PNG" + bytes(range(256)) * 4)
    docs, skipped = read_documents([path], Config())
    assert not docs and "binary" in skipped[0].reason


# ---------------------------------------------------------------- 2. a file name that is not UTF-8


def test_file_name_not_utf8_is_skipped_in_one_quoted_line_and_good_files_go_in(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD + "\n", encoding="utf-8")
    bad = os.fsencode(folder) + b"/bad\xffname.txt"
    with open(bad, "wb") as f:
        f.write(GOOD.replace("Monday", "Tuesday").encode() + b"\n")
    result = run_cli(capsys, "ingest", str(folder), "--index", str(tmp_path / "index"))  # in-process: no model reload
    assert result.returncode == 1, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Skipped")]
    assert len(lines) == 1 and '"' in lines[0] and "xffname.txt" in lines[0] and "rename" in lines[0]
    assert "1 added" in result.stdout


# ---------------------------------------------------------------- 3. UTF-8 mixed with Latin-1


def test_file_mixing_utf8_and_latin1_decodes_each_part_right(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes("Café owners — in Zürich — met.\n\n".encode() + "Le café de la gare a rouvert.\n".encode("latin-1"))
    docs, skipped = read_documents([path], Config())
    assert not skipped
    assert "Café owners — in Zürich — met." in docs[0].text and "Le café de la gare" in docs[0].text
    assert "Ã" not in docs[0].text and "â€" not in docs[0].text


# ---------------------------------------------------------------- 4. a symlink loop given as a path


def test_symlink_loop_given_as_path_is_reported_as_a_loop(tmp_path):
    loop = tmp_path / "loop.txt"
    os.symlink(loop, loop)
    files, skipped = expand_paths([loop])
    assert not files and "symbolic link loop" in skipped[0].reason
    dangling = tmp_path / "dangling.txt"
    os.symlink(tmp_path / "nowhere.txt", dangling)
    assert "broken symbolic link" in expand_paths([dangling])[1][0].reason


# ---------------------------------------------------------------- 5. a committed write and SQLite's side files


@pytest.mark.parametrize("how", ["deleted", "truncated", "damaged"])
def test_wal_lost_after_remove_keeps_the_removal(how, bundled_index, tmp_path):
    """A reader holds a read transaction while the remove commits (it used to keep the commit in
    catalog.sqlite-wal, and this test's damage then fell on an empty log: it tested nothing). Now
    the commit is in catalog.sqlite itself: the copy is taken of it alone, and a side file left
    beside it (a log from an older qa, deleted, truncated or damaged) changes nothing."""
    import threading

    config = copy_index(bundled_index, tmp_path / "index")
    catalog = config.index_dir / "catalog.sqlite"
    reader = sqlite3.connect(catalog, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM version").fetchall()
    threading.Timer(0.5, reader.close).start()  # within the writer's wait for readers
    remove_documents([MASSIS], config)
    # The precondition, strictly: no side file holds any part of the commit.
    assert not any(Path(f"{catalog}{suffix}").exists() for suffix in ("-wal", "-journal"))
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copyfile(catalog, copy / "catalog.sqlite")
    shutil.copytree(config.index_dir / "segments", copy / "segments")
    stale = bytearray(b"\x37\x7f\x06\x82" + bytes(range(256)) * 16)  # a WAL's magic, then garbage
    if how == "truncated":
        (copy / "catalog.sqlite-wal").write_bytes(bytes(stale[:40]))
    elif how == "damaged":
        stale[200] ^= 0xFF
        (copy / "catalog.sqlite-wal").write_bytes(bytes(stale))
    copied = config.with_(index_dir=copy)
    assert [d.doc_id for d in open_index(copy, copied).documents] == [NHK]
    assert not check_index(copy, copied).problems


def test_catalog_that_went_back_in_time_is_named_by_qa_check(bundled_index, tmp_path, capsys):
    config = copy_index(bundled_index, tmp_path / "index")
    old = (config.index_dir / "catalog.sqlite").read_bytes()
    remove_documents([MASSIS], config)
    (config.index_dir / "catalog.sqlite").write_bytes(old)  # an old copy, as a lost -wal leaves it
    result = run_cli(capsys, "check", "--index", str(config.index_dir))
    assert result.returncode == 1 and "went back in time" in result.stderr and "repeat them" in result.stderr


# ---------------------------------------------------------------- 6. damage in a large segment


def test_same_size_overwrite_of_lexical_rows_in_a_large_segment_is_caught_before_bm25_ranks(bundled_index, tmp_path):
    """Above `open_verify_bytes` a segment is not hashed on open; each part a search reads is
    checked (CRC-32) on its first use, so a rewritten postings array never ranks."""
    config = copy_index(bundled_index, tmp_path / "index").with_(open_verify_bytes=0)
    path = config.index_dir / "segments" / "s000001" / "lexical.rows.npy"
    rows = np.load(path)
    np.save(path, np.roll(rows, 7), allow_pickle=False)  # same size, same dtype, valid row numbers
    index = open_index(config.index_dir, config)  # opening stays cheap: sizes and shapes only
    with pytest.raises(IndexCorruptError, match=r"lexical\.rows\.npy.*--rebuild"):
        QA(config).search("first NATO secretary general to visit Armenia", retriever="bm25")
    with pytest.raises(IndexCorruptError, match=r"lexical\.rows\.npy"):
        index.search_lexical(["armenia"], 3)


def test_same_size_overwrite_of_vectors_in_a_large_segment_is_caught_before_dense_ranks(bundled_index, tmp_path):
    config = copy_index(bundled_index, tmp_path / "index").with_(open_verify_bytes=0)
    path = config.index_dir / "segments" / "s000001" / "vectors.npy"
    vectors = np.load(path)
    np.save(path, vectors[::-1].copy(), allow_pickle=False)
    index = open_index(config.index_dir, config)
    with pytest.raises(IndexCorruptError, match=r"vectors\.npy"):
        index.search_dense(np.ones(vectors.shape[1], np.float32), 3)


# ---------------------------------------------------------------- 7. rollback past a damaged segment


def test_rollback_past_a_damaged_newest_segment(two_versions, tmp_path, capsys):
    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / LIVE / "vectors.npy"
    path.write_bytes(path.read_bytes()[:100])
    result = run_cli(capsys, "rollback", "v000001", "--index", str(config.index_dir))
    assert result.returncode == 0, result.stderr
    assert "restored v000001" in result.stdout
    assert "1994" in " ".join(_texts(config))
    # rolling forward onto the damaged state is refused
    result = run_cli(capsys, "rollback", "v000002", "--index", str(config.index_dir))
    assert result.returncode == 1 and "s000002" in result.stderr


# ---------------------------------------------------------------- 8. a catalog with flipped bytes


def _flip_document_table(config: Config) -> None:
    with sqlite3.connect(config.index_dir / "catalog.sqlite") as conn:
        conn.execute("PRAGMA writable_schema = ON")
        # A changed id in the table but not in its index: what a flipped byte in a page does.
        conn.execute("DROP INDEX document_by_id")
        conn.execute(f"UPDATE document SET doc_id = 'massispost-armenia-nato-agendb' WHERE doc_id = '{MASSIS}'")
        conn.execute("CREATE INDEX document_by_id ON document(doc_id)")
    conn.close()


def test_flipped_catalog_bytes_are_named_by_list_ingest_and_rollback(two_versions, tmp_path, capsys):
    config = copy_index(two_versions, tmp_path / "index")
    _flip_document_table(config)
    index = str(config.index_dir)
    listed = run_cli(capsys, "list", "--index", index)
    assert listed.returncode == 1 and listed.stdout == ""
    assert "catalog.sqlite" in listed.stderr and "--rebuild" in listed.stderr
    rolled = run_cli(capsys, "rollback", "--index", index)
    assert rolled.returncode == 1 and "catalog.sqlite" in rolled.stderr and "--rebuild" in rolled.stderr
    assert current_version(config.index_dir) == "v000002"


def test_ingest_into_a_catalog_missing_its_document_table_names_the_damage(two_versions, tmp_path, embedder):
    config = copy_index(two_versions, tmp_path / "index")
    with sqlite3.connect(config.index_dir / "catalog.sqlite") as conn:
        conn.execute("DROP TABLE document")
    conn.close()
    new = tmp_path / "new.txt"
    new.write_text(GOOD + "\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=r"catalog\.sqlite.*--rebuild") as err:
        ingest_paths([new], config, embedder=embedder)
    assert "\n" not in str(err.value)


def test_flipped_bytes_in_catalog_pages_give_one_line_with_the_way_out(two_versions, tmp_path, capsys, embedder):
    """Bytes of the catalog flipped one at a time: list, ingest and rollback each work or name the
    damage with the way out; never an unexpected error, never a traceback."""
    from qa.errors import QAError

    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / "catalog.sqlite"
    original = path.read_bytes()
    new = tmp_path / "new.txt"
    new.write_text(GOOD + "\n", encoding="utf-8")
    for position in range(4096, len(original), 997):
        for command in ("list", "ingest", "rollback"):
            data = bytearray(original)
            data[position] ^= 0x10
            path.write_bytes(bytes(data))
            for p in (Path(f"{path}-wal"), Path(f"{path}-shm"), config.index_dir / "catalog.last-version"):
                p.unlink(missing_ok=True)
            if command == "ingest":
                try:
                    ingest_paths([new], config, embedder=embedder)
                except QAError as e:
                    assert "--rebuild" in str(e) and "\n" not in str(e), e
                continue
            result = run_cli(capsys, command, "--index", str(config.index_dir))  # asserts no "unexpected"
            if result.returncode == 1:
                assert "--rebuild" in result.stderr or "qa versions" in result.stderr, result.stderr


# ---------------------------------------------------------------- 9. an upload never writes through a link


def test_upload_named_like_a_symlink_in_uploads_never_writes_through_it(bundled_index, tmp_path):
    config = copy_index(bundled_index, tmp_path / "index")
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n", encoding="utf-8")
    uploads = config.index_dir / "uploads"
    uploads.mkdir()
    os.symlink(outside, uploads / "link.txt")
    staged = tmp_path / "staged" / "link.txt"
    staged.parent.mkdir()
    staged.write_text(GOOD + "\n", encoding="utf-8")
    chat = Chat(config)
    reply = chat.upload([staged], lambda *a, **k: None)
    assert outside.read_text(encoding="utf-8") == "precious\n"
    assert "symbolic link" in reply and (uploads / "link.txt").is_symlink()


# ---------------------------------------------------------------- smaller ones


@pytest.mark.parametrize("command", [["remove", "some-doc"], ["compact"], ["rollback"]])
def test_write_commands_with_a_mistyped_index_refuse_without_creating_it(command, tmp_path, capsys):
    typo = tmp_path / "indx"
    result = run_cli(capsys, *command, "--index", str(typo))
    assert result.returncode == 1 and not typo.exists()
    assert "no index here yet" in result.stderr and "no document with id" not in result.stderr


def test_removing_an_uploaded_article_deletes_its_copy_and_rebuild_keeps_uploads(bundled_index, tmp_path, embedder, capsys):
    config = copy_index(bundled_index, tmp_path / "index")
    staged = tmp_path / "staged"
    staged.mkdir()
    for name, text in (("kiln.txt", "The brick kiln in Ostrava was restored and fired again this week."),
                       ("ferry.txt", GOOD)):
        (staged / name).write_text(text + "\n", encoding="utf-8")
    chat = Chat(config)
    chat.qa.embedder = embedder
    reply = chat.upload([staged / "kiln.txt", staged / "ferry.txt"], lambda *a, **k: None)
    assert "Added: kiln, ferry." in reply
    uploads = config.index_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["ferry.txt", "kiln.txt"]

    assert "Removed: kiln" in chat.remove(["kiln"])
    assert sorted(p.name for p in uploads.iterdir()) == ["ferry.txt"]

    report = ingest_paths([Path(__file__).resolve().parent.parent / "corpus"], config, rebuild=True, embedder=embedder)
    assert report.uploads_kept == 1
    assert sorted(d.doc_id for d in open_index(config.index_dir, config).documents) == sorted([MASSIS, NHK, "ferry"])


def test_symlinked_lock_is_a_clear_message_and_its_target_untouched(bundled_index, tmp_path, capsys):
    config = copy_index(bundled_index, tmp_path / "index")
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n", encoding="utf-8")
    lock = config.index_dir / ".lock"
    lock.unlink(missing_ok=True)
    os.symlink(target, lock)
    result = run_cli(capsys, "remove", NHK, "--index", str(config.index_dir))
    assert result.returncode == 1 and ".lock" in result.stderr and "symbolic link" in result.stderr
    assert target.read_text(encoding="utf-8") == "keep me\n"


def test_app_status_on_a_damaged_index_gives_the_rebuild_not_upload(bundled_index, tmp_path):
    config = copy_index(bundled_index, tmp_path / "index")
    (config.index_dir / "segments" / "s000001" / "chunks.npy").write_bytes(b"")
    status = Chat(config).status()
    assert "--rebuild" in status and "Upload" not in status


def test_raw_ask_calls_get_clear_errors_and_agree_with_the_cli(bundled_index, tmp_path, capfd):
    """Fewer inputs than listed take the defaults; an empty question is refused as `qa ask ""`
    is; a huge `until` is not echoed whole; the server prints no traceback."""
    import httpx

    from tests.conftest import launch_app_over_copy

    demo, url, _ = launch_app_over_copy(bundled_index, tmp_path / "index")
    try:
        def call(data):
            event = httpx.post(url + "gradio_api/call/ask", json={"data": data}, timeout=120).json()["event_id"]
            return httpx.get(url + f"gradio_api/call/ask/{event}", timeout=120).text

        answered = call(["Who is the Kremlin spokesperson?"])
        assert "event: complete" in answered and "Peskov" in answered
        for data in ([], [""], ["   ", 5]):
            reply = call(data)
            assert "event: error" in reply and "the question is empty" in reply, reply
        reply = call(["Who?", 5, "hybrid", 0.4, "", "x" * 1_000_000])
        assert "is not a date" in reply and len(reply) < 1000
    finally:
        demo.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-2000:]
