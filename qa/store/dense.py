"""Dense retrieval over segments: exact inner product on a segment's memory-mapped vectors up to
`Config.ann_threshold` chunks; beyond it an IVF index over 4-bit product-quantised codes (faiss
IVF-PQ "fast scan", 48 bytes a vector) whose best `Config.rerank_depth` candidates are re-scored
exactly from the segment's vectors (only the candidates' rows are read, with positioned reads that
map nothing into the process: `qa.store.segment.NpyRows`), so the
vectors are stored once, in vectors.npy (float32, or float16 past `Config.compress_threshold`).
Each segment returns its best live rows; merging them by score is exact for flat segments.
(Segments written before this held IVF-Flat, a second float32 copy of the vectors; they are still
read, without re-ranking, and a merge rewrites them as codes.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from qa.config import Config

if TYPE_CHECKING:
    import faiss

IVF_FILE = "dense.faiss"
# The kinds of dense part a segment holds (its manifest's "dense"), and how its vectors are stored.
FLAT, IVF, IVF_PQ = "flat", "ivf", "ivf-pq"
VECTOR_DTYPES = {FLAT: "float32", IVF: "float32", IVF_PQ: "float16"}
# k-means of the 4-bit sub-quantisers needs >= 16 points each; below this (only where `ann_threshold`
# is set under it, as in tests) an IVF is IVF-Flat, holding its few vectors a second time.
_MIN_PQ_VECTORS = 1000
# Vectors converted to float32 and added to an IVF at a time: bounds the memory of a build.
_ADD_BLOCK = 65_536


def ivf_lists(n: int, config: Config) -> int:
    """Number of IVF lists for n vectors: `config.ivf_nlist`, or about sqrt(n) as a power of two."""
    if config.ivf_nlist:
        return max(1, min(config.ivf_nlist, n))
    return int(min(max(2 ** round(np.log2(max(n, 1)) / 2), 16), 4096, max(n // 39, 1)))


def uses_ivf(n: int, config: Config) -> bool:
    return n > config.ann_threshold


def dense_kind(n: int, config: Config) -> str:
    """FLAT, IVF or IVF_PQ: what a segment of n vectors holds (`Config.ann_threshold`,
    `Config.compress_threshold`): no index, or IVF codes with float32 or with float16 vectors."""
    if not uses_ivf(n, config):
        return FLAT
    return IVF_PQ if n > config.compress_threshold and n >= _MIN_PQ_VECTORS else IVF


def stored_vectors(vectors: NDArray[np.floating], kind: str) -> NDArray[np.floating]:
    """`vectors` as a segment of `kind` stores them (float16 beside compressed codes, else float32)."""
    return np.ascontiguousarray(vectors, dtype=VECTOR_DTYPES[kind])


class VectorRows(Protocol):
    """Rows of a (n, dim) matrix read on demand: a numpy array, or a file read a block at a time."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, rows: slice | NDArray[np.int64], /) -> NDArray[np.floating]: ...


def build_dense_index(vectors: VectorRows, config: Config) -> faiss.Index:
    """Exact inner-product search up to `config.ann_threshold` vectors, IVF over product-quantised
    codes beyond (`dense_kind`; IVF-Flat below `_MIN_PQ_VECTORS`). The codes are read with the
    vectors, not instead of them: search re-ranks from the segment's vectors (`DensePart`).

    The IVF coarse quantizer is k-means over a fixed-seed sample of `ivf_train_per_list`
    vectors per list, so the same vectors always give the same index; `nprobe` is stored
    in the written index. Vectors are read and added `_ADD_BLOCK` rows at a time (any dtype,
    memory-mapped or read from a file), so building holds the codes, not a float32 copy."""
    import faiss

    n, dim = vectors.shape
    kind = dense_kind(n, config)
    if kind == FLAT:
        flat = faiss.IndexFlatIP(dim)
        if n:
            flat.add(np.ascontiguousarray(vectors[0:n], dtype=np.float32))
        return flat
    nlist = ivf_lists(n, config)
    quantizer = faiss.IndexFlatIP(dim)
    index: faiss.IndexIVF
    if n >= _MIN_PQ_VECTORS:  # 4 dimensions per 4-bit code: measured against SQ8/SQ4/PQ48x8 in bench/README.md
        index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, dim // 4, 4, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234
    index.cp.max_points_per_centroid = config.ivf_train_per_list
    n_train = min(n, nlist * config.ivf_train_per_list)
    sample = np.sort(np.random.default_rng(1234).choice(n, n_train, replace=False)) if n_train < n else slice(0, n)
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, n, _ADD_BLOCK):
        index.add(np.ascontiguousarray(vectors[start : start + _ADD_BLOCK], dtype=np.float32))
    index.nprobe = min(config.ivf_nprobe, nlist)
    return index


def holds_codes(ivf: faiss.IndexIVF) -> bool:
    """Whether an IVF holds compressed codes (to be re-ranked) rather than the vectors themselves."""
    import faiss

    return not isinstance(ivf, faiss.IndexIVFFlat)


def read_ivf(path: str | Path, config: Config) -> faiss.IndexIVF:
    """A written IVF index, memory-mapped (opening costs no read of the vectors)."""
    import faiss

    # read_index returns the concrete class; the file was written by build_dense_index as IVF.
    index = cast(faiss.IndexIVF, faiss.read_index(str(path), faiss.IO_FLAG_MMAP))
    index.nprobe = min(config.ivf_nprobe, index.nlist)
    return index


@dataclass
class DensePart:
    """One segment's vectors as seen by one index version."""

    vectors: NDArray[np.floating]  # (n, dim), memory-mapped; float16 beside compressed codes
    ivf: faiss.IndexIVF | None  # IVF over the same rows, or None: exact search
    alive: NDArray[np.bool_] | None  # bool per row; None: all live
    rerank_depth: int = 0  # > 0: the IVF holds compressed codes; re-score this many candidates exactly
    rerank_rows: VectorRows | None = None  # the same rows read on demand for re-ranking (None: from `vectors`)

    def top(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        n = len(self.vectors)
        if n == 0 or k <= 0:
            return []
        if self.ivf is not None:
            import faiss

            params = faiss.SearchParametersIVF()
            params.nprobe = int(self.ivf.nprobe)
            if self.alive is not None:
                bits = np.packbits(self.alive, bitorder="little")
                params.sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
            depth = min(max(k, self.rerank_depth), n)
            ivf_scores, ivf_rows = self.ivf.search(query.reshape(1, -1), depth, params=params)
            if not self.rerank_depth:
                return [(int(r), float(s)) for r, s in zip(ivf_rows[0], ivf_scores[0]) if r >= 0]
            candidates = np.sort(ivf_rows[0][ivf_rows[0] >= 0])  # ascending: reads in file order
            source = self.vectors if self.rerank_rows is None else self.rerank_rows
            exact = np.asarray(source[candidates], dtype=np.float32) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            return [(int(candidates[i]), float(exact[i])) for i in best]
        scores = np.asarray(self.vectors) @ query
        if self.alive is not None:
            scores = np.where(self.alive, scores, -np.inf)
        k = min(k, n)
        if k < n:
            # Every row scoring at least the k-th best, in row order, so that ties at the cut go to the
            # lower rows whatever order argpartition left them in.
            cut = scores[np.argpartition(-scores, k - 1)[k - 1]]
            top = np.flatnonzero(scores >= cut)
        else:
            top = np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")][:k]
        return [(int(r), float(scores[r])) for r in top if np.isfinite(scores[r])]


def dense_top(parts: list[DensePart], query: NDArray[np.floating], k: int) -> list[tuple[int, int, float]]:
    """The k best (part, row, score) over all parts, best first."""
    flat_query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    found = [(score, part_no, row) for part_no, part in enumerate(parts) for row, score in part.top(flat_query, k)]
    found.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(part_no, row, score) for score, part_no, row in found[:k]]
