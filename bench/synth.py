"""Deterministic news-like articles, recombined from the sentences of the bundled corpus.

Every sentence of `corpus/` becomes a template: capitalised names and numbers are slots.
An article draws 2-5 paragraphs of 3-5 template sentences and fills the slots with names
from a generated pool (Zipf-like: a few names are frequent, most are rare, as in news) and
fresh numbers and years, so the vocabulary grows with the corpus like a real archive's
instead of repeating two articles. Same seed, same articles.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"

_SLOT = re.compile(r"\b(?:[A-Z][\w’'-]*[\w]|[A-Z])\b|\b\d[\d,.]*\d\b|\b\d\b")
_MONTHS = ("January February March April May June July August September October November December").split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_SYLLABLES = (
    "ka lo mi ra te su na vo ri de ba lu zen tor mar an el is ov ek in ga sha po li vu ne "
    "dra kel mon ser tak vin yar bor gol har jen kas lem nor pav ros sel tem ul vas"
).split()


def _title_case(s: str) -> str:
    return s[:1].upper() + s[1:]


@lru_cache(maxsize=1)
def name_pool(size: int = 40_000, seed: int = 7) -> tuple[str, ...]:
    rng = np.random.default_rng(seed)
    names, seen = [], set()
    while len(names) < size:
        n = int(rng.integers(2, 5))
        name = _title_case("".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), n)))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return tuple(names)


@lru_cache(maxsize=1)
def templates() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """(literal parts, slot kinds) per source sentence; len(parts) == len(kinds) + 1."""
    from qa.ingest.clean import clean_article
    from qa.sentences import split_sentences

    texts = [clean_article(p.read_text(encoding="utf-8")).text for p in sorted(CORPUS.glob("*.txt"))]
    lower_words = {w for t in texts for w in re.findall(r"\b[a-z][\w’'-]*", t)}
    out = []
    for text in texts:
        for s, e in split_sentences(text):
            sent = text[s:e]
            if len(sent.split()) < 5:
                continue
            parts, kinds, last = [], [], 0
            for m in _SLOT.finditer(sent):
                tok = m.group()
                if tok[0].isdigit():
                    kind = "year" if re.fullmatch(r"(19|20)\d\d", tok) else "num"
                elif tok in _MONTHS:
                    kind = "month"
                elif tok in _DAYS:
                    kind = "day"
                elif tok.lower() in lower_words or len(tok) == 1:
                    continue  # a common word that starts a sentence
                else:
                    kind = "name:" + tok
                parts.append(sent[last : m.start()])
                kinds.append(kind)
                last = m.end()
            parts.append(sent[last:])
            out.append((tuple(parts), tuple(kinds)))
    return tuple(out)


class ArticleGenerator:
    """generator.article(i) is the i-th synthetic article: (title, paragraphs), each paragraph a
    list of sentences. Deterministic in (seed, i)."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.templates = templates()
        self.pool = name_pool()
        # Zipf-like name frequencies: P(rank r) ~ 1 / (r + 10).
        w = 1.0 / (np.arange(len(self.pool)) + 10.0)
        self._cdf = np.cumsum(w / w.sum())

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, i])

    def article(
        self, i: int, paragraphs: int | None = None, rng: np.random.Generator | None = None
    ) -> tuple[str, list[list[str]]]:
        """Article i; with `rng` (one stream for many articles, much faster) it depends on the stream."""
        rng = rng or self._rng(i)
        n_par = int(paragraphs or rng.integers(2, 6))
        lengths = rng.integers(3, 6, n_par)
        picks = rng.integers(0, len(self.templates), int(lengths.sum()))
        draws = rng.random(96)
        names = iter(np.searchsorted(self._cdf, draws[:48]).tolist())
        numbers = iter((2 + draws[48:72] * 997).astype(int).tolist())
        years = iter((1990 + draws[72:84] * 35).astype(int).tolist())
        months = iter((draws[84:90] * 12).astype(int).tolist())
        days = iter((draws[90:96] * 7).astype(int).tolist())
        mapping: dict[str, str] = {}
        sentences = []
        for t in picks:
            parts, kinds = self.templates[int(t)]
            out = [parts[0]]
            for kind, lit in zip(kinds, parts[1:]):
                if kind.startswith("name:"):
                    value = mapping.get(kind)
                    if value is None:
                        value = mapping[kind] = self.pool[next(names, 0)]
                elif kind == "num":
                    value = str(next(numbers, 7))
                elif kind == "year":
                    value = str(next(years, 2001))
                elif kind == "month":
                    value = _MONTHS[next(months, 0)]
                else:
                    value = _DAYS[next(days, 0)]
                out.append(value)
                out.append(lit)
            sentences.append("".join(out))
        paragraphs_out, k = [], 0
        for n in lengths:
            paragraphs_out.append(sentences[k : k + int(n)])
            k += int(n)
        first = sentences[0].split()
        title = " ".join(first[: min(10, len(first))]).rstrip(",.;:")
        return title, paragraphs_out

    def article_text(self, i: int) -> tuple[str, str]:
        title, paragraphs = self.article(i)
        return title, "\n\n".join(" ".join(p) for p in paragraphs)

    def write_files(self, folder: Path, n: int) -> list[Path]:
        """n article files in the form scrapers produce (title, body, metadata lines)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(n):
            title, body = self.article_text(i)
            path = folder / f"synthetic-{i:06d}.txt"
            path.write_text(
                f"{title}\n\n{body}\n\nURL: https://news.example/{i:06d}\nDate: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}\n",
                encoding="utf-8",
            )
            paths.append(path)
        return paths

    def questions(self, m: int, seed: int = 1) -> list[str]:
        """Distinct news questions naming entities of the pool (so no two hit the query cache)."""
        rng = np.random.default_rng([self.seed, 10_000 + seed])
        forms = (
            "Who is the foreign minister of {a}?",
            "When did {a} join the {b} partnership?",
            "What did {a} say about relations with {b}?",
            "Where did {a} and {b} hold a joint news conference?",
            "How many peacekeepers did {a} send to {b}?",
            "Which country did {a} visit in {c}?",
            "Why did {a} freeze its participation in {b}?",
        )
        out, seen = [], set()
        while len(out) < m:
            a, b = (self.pool[int(x)] for x in np.searchsorted(self._cdf, rng.random(2)))
            q = forms[int(rng.integers(0, len(forms)))].format(a=a, b=b, c=_MONTHS[int(rng.integers(0, 12))])
            if q not in seen:
                seen.add(q)
                out.append(q)
        return out


def build_documents(n_chunks: int, seed: int = 0, block: int = 0):
    """Documents and CHUNK_DTYPE rows for about `n_chunks` passages, one passage per paragraph
    (3-5 sentences, about 90-150 word pieces, like the real chunker's 128-token chunks),
    bypassing sentence splitting and embedding. Returns (documents, chunk_rows). `block` > 0
    gives another set of documents (ids from block * 10^7 on), for an index built in parts."""
    from qa.documents import ArticleMeta, Document
    from qa.ingest.read import content_hash
    from qa.store.segment import CHUNK_DTYPE

    gen = ArticleGenerator(seed)
    rng = np.random.default_rng([seed, 1] + ([block] if block else []))
    docs: list[Document] = []
    rows = np.zeros(n_chunks, dtype=CHUNK_DTYPE)
    r, i = 0, block * 10_000_000
    while r < n_chunks:
        title, paragraphs = gen.article(i, rng=rng)
        paragraphs = paragraphs[: n_chunks - r]
        pieces, pos = [], 0
        for ordinal, sentences in enumerate(paragraphs):
            p = " ".join(sentences)
            if pieces:
                pos += 2
            rows[r] = (len(docs), ordinal, pos, pos + len(p))
            pieces.append(p)
            pos += len(p)
            r += 1
        text = "\n\n".join(pieces)
        url, date = f"https://news.example/{i:07d}", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        doc_id = f"synthetic-{i:07d}" if i < 10_000_000 else f"synthetic-{i:09d}"
        docs.append(
            Document(
                article=ArticleMeta(doc_id=doc_id, title=title, url=url, date=date),
                text=text,
                source=f"synthetic://{doc_id}",
                meta={},
                content_hash=content_hash(text, title, url, date),
            )
        )
        i += 1
    return docs, rows
