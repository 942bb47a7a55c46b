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
    def __init__(self, n: int, dim: int = DIM, seed: int = 0, per_story: int = 10,
                 story_noise: float = 2.0, passage_noise: float = 1.0):
        self.n, self.dim = n, dim
        rng = np.random.default_rng(seed)
        n_stories = max(8, n // per_story)
        n_topics = max(4, int(np.sqrt(n_stories)))
        topics = _unit(rng.standard_normal((n_topics, dim), dtype=np.float32))
        parent = rng.integers(0, n_topics, n_stories)
        stories = topics[parent] + rng.standard_normal((n_stories, dim), dtype=np.float32) * np.float32(
            story_noise / np.sqrt(dim)
        )
        self.stories = _unit(stories)
        self.passage_noise = np.float32(passage_noise / np.sqrt(dim))
        self._seed = seed

    def passages(self) -> np.ndarray:
        return self._draw(self.n, np.random.default_rng(self._seed + 1))

    def passages_block(self, block: int, m: int) -> np.ndarray:
        """m more passages of the same stories (block 0, 1, ...: an index built in parts)."""
        return self._draw(m, np.random.default_rng([self._seed + 1, block]))

    def queries(self, m: int) -> np.ndarray:
        return self._draw(m, np.random.default_rng(self._seed + 2))

    def _draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((m, self.dim), dtype=np.float32)
        step = 100_000
        for s in range(0, m, step):
            k = min(step, m - s)
            x = rng.standard_normal((k, self.dim), dtype=np.float32)
            x *= self.passage_noise
            x += self.stories[rng.integers(0, len(self.stories), k)]
            out[s : s + k] = _unit(x)
        return out


def random_unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """i.i.d. uniform unit vectors: the structureless worst case, reported for reference only."""
    return _unit(np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x
