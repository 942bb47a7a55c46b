"""python -m bench.search: search latency as an archive grows, on the segments a real ingest leaves.

    python -m bench.search --articles 500,5000 --queries 60 --out bench/results-search.json

For each size, that many generated articles (bench/synth.py) are chunked by the real
chunker and published as `qa ingest` publishes them: a segment every `Config.segment_chunks`
chunks, merged by the writer's own policy (so 5,000 articles are 6-7 segments). Their vectors are
synthetic (bench/vectors.py: embedding 27,000 chunks takes a quarter of an hour on 2 cores); the
questions are embedded by the real model. `QA.search` (bm25, dense, hybrid, the product's k) is
then timed one question at a time, wall clock and this thread's CPU time (robust to other load),
for two kinds of question: generated news questions (6 terms) and long ones (an article's first
sentence, 15 terms). The other processes' CPU during the timing is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def build_archive(n_articles: int, index_dir: Path, seed: int = 0) -> int:
    """Publish `n_articles` generated articles into a new index at `index_dir` as `qa ingest`
    would (segments of `Config.segment_chunks` chunks, then `IndexWriter.maintain`); returns the chunk count."""
    from bench.synth import ArticleGenerator
    from bench.vectors import ClusteredVectors
    from qa.config import Config
    from qa.documents import ArticleMeta, Document
    from qa.ingest.chunk import chunk_document
    from qa.ingest.read import content_hash
    from qa.store.segment import CHUNK_DTYPE
    from qa.store.writer import IndexWriter

    config = Config().with_(index_dir=index_dir)
    gen = ArticleGenerator(seed=seed)
    chunked = []
    for i in range(n_articles):
        title, body = gen.article_text(i)
        url, date = f"https://news.example/{i:06d}", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        doc = Document(ArticleMeta(f"synthetic-{i:06d}", title, url=url, date=date), text=body, source=f"synthetic://{i}",
                       meta={}, content_hash=content_hash(body, title, url, date))
        chunked.append((doc, chunk_document(doc, config)))
    total = sum(len(chunks) for _, chunks in chunked)
    vectors = ClusteredVectors(total, seed=seed).passages()
    start, batch = 0, []

    def publish() -> None:
        nonlocal start
        rows = np.array([(i, n, c.start, c.end) for i, (_, chunks) in enumerate(batch) for n, c in enumerate(chunks)],
                        dtype=CHUNK_DTYPE)
        with IndexWriter(index_dir, config) as writer:
            writer.publish([doc for doc, _ in batch], rows, vectors[start : start + len(rows)])
            writer.maintain()
        start += len(rows)
        batch.clear()

    for item in chunked:
        batch.append(item)
        if sum(len(chunks) for _, chunks in batch) >= config.segment_chunks:
            publish()
    if batch:
        publish()
    return total


def questions(n: int, seed: int = 0) -> dict[str, list[str]]:
    """Generated news questions, and the first sentences of articles of the archive (long questions)."""
    from bench.synth import ArticleGenerator

    gen = ArticleGenerator(seed=seed)
    sentences = [gen.article_text(i * 7 + 3)[1].split("\n\n")[0].split(". ")[0] + "?" for i in range(n)]
    return {"news": gen.questions(n, seed=5), "sentences": sentences}


def time_searches(qa, asked: dict[str, list[str]], kinds: tuple[str, ...] = ("bm25", "dense", "hybrid")) -> dict:
    """p50 / p95 of `QA.search` per retriever and kind of question: wall ms and this thread's CPU ms."""
    out: dict = {}
    for label, qs in asked.items():
        for kind in kinds:
            wall, cpu = [], []
            for q in qs:
                t, c = time.perf_counter(), time.thread_time()
                qa.search(q, retriever=kind)
                wall.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c)
            out[f"{kind}/{label}"] = {"wall_p50_ms": 1000 * float(np.median(wall)), "wall_p95_ms": 1000 * float(np.percentile(wall, 95)),
                                      "cpu_p50_ms": 1000 * float(np.median(cpu)), "n": len(qs)}
    return out


def main(argv: list[str] | None = None) -> int:
    import psutil

    from qa.config import Config
    from qa.pipeline import QA
    from qa.store.index import open_index

    p = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--articles", default="500,5000")
    p.add_argument("--queries", type=int, default=60, help="questions of each kind")
    p.add_argument("--workdir", default=None, help="where the indexes go (default: a temporary folder)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    import tempfile

    work = Path(args.workdir or tempfile.mkdtemp(prefix="qa-bench-search-"))
    rows = []
    for n in (int(x) for x in args.articles.split(",") if x):
        index_dir = work / f"search-{n}"
        chunks = build_archive(n, index_dir) if not index_dir.exists() else open_index(index_dir, Config().with_(index_dir=index_dir)).n_chunks
        qa = QA(Config().with_(index_dir=index_dir))
        asked = questions(args.queries)
        for q in asked["news"][:5]:  # warm: model, index, checksums of the parts a search reads
            qa.search(q)
            qa.search(q, retriever="bm25")
        busy = psutil.cpu_times()
        own = time.process_time()
        started = time.perf_counter()
        timings = time_searches(qa, asked)
        wall = time.perf_counter() - started
        spent = psutil.cpu_times()
        others = sum(getattr(spent, k) - getattr(busy, k) for k in ("user", "system", "nice")) - (time.process_time() - own)
        row = {"articles": n, "chunks": chunks, "segments": len(qa.index().segments), "timings": timings,
               "others_cpu_s": max(0.0, others), "wall_s": wall, "loadavg_1m": os.getloadavg()[0]}
        rows.append(row)
        print(f"{n:,} articles, {chunks:,} chunks in {row['segments']} segment(s); other processes used "
              f"{row['others_cpu_s']:.0f} CPU-s over {wall:.0f} s (load average {row['loadavg_1m']:.1f})")
        for key, t in timings.items():
            print(f"  {key:18s} p50 {t['wall_p50_ms']:6.1f} ms (CPU {t['cpu_p50_ms']:5.1f} ms)  p95 {t['wall_p95_ms']:6.1f} ms")
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu": _cpu_name(), "rows": rows}, indent=1))
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
