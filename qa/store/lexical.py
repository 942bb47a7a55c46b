"""Lexical retrieval: one inverted index per segment, and Okapi BM25 over the live rows of all
segments at once, with the statistics (document count, average length, document frequencies) of
those rows together, so several segments rank exactly as one index over the same rows would.

Terms come from `qa.terms`; a term is stored as the first 8 bytes of its BLAKE2b hash (a
collision between two of a segment's terms is about a 1e-8 event at a million terms and would
only merge their postings). BM25 is Lucene's variant (as bm25s "lucene"):
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 (1 - b + b len / avglen)).
"""

from __future__ import annotations

import hashlib
import shutil
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa.config import Config
from qa.terms import terms_of_many

FILES = {
    "terms": "lexical.terms.npy",  # uint64 term hashes, sorted, unique
    "ptr": "lexical.ptr.npy",  # int64, len(terms) + 1: postings of term i are [ptr[i], ptr[i+1])
    "rows": "lexical.rows.npy",  # int32 chunk rows, ascending within a term
    "tf": "lexical.tf.npy",  # uint16 term frequency in that chunk
    "lengths": "lexical.lengths.npy",  # int32 number of terms per chunk
}
_BLOCK = 20_000  # chunks tokenised at a time while building


def term_hashes(terms: list[str]) -> NDArray[np.uint64]:
    return np.array(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in terms],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class Postings:
    """The inverted index of one segment's chunks (arrays may be memory-mapped)."""

    terms: NDArray[np.uint64]
    ptr: NDArray[np.int64]
    rows: NDArray[np.int32]
    tf: NDArray[np.uint16]
    lengths: NDArray[np.int32]

    @property
    def n_chunks(self) -> int:
        return int(len(self.lengths))

    def lookup_many(self, term_hashes: NDArray[np.uint64]) -> list[tuple[NDArray[np.int32], NDArray[np.uint16]]]:
        """The postings (chunk rows ascending, their tf) of each term; empty for a term not here."""
        terms = np.asarray(self.terms)
        at = np.minimum(np.searchsorted(terms, term_hashes), max(len(terms) - 1, 0))
        ptr, rows, tf = np.asarray(self.ptr), np.asarray(self.rows), np.asarray(self.tf)  # plain views of the maps
        out = []
        for i, h in zip(at.tolist(), term_hashes):
            if not len(terms) or terms[i] != h:
                out.append((rows[:0], tf[:0]))
                continue
            start, end = int(ptr[i]), int(ptr[i + 1])
            out.append((rows[start:end], tf[start:end]))
        return out

    @cached_property
    def lengths_array(self) -> NDArray[np.int32]:
        """`lengths` as a plain array (a view of the map: indexing it skips numpy.memmap's overhead)."""
        return np.asarray(self.lengths)

    def save(self, folder: Path) -> None:
        for key, name in FILES.items():
            np.save(folder / name, np.ascontiguousarray(getattr(self, key)), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Postings:
        return cls(**{key: np.load(folder / name, mmap_mode="r", allow_pickle=False) for key, name in FILES.items()})

    def problems(self) -> list[str]:
        """Structural faults (dtypes, shapes, pointers); an empty list when consistent."""
        expect = {"terms": np.uint64, "ptr": np.int64, "rows": np.int32, "tf": np.uint16, "lengths": np.int32}
        out = [f"{FILES[k]}: dtype {getattr(self, k).dtype}" for k, t in expect.items() if getattr(self, k).dtype != t]
        out += [f"{FILES[k]}: not one-dimensional" for k in expect if getattr(self, k).ndim != 1]
        if out:
            return out
        if len(self.ptr) != len(self.terms) + 1 or (len(self.ptr) and (self.ptr[0] != 0 or self.ptr[-1] != len(self.rows))):
            out.append(f"{FILES['ptr']}: does not match {FILES['terms']} and {FILES['rows']}")
        if len(self.tf) != len(self.rows):
            out.append(f"{FILES['tf']}: {len(self.tf)} entries, {FILES['rows']} has {len(self.rows)}")
        return out

    def deep_problems(self) -> list[str]:
        """Every value checked (O(postings)): for `qa check`."""
        out = self.problems()
        if out:
            return out
        if len(self.rows) and (int(self.rows.min()) < 0 or int(self.rows.max()) >= self.n_chunks):
            out.append(f"{FILES['rows']}: rows outside the segment's {self.n_chunks} chunks")
        terms = np.asarray(self.terms)
        if np.any(np.diff(self.ptr) < 0) or np.any(terms[1:] <= terms[:-1]):
            out.append(f"{FILES['ptr']}: pointers or terms out of order")
        return out


def build_postings(texts: list[str]) -> Postings:
    """The inverted index of `texts` (row i = text i)."""
    vocab: dict[str, int] = {}
    ids, rows, tfs = array("i"), array("i"), array("H")  # 10 bytes a posting while collecting
    lengths = np.zeros(len(texts), dtype=np.int32)
    for block in range(0, len(texts), _BLOCK):
        for offset, words in enumerate(terms_of_many(texts[block : block + _BLOCK])):
            row = block + offset
            lengths[row] = len(words)
            for term, count in Counter(words).items():
                ids.append(vocab.setdefault(term, len(vocab)))
                rows.append(row)
                tfs.append(min(count, 65535))
    # A hash collision gives two terms one key; sorting by key then keeps both in one term's postings.
    terms, key_of = np.unique(term_hashes(list(vocab)), return_inverse=True)
    key = key_of.astype(np.int32)[np.frombuffer(ids, dtype=np.int32)] if len(ids) else np.zeros(0, np.int32)
    del ids
    order = np.argsort(key, kind="stable")  # stable: rows (collected in order) stay ascending within a term
    key, row_of = key[order], np.frombuffer(rows, dtype=np.int32)[order]
    tf = np.frombuffer(tfs, dtype=np.uint16)[order]
    del order, rows, tfs
    if len(key) > 1:  # two colliding terms in one chunk: one posting with their counts added
        same = (key[1:] == key[:-1]) & (row_of[1:] == row_of[:-1])
        if same.any():
            starts = np.flatnonzero(np.concatenate(([True], ~same)))
            key, row_of = key[starts], row_of[starts]
            tf = np.minimum(np.add.reduceat(tf.astype(np.int32), starts), 65535).astype(np.uint16)
    ptr = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=len(terms))))).astype(np.int64)
    return Postings(terms, ptr, row_of, tf, lengths)


# Postings remapped at a time when segments are merged into files: bounds the memory of a merge.
_MERGE_POSTINGS = 1 << 22


def _merged_blocks(
    parts: list[tuple[Postings, NDArray[np.bool_] | None]], block: int
) -> Iterator[tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.int32], NDArray[np.uint16]]]:
    """The merged postings of `parts` (see `merge_postings`) as consecutive runs of terms, each of
    about `block` postings: (terms, postings per term, rows, tf). Reads each part's postings once,
    a run of terms at a time."""
    union = np.unique(np.concatenate([np.asarray(p.terms) for p, _ in parts]))
    per_term = np.zeros(len(union), dtype=np.int64)
    for p, _ in parts:
        per_term[np.searchsorted(union, p.terms)] += np.diff(p.ptr)
    new_rows = [None if alive is None else np.cumsum(alive) - 1 for _, alive in parts]  # a kept row's new number
    bases = np.cumsum([0] + [p.n_chunks if alive is None else int(alive.sum()) for p, alive in parts])
    ends = np.searchsorted(np.cumsum(per_term), np.arange(block, int(per_term.sum()), block), side="right")
    for lo, hi in zip(np.concatenate(([0], ends)), np.concatenate((ends, [len(union)]))):
        if lo >= hi:
            continue
        keys, rows, tfs = [], [], []
        for (p, alive), new_row, base in zip(parts, new_rows, bases):
            terms = np.asarray(p.terms)
            a, b = np.searchsorted(terms, union[lo]), np.searchsorted(terms, union[hi - 1], side="right")
            ptr = np.asarray(p.ptr[a : b + 1])
            r, t = np.array(p.rows[ptr[0] : ptr[-1]]), np.array(p.tf[ptr[0] : ptr[-1]])
            key = np.repeat(np.searchsorted(union, terms[a:b]) - lo, np.diff(ptr))
            if alive is not None and new_row is not None:
                keep = alive[r]
                r, t, key = new_row[r[keep]], t[keep], key[keep]
            keys.append(key)
            rows.append(r + base)
            tfs.append(t)
        key = np.concatenate(keys)
        order = np.argsort(key, kind="stable")  # stable: rows stay ascending within each term
        counts = np.bincount(key, minlength=hi - lo)
        used = counts > 0
        yield union[lo:hi][used], counts[used], np.concatenate(rows)[order].astype(np.int32), np.concatenate(tfs)[order]


def _merged_lengths(parts: list[tuple[Postings, NDArray[np.bool_] | None]]) -> NDArray[np.int32]:
    return np.concatenate([np.asarray(p.lengths) if alive is None else np.asarray(p.lengths)[alive] for p, alive in parts])


def merge_postings(parts: list[tuple[Postings, NDArray[np.bool_] | None]]) -> Postings:
    """One index over the rows of `parts` whose `alive` mask is true (None: all), in order: the kept
    rows of part i follow those of part i - 1. Postings are remapped, never re-tokenised."""
    if not parts:
        return Postings(np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16),
                        np.zeros(0, np.int32))
    blocks = list(_merged_blocks(parts, block=max(1, sum(len(p.rows) for p, _ in parts))))
    terms = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.uint64)
    counts = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, np.int64)
    rows = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0, np.int32)
    tf = np.concatenate([b[3] for b in blocks]) if blocks else np.zeros(0, np.uint16)
    return Postings(terms, np.concatenate(([0], np.cumsum(counts))).astype(np.int64), rows, tf.astype(np.uint16),
                    _merged_lengths(parts).astype(np.int32))


def write_merged_postings(folder: Path, parts: list[tuple[Postings, NDArray[np.bool_] | None]]) -> None:
    """`merge_postings(parts).save(folder)`, holding about `_MERGE_POSTINGS` postings at a time:
    rows and tf go to scratch files as they are remapped, then behind their .npy headers."""
    terms: list[NDArray[np.uint64]] = []
    counts: list[NDArray[np.int64]] = []
    scratch = {key: folder / f".{FILES[key]}.part" for key in ("rows", "tf")}
    n = 0
    with open(scratch["rows"], "wb") as rows_out, open(scratch["tf"], "wb") as tf_out:
        for block_terms, block_counts, rows, tf in (_merged_blocks(parts, _MERGE_POSTINGS) if parts else ()):
            terms.append(block_terms)
            counts.append(block_counts)
            rows_out.write(rows.tobytes())
            tf_out.write(tf.astype(np.uint16).tobytes())
            n += len(rows)
    np.save(folder / FILES["terms"], np.concatenate(terms) if terms else np.zeros(0, np.uint64), allow_pickle=False)
    ptr = np.concatenate(([0], np.cumsum(np.concatenate(counts)) if counts else [])).astype(np.int64)
    np.save(folder / FILES["ptr"], ptr, allow_pickle=False)
    lengths = _merged_lengths(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
    np.save(folder / FILES["lengths"], lengths, allow_pickle=False)
    for key, dtype in (("rows", np.int32), ("tf", np.uint16)):
        with open(folder / FILES[key], "wb") as out, open(scratch[key], "rb") as part:
            np.lib.format.write_array_header_1_0(
                out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (n,)}
            )
            shutil.copyfileobj(part, out, 1 << 22)
        scratch[key].unlink()


@dataclass
class LexicalPart:
    """One segment's postings as seen by one index version: which rows are live, and their totals."""

    postings: Postings
    alive: NDArray[np.bool_] | None  # bool per chunk; None: every chunk is live
    n_live: int
    live_length: int

    @classmethod
    def of(cls, postings: Postings, alive: NDArray[np.bool_] | None) -> LexicalPart:
        lengths = np.asarray(postings.lengths)
        if alive is None:
            return cls(postings, None, len(lengths), int(lengths.sum(dtype=np.int64)))
        return cls(postings, alive, int(alive.sum()), int(lengths[alive].sum(dtype=np.int64)))


# A term's postings across all segments are gathered into one array (one binary search a scoring
# step instead of one per segment) when they hold at most this many rows; longer ones, which MaxScore
# mostly never gathers, are binary-searched segment by segment without being copied.
_JOIN_POSTINGS = 1 << 16


@dataclass
class _QueryTerm:
    """One distinct query term over all parts: its weight (idf x repeats) and postings, local to each
    part (`local`, unfiltered) and, when short, joined into the global row space of live rows (`rows`, `tf`)."""

    weight: np.float64
    df: int
    local: list[tuple[NDArray[np.int32], NDArray[np.uint16]]]
    rows: NDArray[np.int64] | None = None
    tf: NDArray[np.uint16] | None = None


def bm25_top(
    parts: list[LexicalPart], query_terms: list[str], k: int, k1: float = Config.bm25_k1, b: float = Config.bm25_b,
) -> list[tuple[int, int, float]]:
    """The k best (part, row, score) for the query terms (duplicates count twice), best first; only
    rows holding at least one term. Statistics are over the live rows of all parts together;
    `k1` and `b` are BM25's (default: `Config`'s).

    Exact, with MaxScore pruning: a term adds less than its idf to any score (tf / (tf + norm) < 1),
    so rows are gathered from the most selective terms first and scored in full (every term's tf
    looked up by binary search in its postings); once the k-th best score reached is at least the
    summed idf of the terms not yet gathered, no row holding only those can enter the top k, and
    their long postings are never read. Rows of all parts share one numbering (part i's rows follow
    part i - 1's), so the work per step does not grow with the number of parts: short postings are
    joined across parts once, and only long ones are searched part by part."""
    n_live = sum(p.n_live for p in parts)
    if not query_terms or k <= 0 or n_live == 0:
        return []
    counts = Counter(query_terms)
    hashes = term_hashes(list(counts))
    bases = np.cumsum([0] + [p.postings.n_chunks for p in parts]).astype(np.int64)
    local = [part.postings.lookup_many(hashes) for part in parts]  # per part, per term
    df = np.zeros(len(hashes))
    for found, part in zip(local, parts):
        for i, (rows, _) in enumerate(found):
            if len(rows) and (int(rows[-1]) >= part.postings.n_chunks or int(rows[0]) < 0):  # ascending: the ends bound them
                raise IndexError("postings point outside the segment")
            df[i] += len(rows) if part.alive is None else int(np.count_nonzero(part.alive[rows]))
    idf = np.log1p((n_live - df + 0.5) / (df + 0.5)) * np.array(list(counts.values()), dtype=np.float64)
    query = [_QueryTerm(idf[i], int(df[i]), [found[i] for found in local]) for i in range(len(hashes))]
    for term in query:
        if sum(len(r) for r, _ in term.local) <= _JOIN_POSTINGS:
            term.rows, term.tf = _joined(parts, bases, term.local)
    avg_length = sum(p.live_length for p in parts) / n_live
    bound = np.array([t.weight if t.df > 0 else 0.0 for t in query])  # the most a term adds to a score
    order = np.argsort(-bound, kind="stable")  # most selective first
    rest = np.concatenate((np.cumsum(bound[order][::-1])[::-1], [0.0]))  # rest[j]: bounds of terms order[j:]
    gathered, scores = np.zeros(0, np.int64), np.zeros(0)
    for j, t in enumerate(order):
        term = query[t]
        holding = term.rows if term.rows is not None else _joined(parts, bases, term.local)[0]
        new = holding[~np.isin(holding, gathered, assume_unique=True)] if len(gathered) else holding
        if len(new):
            gathered = np.concatenate((gathered, new))
            scores = np.concatenate((scores, _bm25(parts, bases, query, avg_length, new, k1, b)))
        if len(scores) >= k and rest[j + 1] * (1 + 1e-9) <= np.partition(scores, len(scores) - k)[-k]:
            break  # rows not gathered hold only terms order[j + 1:]: they score below the k-th
    top = np.lexsort((gathered, -scores))[:k]  # best first, ties by part then row
    part_of = np.searchsorted(bases, gathered[top], side="right") - 1
    return [(int(p), int(r - bases[p]), float(s)) for p, r, s in zip(part_of, gathered[top], scores[top])]


def _joined(
    parts: list[LexicalPart], bases: NDArray[np.int64], local: list[tuple[NDArray[np.int32], NDArray[np.uint16]]]
) -> tuple[NDArray[np.int64], NDArray[np.uint16]]:
    """A term's live postings in all parts as one ascending array of global rows, and their tf."""
    rows, tfs = [], []
    for part, base, (r, tf) in zip(parts, bases, local):
        if len(r) and part.alive is not None:
            keep = part.alive[r]
            r, tf = r[keep], tf[keep]
        rows.append(r.astype(np.int64) + base)
        tfs.append(tf)
    return np.concatenate(rows), np.concatenate(tfs)


def _bm25(
    parts: list[LexicalPart], bases: NDArray[np.int64], query: list[_QueryTerm], avg_length: float,
    rows: NDArray[np.int64], k1: float, b: float,
) -> NDArray[np.float64]:
    """Full BM25 scores of `rows` (ascending global rows of live chunks), term by term in query order."""
    # Each part's share of `rows` is one slice (rows ascend, parts follow each other).
    cuts = np.searchsorted(rows, bases)
    spans = [(p, int(cuts[p]), int(cuts[p + 1])) for p in range(len(parts)) if cuts[p] < cuts[p + 1]]
    lengths = np.empty(len(rows))
    for p, s, e in spans:
        lengths[s:e] = parts[p].postings.lengths_array[rows[s:e] - bases[p]]
    norm = k1 * (1 - b + b * lengths / avg_length)
    scores = np.zeros(len(rows))
    for term in query:
        if not term.df:
            continue
        if term.rows is not None:
            tf = _tf_at(term.rows, term.tf, rows)
        else:
            tf = np.zeros(len(rows))
            for p, s, e in spans:
                term_rows, term_tf = term.local[p]
                if len(term_rows):
                    tf[s:e] = _tf_at(term_rows, term_tf, rows[s:e] - bases[p])
        scores += term.weight * tf / (tf + norm)
    return scores


def _tf_at(term_rows: NDArray[np.integer], term_tf: NDArray[np.uint16] | None, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """The tf of each of `rows` in one term's postings (0 where the term is absent)."""
    assert term_tf is not None
    at = np.minimum(np.searchsorted(term_rows, rows), len(term_rows) - 1)
    return np.where(term_rows[at] == rows, term_tf[at], 0).astype(np.float64)
