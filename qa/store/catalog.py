"""The catalog: which segments and tombstones make up each kept state of the index, which state
is live, and a table of every segment's documents for lookups. One SQLite database in WAL mode
(`index/catalog.sqlite`): a publish is one transaction, so readers see the old state or the new
one, never a mix, and a killed writer leaves the last committed state.

A state ("version") lists its segments in order and the document rows it has deleted from them
(tombstones); a `pending` version is a rebuild in progress, invisible to readers until finished.
Everything read from the database is checked for shape: a damaged catalog raises CatalogError.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from qa.store.segment import NAME, SegmentRecord, fsync_dir

CATALOG = "catalog.sqlite"
# The number of the last state committed, written after each commit: `qa check` compares it with the
# catalog, so a catalog that went back in time (a lost write-ahead log, a restored old copy) is noticed.
LAST_COMMITTED = "catalog.last-version"
FORMAT_VERSION = 3  # 3: stories (a document's story and publisher; MinHash signatures and LSH band keys)
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segment(name TEXT PRIMARY KEY, n_documents INTEGER NOT NULL, n_chunks INTEGER NOT NULL,
                     manifest_sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE document(segment TEXT NOT NULL, row INTEGER NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL,
                      content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, title TEXT, date TEXT, url TEXT,
                      publisher TEXT, story TEXT NOT NULL, PRIMARY KEY(segment, row)) WITHOUT ROWID;
CREATE INDEX document_by_id ON document(doc_id);
CREATE INDEX document_by_source ON document(source);
CREATE INDEX document_by_story ON document(story);
CREATE TABLE minhash(segment TEXT NOT NULL, row INTEGER NOT NULL, signature BLOB NOT NULL,
                     PRIMARY KEY(segment, row)) WITHOUT ROWID;
CREATE TABLE story_band(key INTEGER NOT NULL, segment TEXT NOT NULL, row INTEGER NOT NULL,
                        PRIMARY KEY(key, segment, row)) WITHOUT ROWID;
CREATE INDEX story_band_by_segment ON story_band(segment);
CREATE TABLE version(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, run TEXT NOT NULL,
                     action TEXT NOT NULL, summary TEXT NOT NULL, segments TEXT NOT NULL, tombstones TEXT NOT NULL,
                     n_documents INTEGER NOT NULL, n_chunks INTEGER NOT NULL, pending INTEGER NOT NULL DEFAULT 0);
CREATE TABLE head(one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);
"""


class CatalogError(Exception):
    """The catalog is missing parts, unreadable or inconsistent."""


class CatalogFormatError(CatalogError):
    """The catalog was written in another format (an older or newer qa)."""


@dataclass(frozen=True)
class Version:
    id: int
    created: str
    run: str
    action: str
    summary: str
    segments: tuple[str, ...]
    tombstones: dict[str, frozenset[int]]
    n_documents: int
    n_chunks: int
    pending: bool = False

    @property
    def name(self) -> str:
        return version_name(self.id)


@dataclass(frozen=True)
class DocRecord:
    segment: str
    row: int
    doc_id: str
    source: str
    content_hash: str
    n_chunks: int
    title: str | None = None
    date: str | None = None
    url: str | None = None
    publisher: str | None = None
    story: str = ""  # the story (qa/stories.py) this document is a copy of


def version_name(version_id: int) -> str:
    return f"v{version_id:06d}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Catalog:
    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path, self.conn = path, conn

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, index_dir: Path, write: bool = False) -> Catalog:
        path = index_dir / CATALOG
        if not path.is_file():
            raise FileNotFoundError(path)
        uri = f"file:{path}?mode={'rw' if write else 'ro'}"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            if write:
                conn.execute("PRAGMA synchronous = FULL")
            catalog = cls(path, conn)
            catalog._check_meta()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"{path}: unreadable ({e})") from None
        return catalog

    @classmethod
    def create(cls, index_dir: Path, settings: Mapping[str, object]) -> Catalog:
        """A new, empty catalog, written beside and renamed into place (replacing a damaged one)."""
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp = index_dir / f".tmp-catalog-{os.getpid()}.sqlite"
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            p.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("format_version", str(FORMAT_VERSION)), ("settings", json.dumps(settings, sort_keys=True)), ("created", _now()),
        ])
        conn.close()
        path = index_dir / CATALOG
        # A write-ahead log left by the catalog being replaced would be replayed into the new one.
        for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(index_dir)
        catalog = cls.open(index_dir, write=True)
        catalog.mark_committed()
        return catalog

    def close(self) -> None:
        self.conn.close()

    def _check_meta(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise CatalogFormatError(
                f"{self.path}: index format {meta.get('format_version')!r} is not the supported {FORMAT_VERSION}"
            )
        try:
            settings = json.loads(meta.get("settings") or "")
        except ValueError:
            settings = None
        if not isinstance(settings, dict):
            raise CatalogError(f"{self.path}: the settings entry is missing or damaged")
        self.settings: dict[str, Any] = settings  # JSON as read

    # ------------------------------------------------------------ reading

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[Any]:  # rows as SQLite gives them
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"{self.path}: unreadable ({e})") from None

    def read_transaction(self) -> _Transaction:
        return _Transaction(self, "BEGIN")

    def write_transaction(self) -> _Transaction:
        return _Transaction(self, "BEGIN IMMEDIATE")

    def head(self) -> Version | None:
        rows = self._query("SELECT version FROM head WHERE one = 1")
        if not rows:
            if self._query("SELECT 1 FROM version WHERE pending = 0 LIMIT 1"):
                raise CatalogError(f"{self.path}: no state is marked live although states are kept")
            return None
        version = self.version(rows[0][0])
        if version.pending:
            raise CatalogError(f"{self.path}: the live state names an unfinished rebuild")
        return version

    def version(self, version_id: object) -> Version:
        if not isinstance(version_id, int) or isinstance(version_id, bool):
            raise CatalogError(f"{self.path}: the live state is not a version number")
        rows = self._query("SELECT * FROM version WHERE id = ?", (version_id,))
        if not rows:
            raise CatalogError(f"{self.path}: version {version_name(version_id)} is missing")
        return self._version(rows[0])

    def versions(self) -> list[Version]:
        return [self._version(r) for r in self._query("SELECT * FROM version WHERE pending = 0 ORDER BY id")]

    def pending(self) -> Version | None:
        rows = self._query("SELECT * FROM version WHERE pending = 1 ORDER BY id DESC LIMIT 1")
        return self._version(rows[0]) if rows else None

    def _version(self, row: Sequence[Any]) -> Version:
        vid, created, run, action, summary, segments, tombstones, n_docs, n_chunks, pending = row
        where = f"{self.path}: version {vid!r}"
        try:
            segments, tombstones = json.loads(segments), json.loads(tombstones)
        except (TypeError, ValueError):
            raise CatalogError(f"{where} is damaged (unreadable segment list)") from None
        if not isinstance(segments, list) or not all(isinstance(s, str) and NAME.fullmatch(s) for s in segments):
            # Only plain segment names directly inside the index: never a path elsewhere.
            raise CatalogError(f"{where} names segments that are not folders of this index")
        if len(set(segments)) != len(segments):
            raise CatalogError(f"{where} lists a segment twice")
        if not isinstance(tombstones, dict) or not all(
            k in segments and isinstance(v, list) and all(isinstance(i, int) and i >= 0 for i in v)
            for k, v in tombstones.items()
        ):
            raise CatalogError(f"{where} has damaged tombstones")
        ints = (vid, n_docs, n_chunks)
        if not all(isinstance(i, int) and i >= 0 for i in ints) or not all(isinstance(s, str) for s in (created, run, action, summary)):
            raise CatalogError(f"{where} is damaged")
        return Version(vid, created, run, action, summary, tuple(segments),
                       {k: frozenset(v) for k, v in tombstones.items()}, n_docs, n_chunks, bool(pending))

    def segment_records(self, names: Iterable[str]) -> dict[str, SegmentRecord]:
        names = list(names)
        out: dict[str, SegmentRecord] = {}
        for start in range(0, len(names), 500):
            part = names[start : start + 500]
            sql = f"SELECT name, n_documents, n_chunks, manifest_sha256 FROM segment WHERE name IN ({','.join('?' * len(part))})"
            for name, n_docs, n_chunks, sha in self._query(sql, part):
                if not all(isinstance(i, int) and i >= 0 for i in (n_docs, n_chunks)) or not isinstance(sha, str):
                    raise CatalogError(f"{self.path}: the record of segment {name!r} is damaged")
                out[name] = SegmentRecord(name, n_docs, n_chunks, sha)
        missing = sorted(set(names) - set(out))
        if missing:
            raise CatalogError(f"{self.path}: no record of segment {', '.join(missing)}")
        return out

    def last_version_id(self) -> int:
        """The highest state number ever handed out (state numbers are never reused)."""
        rows = self._query("SELECT seq FROM sqlite_sequence WHERE name = 'version'")
        return int(rows[0][0]) if rows and isinstance(rows[0][0], int) else 0

    def mark_committed(self) -> None:
        """After a commit: copy the write-ahead log into the database file and empty it (so the
        committed state no longer depends on `catalog.sqlite-wal`), then record the last state's
        number beside the catalog (`LAST_COMMITTED`, replaced atomically)."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"{self.path}: unreadable ({e})") from None
        mark = self.path.parent / LAST_COMMITTED
        tmp = mark.with_name(f".tmp-{LAST_COMMITTED}-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)  # never through a link
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{self.last_version_id()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, mark)
        fsync_dir(self.path.parent)

    def lost_commits(self) -> str | None:
        """Why the catalog is older than the last commit recorded beside it, or None."""
        mark = self.path.parent / LAST_COMMITTED
        try:
            recorded = int(mark.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None  # an index written before the record existed, or no commit yet
        have = self.last_version_id()
        if have >= recorded:
            return None
        return (f"{self.path}: went back in time: it ends at {version_name(have)}, but {version_name(recorded)} was "
                f"committed (a deleted or damaged {CATALOG}-wal, or an old copy restored); the writes after "
                f"{version_name(have)} are lost: repeat them")

    def integrity_problems(self) -> list[str]:
        """SQLite's own full check of the database file ([] when sound)."""
        rows = [str(r[0]) for r in self._query("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def segment_documents(self, name: str) -> list[DocRecord]:
        """Every document row of segment `name`, live or not, by row."""
        return [DocRecord(*r) for r in self._query("SELECT * FROM document WHERE segment = ? ORDER BY row", (name,))]

    def all_segment_names(self) -> set[str]:
        return {r[0] for r in self._query("SELECT name FROM segment")}

    def documents(self, version: Version, column: str | None = None, values: Iterable[str] = ()) -> list[DocRecord]:
        """The live documents of `version` (all, or those whose `column` is one of `values`), in
        segment order then row order."""
        order = {name: i for i, name in enumerate(version.segments)}
        found: list[Any] = []
        if column is None:
            for name in version.segments:
                found += self._query("SELECT * FROM document WHERE segment = ? ORDER BY row", (name,))
        else:
            assert column in ("doc_id", "source", "story")
            values = list(values)
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                found += self._query(f"SELECT * FROM document WHERE {column} IN ({','.join('?' * len(part))})", part)
        out = []
        for row in found:
            record = DocRecord(*row)
            if record.segment in order and record.row not in version.tombstones.get(record.segment, ()):
                out.append(record)
        out.sort(key=lambda d: (order[d.segment], d.row))
        return out

    def story_candidates(self, keys: Sequence[int]) -> list[tuple[str, int, str, bytes]]:
        """(segment, row, story, MinHash signature) of every document row, live or not, that shares
        an LSH band key with `keys` (qa/stories.py)."""
        if not keys:
            return []
        sql = ("SELECT DISTINCT b.segment, b.row, d.story, m.signature FROM story_band b "
               "JOIN document d ON d.segment = b.segment AND d.row = b.row "
               "JOIN minhash m ON m.segment = b.segment AND m.row = b.row "
               f"WHERE b.key IN ({','.join('?' * len(keys))})")
        return [(s, r, story, bytes(sig)) for s, r, story, sig in self._query(sql, list(keys))]

    def signatures(self, name: str) -> dict[int, bytes]:
        """The stored MinHash signature of each document row of segment `name` (rows without one are absent)."""
        return {r: bytes(sig) for r, sig in self._query("SELECT row, signature FROM minhash WHERE segment = ?", (name,))}

    # ------------------------------------------------------------ writing (the lock holder only)

    def add_segment(self, record: SegmentRecord, size: int, docs: list[DocRecord],
                    sketches: Sequence[tuple[Sequence[int], bytes] | None] = ()) -> None:
        """Register a segment, its documents and (per document, when story detection is on) the
        LSH band keys and MinHash signature of each."""
        number = int(record.name[1:])
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('segments_made', ?)", (str(max(number, self.segments_made())),))
        self.conn.execute("INSERT INTO segment VALUES (?, ?, ?, ?, ?, ?)",
                          (record.name, record.n_documents, record.n_chunks, record.manifest_sha256, size, _now()))
        self.conn.executemany("INSERT INTO document VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (d.segment, d.row, d.doc_id, d.source, d.content_hash, d.n_chunks, d.title, d.date, d.url, d.publisher,
             d.story) for d in docs
        ])
        for d, found in zip(docs, sketches):
            if found is not None:
                keys, sig = found
                self.conn.execute("INSERT INTO minhash VALUES (?, ?, ?)", (d.segment, d.row, sig))
                self.conn.executemany("INSERT OR IGNORE INTO story_band VALUES (?, ?, ?)", [(k, d.segment, d.row) for k in keys])

    def add_version(self, run: str, action: str, summary: str, segments: Iterable[str],
                    tombstones: Mapping[str, Collection[int]], n_docs: int,
                    n_chunks: int, pending: bool = False) -> int:
        cur = self.conn.execute(
            "INSERT INTO version (created, run, action, summary, segments, tombstones, n_documents, n_chunks, pending) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), run, action, summary, json.dumps(list(segments)),
             json.dumps({k: sorted(v) for k, v in tombstones.items() if v}), n_docs, n_chunks, int(pending)),
        )
        assert cur.lastrowid is not None  # always set by an INSERT
        return int(cur.lastrowid)

    def segments_made(self) -> int:
        """How many segment numbers were handed out (a new one is above it and above any folder)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'segments_made'")
        return int(rows[0][0]) if rows and str(rows[0][0]).isdigit() else 0

    def set_head(self, version_id: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO head VALUES (1, ?)", (version_id,))

    def delete_version(self, version_id: int) -> None:
        self.conn.execute("DELETE FROM version WHERE id = ?", (version_id,))

    def forget_segment(self, name: str) -> None:
        self.conn.execute("DELETE FROM story_band WHERE segment = ?", (name,))
        self.conn.execute("DELETE FROM minhash WHERE segment = ?", (name,))
        self.conn.execute("DELETE FROM document WHERE segment = ?", (name,))
        self.conn.execute("DELETE FROM segment WHERE name = ?", (name,))


class _Transaction:
    def __init__(self, catalog: Catalog, begin: str) -> None:
        self.catalog, self.begin = catalog, begin

    def __enter__(self) -> Catalog:
        try:
            self.catalog.conn.execute(self.begin)
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"{self.catalog.path}: unreadable ({e})") from None
        return self.catalog

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        self.catalog.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        if exc_type is None and self.begin == "BEGIN IMMEDIATE":
            self.catalog.mark_committed()
        return False
