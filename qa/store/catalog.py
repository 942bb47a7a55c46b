"""The catalog: which segments and tombstones make up each kept state of the index, which state
is live, and a table of every segment's documents for lookups. One SQLite database with a rollback
journal (`index/catalog.sqlite`): a publish is one transaction, so queries see the old state or the
new one, never a mix, a killed writer leaves the last committed state, and a commit is in
`catalog.sqlite` itself when it returns (no write-ahead log for it to depend on).

A state ("version") lists its segments in order and the document rows it has deleted from them
(tombstones); a `pending` version is a rebuild in progress, invisible to queries until finished.
Everything read from the database is checked for shape, and every row that is served (a state's
segments and tombstones, which state is live, a document's id, title, date, URL, publisher and
story, a story sketch) carries a CRC-32 written with it and checked whenever it is read: a damaged
or edited row raises CatalogError naming it, never serves.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from qa.documents import ArticleMeta
from qa.store.segment import NAME, SegmentRecord, fsync_dir

CATALOG = "catalog.sqlite"
# The number of the last state committed, written after each commit: `qa check` compares it with the
# catalog, so a catalog that went back in time (a restored old copy, a damaged journal) is noticed.
LAST_COMMITTED = "catalog.last-version"
# 3: stories (a document's story and publisher; MinHash signatures and LSH band keys); 4: row checksums
FORMAT_VERSION = 4
UPGRADABLE = "3"  # a writer upgrades a catalog of this format in place (its rows are sealed as they are)
# How long a writer's commit waits for queries to finish (SQLite's busy timeout); a query holds the
# catalog for milliseconds (`qa check` reads it first, then hashes the segments without holding it).
BUSY_TIMEOUT_S = 30.0
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segment(name TEXT PRIMARY KEY, n_documents INTEGER NOT NULL, n_chunks INTEGER NOT NULL,
                     manifest_sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE document(segment TEXT NOT NULL, row INTEGER NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL,
                      content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, title TEXT, date TEXT, url TEXT,
                      publisher TEXT, story TEXT NOT NULL, crc INTEGER NOT NULL, PRIMARY KEY(segment, row)) WITHOUT ROWID;
CREATE INDEX document_by_id ON document(doc_id);
CREATE INDEX document_by_source ON document(source);
CREATE INDEX document_by_story ON document(story);
CREATE TABLE minhash(segment TEXT NOT NULL, row INTEGER NOT NULL, signature BLOB NOT NULL, crc INTEGER NOT NULL,
                     PRIMARY KEY(segment, row)) WITHOUT ROWID;
CREATE TABLE story_band(key INTEGER NOT NULL, segment TEXT NOT NULL, row INTEGER NOT NULL,
                        PRIMARY KEY(key, segment, row)) WITHOUT ROWID;
CREATE INDEX story_band_by_segment ON story_band(segment);
CREATE TABLE version(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, run TEXT NOT NULL,
                     action TEXT NOT NULL, summary TEXT NOT NULL, segments TEXT NOT NULL, tombstones TEXT NOT NULL,
                     n_documents INTEGER NOT NULL, n_chunks INTEGER NOT NULL, pending INTEGER NOT NULL DEFAULT 0,
                     crc INTEGER NOT NULL);
CREATE TABLE head(one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL, crc INTEGER NOT NULL);
"""


class CatalogError(Exception):
    """The catalog is missing parts, unreadable or inconsistent."""


class CatalogFormatError(CatalogError):
    """The catalog was written in another format (an older or newer qa)."""


class CatalogAccessError(CatalogError):
    """This user may not read or write the catalog (permissions, a read-only file system): not damage."""


class CatalogBusyError(CatalogError):
    """Queries kept the catalog busy past `BUSY_TIMEOUT_S`; the write was not committed."""


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
    """A document's row: where it is stored, its article's metadata, and its story."""

    segment: str
    row: int
    article: ArticleMeta
    source: str
    content_hash: str
    n_chunks: int
    story: str = ""  # the story (qa/store/stories.py) this document is a copy of

    @property
    def doc_id(self) -> str:
        return self.article.doc_id


def version_name(version_id: int) -> str:
    return f"v{version_id:06d}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def row_crc(table: str, values: Sequence[object], blob: bytes = b"") -> int:
    """The CRC-32 a catalog row of `table` carries: of its values as stored (JSON) and `blob`."""
    text = json.dumps([table, *values], ensure_ascii=False, separators=(",", ":"))
    return zlib.crc32(blob, zlib.crc32(text.encode("utf-8")))


def _doc_values(d: DocRecord) -> tuple[object, ...]:
    """A document row's columns as stored (and checksummed), in the table's order."""
    a = d.article
    return (d.segment, d.row, a.doc_id, d.source, d.content_hash, d.n_chunks, a.title, a.date, a.url, a.publisher,
            d.story)


def _doc_record(values: Sequence[Any]) -> DocRecord:
    """The record of a document row's columns (`_doc_values` read back)."""
    segment, row, doc_id, source, content_hash, n_chunks, title, date, url, publisher, story = values
    return DocRecord(segment, row, ArticleMeta(doc_id, title, url, date, publisher), source, content_hash, n_chunks,
                     story)


def _access_problem(path: Path, write: bool) -> str | None:
    """Why this user may not read (or, with `write`, change) the catalog at `path`, or None."""
    folder = path.parent
    try:
        read_only_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_fs = False
    fix = "run qa as the index's owner, or give this user access to the folder and its files"
    if not os.access(folder, os.R_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK)):
        return f"{path}: this user may not read it (permission denied): the index is not damaged; {fix}"
    if write and read_only_fs:
        return f"{path}: it is on a read-only file system: the index cannot be changed there (it is not damaged)"
    if write and not (os.access(folder, os.W_OK) and os.access(path, os.W_OK)):
        return (f"{path}: this user may not change it (permission denied on it or on {folder}): the index is not "
                f"damaged; {fix}")
    return None


def _database_error(path: Path, e: sqlite3.Error, write: bool = False) -> CatalogError:
    """The CatalogError that says what `e` (raised reading or writing the catalog) means, in one line."""
    code = getattr(e, "sqlite_errorname", "") or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return CatalogBusyError(
            f"{path}: busy: another process (the app, `qa check`, a backup) read it for more than {BUSY_TIMEOUT_S:g} s "
            "while this write waited to commit; nothing was changed; run the command again")
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_IOERR")):
        problem = _access_problem(path, write or code.startswith("SQLITE_READONLY"))
        if problem:
            return CatalogAccessError(problem)
    first = " ".join(str(e).split())
    return CatalogError(f"{path}: unreadable ({first})")


class Catalog:
    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path, self.conn = path, conn

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, index_dir: Path, write: bool = False) -> Catalog:
        """The catalog of `index_dir`, checked for format and settings. A writer's connection uses a
        rollback journal (a commit is in the file when COMMIT returns; an older catalog in WAL mode is
        switched) and upgrades a catalog of the format before row checksums in place."""
        path = index_dir / CATALOG
        if not path.is_file():
            if path.exists() or os.path.lexists(path):
                raise CatalogError(f"{path}: not a file (a folder or a link); the catalog is a plain file")
            if not os.access(index_dir, os.R_OK | os.X_OK) and index_dir.is_dir():
                raise CatalogAccessError(f"{index_dir}: this user may not read the index folder (permission denied); "
                                         "run qa as the index's owner, or give this user access to it")
            raise FileNotFoundError(path)
        # "rw" for queries too: a query that finds the journal of a writer killed mid-commit rolls it
        # back (a read-only connection cannot); SQLite opens a file this user may not write read-only.
        uri = f"file:{path}?mode=rw"
        catalog = None
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            catalog = cls(path, conn)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if write:
                conn.execute("PRAGMA journal_mode = DELETE").fetchall()
                # EXTRA: the directory is synced after the journal is deleted, so a commit survives a power cut.
                conn.execute("PRAGMA synchronous = EXTRA")
            catalog._check_meta(upgrade=write)
        except sqlite3.Error as e:
            if catalog is not None:
                catalog.close()
            raise _database_error(path, e, write) from None
        except CatalogError:
            if catalog is not None:
                catalog.close()
            raise
        return catalog

    @classmethod
    def create(cls, index_dir: Path, settings: Mapping[str, object]) -> Catalog:
        """A new, empty catalog, written beside and renamed into place (replacing a damaged one).
        Its states are numbered after the last one committed in this folder (never one twice)."""
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp = index_dir / f".tmp-catalog-{os.getpid()}.sqlite"
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            p.unlink(missing_ok=True)
        try:
            numbered = max(0, int((index_dir / LAST_COMMITTED).read_text(encoding="utf-8").strip()))
        except (OSError, ValueError):
            numbered = 0
        conn = sqlite3.connect(tmp, isolation_level=None)
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("format_version", str(FORMAT_VERSION)), ("settings", json.dumps(settings, sort_keys=True)), ("created", _now()),
        ])
        if numbered:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('version', ?)", (numbered,))
        conn.close()
        path = index_dir / CATALOG
        # A log or journal left by the catalog being replaced would be replayed into the new one.
        for stale in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
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

    def _check_meta(self, upgrade: bool = False) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if upgrade and meta.get("format_version") == UPGRADABLE:
            self._seal_rows()
            meta["format_version"] = str(FORMAT_VERSION)
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

    def _seal_rows(self) -> None:
        """Upgrade a catalog of format 3 in place: add each served row's checksum (of the row as it is)."""
        with self.write_transaction():
            for table in ("document", "minhash", "version", "head"):
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER NOT NULL DEFAULT 0")
            for row in self.conn.execute("SELECT * FROM document").fetchall():
                self.conn.execute("UPDATE document SET crc = ? WHERE segment = ? AND row = ?",
                                  (row_crc("document", row[:-1]), row[0], row[1]))
            for segment, row, sig, _ in self.conn.execute("SELECT * FROM minhash").fetchall():
                self.conn.execute("UPDATE minhash SET crc = ? WHERE segment = ? AND row = ?",
                                  (row_crc("minhash", (segment, row), bytes(sig)), segment, row))
            for row in self.conn.execute("SELECT * FROM version").fetchall():
                self.conn.execute("UPDATE version SET crc = ? WHERE id = ?", (row_crc("version", row[:-1]), row[0]))
            for (version,) in self.conn.execute("SELECT version FROM head").fetchall():
                self.conn.execute("UPDATE head SET crc = ?", (row_crc("head", (version,)),))
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))

    # ------------------------------------------------------------ reading

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[Any]:  # rows as SQLite gives them
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise _database_error(self.path, e) from None

    def _damaged_row(self, what: str) -> CatalogError:
        return CatalogError(f"{self.path}: {what} fails its checksum (edited or damaged since it was written)")

    def read_transaction(self) -> _Transaction:
        return _Transaction(self, "BEGIN")

    def write_transaction(self) -> _Transaction:
        return _Transaction(self, "BEGIN IMMEDIATE")

    def head(self) -> Version | None:
        rows = self._query("SELECT version, crc FROM head WHERE one = 1")
        if not rows:
            if self._query("SELECT 1 FROM version WHERE pending = 0 LIMIT 1"):
                raise CatalogError(f"{self.path}: no state is marked live although states are kept")
            return None
        version = self.version(rows[0][0])
        if rows[0][1] != row_crc("head", (rows[0][0],)):
            raise self._damaged_row(
                f"the entry naming the live state ({version.name})") from None
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

    def versions(self, damaged: dict[int, str] | None = None) -> list[Version]:
        """Every kept state, oldest first. With `damaged`, a state whose entry is damaged is left out
        and put there (id: the problem) instead of raising: the way past it (`qa rollback`)."""
        out = []
        for row in self._query("SELECT * FROM version WHERE pending = 0 ORDER BY id"):
            try:
                out.append(self._version(row))
            except CatalogError as e:
                if damaged is None or not isinstance(row[0], int):
                    raise
                damaged[row[0]] = str(e)
        return out

    def has_pending(self) -> bool:
        return bool(self._query("SELECT 1 FROM version WHERE pending = 1 LIMIT 1"))

    def pending(self) -> Version | None:
        rows = self._query("SELECT * FROM version WHERE pending = 1 ORDER BY id DESC LIMIT 1")
        return self._version(rows[0]) if rows else None

    def _version(self, row: Sequence[Any]) -> Version:
        vid, created, run, action, summary, segments, tombstones, n_docs, n_chunks, pending, crc = row
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
        if crc != row_crc("version", row[:-1]):
            raise self._damaged_row(f"the entry of state {version_name(vid)} (its segments, deleted documents, counts)")
        return Version(vid, created, run, action, summary, tuple(segments),
                       {k: frozenset(v) for k, v in tombstones.items()}, n_docs, n_chunks, bool(pending))

    def _document(self, row: Sequence[Any]) -> DocRecord:
        """A document row (all columns, its checksum last), checked."""
        record = _doc_record(row[:-1])
        if row[-1] != row_crc("document", row[:-1]):
            raise self._damaged_row(f"the entry of document row {record.row} of segment {record.segment} "
                                    f"({record.doc_id!r}: id, title, date, URL, publisher, story)")
        return record

    def _signature(self, segment: str, row: int, signature: object, crc: object) -> bytes:
        if not isinstance(signature, bytes) or crc != row_crc("minhash", (segment, row), signature):
            raise self._damaged_row(f"the story sketch of document row {row} of segment {segment}")
        return bytes(signature)

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

    def recorded_version_id(self) -> int | None:
        """The number of the last state committed, as recorded beside the catalog (None: no record)."""
        try:
            return int((self.path.parent / LAST_COMMITTED).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None  # an index written before the record existed, or no commit yet

    def mark_committed(self) -> None:
        """After a commit (which is in the database file: rollback journal, synchronous EXTRA), record
        the last state's number beside the catalog (`LAST_COMMITTED`, replaced atomically)."""
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
        recorded = self.recorded_version_id()
        have = self.last_version_id()
        if recorded is None or have >= recorded:
            return None
        return (f"{self.path}: went back in time: it ends at {version_name(have)}, but {version_name(recorded)} was "
                f"committed (an old copy restored, or a damaged journal); the writes after "
                f"{version_name(have)} are lost: repeat them")

    def skip_lost_numbers(self) -> None:
        """After `lost_commits`: hand out state numbers after the recorded one, so none is used twice."""
        recorded = self.recorded_version_id() or 0
        if recorded <= self.last_version_id():
            return
        with self.write_transaction():
            if self.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'version'", (recorded,)).rowcount == 0:
                self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('version', ?)", (recorded,))

    def integrity_problems(self) -> list[str]:
        """SQLite's own full check of the database file ([] when sound), one problem per item."""
        rows = [str(r[0]) for r in self._query("PRAGMA integrity_check")]
        if rows == ["ok"]:
            return []
        # SQLite may give many problems in one row, a line each, under a "*** in database main ***" heading.
        return [line.strip() for r in rows for line in r.splitlines() if line.strip() and not line.startswith("***")]

    def integrity_problem(self) -> str | None:
        """SQLite's full check of the database file as one line naming the first problem (None when sound)."""
        trouble = self.integrity_problems()
        if not trouble:
            return None
        more = f", and {len(trouble) - 1} more" if len(trouble) > 1 else ""
        return f"{self.path}: damaged: SQLite's own check of the file fails ({trouble[0]}{more})"

    def segment_documents(self, name: str) -> list[DocRecord]:
        """Every document row of segment `name`, live or not, by row."""
        return [self._document(r) for r in self._query("SELECT * FROM document WHERE segment = ? ORDER BY row", (name,))]

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
            record = self._document(row)
            if record.segment in order and record.row not in version.tombstones.get(record.segment, ()):
                out.append(record)
        out.sort(key=lambda d: (order[d.segment], d.row))
        return out

    def story_candidates(self, keys: Sequence[int]) -> list[tuple[str, int, str, bytes]]:
        """(segment, row, story, MinHash signature) of every document row, live or not, that shares
        an LSH band key with `keys` (qa/store/stories.py)."""
        if not keys:
            return []
        sql = ("SELECT DISTINCT d.*, m.signature, m.crc FROM story_band b "
               "JOIN document d ON d.segment = b.segment AND d.row = b.row "
               "JOIN minhash m ON m.segment = b.segment AND m.row = b.row "
               f"WHERE b.key IN ({','.join('?' * len(keys))})")
        out = []
        for row in self._query(sql, list(keys)):
            d = self._document(row[:-2])
            out.append((d.segment, d.row, d.story, self._signature(d.segment, d.row, row[-2], row[-1])))
        return out

    def signatures(self, name: str) -> dict[int, bytes]:
        """The stored MinHash signature of each document row of segment `name` (rows without one are absent)."""
        return {r: self._signature(name, r, sig, crc)
                for r, sig, crc in self._query("SELECT row, signature, crc FROM minhash WHERE segment = ?", (name,))}

    # ------------------------------------------------------------ writing (the lock holder only)

    def add_segment(self, record: SegmentRecord, size: int, docs: list[DocRecord],
                    sketches: Sequence[tuple[Sequence[int], bytes] | None] = ()) -> None:
        """Register a segment, its documents and (per document, when story detection is on) the
        LSH band keys and MinHash signature of each."""
        number = int(record.name[1:])
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('segments_made', ?)", (str(max(number, self.segments_made())),))
        self.conn.execute("INSERT INTO segment VALUES (?, ?, ?, ?, ?, ?)",
                          (record.name, record.n_documents, record.n_chunks, record.manifest_sha256, size, _now()))
        self.conn.executemany("INSERT INTO document VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (*_doc_values(d), row_crc("document", _doc_values(d))) for d in docs
        ])
        for d, found in zip(docs, sketches):
            if found is not None:
                keys, sig = found
                self.conn.execute("INSERT INTO minhash VALUES (?, ?, ?, ?)",
                                  (d.segment, d.row, sig, row_crc("minhash", (d.segment, d.row), bytes(sig))))
                self.conn.executemany("INSERT OR IGNORE INTO story_band VALUES (?, ?, ?)", [(k, d.segment, d.row) for k in keys])

    def add_version(self, run: str, action: str, summary: str, segments: Iterable[str],
                    tombstones: Mapping[str, Collection[int]], n_docs: int,
                    n_chunks: int, pending: bool = False) -> int:
        values = (_now(), run, action, summary, json.dumps(list(segments)),
                  json.dumps({k: sorted(v) for k, v in tombstones.items() if v}), n_docs, n_chunks, int(pending))
        cur = self.conn.execute(
            "INSERT INTO version (created, run, action, summary, segments, tombstones, n_documents, n_chunks, pending, crc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", values)
        assert cur.lastrowid is not None  # always set by an INSERT
        version_id = int(cur.lastrowid)
        self.conn.execute("UPDATE version SET crc = ? WHERE id = ?", (row_crc("version", (version_id, *values)), version_id))
        return version_id

    def segments_made(self) -> int:
        """How many segment numbers were handed out (a new one is above it and above any folder)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'segments_made'")
        return int(rows[0][0]) if rows and str(rows[0][0]).isdigit() else 0

    def set_head(self, version_id: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO head VALUES (1, ?, ?)", (version_id, row_crc("head", (version_id,))))

    def delete_version(self, version_id: int) -> None:
        self.conn.execute("DELETE FROM version WHERE id = ?", (version_id,))

    def delete_pending(self) -> bool:
        """Forget every unfinished rebuild (read or not: a damaged one too); whether there was one."""
        return self.conn.execute("DELETE FROM version WHERE pending = 1").rowcount > 0

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
        except sqlite3.Error as e:
            raise _database_error(self.catalog.path, e, write=self.begin != "BEGIN") from None
        return self.catalog

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        conn = self.catalog.conn
        if exc_type is not None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False
        try:
            conn.execute("COMMIT")  # a writer waits here up to BUSY_TIMEOUT_S for queries to finish
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # nothing of it is committed: said so, never half-done
            raise _database_error(self.catalog.path, e, write=True) from None
        if self.begin == "BEGIN IMMEDIATE":
            self.catalog.mark_committed()
        return False
