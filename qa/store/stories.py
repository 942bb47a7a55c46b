"""Stories: the copies of one news story across documents, found when they are written, with MinHash LSH.

A wire report reprinted with a new headline, an added boilerplate paragraph, a trimmed ending or an
appended correction is one *story*. A document's cleaned text becomes a set of word shingles
(`Config.story_shingle_words` words in a row, lower-cased); datasketch's MinHash
(`Config.story_permutations` permutations) estimates the Jaccard similarity of two such sets, and
datasketch's LSH parameters for `Config.story_threshold` cut each signature into b bands of r
values. The band keys and the signature of every document row are stored in the catalog beside
the row (`qa/store/catalog.py`, an indexed SQLite table: the LSH's hash tables, versioned with the
segments), so finding the candidates of a new article is b indexed lookups whatever the size of
the archive.

A new document joins the story of the most similar live document whose estimated similarity
is at least the threshold (the batch being written counts too); else it starts a story of its own,
whose id is its content hash. The story id is stored with the document's row and never changes:
removing a copy leaves the others their story, a rollback restores rows with their stories, a
compaction copies them, and a rebuild of the same articles makes the same groups.

The writer (`qa/store/writer.py`) calls `assign_stories` for each segment it writes; what reading
does with stories (one copy per story, a passage's other copies) is `qa/stories.py`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, overload

import numpy as np
from numpy.typing import NDArray

from qa.config import Config
from qa.documents import Document

if TYPE_CHECKING:
    from qa.store.catalog import Catalog, Version

_WORD = re.compile(r"\w+")
# The MinHash permutations, fixed so that signatures are the same in every process and release;
# datasketch 2's "affine32" scheme (32-bit values, a bijective permutation step).
_SEED, _SCHEME = 1, "affine32"

# (band keys, signature) of one document row; None when story detection is off.
Sketch = tuple[list[int], bytes]


def shingles(text: str, size: int) -> list[bytes]:
    """The distinct runs of `size` words of `text` (lower-cased), as bytes; a text shorter than
    `size` words is one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")]
    return list(dict.fromkeys(" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)))


@lru_cache(maxsize=4)
def _permutations(n: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    from datasketch import MinHash

    perms: tuple[NDArray[np.uint64], NDArray[np.uint64]] = MinHash(num_perm=n, seed=_SEED, scheme=_SCHEME).permutations
    return perms


def signature(text: str, config: Config) -> NDArray[np.uint32]:
    """The MinHash signature of `text`'s shingles (datasketch; its values fit 32 bits)."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=config.story_permutations, seed=_SEED, scheme=_SCHEME,
                      permutations=_permutations(config.story_permutations))
    minhash.update_batch(shingles(text, config.story_shingle_words))
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


@lru_cache(maxsize=8)
def lsh_bands(threshold: float, permutations: int) -> tuple[int, int]:
    """(b bands, r values per band) with b * r <= `permutations`: the choice of datasketch's
    MinHashLSH for this threshold (the least false-positive plus false-negative area, weighed
    equally), computed on a grid with numpy in milliseconds where datasketch's scipy quadrature
    takes a second or more (tests/test_stories.py checks that both agree)."""
    pairs = np.array([(b, r) for b in range(1, permutations + 1) for r in range(1, permutations // b + 1)], dtype=float)
    b, r = pairs[:, :1], pairs[:, 1:]
    below, above = np.linspace(0.0, threshold, 201), np.linspace(threshold, 1.0, 201)
    false_positive = np.trapezoid(1 - (1 - below**r) ** b, below, axis=1)
    false_negative = np.trapezoid((1 - above**r) ** b, above, axis=1)
    best = int(np.argmin(0.5 * false_positive + 0.5 * false_negative))  # the first of equal minima, as datasketch
    return int(pairs[best, 0]), int(pairs[best, 1])


def band_keys(sig: NDArray[np.uint32], config: Config) -> list[int]:
    """The LSH keys of a signature: per band, a signed 64-bit hash of the band number and its values."""
    b, r = lsh_bands(config.story_threshold, config.story_permutations)
    return [
        int.from_bytes(hashlib.blake2b(bytes([band]) + sig[band * r : (band + 1) * r].tobytes(), digest_size=8).digest(),
                       "little", signed=True)
        for band in range(b)
    ]


def stored_sketch(sig_bytes: bytes, config: Config) -> Sketch:
    """A stored signature with its band keys (compaction copies signatures, not texts)."""
    return band_keys(np.frombuffer(sig_bytes, dtype=np.uint32), config), sig_bytes


class Sketches(Sequence[Sketch | None]):
    """The sketches of many document rows held as two arrays (signatures, band keys), each
    (keys, signature) made when it is read: as Python lists a segment of a million chunks would
    hold its sketches in about 3 GB instead of 0.2 GB. Rows not `present` have none."""

    def __init__(self, signatures: NDArray[np.uint32], keys: NDArray[np.int64], present: NDArray[np.bool_] | None = None):
        self.signatures, self.keys, self._present = signatures, keys, present

    def __len__(self) -> int:
        return len(self.signatures)

    @overload
    def __getitem__(self, i: int) -> Sketch | None: ...

    @overload
    def __getitem__(self, i: slice) -> list[Sketch | None]: ...

    def __getitem__(self, i: int | slice) -> Sketch | None | list[Sketch | None]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if self._present is not None and not self._present[i]:
            return None
        return [int(k) for k in self.keys[i]], self.signatures[i].tobytes()


def _keys_of(signatures: NDArray[np.uint32], config: Config) -> NDArray[np.int64]:
    b, _ = lsh_bands(config.story_threshold, config.story_permutations)
    keys = np.zeros((len(signatures), b), dtype=np.int64)
    for i, sig in enumerate(signatures):
        keys[i] = band_keys(sig, config)
    return keys


def stored_sketches(signatures: Sequence[bytes | None], config: Config) -> Sketches:
    """Stored signatures (None: a row without one) with their band keys, as `Sketches`."""
    present = np.array([s is not None for s in signatures], dtype=bool)
    sigs = np.zeros((len(signatures), config.story_permutations), dtype=np.uint32)
    for i, sig in enumerate(signatures):
        if sig is not None:
            sigs[i] = np.frombuffer(sig, dtype=np.uint32)
    return Sketches(sigs, _keys_of(sigs, config), present)


def similarity(a: NDArray[np.uint32], b: NDArray[np.uint32]) -> float:
    """MinHash's estimate of the Jaccard similarity of two shingle sets."""
    return float(np.mean(a == b))


def own_story(doc: Document) -> str:
    """The id of a story that `doc` starts: its content hash (ids never collide with a removed story's)."""
    return (doc.content_hash or hashlib.sha256(doc.text.encode("utf-8")).hexdigest())[:16]


def assign_stories(
    documents: Sequence[Document], catalog: Catalog, work: Version, dropping: Collection[tuple[str, int]],
    config: Config,
) -> tuple[list[str], Sequence[Sketch | None]]:
    """The story of each of `documents` (about to be written as one segment of state `work`,
    which loses the rows `dropping`), and each one's sketch for the catalog. Each document is
    compared with the live rows of `work` that share a band key with it and with the documents
    before it in `documents`."""
    if not config.story_detection:
        return [own_story(d) for d in documents], [None] * len(documents)
    live = set(work.segments)

    def is_live(segment: str, row: int) -> bool:
        return segment in live and row not in work.tombstones.get(segment, ()) and (segment, row) not in dropping

    sigs = np.zeros((len(documents), config.story_permutations), dtype=np.uint32)
    for i, doc in enumerate(documents):
        sigs[i] = signature(doc.text, config)
    keys = _keys_of(sigs, config)
    batch = _BatchLSH(keys)  # the LSH of this batch: which earlier documents share a band key
    stories: list[str] = []
    for i, doc in enumerate(documents):
        sig = sigs[i]
        found: list[tuple[float, str]] = []
        for segment, row, story, stored in catalog.story_candidates([int(k) for k in keys[i]]):
            if is_live(segment, row):
                found.append((similarity(sig, np.frombuffer(stored, dtype=np.uint32)), story))
        earlier = batch.earlier(i)
        if len(earlier):
            close = np.mean(sigs[earlier] == sig, axis=1)  # `similarity` of each, at once
            found += [(float(close[j]), stories[int(p)]) for j, p in enumerate(earlier) if close[j] >= config.story_threshold]
        close_ones = [(s, story) for s, story in found if s >= config.story_threshold]
        # The most similar copy's story; equal similarities: the smaller id, so the choice is repeatable.
        stories.append(min(close_ones, key=lambda c: (-c[0], c[1]))[1] if close_ones else own_story(doc))
    return stories, Sketches(sigs, keys)


class _BatchLSH:
    """The band keys of a batch of documents sorted once, so that the earlier documents sharing a
    key with document i are found by binary search (memory: two arrays of the keys, whatever the
    number of pairs that share one)."""

    def __init__(self, keys: NDArray[np.int64]) -> None:
        flat = keys.ravel()
        order = np.argsort(flat, kind="stable")  # stable: documents ascend within a key
        self.keys, self.sorted, self.owner = keys, flat[order], order // max(keys.shape[1], 1)

    def earlier(self, i: int) -> NDArray[np.int64]:
        """The documents before document i that share a band key with it, ascending."""
        lo = np.searchsorted(self.sorted, self.keys[i], side="left")
        hi = np.searchsorted(self.sorted, self.keys[i], side="right")
        runs = [self.owner[a : a + np.searchsorted(self.owner[a:b], i)] for a, b in zip(lo.tolist(), hi.tolist()) if b - a > 1]
        return np.unique(np.concatenate(runs)) if runs else np.zeros(0, np.int64)
