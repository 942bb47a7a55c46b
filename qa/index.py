"""The on-disk index: documents, chunk offsets, vectors, a FAISS index and BM25 state.

Layout of an index folder:

    index/
      CURRENT            name of the live version folder, replaced atomically
      .lock              held by the one writer
      v000003/           one complete, immutable version
        manifest.json    settings, counts, documents, and the size + sha256 of every file below
        documents.jsonl  one cleaned Document per line, in row order
        chunks.npy       per chunk: document row, ordinal, start, end (offsets into the cleaned text)
        vectors.npy      float32 (n_chunks, dim), L2-normalised, row i = chunk i
        dense.faiss      IVF-Flat index, only above Config.ann_threshold chunks
        bm25/            bm25s state over the same chunks

A writer builds a new version beside the old one and swaps CURRENT with a rename, so a
killed writer leaves the previous version intact; readers keep the version they opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.config import Config
from qa.documents import Chunk, Document, SkippedFile
from qa.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError

FORMAT_VERSION = 1
CHUNK_DTYPE = np.dtype([("doc", "<i4"), ("ordinal", "<i4"), ("start", "<i8"), ("end", "<i8")])
_KEEP_VERSIONS = 2


def rebuild_hint(index_dir: Path) -> str:
    return f"rebuild it with `qa ingest corpus --rebuild --index {index_dir}` (or your own article folders)"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # files, folders and records left out
    chunks_added: int = 0
    total_documents: int = 0
    total_chunks: int = 0

    def summary(self) -> str:
        """One sentence: what changed (counts that are not zero; the ids removed), then what the index holds."""
        done = [f"{len(ids)} {label}" for ids, label in (
            (self.added, "added"), (self.updated, "updated"), (self.unchanged, "unchanged"), (self.skipped, "skipped")
        ) if ids]
        if self.removed:
            done.insert(0, f"{len(self.removed)} removed ({', '.join(self.removed)})")
        if self.chunks_added:
            done.append(f"{_count(self.chunks_added, 'chunk')} embedded")
        held = f"the index holds {_count(self.total_documents, 'document')}, {_count(self.total_chunks, 'chunk')}"
        return f"{', '.join(done) or 'Nothing to do'}; {held}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass
class LoadedIndex:
    """One version of the index, fully in memory. Row i of `vectors` is chunk i."""

    path: Path
    version: str
    manifest: dict
    documents: list[Document]
    chunk_rows: np.ndarray  # CHUNK_DTYPE
    vectors: np.ndarray
    dense: object  # faiss.Index
    bm25: object | None  # bm25s.BM25, None when there are no chunks

    @property
    def n_chunks(self) -> int:
        return int(len(self.chunk_rows))

    def chunk(self, row: int) -> Chunk:
        r = self.chunk_rows[row]
        doc = self.documents[int(r["doc"])]
        start, end = int(r["start"]), int(r["end"])
        return Chunk(f"{doc.doc_id}#{int(r['ordinal'])}", doc.doc_id, start, end, doc.text[start:end])

    def document(self, row: int) -> Document:
        return self.documents[int(self.chunk_rows[row]["doc"])]

    def chunk_texts(self) -> list[str]:
        return [self.chunk(i).text for i in range(self.n_chunks)]


# ---------------------------------------------------------------- versions and locking


def current_version(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


class WriterLock:
    """An exclusive, non-blocking lock on the index folder; the OS drops it if the process dies."""

    def __init__(self, index_dir: Path):
        from filelock import FileLock

        index_dir.mkdir(parents=True, exist_ok=True)
        self.index_dir = index_dir
        self._lock = FileLock(str(index_dir / ".lock"))

    def __enter__(self):
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise IndexLockedError(
                f"{self.index_dir}: another qa process is writing this index (lock {self.index_dir / '.lock'}); "
                "wait for it to finish and try again"
            ) from None
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- dense index


def ivf_lists(n: int, config: Config) -> int:
    """Number of IVF lists for n vectors: `config.ivf_nlist`, or about sqrt(n) as a power of two."""
    if config.ivf_nlist:
        return max(1, min(config.ivf_nlist, n))
    return int(min(max(2 ** round(np.log2(max(n, 1)) / 2), 16), 4096, max(n // 39, 1)))


def build_dense_index(vectors: np.ndarray, config: Config):
    """Exact inner-product search up to `config.ann_threshold` vectors, IVF-Flat beyond.

    The IVF coarse quantizer is k-means over a fixed-seed sample of `ivf_train_per_list`
    vectors per list, so the same vectors always give the same index; `nprobe` is stored
    in the written index."""
    import faiss

    n, dim = vectors.shape
    if n <= config.ann_threshold:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
        return index
    nlist = ivf_lists(n, config)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234
    index.cp.max_points_per_centroid = config.ivf_train_per_list
    n_train = min(n, nlist * config.ivf_train_per_list)
    sample = np.sort(np.random.default_rng(1234).choice(n, n_train, replace=False)) if n_train < n else slice(None)
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    index.add(vectors)
    index.nprobe = min(config.ivf_nprobe, nlist)
    return index


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str], return_ids: bool = True, show_progress: bool = False):
    """BM25 terms: lower-cased words, English stop words out, Snowball-stemmed (index and queries alike)."""
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), return_ids=return_ids, show_progress=show_progress
    )


def build_bm25(texts: list[str], show_progress: bool = False):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25_tokenize(texts, show_progress=show_progress), show_progress=show_progress)
    return retriever


# ---------------------------------------------------------------- reading


def open_index(index_dir: Path, config: Config, verify: bool = True) -> LoadedIndex:
    """Load the live version of the index at `index_dir`, checking every part against the manifest.

    Raises IndexMissingError, IndexMismatchError (other model or chunking settings) or
    IndexCorruptError (a part missing, truncated, edited or inconsistent).
    """
    for attempt in range(3):
        version = current_version(index_dir)
        if version is None:
            if index_dir.is_dir() and any(p.name.startswith("v") for p in index_dir.iterdir()):
                raise IndexCorruptError(f"{index_dir}: the CURRENT file is missing or empty; {rebuild_hint(index_dir)}")
            raise IndexMissingError(
                f"{index_dir}: no index here yet; build one with `qa ingest corpus --index {index_dir}`"
            )
        try:
            return _open_version(index_dir, version, config, verify)
        except FileNotFoundError:
            # A writer may have retired this version while we read it: read CURRENT again.
            if current_version(index_dir) == version:
                raise IndexCorruptError(
                    f"{index_dir / version}: a part of the index is missing; {rebuild_hint(index_dir)}"
                ) from None
            time.sleep(0.05 * (attempt + 1))
    raise IndexCorruptError(f"{index_dir}: the index kept changing while being read; try again")


def _open_version(index_dir: Path, version: str, config: Config, verify: bool) -> LoadedIndex:
    import faiss

    path = index_dir / version
    hint = rebuild_hint(index_dir)
    if not path.is_dir():
        raise FileNotFoundError(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"{path / 'manifest.json'}: unreadable manifest ({e}); {hint}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{path}: index format {manifest.get('format_version')} is not the supported {FORMAT_VERSION}; {hint}"
        )
    built_with, wanted = manifest.get("settings", {}), config.index_settings()
    if built_with != wanted:
        diffs = ", ".join(
            f"{k}={built_with.get(k)!r} (now {v!r})" for k, v in wanted.items() if built_with.get(k) != v
        )
        raise IndexMismatchError(f"{index_dir}: the index was built with other settings: {diffs}; {hint}")

    files = manifest.get("files", {})
    for name, info in files.items():
        part = path / name
        if not part.exists():
            raise IndexCorruptError(f"{part}: missing from the index; {hint}")
        # .get: a damaged manifest may lack a key (the full shape check is the index's own work).
        if part.stat().st_size != info.get("size") or (verify and _sha256(part) != info.get("sha256")):
            raise IndexCorruptError(f"{part}: damaged (size or checksum differs from the manifest); {hint}")
    # Every part must be checked: a manifest that stops listing one would switch its check off.
    on_disk = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} - {"manifest.json"}
    unlisted = sorted((on_disk | {"documents.jsonl", "chunks.npy", "vectors.npy"}) - set(files))
    if unlisted:
        raise IndexCorruptError(f"{path / 'manifest.json'}: does not list {', '.join(unlisted)}; {hint}")

    n_chunks, dim = manifest["n_chunks"], manifest["dim"]
    try:
        documents = [
            Document(**json.loads(line))
            for line in (path / "documents.jsonl").read_text(encoding="utf-8").splitlines()
            if line
        ]
        chunk_rows = np.load(path / "chunks.npy", allow_pickle=False)
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # any parse error here means a damaged part
        raise IndexCorruptError(f"{path}: cannot read the index ({type(e).__name__}: {e}); {hint}") from None

    if len(documents) != manifest["n_documents"] or [d.doc_id for d in documents] != list(manifest["documents"]):
        raise IndexCorruptError(f"{path / 'documents.jsonl'}: does not match the manifest; {hint}")
    if chunk_rows.dtype != CHUNK_DTYPE or len(chunk_rows) != n_chunks:
        raise IndexCorruptError(f"{path / 'chunks.npy'}: holds {len(chunk_rows)} chunks, manifest says {n_chunks}; {hint}")
    if vectors.dtype != np.float32 or vectors.shape != (n_chunks, dim):
        raise IndexCorruptError(f"{path / 'vectors.npy'}: shape {vectors.shape}, manifest says ({n_chunks}, {dim}); {hint}")
    if n_chunks:
        doc_rows = chunk_rows["doc"]
        lengths = np.array([len(d.text) for d in documents])
        if doc_rows.min() < 0 or doc_rows.max() >= len(documents) or np.any(
            chunk_rows["end"] > lengths[doc_rows]
        ) or np.any(chunk_rows["start"] >= chunk_rows["end"]):
            raise IndexCorruptError(f"{path / 'chunks.npy'}: chunk offsets point outside their documents; {hint}")
    for doc in documents:
        if manifest["documents"][doc.doc_id]["content_hash"] != doc.content_hash:
            raise IndexCorruptError(f"{path / 'documents.jsonl'}: {doc.doc_id} differs from the manifest; {hint}")

    if (path / "dense.faiss").exists():
        dense = faiss.read_index(str(path / "dense.faiss"))
        if hasattr(dense, "nprobe"):
            dense.nprobe = min(config.ivf_nprobe, dense.nlist)
    else:
        dense = build_dense_index(vectors, config)
    if dense.ntotal != n_chunks:
        raise IndexCorruptError(f"{path / 'dense.faiss'}: holds {dense.ntotal} vectors, manifest says {n_chunks}; {hint}")

    bm25 = None
    if n_chunks:
        import bm25s

        try:
            bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise IndexCorruptError(f"{path / 'bm25'}: cannot read the BM25 state ({e}); {hint}") from None
        if int(bm25.scores["num_docs"]) != n_chunks:
            raise IndexCorruptError(f"{path / 'bm25'}: covers {bm25.scores['num_docs']} chunks, manifest says {n_chunks}; {hint}")
    return LoadedIndex(path, version, manifest, documents, chunk_rows, vectors, dense, bm25)


# ---------------------------------------------------------------- writing


def _write_version(
    index_dir: Path,
    documents: list[Document],
    chunk_rows: np.ndarray,
    vectors: np.ndarray,
    config: Config,
    show_progress: bool = False,
) -> str:
    """Write a complete new version beside the live one and swap CURRENT to it. Caller holds the lock."""
    from tqdm import tqdm

    bar = tqdm(total=5, desc="writing", unit="part", delay=1.0, disable=not show_progress)
    # Number the new version above every folder already there: a writer killed after its rename,
    # or a rebuild after CURRENT was lost, leaves a version folder that CURRENT does not name.
    taken = [int(p.name[1:]) for p in index_dir.iterdir() if p.name.startswith("v") and p.name[1:].isdigit()]
    version = f"v{max(taken, default=0) + 1:06d}"
    tmp = index_dir / f".tmp-{version}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)

    with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
        for doc in documents:
            f.write(json.dumps(asdict(doc), ensure_ascii=False) + "\n")
    np.save(tmp / "chunks.npy", chunk_rows, allow_pickle=False)
    np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
    bar.update()
    if len(vectors) > config.ann_threshold:
        import faiss

        faiss.write_index(build_dense_index(vectors, config), str(tmp / "dense.faiss"))
    bar.update()
    if len(chunk_rows):
        texts = [documents[int(r["doc"])].text[int(r["start"]) : int(r["end"])] for r in chunk_rows]
        build_bm25(texts, show_progress and len(texts) > 10_000).save(str(tmp / "bm25"), show_progress=False)
    bar.update()

    files = {}
    for part in sorted(p for p in tmp.rglob("*") if p.is_file()):
        _fsync_file(part)
        files[str(part.relative_to(tmp))] = {"size": part.stat().st_size, "sha256": _sha256(part)}
    bar.update()
    counts = np.bincount(chunk_rows["doc"], minlength=len(documents)) if len(chunk_rows) else [0] * len(documents)
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": config.index_settings(),
        "dim": int(vectors.shape[1]),
        "dense_index": "ivf" if len(vectors) > config.ann_threshold else "flat",
        "n_documents": len(documents),
        "n_chunks": int(len(chunk_rows)),
        "documents": {
            d.doc_id: {
                "title": d.title,
                "source": d.source,
                "url": d.url,
                "date": d.date,
                "content_hash": d.content_hash,
                "chunks": int(n),
            }
            for d, n in zip(documents, counts)
        },
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    _fsync_file(tmp / "manifest.json")
    _fsync_dir(tmp)

    os.rename(tmp, index_dir / version)
    pointer = index_dir / f".CURRENT.tmp-{os.getpid()}"
    pointer.write_text(version + "\n", encoding="utf-8")
    _fsync_file(pointer)
    os.replace(pointer, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    _retire_old_versions(index_dir, version)
    bar.update()
    bar.close()
    return version


def _retire_old_versions(index_dir: Path, live: str) -> None:
    """Keep the live version and the one before it (a reader may still be loading it); drop the rest
    and any half-written folders a killed writer left behind."""
    versions = sorted(p.name for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v"))
    for name in versions[: max(0, len(versions) - _KEEP_VERSIONS)]:
        if name != live:
            shutil.rmtree(index_dir / name, ignore_errors=True)
    for p in index_dir.iterdir():
        if p.name.startswith(".tmp-") or p.name.startswith(".CURRENT.tmp-"):
            if not p.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _assign_doc_ids(incoming: list[Document], taken: dict[str, str]) -> list[Document]:
    """Keep each document's id unless another source already uses it; then add a short source hash."""
    out = []
    taken = dict(taken)
    for doc in incoming:
        owner = taken.get(doc.doc_id)
        if owner is not None and owner != doc.source:
            suffix = hashlib.sha1(doc.source.encode("utf-8")).hexdigest()[:6]
            doc = replace(doc, doc_id=f"{doc.doc_id}-{suffix}")
        taken[doc.doc_id] = doc.source
        out.append(doc)
    return out


def update_index(
    index_dir: Path,
    incoming: list[Document],
    config: Config,
    embedder=None,
    remove_ids: tuple[str, ...] = (),
    rebuild: bool = False,
    show_progress: bool = False,
) -> IngestReport:
    """Add or replace `incoming` documents and drop `remove_ids`, writing one new version.

    Unchanged documents (same source and content hash) cost nothing; a changed document's
    old chunks are replaced. With `rebuild`, the old contents are ignored (a fresh index from
    `incoming`), which is also the way out of a mismatched or damaged index.
    """
    from qa.chunk import chunk_document

    report = IngestReport()
    with WriterLock(index_dir):
        old = None
        if not rebuild and current_version(index_dir) is not None:
            old = open_index(index_dir, config)
        old_docs = {d.doc_id: d for d in old.documents} if old else {}
        by_source = {d.source: d.doc_id for d in old_docs.values()}
        incoming = [
            replace(doc, doc_id=by_source[doc.source]) if doc.source in by_source else doc for doc in incoming
        ]
        taken = {d.doc_id: d.source for d in old_docs.values() if d.doc_id not in remove_ids}
        incoming = _assign_doc_ids(incoming, taken)

        missing = [doc_id for doc_id in remove_ids if doc_id not in old_docs]
        if missing:
            from qa.errors import BadInputError

            raise BadInputError(
                f"{index_dir}: no document with id {', '.join(missing)}; `qa list --index {index_dir}` shows the ids"
            )
        changed: dict[str, Document] = {}
        for doc in incoming:
            prior = old_docs.get(doc.doc_id)
            if prior is not None and prior.content_hash == doc.content_hash:
                report.unchanged.append(doc.doc_id)
            else:
                (report.updated if prior is not None else report.added).append(doc.doc_id)
                changed[doc.doc_id] = doc
        report.removed = list(remove_ids)
        if not changed and not remove_ids and old is not None:
            report.total_documents, report.total_chunks = len(old.documents), old.n_chunks
            return report

        # Keep the rows of documents that stay as they are, in their order; new ones go last.
        keep_docs = [d for d in (old.documents if old else []) if d.doc_id not in changed and d.doc_id not in remove_ids]
        new_docs = list(changed.values())
        documents = keep_docs + new_docs
        parts_rows, parts_vecs = [], []
        if old is not None and keep_docs:
            old_row_of = {d.doc_id: i for i, d in enumerate(old.documents)}
            new_row_of_old = np.full(len(old.documents), -1, dtype=np.int64)
            for new_row, doc in enumerate(keep_docs):
                new_row_of_old[old_row_of[doc.doc_id]] = new_row
            mask = new_row_of_old[old.chunk_rows["doc"]] >= 0
            rows = old.chunk_rows[mask].copy()
            rows["doc"] = new_row_of_old[rows["doc"]]
            parts_rows.append(rows)
            parts_vecs.append(old.vectors[mask])

        from tqdm import tqdm

        new_chunks = []
        for offset, doc in enumerate(tqdm(new_docs, desc="chunking", unit="doc", delay=1.0, disable=not show_progress)):
            for ordinal, chunk in enumerate(chunk_document(doc, config)):
                new_chunks.append((len(keep_docs) + offset, ordinal, chunk.start, chunk.end, chunk.text))
        if new_chunks or old is None:
            if embedder is None:
                from qa.embed import Embedder

                embedder = Embedder(config)
            vectors_new = embedder.encode_passages([c[4] for c in new_chunks], show_progress=show_progress)
        else:  # only removals: no model needed
            vectors_new = np.zeros((0, old.vectors.shape[1]), dtype=np.float32)
        parts_rows.append(np.array([c[:4] for c in new_chunks], dtype=CHUNK_DTYPE))
        parts_vecs.append(vectors_new)
        chunk_rows = np.concatenate(parts_rows) if parts_rows else np.zeros(0, dtype=CHUNK_DTYPE)
        vectors = np.concatenate(parts_vecs).astype(np.float32, copy=False)

        _write_version(index_dir, documents, chunk_rows, vectors, config, show_progress)
        report.chunks_added = len(new_chunks)
        report.total_documents, report.total_chunks = len(documents), int(len(chunk_rows))
        return report
