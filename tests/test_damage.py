"""Damage: every part of a segment and of the catalog truncated, emptied, flipped, deleted or
swapped is detected on open (or by `qa check`) with the rebuild command, never a crash and never
another passage; a mismatch of model or settings says how to rebuild; a rebuild recovers."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qa.config import Config
from qa.errors import IndexCorruptError, IndexMismatchError, rebuild_hint
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.store.index import check_index, current_version, open_index
from tests.conftest import CORPUS, MASSIS, NHK
from tests.reliability import (
    DEMO_QUESTION,
    LIVE,
    OTHER,
    assert_clean_exit,
    assert_searchable,
    copy_index,
    leftovers,
    run_cli,
    run_qa,
    write_article,
)


def doc_ids(config: Config) -> list[str]:
    return [d.doc_id for d in open_index(config.index_dir, config).documents]


PARTS = [
    "documents.jsonl",
    "documents.rows.npy",
    "chunks.npy",
    "vectors.npy",
    "segment.json",
    "lexical.terms.npy",
    "lexical.ptr.npy",
    "lexical.rows.npy",
    "lexical.tf.npy",
    "lexical.lengths.npy",
]


def damage(part: Path, how: str, other_segment: Path) -> None:
    if how == "truncate":
        data = part.read_bytes()
        part.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        part.write_bytes(b"")
    elif how == "flip":  # same size, one byte changed
        data = bytearray(part.read_bytes())
        data[len(data) * 2 // 3] ^= 0x20
        part.write_bytes(bytes(data))
    elif how == "delete":
        part.unlink()
    elif how == "swap":  # the same part from the other segment
        other = other_segment / part.name
        if other.read_bytes() == part.read_bytes():
            pytest.skip(f"{part.name} is identical in both segments")
        shutil.copyfile(other, part)
    else:
        raise AssertionError(how)


def assert_detected(config: Config, *names: str) -> str:
    with pytest.raises((IndexCorruptError, IndexMismatchError)) as err:
        open_index(config.index_dir, config)
    message = str(err.value)
    assert rebuild_hint(config.index_dir) in message, message
    assert "qa ingest corpus --rebuild --index" in message and "\n" not in message
    if names:
        assert any(name in message for name in names), message
    return message


@pytest.mark.parametrize("how", ["truncate", "empty", "flip", "delete", "swap"])
@pytest.mark.parametrize("part", PARTS)
def test_each_damaged_part_is_detected_on_open(part, how, two_versions, tmp_path):
    """Segments under `open_verify_bytes` (every test index) are hashed on open."""
    config = copy_index(two_versions, tmp_path / "index")
    damage(config.index_dir / LIVE / part, how, config.index_dir / OTHER)
    assert_detected(config, f"s000002/{part}")


@pytest.mark.parametrize("part", PARTS)
def test_same_size_damage_of_a_large_segment_is_named_by_qa_check(part, two_versions, tmp_path, capsys):
    """Above `open_verify_bytes` opening checks sizes and counts only; `qa check` hashes every byte
    and names the part. Whatever opens never returns another passage (chunk texts carry a CRC)."""
    config = copy_index(two_versions, tmp_path / "index").with_(open_verify_bytes=0)
    damage(config.index_dir / LIVE / part, "flip", config.index_dir / OTHER)
    try:
        index = open_index(config.index_dir, config)
        texts = index.chunk_texts()
        assert set(texts) <= set(open_index(two_versions.index_dir, two_versions).chunk_texts())
    except (IndexCorruptError, IndexMismatchError) as e:
        assert rebuild_hint(config.index_dir) in str(e)
    report = check_index(config.index_dir, config)
    assert report.problems and any(f"s000002/{part}" in p for p in report.problems), report.problems
    result = run_cli(capsys, "check", "--index", str(config.index_dir))
    assert result.returncode == 1
    assert f"s000002/{part}" in result.stderr and "--rebuild" in result.stderr


def test_qa_check_passes_on_an_intact_index(two_versions):
    result = run_qa("check", "--index", str(two_versions.index_dir))
    assert_clean_exit(result, allowed=(0,))
    assert result.stdout.startswith("ok: 2 segments") and "live v000002" in result.stdout


def test_id_map_from_another_segment_never_returns_the_wrong_passage(two_versions, tmp_path):
    """Rows of chunks.npy reordered (same size, valid offsets): the classic way a store silently
    answers with the wrong passage. Detected on open (hash), and without the hash by the CRC
    of each chunk's text when it is read."""
    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / OTHER / "chunks.npy"
    rows = np.load(path)
    np.save(path, rows[::-1].copy(), allow_pickle=False)
    assert_detected(config, "chunks.npy")
    index = open_index(config.index_dir, config.with_(open_verify_bytes=0))
    with pytest.raises(IndexCorruptError, match="chunks.npy.*does not hold the text.*--rebuild"):
        index.chunk_texts()


def _rewrite_manifest(config: Config, edit) -> None:
    """Edit the live segment's segment.json and record its new checksum in the catalog, so that
    the shape checks (not the checksum) must catch the damage."""
    path = config.index_dir / LIVE / "segment.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest = edit(manifest) or manifest
    data = json.dumps(manifest).encode("utf-8")
    path.write_bytes(data)
    with sqlite3.connect(config.index_dir / "catalog.sqlite") as conn:
        conn.execute("UPDATE segment SET manifest_sha256 = ? WHERE name = 's000002'", (hashlib.sha256(data).hexdigest(),))
    conn.close()


MANIFEST_DAMAGE = {
    "missing key": lambda m: m.pop("n_chunks") and None,
    "settings null": lambda m: m.update(settings=None),
    "files []": lambda m: m.update(files=[]),
    "files {}": lambda m: m.update(files={}),
    "no sha256 for a file": lambda m: m["files"]["vectors.npy"].pop("sha256") and None,
    "size as text": lambda m: m["files"]["vectors.npy"].update(size="12"),
    "dim null": lambda m: m.update(dim=None),
    "another segment's name": lambda m: m.update(name="s000001"),
    "a file outside the segment": lambda m: m["files"].update({"../s000001/vectors.npy": m["files"]["vectors.npy"]}),
    "stops listing a part": lambda m: m["files"].pop("chunks.npy") and None,
    "not an object": lambda m: [m],
    "counts of another segment": lambda m: m.update(n_chunks=m["n_chunks"] + 1),
}


@pytest.mark.parametrize("case", list(MANIFEST_DAMAGE))
def test_damaged_segment_manifest_shape_is_a_corrupt_index_never_a_crash(case, two_versions, tmp_path, capsys):
    config = copy_index(two_versions, tmp_path / "index")
    _rewrite_manifest(config, MANIFEST_DAMAGE[case])
    assert_detected(config, "segment.json")
    result = run_cli(capsys, "search", DEMO_QUESTION, "--index", str(config.index_dir), "--retriever", "bm25")
    assert result.returncode == 1 and "--rebuild" in result.stderr


CATALOG_DAMAGE = {
    "segment outside the index": "UPDATE version SET segments = '[\"../other/segments/s000001\"]' WHERE id = 2",
    "absolute segment path": "UPDATE version SET segments = '[\"{other}/segments/s000001\"]' WHERE id = 2",
    "segment list not a list": "UPDATE version SET segments = '{{\"s000001\": 1}}' WHERE id = 2",
    "segment list unreadable": "UPDATE version SET segments = 'nonsense' WHERE id = 2",
    "segment listed twice": "UPDATE version SET segments = '[\"s000001\", \"s000001\"]' WHERE id = 2",
    "tombstones null": "UPDATE version SET tombstones = 'null' WHERE id = 2",
    "tombstones of an unlisted segment": "UPDATE version SET tombstones = '{{\"s000009\": [0]}}' WHERE id = 2",
    "tombstone beyond the segment": "UPDATE version SET tombstones = '{{\"s000001\": [99]}}' WHERE id = 2",
    "counts disagree": "UPDATE version SET n_chunks = n_chunks + 1 WHERE id = 2",
    "settings null": "UPDATE meta SET value = 'null' WHERE key = 'settings'",
    "settings missing": "DELETE FROM meta WHERE key = 'settings'",
    "head names a missing version": "UPDATE head SET version = 42",
    "head is not a number": "UPDATE head SET version = 'v000002'",
    "no head": "DELETE FROM head",
    "segment record missing": "DELETE FROM segment WHERE name = 's000002'",
    "segment record counts wrong": "UPDATE segment SET n_chunks = n_chunks + 1 WHERE name = 's000002'",
    "a table dropped": "DROP TABLE version",
}


@pytest.mark.parametrize("case", list(CATALOG_DAMAGE))
def test_damaged_catalog_entries_are_a_corrupt_index_never_another_index(case, two_versions, bundled_index, tmp_path, capsys):
    """The catalog names segments only as plain folder names inside `segments/`: a path to another
    index (relative or absolute) is refused, never followed."""
    config = copy_index(two_versions, tmp_path / "index")
    other = copy_index(bundled_index, tmp_path / "other")
    with sqlite3.connect(config.index_dir / "catalog.sqlite") as conn:
        conn.execute(CATALOG_DAMAGE[case].format(other=other.index_dir))
    conn.close()
    assert_detected(config, "catalog.sqlite", "segment")
    result = run_cli(capsys, "search", DEMO_QUESTION, "--index", str(config.index_dir), "--retriever", "bm25")
    assert result.returncode == 1 and "--rebuild" in result.stderr
    if "segment" in case:
        assert run_cli(capsys, "check", "--index", str(config.index_dir)).returncode == 1


@pytest.mark.parametrize("how", ["truncate", "empty", "delete", "garbage"])
def test_damaged_catalog_file_is_detected(how, two_versions, tmp_path, capsys):
    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / "catalog.sqlite"
    if how == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    else:
        damage(path, how, config.index_dir)
    assert_detected(config, "catalog.sqlite")
    assert run_cli(capsys, "check", "--index", str(config.index_dir)).returncode == 1


def test_flipped_bytes_anywhere_in_the_catalog_never_crash(two_versions, tmp_path):
    """A flipped byte that still parses: every open either serves the intact index or raises the
    project's error with the rebuild hint; never KeyError, AttributeError or a wrong passage."""
    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / "catalog.sqlite"
    original = path.read_bytes()
    expected = set(open_index(config.index_dir, config).chunk_texts())
    for position in range(0, len(original), max(1, len(original) // 97)):
        data = bytearray(original)
        data[position] ^= 0x04
        path.write_bytes(bytes(data))
        try:
            index = open_index(config.index_dir, config)
            assert set(index.chunk_texts()) <= expected
        except (IndexCorruptError, IndexMismatchError) as e:
            assert rebuild_hint(config.index_dir) in str(e) and "\n" not in str(e)
        for p in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "case", ["no catalog", "empty catalog", "head names a missing version", "no segment folder", "format version"]
)
def test_missing_or_broken_catalog_is_detected(case, two_versions, tmp_path):
    config = copy_index(two_versions, tmp_path / "index")
    index_dir = config.index_dir
    if case == "no catalog":
        (index_dir / "catalog.sqlite").unlink()
        assert "catalog.sqlite" in assert_detected(config)
    elif case == "empty catalog":
        (index_dir / "catalog.sqlite").write_bytes(b"")
        assert "catalog.sqlite" in assert_detected(config)
    elif case == "head names a missing version":
        with sqlite3.connect(index_dir / "catalog.sqlite") as conn:
            conn.execute("UPDATE head SET version = 42")
        conn.close()
        assert_detected(config, "v000042")
    elif case == "no segment folder":
        shutil.rmtree(index_dir / LIVE)
        assert_detected(config, "s000002")
    else:
        with sqlite3.connect(index_dir / "catalog.sqlite") as conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
        conn.close()
        assert "format" in assert_detected(config)


def test_an_index_of_the_previous_format_says_how_to_rebuild(tmp_path, embedder):
    index_dir = tmp_path / "index"
    (index_dir / "v000001").mkdir(parents=True)
    (index_dir / "CURRENT").write_text("v000001\n", encoding="utf-8")
    config = Config().with_(index_dir=index_dir)
    assert "older version of qa" in assert_detected(config)
    report = ingest_paths([CORPUS], config, rebuild=True, embedder=embedder)
    assert sorted(report.added) == [MASSIS, NHK] and not (index_dir / "CURRENT").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"model_name": "sentence-transformers/all-mpnet-base-v2"},
        {"max_seq_length": 128},
        {"chunk_tokens": 200},
        {"chunk_overlap_tokens": 0},
    ],
    ids=lambda c: next(iter(c)),
)
def test_wrong_model_or_settings_is_a_mismatch_with_the_rebuild_command(change, two_versions):
    config = two_versions.with_(**change)
    with pytest.raises(IndexMismatchError) as err:
        open_index(config.index_dir, config)
    message = str(err.value)
    key = next(iter(change))
    assert key in message and rebuild_hint(config.index_dir) in message


def test_ingest_into_a_damaged_index_refuses_without_writing(two_versions, tmp_path, embedder):
    config = copy_index(two_versions, tmp_path / "index")
    damage(config.index_dir / LIVE / "vectors.npy", "truncate", config.index_dir / OTHER)
    new = write_article(tmp_path / "n" / "kiln.txt", "The brick kiln in Ostrava was restored and fired again this week.")
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        ingest_paths([new], config, embedder=embedder)
    assert current_version(config.index_dir) == "v000002" and leftovers(config.index_dir) == []
    assert sorted(p.name for p in (config.index_dir / "segments").iterdir()) == ["s000001", "s000002"]


def test_cli_reports_damage_on_one_line_and_rebuild_recovers(two_versions, tmp_path):
    config = copy_index(two_versions, tmp_path / "index")
    damage(config.index_dir / LIVE / "chunks.npy", "truncate", config.index_dir / OTHER)
    result = run_qa("search", DEMO_QUESTION, "--index", str(config.index_dir))
    assert_clean_exit(result, allowed=(1,))
    assert result.stderr.strip().count("\n") == 0 and "chunks.npy" in result.stderr
    assert f"qa ingest corpus --rebuild --index {config.index_dir}" in result.stderr

    rebuilt = run_qa("ingest", "corpus", "--rebuild", "--index", str(config.index_dir))
    assert_clean_exit(rebuilt, allowed=(0,))
    assert "2 added" in rebuilt.stdout and "index holds 2 documents" in rebuilt.stdout
    assert sorted(doc_ids(config)) == [MASSIS, NHK]
    assert_searchable(config)


@pytest.mark.parametrize("case", ["no catalog", "no segment manifest", "truncated lexical index", "orphan segment"])
def test_rebuild_recovers_from_any_damage(case, two_versions, tmp_path, embedder):
    config = copy_index(two_versions, tmp_path / "index")
    index_dir = config.index_dir
    if case == "no catalog":
        (index_dir / "catalog.sqlite").unlink()
    elif case == "no segment manifest":
        (index_dir / LIVE / "segment.json").unlink()
    elif case == "truncated lexical index":
        damage(index_dir / LIVE / "lexical.rows.npy", "truncate", index_dir / OTHER)
    else:  # a complete segment folder no state names (a writer killed just after its rename)
        shutil.copytree(index_dir / LIVE, index_dir / "segments" / "s000003")
    with pytest.raises((IndexCorruptError, IndexMismatchError)) if case != "orphan segment" else _no_error():
        open_index(index_dir, config)
    report = ingest_paths([CORPUS], config, rebuild=True, embedder=embedder)
    assert sorted(report.added) == [MASSIS, NHK]
    assert sorted(doc_ids(config)) == [MASSIS, NHK]
    assert leftovers(index_dir) == []
    assert_searchable(config)


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_index_above_the_ann_threshold_opens_and_verifies(tmp_path, embedder):
    """Past `ann_threshold` chunks a segment holds dense.faiss (IVF, memory-mapped); it must open,
    search, merge and be checked like any other."""
    config = Config().with_(index_dir=tmp_path / "index", ann_threshold=4)
    ingest_paths([CORPUS], config, embedder=embedder)
    live = config.index_dir / "segments" / "s000001"
    assert (live / "dense.faiss").exists()
    index = open_index(config.index_dir, config)
    assert index.segments[0].ivf.ntotal == index.n_chunks
    assert_searchable(config)
    remove_documents([MASSIS], config)  # a tombstone: the IVF search must skip its rows
    qa = QA(config)
    assert all(h.doc_id == NHK for h in qa.search("Mirzoyan Partnership for Peace", k=20, retriever="dense"))
    copy = copy_index(config, tmp_path / "copy")
    damage(copy.index_dir / "segments" / "s000001" / "dense.faiss", "truncate", live)
    assert_detected(copy, "dense.faiss")




# ---------------------------------------------------------------- issue 28: catalog rows carry their own check

ROW_EDITS = {  # same-length edits of the rows the catalog serves, each still well-formed
    "tombstone": "UPDATE version SET tombstones = CASE WHEN tombstones LIKE '%[0]%' THEN replace(tombstones, '[0]', "
                 "'[1]') ELSE replace(tombstones, '[1]', '[0]') END WHERE id = 2",
    "head": "UPDATE head SET version = 1",
    "date": f"UPDATE document SET date = replace(date, '2024', '2014') WHERE doc_id = '{NHK}'",
    "title": f"UPDATE document SET title = replace(title, 'NATO', 'NAT0') WHERE doc_id = '{NHK}'",
    "url": f"UPDATE document SET url = replace(url, 'nhk', 'nhx') WHERE doc_id = '{NHK}'",
    "story": f"UPDATE document SET story = substr(story, 1, length(story) - 1) || "
             f"CASE WHEN substr(story, -1) = 'a' THEN 'b' ELSE 'a' END WHERE doc_id = '{NHK}'",
}


@pytest.mark.parametrize("case", list(ROW_EDITS))
def test_same_length_edit_of_a_catalog_row_is_named_and_never_served(case, two_versions, tmp_path, capsys, embedder):
    """A tombstone moved to another row, the live state set back, a date, headline, link or story
    changed in place: `qa list`, `qa search`, `qa ask`, `qa check` and the app name the row in one
    line and exit non-zero; nothing of it is shown. The ways out work: `qa rollback VERSION` past a
    damaged state's entry, a rebuild past any."""
    from qa.chat import Chat

    config = copy_index(two_versions, tmp_path / "index")
    with sqlite3.connect(config.index_dir / "catalog.sqlite") as conn:
        before = conn.total_changes
        conn.execute(ROW_EDITS[case])
        assert conn.total_changes - before == 1  # the edit was made
    conn.close()
    index = str(config.index_dir)
    for command in (["list"], ["search", DEMO_QUESTION, "--json"], ["ask", DEMO_QUESTION], ["check"]):
        result = run_cli(capsys, *command, "--index", index)
        assert result.returncode == 1 and result.stdout == "", (command, result.stdout)
        assert result.stderr.count("\n") == 1, (command, result.stderr)
        assert "catalog.sqlite" in result.stderr and "fails its checksum" in result.stderr, (command, result.stderr)
    status = Chat(config).status()
    assert "fails its checksum" in status and "2024" not in status.replace(index, "")
    if case in ("tombstone", "head"):
        result = run_cli(capsys, "rollback", "v000001", "--index", index)
        assert result.returncode == 0 and "restored v000001" in result.stdout, result.stderr
    else:  # a document's row: every kept state has it
        ingest_paths([CORPUS], config, rebuild=True, embedder=embedder)
    assert sorted(doc_ids(config)) == [MASSIS, NHK] and not check_index(config.index_dir, config).problems


@pytest.mark.parametrize("offset", [0, 20, 28, 32, 47, 52, 64])
def test_flipped_byte_in_catalog_sqlite_header_is_one_line(offset, two_versions, tmp_path, capsys):
    """A flipped bit in the catalog's 100-byte SQLite header: `qa check` and `qa rollback` print one
    line naming the catalog and the way out (SQLite's many problems are counted, not listed)."""
    config = copy_index(two_versions, tmp_path / "index")
    path = config.index_dir / "catalog.sqlite"
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    for command in ("check", "rollback"):
        result = run_cli(capsys, command, "--index", str(config.index_dir))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, (command, result.stderr)
        assert "catalog.sqlite" in result.stderr and "--rebuild" in result.stderr, result.stderr
        assert "qa rollback` may" not in result.stderr  # a rollback cannot repair the catalog itself
    assert current_version(config.index_dir) in ("v000002", "unreadable")
