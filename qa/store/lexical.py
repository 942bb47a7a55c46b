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
from array import array
from collections import Counter
from dataclasses import dataclass
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

    def lookup(self, term_hash: np.uint64) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        i = int(np.searchsorted(self.terms, term_hash))
        if i >= len(self.terms) or self.terms[i] != term_hash:
            return np.zeros(0, np.int32), np.zeros(0, np.uint16)
        start, end = int(self.ptr[i]), int(self.ptr[i + 1])
        return np.asarray(self.rows[start:end]), np.asarray(self.tf[start:end])

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
    ids, rows, tfs = array("q"), array("i"), array("i")
    lengths = np.zeros(len(texts), dtype=np.int32)
    for block in range(0, len(texts), _BLOCK):
        for offset, words in enumerate(terms_of_many(texts[block : block + _BLOCK])):
            row = block + offset
            lengths[row] = len(words)
            for term, count in Counter(words).items():
                ids.append(vocab.setdefault(term, len(vocab)))
                rows.append(row)
                tfs.append(count)
    keys = term_hashes(list(vocab))[np.frombuffer(ids, dtype=np.int64)] if len(ids) else np.zeros(0, np.uint64)
    return _from_triples(keys, np.frombuffer(rows, dtype=np.int32), np.frombuffer(tfs, dtype=np.int32), lengths)


def _from_triples(
    keys: NDArray[np.uint64], rows: NDArray[np.int32], tf: NDArray[np.integer], lengths: NDArray[np.int32]
) -> Postings:
    order = np.lexsort((rows, keys))
    keys, rows, tf = keys[order], rows[order], tf[order]
    if len(keys) > 1:  # a hash collision put two terms of one chunk together: add their counts
        same = (keys[1:] == keys[:-1]) & (rows[1:] == rows[:-1])
        if same.any():
            starts = np.flatnonzero(np.concatenate(([True], ~same)))
            keys, rows, tf = keys[starts], rows[starts], np.add.reduceat(tf, starts)
    terms, first = np.unique(keys, return_index=True)
    ptr = np.append(first, len(keys)).astype(np.int64)
    return Postings(terms, ptr, rows.astype(np.int32), np.minimum(tf, 65535).astype(np.uint16), lengths.astype(np.int32))


def merge_postings(parts: list[tuple[Postings, NDArray[np.bool_] | None]]) -> Postings:
    """One index over the rows of `parts` whose `alive` mask is true (None: all), in order: the kept
    rows of part i follow those of part i - 1. Postings are remapped, never re-tokenised."""
    terms = np.unique(np.concatenate([p.terms for p, _ in parts])) if parts else np.zeros(0, np.uint64)
    keys, rows, tfs, lengths, base = [], [], [], [], 0
    for p, alive in parts:
        term_of = np.repeat(np.searchsorted(terms, p.terms), np.diff(p.ptr)).astype(np.int64)
        r, t = np.asarray(p.rows), np.asarray(p.tf)
        if alive is None:
            new_row = np.arange(p.n_chunks, dtype=np.int64)
            lens = np.asarray(p.lengths)
        else:
            keep = alive[r]
            r, t, term_of = r[keep], t[keep], term_of[keep]
            new_row = np.cumsum(alive) - 1
            lens = np.asarray(p.lengths)[alive]
        keys.append(term_of)
        rows.append(new_row[r] + base)
        tfs.append(t)
        lengths.append(lens)
        base += len(lens)
    if not parts:
        return Postings(terms, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16), np.zeros(0, np.int32))
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")  # stable: rows stay ascending within each term
    counts = np.bincount(key, minlength=len(terms))
    used = counts > 0
    ptr = np.concatenate(([0], np.cumsum(counts[used]))).astype(np.int64)
    return Postings(
        terms[used], ptr, np.concatenate(rows)[order].astype(np.int32), np.concatenate(tfs)[order].astype(np.uint16),
        np.concatenate(lengths).astype(np.int32),
    )


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
    their long postings are never read."""
    n_live = sum(p.n_live for p in parts)
    if not query_terms or k <= 0 or n_live == 0:
        return []
    counts = Counter(query_terms)
    hashes = term_hashes(list(counts))
    weights = np.array(list(counts.values()), dtype=np.float64)
    found: list[list[tuple[NDArray[np.int32], NDArray[np.uint16]]]] = []
    df = np.zeros(len(hashes))
    for part in parts:
        per_term = []
        for i, h in enumerate(hashes):
            rows, tf = part.postings.lookup(h)  # ascending rows: the ends bound them all
            if len(rows) and (int(rows[-1]) >= part.postings.n_chunks or int(rows[0]) < 0):
                raise IndexError("postings point outside the segment")
            df[i] += len(rows) if part.alive is None else int(np.count_nonzero(part.alive[rows]))
            per_term.append((rows, tf))
        found.append(per_term)
    idf = np.log1p((n_live - df + 0.5) / (df + 0.5)) * weights
    avg_length = sum(p.live_length for p in parts) / n_live
    bound = np.where(df > 0, idf, 0.0)  # the most a term adds to a score (a term no live row holds: nothing)
    order = np.argsort(-bound, kind="stable")  # most selective first
    rest = np.concatenate((np.cumsum(bound[order][::-1])[::-1], [0.0]))  # rest[j]: bounds of terms order[j:]
    gathered: list[NDArray[np.int64]] = [np.zeros(0, np.int64) for _ in parts]
    scored: list[NDArray[np.float64]] = [np.zeros(0) for _ in parts]
    for j, term in enumerate(order):
        for part_no, part in enumerate(parts):
            holding = np.asarray(found[part_no][term][0], dtype=np.int64)
            if part.alive is not None and len(holding):
                holding = holding[part.alive[holding]]
            new = holding[~np.isin(holding, gathered[part_no], assume_unique=True)] if len(gathered[part_no]) else holding
            if len(new):
                gathered[part_no] = np.concatenate((gathered[part_no], new))
                scored[part_no] = np.concatenate((scored[part_no], _bm25(part, found[part_no], idf, avg_length, new, k1, b)))
        everything = np.concatenate(scored)
        if len(everything) >= k and rest[j + 1] * (1 + 1e-9) <= np.partition(everything, len(everything) - k)[-k]:
            break  # rows not gathered hold only terms order[j + 1:]: they score below the k-th
    best: list[tuple[float, int, int]] = []
    for part_no, (part_rows, part_scores) in enumerate(zip(gathered, scored)):
        top = np.lexsort((part_rows, -part_scores))[:k]  # best first, ties by row
        best.extend((float(part_scores[i]), part_no, int(part_rows[i])) for i in top)
    best.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(part_no, row, score) for score, part_no, row in best[:k]]


def _bm25(
    part: LexicalPart, per_term: list[tuple[NDArray[np.int32], NDArray[np.uint16]]], idf: NDArray[np.float64],
    avg_length: float, rows: NDArray[np.int64], k1: float, b: float,
) -> NDArray[np.float64]:
    """Full BM25 scores of `rows` (live rows of `part`), term by term in query order."""
    norm = k1 * (1 - b + b * np.asarray(part.postings.lengths)[rows] / avg_length)
    scores = np.zeros(len(rows))
    for weight, (term_rows, term_tf) in zip(idf, per_term):
        if not len(term_rows):
            continue
        at = np.minimum(np.searchsorted(term_rows, rows), len(term_rows) - 1)
        tf = np.where(np.asarray(term_rows[at]) == rows, np.asarray(term_tf[at]), 0).astype(np.float64)
        scores += weight * tf / (tf + norm)
    return scores
