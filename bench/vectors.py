"""Synthetic unit vectors with neighbourhood structure, standing in for passage embeddings at scale.

i.i.d. random unit vectors in 384-d have no neighbourhoods at all (every point is about
equally far from every other), the worst case for any approximate index and nothing like
sentence embeddings. Real embeddings of news passages are clustered at several scales:
stories within topics, near-paraphrases within stories. So the stand-in is a three-level
mixture: `topics` random directions; `stories` (about 1 per 10 passages) scattered around
their topic; passages scattered around their story, with noise large enough that a query's
ten nearest neighbours usually span several stories and IVF cells. Queries are drawn the
same way (new noise around existing stories), never copies of indexed vectors.

With the defaults, cosine(random pair) ~ 0.0, cosine(query, its nearest passage) ~ 0.5-0.6,
close to what all-MiniLM-L6-v2 gives for a news question against a relevant passage.
"""

from __future__ import annotations

import numpy as np

DIM = 384


class ClusteredVectors:
    """Stories are made a block at a time from their own seed, never all held: at 10M passages
    they would be a million 384-d vectors (1.5 GB) beside the passages being written."""

    _STORY_BLOCK = 65_536

    def __init__(self, n: int, dim: int = DIM, seed: int = 0, per_story: int = 10,
                 story_noise: float = 2.0, passage_noise: float = 1.0):
        self.n, self.dim = n, dim
        rng = np.random.default_rng(seed)
        self.n_stories = max(8, n // per_story)
        n_topics = max(4, int(np.sqrt(self.n_stories)))
        self.topics = _unit(rng.standard_normal((n_topics, dim), dtype=np.float32))
        self.story_noise = np.float32(story_noise / np.sqrt(dim))
        self.passage_noise = np.float32(passage_noise / np.sqrt(dim))
        self._seed = seed

    def passages(self) -> np.ndarray:
        return self._draw(self.n, np.random.default_rng(self._seed + 1))

    def passages_block(self, block: int, m: int) -> np.ndarray:
        """m more passages of the same stories (block 0, 1, ...: an index built in parts)."""
        return self._draw(m, np.random.default_rng([self._seed + 1, block]))

    def queries(self, m: int) -> np.ndarray:
        return self._draw(m, np.random.default_rng(self._seed + 2))

    def _stories(self, block: int) -> np.ndarray:
        """Stories block * _STORY_BLOCK, ...: unit vectors scattered around a random topic each."""
        rng = np.random.default_rng([self._seed, 3, block])
        m = min(self._STORY_BLOCK, self.n_stories - block * self._STORY_BLOCK)
        stories = self.topics[rng.integers(0, len(self.topics), m)]
        stories += rng.standard_normal((m, self.dim), dtype=np.float32) * self.story_noise
        return _unit(stories)

    def _draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        story = rng.integers(0, self.n_stories, m)
        out = np.empty((m, self.dim), dtype=np.float32)
        step = 100_000
        for s in range(0, m, step):
            out[s : s + step] = rng.standard_normal((min(step, m - s), self.dim), dtype=np.float32)
            out[s : s + step] *= self.passage_noise
        order = np.argsort(story, kind="stable")
        cuts = np.searchsorted(story[order], np.arange(0, self.n_stories + self._STORY_BLOCK, self._STORY_BLOCK))
        for block, (a, b) in enumerate(zip(cuts, cuts[1:])):
            if a < b:
                stories = self._stories(block)
                for c in range(a, b, step):  # a step of rows at a time: no copy of the whole draw
                    rows = order[c : min(c + step, b)]
                    out[rows] += stories[story[rows] - block * self._STORY_BLOCK]
        for s in range(0, m, step):
            out[s : s + step] = _unit(out[s : s + step])
        return out


def random_unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """i.i.d. uniform unit vectors: the structureless worst case, reported for reference only."""
    return _unit(np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x
