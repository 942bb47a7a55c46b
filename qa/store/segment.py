"""One immutable index segment: a folder written once, fsynced, then registered by the catalog.

    segments/s000012/
      segment.json          format, settings, counts, and the size + sha256 of every file below
      documents.jsonl       one Document per line (every dataclass field), in row order
      documents.rows.npy    per document: byte start, end and CRC-32 of its line
      chunks.npy            per chunk: document row, ordinal, start, end (offsets into the cleaned text),
                            and a CRC-32 of its text and its vector
      vectors.npy           float32 (n_chunks, dim), L2-normalised, row i = chunk i (float16 past
                            Config.compress_threshold): the one copy of the vectors
      lexical.*.npy         the segment's inverted index (qa/store/lexical.py)
      dense.faiss           only above Config.ann_threshold chunks: an IVF over compressed codes of
                            the vectors, its candidates re-ranked from vectors.npy (qa/store/dense.py)

A segment is written a part at a time (`SegmentWriter`), so writing one, or merging several into
one, holds its chunk table in memory but streams its documents and vectors. Opening maps the
arrays into memory and checks sizes, shapes and counts; a document is read (and its CRC checked)
when it is asked for. `check_segment` hashes every byte.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from qa.checksums import sha256_file
from qa.config import Config
from qa.documents import Document
from qa.store.dense import (
    FLAT,
    IVF_FILE,
    VECTOR_DTYPES,
    build_dense_index,
    dense_kind,
    holds_codes,
    read_ivf,
    stored_vectors,
)
from qa.store.lexical import FILES as LEXICAL_FILES
from qa.store.lexical import Postings

if TYPE_CHECKING:
    import faiss

_T = TypeVar("_T")

SEGMENT_FORMAT = 1
NAME = re.compile(r"s\d{6}")
MANIFEST = "segment.json"
DOCS, DOC_ROWS, CHUNKS, VECTORS = "documents.jsonl", "documents.rows.npy", "chunks.npy", "vectors.npy"
REQUIRED = {DOCS, DOC_ROWS, CHUNKS, VECTORS, *LEXICAL_FILES.values()}
# What a writer passes per chunk; stored with a CRC-32 of the chunk's text and its vector, checked
# whenever a chunk is read, so a damaged, reordered or swapped id map never returns another passage.
CHUNK_DTYPE = np.dtype([("doc", "<i4"), ("ordinal", "<i4"), ("start", "<i8"), ("end", "<i8")])
STORED_CHUNK_DTYPE = np.dtype(CHUNK_DTYPE.descr + [("crc32", "<u4")])
DOC_ROW_DTYPE = np.dtype([("start", "<i8"), ("end", "<i8"), ("crc32", "<u4")])


class SegmentError(Exception):
    """A segment part is missing, damaged or inconsistent; the message names the file."""


def segment_name(number: int) -> str:
    return f"s{number:06d}"


def document_line(doc: Document) -> bytes:
    return json.dumps(doc.to_record(), ensure_ascii=False).encode("utf-8") + b"\n"


def document_from_line(line: bytes) -> Document:
    record = json.loads(line)
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("doc_id", "text", "source")):
        raise ValueError("not a document record")
    return Document.from_record(record)


def crc32_file(path: Path) -> int:
    """CRC-32 of a file: the fast check a large segment's parts get on first use (about twice
    the speed of sha256 here)."""
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _file_checks(path: Path) -> dict[str, Any]:
    """Size, sha256 and CRC-32 of a file, in one read."""
    h, crc = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
            crc = zlib.crc32(block, crc)
    return {"size": path.stat().st_size, "sha256": h.hexdigest(), "crc32": crc}


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- writing


def chunk_crc(text: str, vector: NDArray[np.floating]) -> int:
    """CRC-32 of a chunk's text followed by its float32 vector: ties each id-map row to its vector."""
    return zlib.crc32(np.ascontiguousarray(vector, dtype=np.float32).tobytes(), zlib.crc32(text.encode("utf-8")))


class SegmentWriter:
    """Writes one segment into the new folder `folder` a part at a time, so that what it holds in
    memory is the chunk table, not the documents or the vectors: `add` appends documents (their
    lines), their chunks and vectors; `finish` writes the lexical index, builds the dense part from
    the vectors written (read back a block at a time), fsyncs every file and writes the manifest.
    The number of chunks is fixed up front: it decides the dense kind and the vectors' dtype."""

    def __init__(self, folder: Path, name: str, n_chunks: int, dim: int, config: Config) -> None:
        self.folder, self.name, self.config = folder, name, config
        self.kind = dense_kind(n_chunks, config)
        self.dtype = np.dtype(VECTOR_DTYPES[self.kind])
        self.n_chunks, self.dim = n_chunks, dim
        folder.mkdir(parents=True)
        # Open across `add` calls; `finish` or `abandon` closes them.
        self._docs = open(folder / DOCS, "wb")  # noqa: SIM115
        self._vectors = open(folder / VECTORS, "wb")  # noqa: SIM115
        np.lib.format.write_array_header_1_0(
            self._vectors, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (n_chunks, dim)}
        )
        self._doc_rows: list[NDArray[np.void]] = []
        self._chunks = np.zeros(n_chunks, dtype=STORED_CHUNK_DTYPE)
        self.n_documents = self._written = self._position = 0

    def add_documents(self, doc_lines: Iterable[bytes]) -> int:
        """Append document lines (each ending in a newline); returns the row of the first."""
        first = self.n_documents
        rows = []
        for line in doc_lines:
            self._docs.write(line)
            rows.append((self._position, self._position + len(line), zlib.crc32(line)))
            self._position += len(line)
        self._doc_rows.append(np.array(rows, dtype=DOC_ROW_DTYPE))
        self.n_documents += len(rows)
        return first

    def add_chunks(self, chunk_rows: NDArray[np.void], vectors: NDArray[np.floating], chunk_crcs: NDArray[np.uint32]) -> None:
        """Append chunks (chunk_rows["doc"] = a document row of this segment; vector i = chunk i).
        `vectors` must already be as the segment stores them (`stored_vectors`): the chunk CRCs are
        of those values."""
        as_stored = stored_vectors(vectors, self.kind)
        if as_stored.dtype != vectors.dtype and not np.array_equal(as_stored, vectors):
            raise ValueError(f"{self.folder}: vectors must be rounded to {as_stored.dtype} before their CRCs are taken")
        n = len(chunk_rows)
        if self._written + n > self.n_chunks or as_stored.shape != (n, self.dim):
            raise ValueError(f"{self.folder}: more chunks than the {self.n_chunks} announced, or vectors of another shape")
        stored = self._chunks[self._written : self._written + n]
        for key in CHUNK_DTYPE.names or ():  # a structured dtype: names is never None
            stored[key] = chunk_rows[key]
        stored["crc32"] = chunk_crcs
        if n:
            self._vectors.write(as_stored.data.cast("B"))  # the array's own bytes, not a copy
        self._written += n

    def add(self, doc_lines: Sequence[bytes], chunk_rows: NDArray[np.void], vectors: NDArray[np.floating],
            chunk_crcs: NDArray[np.uint32]) -> None:
        """Append documents and their chunks (chunk_rows["doc"] = row in `doc_lines`)."""
        first = self.add_documents(doc_lines)
        rows = np.zeros(len(chunk_rows), dtype=CHUNK_DTYPE)
        for key in CHUNK_DTYPE.names or ():
            rows[key] = chunk_rows[key]
        rows["doc"] += first
        self.add_chunks(rows, vectors, chunk_crcs)

    def finish(self, lexical: Postings | Callable[[Path], None]) -> tuple[dict[str, Any], str]:
        """Write the lexical index (`lexical`: the postings, or a function writing them into the
        folder), the chunk table and the dense part, fsync everything. Returns the manifest and the
        sha256 of segment.json (the catalog records it, so the manifest is checked too)."""
        if self._written != self.n_chunks or (self.n_chunks and int(self._chunks["doc"].max()) >= self.n_documents):
            raise ValueError(f"{self.folder}: {self._written} chunks written, {self.n_chunks} announced, or chunks of "
                             "documents not written")
        self._docs.close()
        self._vectors.close()
        folder = self.folder
        doc_rows = np.concatenate(self._doc_rows) if self._doc_rows else np.zeros(0, dtype=DOC_ROW_DTYPE)
        np.save(folder / DOC_ROWS, doc_rows, allow_pickle=False)
        np.save(folder / CHUNKS, self._chunks, allow_pickle=False)
        lexical.save(folder) if isinstance(lexical, Postings) else lexical(folder)
        if self.kind != FLAT:
            import faiss

            faiss.write_index(build_dense_index(NpyRows(folder / VECTORS), self.config), str(folder / IVF_FILE))
        parts = sorted(p for p in folder.iterdir() if p.is_file())
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:  # concurrent fsyncs share journal commits
            list(pool.map(fsync_file, parts))
        files = {part.name: _file_checks(part) for part in parts}
        manifest = {
            "format": SEGMENT_FORMAT,
            "name": self.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": self.config.index_settings(),
            "dim": self.dim,
            "n_documents": self.n_documents,
            "n_chunks": self.n_chunks,
            "dense": self.kind,
            "files": files,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
        (folder / MANIFEST).write_bytes(data)
        fsync_file(folder / MANIFEST)
        fsync_dir(folder)
        return manifest, hashlib.sha256(data).hexdigest()

    def abandon(self) -> None:
        """Close the files of a segment that will not be finished (its folder is left to the caller)."""
        self._docs.close()
        self._vectors.close()


def write_segment(
    folder: Path, name: str, doc_lines: list[bytes], chunk_rows: NDArray[np.void], vectors: NDArray[np.floating],
    postings: Postings, config: Config, chunk_crcs: NDArray[np.uint32],
) -> tuple[dict[str, Any], str]:
    """Write a complete segment held in memory into the new folder `folder` (`SegmentWriter` in one part)."""
    writer = SegmentWriter(folder, name, len(chunk_rows), int(vectors.shape[1]), config)
    try:
        writer.add(doc_lines, chunk_rows, vectors, chunk_crcs)
        return writer.finish(postings)
    except BaseException:
        writer.abandon()
        raise


class NpyRows:
    """Rows of a 2-d .npy file, read with plain file reads (not mapped: reading a whole segment's
    vectors once must not leave them counted in the process's memory). Picked rows are read with
    positioned reads through a descriptor opened here and held until the object is collected, so
    they stay readable after a writer deletes the (retired) file, as they would through a map.

    The re-ranking of compressed codes reads its candidates this way: a few hundred scattered rows
    per segment and query, each of which, read through a map, maps the 64 KB around it into the
    process (fault-around). Measured on the 10M bench index: 4.8 GB of vectors.npy in the serving
    RSS after 30 dense queries that read 9 MB of rows; read here, none."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: not a 2-d C-ordered array")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice | NDArray[np.int64], /) -> NDArray[np.floating]:
        """A block of rows (a slice with step 1) or the given rows (any order), as a new array."""
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step != 1:
                raise ValueError("NpyRows reads blocks of consecutive rows")
            with open(self.path, "rb") as f:
                f.seek(self.offset + start * self._row_bytes)
                out = np.fromfile(f, dtype=self.dtype, count=max(stop - start, 0) * self.shape[1])
            return out.reshape(-1, self.shape[1])
        picked = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        size = self._row_bytes
        for i, row in enumerate(np.asarray(rows, dtype=np.int64).tolist()):
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"{self.path}: row {row} of {self.shape[0]}")
            data = os.pread(self._fd, size, self.offset + row * size)
            if len(data) != size:
                raise SegmentError(f"{self.path}: truncated (row {row} cannot be read)")
            picked[i] = np.frombuffer(data, dtype=self.dtype)
        return picked


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class SegmentRecord:
    """What the catalog knows of a segment: opening the segment checks the folder against it."""

    name: str
    n_documents: int
    n_chunks: int
    manifest_sha256: str


class Segment:
    """A segment opened for reading: arrays memory-mapped, documents read on demand."""

    def __init__(
        self, path: Path, manifest: dict[str, Any], doc_rows: NDArray[np.void], chunks: NDArray[np.void],
        vectors: NDArray[np.floating], postings: Postings, ivf: faiss.IndexIVF | None, rerank_depth: int = 0,
        rerank_rows: NpyRows | None = None,
    ) -> None:
        self.path, self.manifest = path, manifest
        self.name = path.name
        self.doc_rows, self.chunks, self.vectors, self.postings, self.ivf = doc_rows, chunks, vectors, postings, ivf
        self.rerank_depth = rerank_depth  # > 0 when `ivf` holds compressed codes (qa/store/dense.py)
        self.rerank_rows = rerank_rows  # `vectors` read for that re-ranking without mapping them (NpyRows)
        self.n_documents, self.n_chunks = len(doc_rows), len(chunks)
        self._docs = _map(path / DOCS)
        self.document = lru_cache(maxsize=4096)(self._read_document)
        self.verified: set[str] = set()  # parts whose checksum was compared with the manifest
        self._verifying = threading.Lock()

    def verify(self, names: Iterable[str]) -> None:
        """Compare the named parts with the manifest's checksums, once each (the CRC-32 where the
        manifest has one, else the sha256): what a search reads is checked before it ranks.
        Raises SegmentError naming the damaged file."""
        todo = [n for n in names if n not in self.verified and n in self.manifest["files"]]
        if not todo:
            return
        with self._verifying:
            for name in todo:
                if name in self.verified:
                    continue
                info = self.manifest["files"][name]
                part = self.path / name
                try:
                    ok = crc32_file(part) == info["crc32"] if "crc32" in info else sha256_file(part) == info["sha256"]
                except OSError as e:
                    raise SegmentError(f"{part}: unreadable ({e.strerror or e})") from None
                if not ok:
                    raise SegmentError(f"{part}: damaged (checksum differs from the manifest)")
                self.verified.add(name)

    def doc_line(self, row: int) -> bytes:
        start, end, crc = self.doc_rows[row]
        line = self._docs[int(start) : int(end)]
        if zlib.crc32(line) != int(crc):
            raise SegmentError(f"{self.path / DOCS}: document row {row} is damaged (CRC differs)")
        return line

    def doc_lines(self, rows: NDArray[np.int64], span: int = 1 << 24) -> Iterator[bytes]:
        """The lines of document `rows` (ascending), CRC-checked, read from the file about `span`
        bytes at a time (not through the map: a merge reads every line once)."""
        starts, ends, crcs = (np.asarray(self.doc_rows[key])[rows] for key in ("start", "end", "crc32"))
        with open(self.path / DOCS, "rb") as f:
            i = 0
            while i < len(rows):
                j = i + 1
                while j < len(rows) and ends[j] - starts[i] <= span:
                    j += 1
                base = int(starts[i])
                data = os.pread(f.fileno(), int(ends[j - 1]) - base, base)
                for k in range(i, j):
                    line = data[int(starts[k]) - base : int(ends[k]) - base]
                    if zlib.crc32(line) != int(crcs[k]):
                        raise SegmentError(f"{self.path / DOCS}: document row {int(rows[k])} is damaged (CRC differs)")
                    yield line
                i = j

    def _read_document(self, row: int) -> Document:
        line = self.doc_line(row)
        try:
            return document_from_line(line)
        except (ValueError, TypeError) as e:
            raise SegmentError(f"{self.path / DOCS}: document row {row} is unreadable ({e})") from None

    def chunk_span(self, row: int) -> tuple[int, int, int, int, int]:
        """(document row, ordinal, start, end, CRC-32 of the text) of chunk `row`."""
        r = self.chunks[row]
        return int(r["doc"]), int(r["ordinal"]), int(r["start"]), int(r["end"]), int(r["crc32"])


def _map(path: Path) -> bytes | mmap.mmap:
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def read_manifest(path: Path, record: SegmentRecord) -> dict[str, Any]:
    """segment.json, checked against the catalog's record and for shape. Raises SegmentError."""
    try:
        data = (path / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise SegmentError(f"{path / MANIFEST}: missing") from None
    if hashlib.sha256(data).hexdigest() != record.manifest_sha256:
        raise SegmentError(f"{path / MANIFEST}: damaged (checksum differs from the catalog)")
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise SegmentError(f"{path / MANIFEST}: unreadable ({e})") from None
    return _check_manifest_shape(path, manifest, record)


def _check_manifest_shape(path: Path, m: object, record: SegmentRecord) -> dict[str, Any]:
    """`m` itself, once it has the shape of a segment manifest."""
    where = path / MANIFEST
    if not isinstance(m, dict):
        raise SegmentError(f"{where}: not a JSON object")
    for key, kind in (("format", int), ("name", str), ("settings", dict), ("dim", int), ("n_documents", int),
                      ("n_chunks", int), ("dense", str), ("files", dict)):
        if not isinstance(m.get(key), kind) or isinstance(m.get(key), bool):
            raise SegmentError(f"{where}: '{key}' is missing or not a {kind.__name__}")
    if m["format"] != SEGMENT_FORMAT:
        raise SegmentError(f"{where}: segment format {m['format']} is not the supported {SEGMENT_FORMAT}")
    if m["name"] != path.name or (m["n_documents"], m["n_chunks"]) != (record.n_documents, record.n_chunks):
        raise SegmentError(f"{where}: name or counts differ from the catalog")
    if m["dense"] not in VECTOR_DTYPES or m["dim"] <= 0:
        raise SegmentError(f"{where}: bad 'dense' or 'dim'")
    for name, info in m["files"].items():
        if not re.fullmatch(r"[a-z0-9_.]+", name) or name.startswith(".") or not isinstance(info, dict):
            raise SegmentError(f"{where}: bad file entry {name!r}")
        if not isinstance(info.get("size"), int) or not isinstance(info.get("sha256"), str):
            raise SegmentError(f"{where}: file entry {name!r} lacks size or sha256")
        if "crc32" in info and (not isinstance(info["crc32"], int) or isinstance(info["crc32"], bool)):
            raise SegmentError(f"{where}: file entry {name!r} has a bad crc32")
    required = REQUIRED | ({IVF_FILE} if m["dense"] != FLAT else set())
    missing = sorted(required - set(m["files"]))
    if missing:
        raise SegmentError(f"{where}: does not list {', '.join(missing)}")
    return m


def open_segment(index_dir: Path, record: SegmentRecord, config: Config, verify: bool | None, dense: bool = True) -> Segment:
    """Open a segment checking sizes, shapes and counts of every part, and every file's sha256
    when `verify` is True, or None and the segment is at most `config.open_verify_bytes`.
    `dense` False leaves the IVF index unread (`ivf` None): for a writer, which never searches;
    reading it is most of the time of opening a large segment (58 MB a 1M-chunk segment, not mapped).
    Raises SegmentError naming the damaged file."""
    path = index_dir / "segments" / record.name
    if not NAME.fullmatch(record.name) or not path.is_dir():
        raise SegmentError(f"{path}: segment folder missing")
    manifest = read_manifest(path, record)
    if manifest["settings"] != config.index_settings():
        raise SegmentError(f"{path / MANIFEST}: built with other settings than its catalog")
    if verify is None:
        verify = segment_bytes(manifest) <= config.open_verify_bytes
    _check_files(path, manifest, verify)
    n_docs, n_chunks, dim = manifest["n_documents"], manifest["n_chunks"], manifest["dim"]

    def load(name: str, parse: Callable[[Path], _T]) -> _T:
        try:
            return parse(path / name)
        except Exception as e:  # any parse error here means a damaged part
            raise SegmentError(f"{path / name}: unreadable ({type(e).__name__}: {e})") from None

    array = lambda p: np.load(p, mmap_mode="r", allow_pickle=False)  # noqa: E731
    doc_rows, chunks, vectors = load(DOC_ROWS, array), load(CHUNKS, array), load(VECTORS, array)
    postings = Postings(**{key: load(name, array) for key, name in LEXICAL_FILES.items()})
    ivf = load(IVF_FILE, lambda p: read_ivf(p, config)) if dense and manifest["dense"] != FLAT else None
    if doc_rows.dtype != DOC_ROW_DTYPE or doc_rows.shape != (n_docs,):
        raise SegmentError(f"{path / DOC_ROWS}: holds {doc_rows.shape} {doc_rows.dtype}, manifest says {n_docs} documents")
    if chunks.dtype != STORED_CHUNK_DTYPE or chunks.shape != (n_chunks,):
        raise SegmentError(f"{path / CHUNKS}: holds {chunks.shape} {chunks.dtype}, manifest says {n_chunks} chunks")
    if vectors.dtype != VECTOR_DTYPES[manifest["dense"]] or vectors.shape != (n_chunks, dim):
        raise SegmentError(f"{path / VECTORS}: holds {vectors.shape} {vectors.dtype}, manifest says "
                           f"({n_chunks}, {dim}) {VECTOR_DTYPES[manifest['dense']]}")
    problems = postings.problems() + ([] if len(postings.lengths) == n_chunks else [f"{LEXICAL_FILES['lengths']}: count"])
    if problems:
        raise SegmentError(f"{path / problems[0].split(':')[0]}: {problems[0].split(': ', 1)[1]}")
    if ivf is not None and (ivf.ntotal != n_chunks or ivf.d != dim):
        raise SegmentError(f"{path / IVF_FILE}: holds {ivf.ntotal} vectors, manifest says {n_chunks}")
    if n_docs and (doc_rows["start"][0] != 0 or doc_rows["end"][-1] != manifest["files"][DOCS]["size"]
                   or np.any(doc_rows["start"][1:] != doc_rows["end"][:-1])):
        raise SegmentError(f"{path / DOC_ROWS}: line offsets do not tile {DOCS}")
    if n_chunks and (chunks["doc"].min() < 0 or chunks["doc"].max() >= n_docs
                     or np.any(chunks["start"] < 0) or np.any(chunks["start"] >= chunks["end"])):
        raise SegmentError(f"{path / CHUNKS}: chunk rows point outside the segment's documents")
    rerank = config.rerank_depth if ivf is not None and holds_codes(ivf) else 0
    rerank_rows = load(VECTORS, NpyRows) if rerank else None
    segment = Segment(path, manifest, doc_rows, chunks, vectors, postings, ivf, rerank, rerank_rows)
    if verify:
        segment.verified.update(manifest["files"])
    return segment


def _check_files(path: Path, manifest: dict[str, Any], verify: bool) -> None:
    files = manifest["files"]
    for name, info in files.items():
        part = path / name
        try:
            size = part.stat().st_size
        except FileNotFoundError:
            raise SegmentError(f"{part}: missing from the segment") from None
        if size != info["size"] or (verify and sha256_file(part) != info["sha256"]):
            raise SegmentError(f"{part}: damaged (size or checksum differs from the manifest)")
    # Every part must be checked: a manifest that stops listing one would switch its check off.
    unlisted = sorted({p.name for p in path.iterdir()} - set(files) - {MANIFEST})
    if unlisted:
        raise SegmentError(f"{path / MANIFEST}: does not list {', '.join(unlisted)}")


def segment_bytes(manifest: dict[str, Any]) -> int:
    return sum(int(info["size"]) for info in manifest["files"].values())


def check_segment(segment: Segment) -> list[str]:
    """Everything `open_segment` skips: every file's sha256, every document line and chunk offset,
    every postings entry. Returns one message per problem, naming the file."""
    out = []
    for name, info in segment.manifest["files"].items():
        if sha256_file(segment.path / name) != info["sha256"]:
            out.append(f"{segment.path / name}: damaged (checksum differs from the manifest)")
    if out:
        return out
    out += [f"{segment.path / p}" for p in segment.postings.deep_problems()]
    lengths = np.zeros(segment.n_documents, dtype=np.int64)
    for row in range(segment.n_documents):
        try:
            lengths[row] = len(segment.document(row).text)
        except SegmentError as e:
            out.append(str(e))
    if len(segment.chunks) and np.any(segment.chunks["end"] > lengths[segment.chunks["doc"]]):
        out.append(f"{segment.path / CHUNKS}: chunk offsets point outside their documents")
    elif not out:
        for row in range(segment.n_chunks):
            doc_row, _, start, end, crc = segment.chunk_span(row)
            if chunk_crc(segment.document(doc_row).text[start:end], segment.vectors[row]) != crc:
                out.append(f"{segment.path / CHUNKS}: chunk {row} does not hold the text it was written with")
                break
    return out
