"""qa/store/catalog.py: a catalog created in a tmp folder; segments, documents, story sketches and
versions added in transactions and read back with their expected values; tombstones, pending
rebuilds, rollback of a failed transaction, version numbers never reused, and damage refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qa.documents import ArticleMeta
from qa.store.catalog import (
    CATALOG,
    FORMAT_VERSION,
    LAST_COMMITTED,
    Catalog,
    CatalogBusyError,
    CatalogError,
    CatalogFormatError,
    DocRecord,
    version_name,
)
from qa.store.segment import SegmentRecord

SETTINGS = {"model_name": "m", "chunk_tokens": 128}
S1 = SegmentRecord("s000001", 2, 5, "a" * 64)
S2 = SegmentRecord("s000002", 1, 2, "b" * 64)
HARBOUR = DocRecord("s000001", 0, ArticleMeta("harbour", "Harbour reopens", "https://example.org/harbour", "2024-02-10",
                                               "example.org"), "in/harbour.txt", "h1", 3, "story-harbour")
MILL = DocRecord("s000001", 1, ArticleMeta("mill", "Mill grinds"), "in/feed.jsonl#2", "m1", 2, story="story-mill")
HARBOUR_EDITED = DocRecord("s000002", 0, ArticleMeta("harbour", "Harbour reopens again"), "in/harbour.txt", "h2", 2,
                           story="story-harbour")


def last_committed(index_dir: Path) -> str:
    return (index_dir / LAST_COMMITTED).read_text(encoding="utf-8")


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    """A catalog with two states: v1 = s000001 (harbour, mill); v2 = s000001 with the harbour's row
    deleted, plus s000002 holding its edited text."""
    catalog = Catalog.create(tmp_path, SETTINGS)
    with catalog.write_transaction():
        catalog.add_segment(S1, 1000, [HARBOUR, MILL], [([11, 12], b"sig-harbour"), None])
        catalog.set_head(catalog.add_version("run-1", "ingest", "2 added", ["s000001"], {}, 2, 5))
    with catalog.write_transaction():
        catalog.add_segment(S2, 400, [HARBOUR_EDITED], [([12, 13], b"sig-harbour-2")])
        catalog.set_head(catalog.add_version("run-2", "ingest", "1 updated", ["s000001", "s000002"],
                                             {"s000001": [0]}, 2, 4))
    yield catalog
    catalog.close()


def test_a_new_catalog_is_empty_with_its_settings(tmp_path):
    catalog = Catalog.create(tmp_path / "index", SETTINGS)
    assert catalog.path == tmp_path / "index" / CATALOG and catalog.path.is_file()
    assert catalog.settings == SETTINGS
    assert catalog.head() is None and catalog.versions() == [] and catalog.pending() is None
    assert (catalog.last_version_id(), catalog.segments_made()) == (0, 0)
    assert catalog.all_segment_names() == set() and catalog.integrity_problems() == []
    assert last_committed(tmp_path / "index") == "0\n" and catalog.lost_commits() is None
    catalog.close()


def test_versions_read_back_as_written(catalog):
    v1, v2 = catalog.versions()
    assert (v1.id, v1.name, v1.run, v1.action, v1.summary) == (1, "v000001", "run-1", "ingest", "2 added")
    assert (v1.segments, v1.tombstones, v1.n_documents, v1.n_chunks, v1.pending) == (("s000001",), {}, 2, 5, False)
    assert (v2.name, v2.segments, v2.n_chunks) == ("v000002", ("s000001", "s000002"), 4)
    assert v2.tombstones == {"s000001": frozenset({0})}
    assert catalog.head() == v2 and catalog.version(1) == v1
    assert (catalog.last_version_id(), catalog.segments_made()) == (2, 2)
    assert last_committed(catalog.path.parent) == "2\n"  # written after each commit


def test_live_documents_of_a_version_skip_its_tombstones_in_segment_then_row_order(catalog):
    v1, v2 = catalog.versions()
    assert catalog.documents(v1) == [HARBOUR, MILL]
    assert catalog.documents(v2) == [MILL, HARBOUR_EDITED]
    assert catalog.documents(v2, "doc_id", ["harbour"]) == [HARBOUR_EDITED]
    assert catalog.documents(v1, "doc_id", ["harbour"]) == [HARBOUR]
    assert catalog.documents(v2, "source", ["in/feed.jsonl#2", "in/none.txt"]) == [MILL]
    assert catalog.documents(v2, "story", ["story-harbour"]) == [HARBOUR_EDITED]
    assert catalog.documents(v2, "doc_id", []) == []
    # Every row of a segment, live or not:
    assert catalog.segment_documents("s000001") == [HARBOUR, MILL]


def test_segment_records_and_their_absence(catalog):
    assert catalog.segment_records(["s000002", "s000001"]) == {"s000001": S1, "s000002": S2}
    assert catalog.all_segment_names() == {"s000001", "s000002"}
    with pytest.raises(CatalogError, match="no record of segment s000009"):
        catalog.segment_records(["s000001", "s000009"])


def test_story_sketches_are_found_by_a_shared_band_key(catalog):
    assert catalog.signatures("s000001") == {0: b"sig-harbour"}  # the mill had no sketch
    assert catalog.signatures("s000002") == {0: b"sig-harbour-2"}
    assert catalog.story_candidates([11]) == [("s000001", 0, "story-harbour", b"sig-harbour")]
    both = sorted(catalog.story_candidates([12, 99]))
    assert both == [("s000001", 0, "story-harbour", b"sig-harbour"), ("s000002", 0, "story-harbour", b"sig-harbour-2")]
    assert catalog.story_candidates([99]) == [] and catalog.story_candidates([]) == []


def test_a_pending_rebuild_is_invisible_until_it_is_made_live(catalog):
    with catalog.write_transaction():
        pending = catalog.add_version("run-3", "rebuild", "rebuilding", ["s000002"], {"s000002": []}, 1, 2, pending=True)
    assert pending == 3
    assert [v.id for v in catalog.versions()] == [1, 2] and catalog.head().id == 2
    found = catalog.pending()
    assert (found.id, found.pending, found.tombstones) == (3, True, {})  # an empty tombstone list is not stored
    with catalog.write_transaction():
        catalog.set_head(3)
    with pytest.raises(CatalogError, match="unfinished rebuild"):
        catalog.head()


def test_a_failed_transaction_leaves_nothing(catalog):
    with pytest.raises(RuntimeError), catalog.write_transaction():
        catalog.add_segment(SegmentRecord("s000003", 1, 1, "c" * 64), 10, [])
        catalog.set_head(catalog.add_version("run-3", "ingest", "1 added", ["s000003"], {}, 1, 1))
        raise RuntimeError("the writer failed before its commit")
    assert [v.id for v in catalog.versions()] == [1, 2] and catalog.head().id == 2
    assert catalog.all_segment_names() == {"s000001", "s000002"}
    assert (catalog.last_version_id(), catalog.segments_made()) == (2, 2)


def test_version_numbers_are_never_reused_and_forgotten_segments_leave_no_rows(catalog):
    with catalog.write_transaction():
        catalog.delete_version(1)
        catalog.forget_segment("s000002")
    assert [v.id for v in catalog.versions()] == [2]
    assert catalog.all_segment_names() == {"s000001"} and catalog.segment_documents("s000002") == []
    assert catalog.signatures("s000002") == {} and catalog.story_candidates([13]) == []
    with catalog.write_transaction():
        catalog.delete_version(2)
        assert catalog.add_version("run-3", "ingest", "again", ["s000001"], {}, 2, 5) == 3
    assert catalog.segments_made() == 2  # segment numbers are not handed out again either


def test_a_reader_sees_the_committed_state(catalog):
    reader = Catalog.open(catalog.path.parent)
    with reader.read_transaction():
        assert reader.head().name == "v000002" and reader.settings == SETTINGS
    reader.close()


def test_version_lookups_refuse_what_is_not_a_kept_version(catalog):
    with pytest.raises(CatalogError, match="version v000042 is missing"):
        catalog.version(42)
    for bad in (True, "v000001", 1.0):
        with pytest.raises(CatalogError, match="not a version number"):
            catalog.version(bad)
    assert version_name(7) == "v000007"


def test_a_catalog_that_went_back_in_time_says_which_writes_are_lost(catalog):
    (catalog.path.parent / LAST_COMMITTED).write_text("5\n", encoding="utf-8")
    message = catalog.lost_commits()
    assert "went back in time" in message and "ends at v000002" in message and "v000005 was committed" in message
    (catalog.path.parent / LAST_COMMITTED).write_text("not a number\n", encoding="utf-8")
    assert catalog.lost_commits() is None


def damage(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql)
    conn.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE version SET segments = '[\"../elsewhere\"]' WHERE id = 2", "not folders of this index"),
        ("UPDATE version SET segments = '[\"s000001\", \"s000001\"]' WHERE id = 2", "lists a segment twice"),
        ("UPDATE version SET segments = 'nonsense' WHERE id = 2", "unreadable segment list"),
        ("UPDATE version SET tombstones = '{\"s000009\": [0]}' WHERE id = 2", "damaged tombstones"),
        ("UPDATE version SET tombstones = '{\"s000001\": [-1]}' WHERE id = 2", "damaged tombstones"),
        ("UPDATE version SET n_chunks = -1 WHERE id = 2", "version 2 is damaged"),
        ("UPDATE head SET version = 'v000002'", "not a version number"),
        ("DELETE FROM head", "no state is marked live"),
    ],
)
def test_damaged_rows_are_a_catalog_error(catalog, sql, message):
    damage(catalog.path, sql)
    with pytest.raises(CatalogError, match=message):
        catalog.head()


def test_a_catalog_of_another_format_or_without_settings_is_refused(catalog):
    index_dir = catalog.path.parent
    with pytest.raises(FileNotFoundError):
        Catalog.open(index_dir / "elsewhere")
    damage(catalog.path, "UPDATE meta SET value = '2' WHERE key = 'format_version'")
    with pytest.raises(CatalogFormatError, match=f"index format '2' is not the supported {FORMAT_VERSION}"):
        Catalog.open(index_dir)
    damage(catalog.path, f"UPDATE meta SET value = '{FORMAT_VERSION}' WHERE key = 'format_version'")
    damage(catalog.path, "UPDATE meta SET value = '[1]' WHERE key = 'settings'")
    with pytest.raises(CatalogError, match="settings entry is missing or damaged"):
        Catalog.open(index_dir)


def test_a_file_that_is_not_sqlite_is_unreadable(tmp_path):
    (tmp_path / CATALOG).write_bytes(b"not a database at all, " * 200)
    with pytest.raises(CatalogError, match="unreadable"):
        Catalog.open(tmp_path)


def test_create_replaces_a_damaged_catalog_with_an_empty_one(catalog):
    index_dir = catalog.path.parent
    catalog.close()
    (index_dir / CATALOG).write_bytes(b"garbage")
    fresh = Catalog.create(index_dir, {"model_name": "other"})
    assert fresh.versions() == [] and fresh.settings == {"model_name": "other"}
    # Its states are numbered after the last one committed in this folder: v000002 is never reused.
    assert not list(index_dir.glob(".tmp-catalog-*")) and last_committed(index_dir) == "2\n"
    with fresh.write_transaction():
        assert fresh.add_version("run-3", "rebuild", "1 document", [], {}, 0, 0) == 3
    fresh.close()


# ---------------------------------------------------------------- issue 28: rows that carry their own check


ROW_EDITS = {  # same-length edits of served rows, each still well-formed
    "a tombstone": ("UPDATE version SET tombstones = '{\"s000001\": [1]}' WHERE id = 2", "state v000002"),
    "the live state": ("UPDATE head SET version = 1", "the entry naming the live state"),
    "a date": ("UPDATE document SET date = '2014-02-10' WHERE doc_id = 'harbour' AND segment = 's000001'",
               "document row 0 of segment s000001"),
    "a title": ("UPDATE document SET title = 'Harbour reopenz' WHERE segment = 's000001' AND row = 0",
                "document row 0 of segment s000001"),
    "a story": ("UPDATE document SET story = 'story-harbouR' WHERE segment = 's000002'", "document row 0 of segment s000002"),
    "a sketch": ("UPDATE minhash SET signature = CAST(X'00' || substr(signature, 2) AS BLOB) WHERE segment = 's000001'",
                 "story sketch of document row 0 of segment s000001"),
}


@pytest.mark.parametrize("case", list(ROW_EDITS))
def test_a_same_length_edit_of_a_served_row_fails_its_checksum(catalog, case):
    sql, named = ROW_EDITS[case]
    with sqlite3.connect(catalog.path) as conn:
        assert conn.execute(sql).rowcount == 1  # the edit was made
    conn.close()
    reader = Catalog.open(catalog.path.parent)
    with pytest.raises(CatalogError, match="fails its checksum") as err:
        reader.head()
        v1, v2 = reader.versions()
        reader.documents(v1), reader.documents(v2), reader.documents(v2, "story", ["story-harbour"])
        reader.signatures("s000001"), reader.story_candidates([11, 12, 13])
    assert named in str(err.value) and "\n" not in str(err.value)
    reader.close()


def _downgrade_to_format_3(path: Path) -> None:
    """The catalog as qa wrote it before rows carried checksums."""
    with sqlite3.connect(path) as conn:
        for table in ("document", "minhash", "version", "head"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN crc")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'format_version'")
    conn.close()


def test_a_catalog_of_the_format_before_row_checksums_is_upgraded_in_place_by_a_writer(catalog):
    index_dir = catalog.path.parent
    before = (catalog.versions(), catalog.head(), catalog.documents(catalog.head()), catalog.signatures("s000001"))
    catalog.close()
    _downgrade_to_format_3(index_dir / CATALOG)
    with pytest.raises(CatalogFormatError, match="index format '3'"):
        Catalog.open(index_dir)  # a reader never writes: it says how to upgrade (qa/store/index.py)
    writer = Catalog.open(index_dir, write=True)
    assert (writer.versions(), writer.head(), writer.documents(writer.head()), writer.signatures("s000001")) == before
    writer.close()
    damage(index_dir / CATALOG, "UPDATE head SET version = 1")
    with pytest.raises(CatalogError, match="fails its checksum"):
        Catalog.open(index_dir).head()


def test_a_commit_that_readers_keep_waiting_is_not_made_and_says_so(catalog, monkeypatch):
    """A rollback journal: a commit is in catalog.sqlite when it returns; while a reader holds a
    read transaction past the busy timeout, the write is rolled back and CatalogBusyError says so."""
    monkeypatch.setattr("qa.store.catalog.BUSY_TIMEOUT_S", 0.3)
    writer = Catalog.open(catalog.path.parent, write=True)
    reader = sqlite3.connect(catalog.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM version").fetchall()
    with pytest.raises(CatalogBusyError, match="nothing was changed; run the command again"), writer.write_transaction():
        writer.set_head(writer.add_version("run-3", "remove", "-1", ["s000001"], {}, 2, 5))
    reader.close()
    assert writer.head().id == 2 and [v.id for v in writer.versions()] == [1, 2] and last_committed(catalog.path.parent) == "2\n"
    with writer.write_transaction():
        writer.set_head(writer.add_version("run-3", "remove", "-1", ["s000001"], {}, 2, 5))
    assert not Path(f"{catalog.path}-wal").exists() and not Path(f"{catalog.path}-journal").exists()
    assert writer.conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    writer.close()


def test_sqlite_problems_of_the_file_itself_are_one_line(catalog):
    """SQLite's integrity check gives many problems in one row, a line each: one line names the first."""
    catalog.close()
    data = bytearray(catalog.path.read_bytes())
    data[20] ^= 0x10  # the header's "reserved space per page": every page reads wrong
    catalog.path.write_bytes(bytes(data))
    reader = Catalog.open(catalog.path.parent)
    problem = reader.integrity_problem()
    assert problem is not None and "\n" not in problem and "damaged: SQLite's own check" in problem
    assert len(reader.integrity_problems()) > 1 and "more" in problem
    reader.close()
