"""qa/store/catalog.py: a catalog created in a tmp folder; segments, documents, story sketches and
versions added in transactions and read back with their expected values; tombstones, pending
rebuilds, rollback of a failed transaction, version numbers never reused, and damage refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qa.store.catalog import (
    CATALOG,
    FORMAT_VERSION,
    LAST_COMMITTED,
    Catalog,
    CatalogError,
    CatalogFormatError,
    DocRecord,
    version_name,
)
from qa.store.segment import SegmentRecord

SETTINGS = {"model_name": "m", "chunk_tokens": 128}
S1 = SegmentRecord("s000001", 2, 5, "a" * 64)
S2 = SegmentRecord("s000002", 1, 2, "b" * 64)
HARBOUR = DocRecord("s000001", 0, "harbour", "in/harbour.txt", "h1", 3, "Harbour reopens", "2024-02-10",
                    "https://example.org/harbour", "example.org", "story-harbour")
MILL = DocRecord("s000001", 1, "mill", "in/feed.jsonl#2", "m1", 2, "Mill grinds", story="story-mill")
HARBOUR_EDITED = DocRecord("s000002", 0, "harbour", "in/harbour.txt", "h2", 2, "Harbour reopens again",
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
    assert not list(index_dir.glob(".tmp-catalog-*")) and last_committed(index_dir) == "0\n"
    fresh.close()
