"""One benchmark stage per process, so that each stage's peak memory is its own.

    python -m bench.worker ingest --docs N --workdir DIR --json OUT
    python -m bench.worker build  --passages N --workdir DIR --json OUT
    python -m bench.worker update --passages N --workdir DIR --json OUT
    python -m bench.worker serve  --passages N --workdir DIR --json OUT --queries Q

The parent (`python -m bench`) runs them in order and assembles the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentiles(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "n": len(xs)}


class Timers:
    """Wraps module functions to add up their wall time, without changing what they do."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo = []

    def wrap(self, module, name: str, label: str | None = None):
        original = getattr(module, name)
        label = label or name

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.seconds[label] += time.perf_counter() - t
                self.calls[label] += 1

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def restore(self):
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)
        self._undo.clear()

    def snapshot(self) -> dict:
        return {k: round(v, 4) for k, v in self.seconds.items()}

    def reset(self):
        self.seconds.clear()
        self.calls.clear()


# ---------------------------------------------------------------- ingest (real model)


def stage_ingest(args) -> dict:
    """`ingest_paths` with the library's embedder (the runtime `qa.model.embed.load_passage_model` picks:
    PyTorch bfloat16 where the CPU has it, else ONNX Runtime float32) against a plain float32
    `SentenceTransformer.encode` of the same chunks, in one process, warm, best of N; beside them
    each runtime alone on the same chunks (ONNX Runtime float32, PyTorch float32 and, where native,
    bfloat16), wall and CPU time."""
    from sentence_transformers import SentenceTransformer

    import qa.ingest.chunk
    import qa.pipeline
    import qa.sentences
    import qa.store.writer
    from bench.synth import ArticleGenerator
    from qa.config import Config
    from qa.model.base import base_model_dir, cpu_has_native_bf16, load_wordpiece_tokenizer
    from qa.model.embed import Embedder, load_model, load_onnx_model
    from qa.pipeline import ingest_paths
    from qa.store.index import open_index

    work = Path(args.workdir)
    ArticleGenerator(seed=args.seed).write_files(work / "articles", args.docs)
    config = Config().with_(index_dir=work / "ingest-index")
    embedder = Embedder(config)

    # Warm everything both sides use: models, tokenizer, sentence splitter.
    t = time.perf_counter()
    embedder.encode_passages(["warm up the model"] * 8)
    baseline = SentenceTransformer(str(base_model_dir()), device="cpu", local_files_only=True)
    baseline.max_seq_length = config.max_seq_length
    baseline.encode(["warm up the model"] * 8, batch_size=8)
    fp32 = load_model("cpu", config.max_seq_length, "float32")
    fp32.encode(["warm up the model"] * 8)
    runtimes = {"onnxruntime-float32": lambda t: load_onnx_model(config.max_seq_length).encode(t, config.onnx_batch_size),
                "torch-float32": lambda t: fp32.encode(t, config.batch_size)}
    if cpu_has_native_bf16():
        runtimes["torch-bfloat16"] = lambda t: load_model("cpu", config.max_seq_length, "bfloat16").encode(t, config.batch_size)
    for encode in runtimes.values():
        encode(["warm up the model"] * 8)
    load_wordpiece_tokenizer()
    qa.sentences.split_sentences("Warm up. The sentence splitter.")
    warm_s = time.perf_counter() - t

    timers = Timers()
    timers.wrap(qa.pipeline, "read_documents", "read_file")  # read + clean every file
    timers.wrap(qa.ingest.chunk, "chunk_document")
    timers.wrap(qa.store.writer, "build_postings")
    timers.wrap(embedder, "encode_passages")

    ingest_runs, bare_runs, fp32_runs, profiles = [], [], [], []
    ingest_cpu, bare_cpu = [], []
    runtime_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in runtimes}
    texts = None
    for _ in range(args.repeats):
        timers.reset()
        t, c = time.perf_counter(), time.process_time()
        report = ingest_paths([work / "articles"], config, rebuild=True, embedder=embedder)
        ingest_runs.append(time.perf_counter() - t)
        ingest_cpu.append(time.process_time() - c)
        profiles.append(timers.snapshot())
        if texts is None:
            texts = open_index(config.index_dir, config).chunk_texts()
        t, c = time.perf_counter(), time.process_time()
        reference = baseline.encode(texts, batch_size=config.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        bare_runs.append(time.perf_counter() - t)
        bare_cpu.append(time.process_time() - c)
        for name, encode in runtimes.items():
            t, c = time.perf_counter(), time.process_time()
            encode(texts)
            runtime_runs[name].append((time.perf_counter() - t, time.process_time() - c))
        fp32_runs.append(runtime_runs["torch-float32"][-1][0])
    ours = embedder.encode_passages(texts)
    cosines = np.sum(ours * reference, axis=1)

    timers.reset()
    t = time.perf_counter()
    again = ingest_paths([work / "articles"], config, embedder=embedder)
    reingest_s = time.perf_counter() - t
    timers.restore()
    assert again.chunks_added == 0 and len(again.unchanged) == args.docs, again.summary()

    tokens = sum(len(e.ids) for e in load_wordpiece_tokenizer().encode_batch(texts))
    best_ingest, best_bare = min(ingest_runs), min(bare_runs)
    best = profiles[int(np.argmin(ingest_runs))]
    return {
        "documents": args.docs,
        "chunks": len(texts),
        "tokens": int(tokens),
        "embed_dtype": embedder.model.dtype,
        "embed_runtime": embedder.model.runtime,
        "ingest_cpu_s": min(ingest_cpu),
        "bare_encode_cpu_s": min(bare_cpu),
        "runtimes": {name: {"encode_s": min(w for w, _ in runs), "cpu_s": min(c for _, c in runs),
                            "chunks_per_s": len(texts) / min(w for w, _ in runs)} for name, runs in runtime_runs.items()},
        "warmup_s": warm_s,
        "ingest_s_runs": ingest_runs,
        "bare_encode_s_runs": bare_runs,
        "fp32_encode_s_runs": fp32_runs,
        "ingest_s": best_ingest,
        "bare_encode_s": best_bare,
        "fp32_encode_s": min(fp32_runs),
        "speedup_vs_bare_fp32": best_bare / best_ingest,
        "docs_per_s": args.docs / best_ingest,
        "chunks_per_s": len(texts) / best_ingest,
        "tokens_per_s": tokens / best_ingest,
        "bare_chunks_per_s": len(texts) / best_bare,
        "cosine_to_fp32": {"min": float(cosines.min()), "mean": float(cosines.mean())},
        "profile_s": best,
        "not_encoding_s": best_ingest - best.get("encode_passages", 0.0),
        "reingest_s": reingest_s,
        "reingest_ratio": reingest_s / best_ingest,
        "index_bytes": dir_bytes(config.index_dir),
        "peak_rss_mb": peak_rss_mb(),
        "report": report.summary(),
    }


# ---------------------------------------------------------------- build (synthetic vectors)


def synthetic_config(args):
    """The settings of the synthetic archive's stages (build, update, serve). `--no-stories` turns
    story detection off for all three (an index is bound to it): the synthetic articles are made of
    the bundled corpus's ~100 sentences, so any two share far more word shingles than real news
    does, and each new one meets thousands of look-alike candidates (cost that grows with the
    archive, ~300 CPU-hours at 10M); detection's cost on real copies is `bench/copies.py`'s."""
    from qa.config import Config

    return Config().with_(story_detection=not getattr(args, "no_stories", False))


def build_plan(args) -> dict:
    """What the build stage writes: `--passages` in parts of at most `--segment-passages` (0: the
    largest segment the memory budget allows, `Config.max_segment_chunks`), one segment each."""
    config = synthetic_config(args)
    size = min(args.segment_passages or config.max_segment_chunks, config.max_segment_chunks)
    parts = max(1, -(-args.passages // size))
    n = args.passages
    return {"passages": n, "seed": args.seed, "sizes": [n // parts + (1 if p < n % parts else 0) for p in range(parts)],
            "segment_memory_mb": config.segment_memory_mb, "settings": config.index_settings()}


def stage_build(args) -> dict:
    """The synthetic index written through the public writer (`IndexWriter.publish`), one segment
    per part of the plan (`build_plan`; each part's text, vectors and postings within the memory
    budget), as a growing archive has them. Resumable: each part is a committed state of the
    index, so the same command after a kill continues after the last part written. Progress, with
    an ETA, is appended to build-N.log; each part's timings to index-N.progress.json."""
    import resource

    import qa.store.segment
    import qa.store.writer
    from bench.synth import build_documents
    from bench.vectors import ClusteredVectors
    from qa.store.dense import dense_kind, stored_vectors
    from qa.store.index import current_version, open_index
    from qa.store.writer import IndexWriter

    n, work = args.passages, Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    config = synthetic_config(args).with_(index_dir=work / f"index-{n}")
    plan = build_plan(args)
    sizes, parts = plan["sizes"], len(plan["sizes"])
    progress_path, log_path = work / f"index-{n}.progress.json", work / f"build-{n}.log"
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else {"plan": plan, "parts": [], "runs": 0}
    if progress["plan"] != plan:
        raise SystemExit(f"bench: {progress_path} is a build of other settings ({progress['plan']['sizes'][:2]}..., "
                         f"{progress['plan']['segment_memory_mb']} MB); rerun with those, or delete it and {config.index_dir}")
    if progress.get("complete"):
        # Every part was written: the later stages (which add, remove and merge) may have run since,
        # so the index is no longer the plan's segments; a rerun after a kill goes on to them.
        done = parts
    else:
        done = len(open_index(config.index_dir, config).segments) if current_version(config.index_dir) else 0
        if done > parts or (done and open_index(config.index_dir, config).live_counts != sizes[:done]):
            raise SystemExit(f"bench: {config.index_dir} holds other segments than the plan in {progress_path}; delete both")
        progress["parts"] = progress["parts"][:done] + [{"part": p, "timings": None} for p in range(len(progress["parts"]), done)]
    progress["runs"] += 1

    def log(line: str) -> None:
        stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
        print(f"[bench] {stamped}", flush=True)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(stamped + "\n")

    log(f"build of {n:,} passages in {parts} part(s) of about {sizes[0]:,}: run {progress['runs']}, "
        f"{done} part(s) already written" + (", resuming" if done else ""))
    generator = ClusteredVectors(n, seed=args.seed)
    run_start = time.perf_counter()
    for part in range(done, parts):
        m = sizes[part]
        timers = Timers()
        timers.wrap(qa.store.segment, "build_dense_index")
        timers.wrap(qa.store.writer, "build_postings")
        timers.wrap(qa.store.writer, "assign_stories")
        t, c = time.perf_counter(), time.process_time()
        documents, rows = build_documents(m, seed=args.seed, block=part)
        gen_text_s = time.perf_counter() - t
        t1 = time.perf_counter()
        vectors = generator.passages() if parts == 1 else generator.passages_block(part, m)
        # Handed over as the segment stores them (float16 past compress_threshold): not held twice.
        vectors = stored_vectors(vectors, dense_kind(m, config))
        gen_vec_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        with IndexWriter(config.index_dir, config) as writer:
            writer.publish(documents, rows, vectors, summary=f"bench part {part + 1}/{parts}: {m} synthetic passages")
        timers.restore()
        progress["parts"].append({"part": part, "timings": {
            "passages": m, "documents": len(documents), "mean_chars_per_passage": float(np.mean(rows["end"] - rows["start"])),
            "generate_text_s": gen_text_s, "generate_vectors_s": gen_vec_s, "write_index_s": time.perf_counter() - t1,
            "wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "write_profile_s": timers.snapshot(),
            "peak_rss_mb": peak_rss_mb(),
        }})
        progress["complete"] = part == parts - 1
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress, indent=1))
        tmp.replace(progress_path)
        del documents, rows, vectors
        this_run = time.perf_counter() - run_start
        left = (parts - part - 1) * this_run / (part + 1 - done)
        log(f"part {part + 1}/{parts}: {m:,} passages in {time.perf_counter() - t:,.0f} s ({time.process_time() - c:,.0f} CPU-s), "
            f"peak RSS {peak_rss_mb():,.0f} MB; {sum(sizes[: part + 1]):,} of {n:,} written; "
            f"ETA {time.strftime('%H:%M', time.localtime(time.time() + left))} ({left / 60:,.0f} min)")
    known = [p["timings"] for p in progress["parts"] if p["timings"]]

    def total(key: str) -> float:
        return float(sum(t[key] for t in known))

    profile: dict[str, float] = defaultdict(float)
    for t in known:
        for key, seconds in t["write_profile_s"].items():
            profile[key] += seconds
    path = next((config.index_dir / "segments").iterdir())
    return {
        "passages": n,
        "segments": parts,
        "part_passages": sizes,
        "runs": progress["runs"],
        "parts_without_timings": parts - len(known),
        "documents": int(total("documents")),
        "mean_chars_per_passage": float(np.mean([t["mean_chars_per_passage"] for t in known])) if known else None,
        "generate_text_s": total("generate_text_s"),
        "generate_vectors_s": total("generate_vectors_s"),
        "write_index_s": total("write_index_s"),
        "build_wall_s": total("wall_s"),
        "build_cpu_s": total("cpu_s"),
        "write_profile_s": dict(profile),
        "dense_index": json.loads((path / "segment.json").read_text())["dense"],
        "index_bytes": dir_bytes(config.index_dir),
        "file_bytes": {p.name: p.stat().st_size for p in path.iterdir()},
        "peak_rss_mb": max([t["peak_rss_mb"] for t in known] + [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]),
        "log": str(log_path),
    }


# ---------------------------------------------------------------- update (the growing archive)


def stage_update(args) -> dict:
    """What a growing archive costs at this size: open, add one article (real model, warm), remove
    one, `qa check`, then a full compaction of the resulting segments."""
    from bench.synth import ArticleGenerator
    from qa.model.embed import Embedder
    from qa.pipeline import ingest_paths, remove_documents
    from qa.store.index import check_index, current_version, open_index
    from qa.store.writer import compact

    n = args.passages
    config = synthetic_config(args).with_(index_dir=Path(args.workdir) / f"index-{n}")
    embedder = Embedder(config)
    embedder.encode_passages(["warm up the model"] * 8)
    # New articles each run (a rerun after a kill must not re-add the ones already added).
    version = current_version(config.index_dir) or "v0"
    articles = ArticleGenerator(seed=args.seed + 77 + int(version[1:])).write_files(
        Path(args.workdir) / f"new-{n}-{version}", args.ops)

    cpu: dict[str, list[float]] = defaultdict(list)  # this process's CPU seconds: robust to other load

    def timed(fn, label: str) -> float:
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu[label].append(time.process_time() - c)
        return time.perf_counter() - t

    opens = [timed(lambda: open_index(config.index_dir, config), "open") for _ in range(args.ops)]
    added, chunks = [], []
    for path in articles:
        added.append(timed(lambda path=path: chunks.append(ingest_paths([path], config, embedder=embedder).chunks_added), "add"))
    victims = [d.doc_id for d in open_index(config.index_dir, config).document_records()[: args.ops]]
    removed = [timed(lambda doc_id=doc_id: remove_documents([doc_id], config), "remove") for doc_id in victims]
    index = open_index(config.index_dir, config)
    segments_before = len(index.segments)
    check_s = check_bytes = None
    if n <= args.full_max:
        t = time.perf_counter()
        report = check_index(config.index_dir, config)
        check_s, check_bytes = time.perf_counter() - t, report.bytes
        assert not report.problems, report.problems[:3]
    t = time.perf_counter()
    if n <= args.full_max:
        summary, compaction = compact(config.index_dir, config), "full"
    else:
        # Past --full-max, what the archive does on its own: merge the small segments (pick_merge),
        # leaving the full ones; a full compaction would rewrite every segment.
        from qa.store.writer import IndexWriter

        with IndexWriter(config.index_dir, config.with_(max_segments=1)) as writer:
            writer.maintain()
            summary = writer.work.summary
        compaction = "tiered"
    compact_s = time.perf_counter() - t
    opens_after = [timed(lambda: open_index(config.index_dir, config), "open_after") for _ in range(args.ops)]
    return {
        "passages": n,
        "open_s": float(np.median(opens)),
        "open_s_runs": opens,
        "add_one_article_s": float(np.median(added)),
        "add_one_article_s_runs": added,
        "chunks_per_added_article": chunks,
        "remove_one_s": float(np.median(removed)),
        "remove_one_s_runs": removed,
        "segments_before_compaction": segments_before,
        "check_s": check_s,
        "check_bytes": check_bytes,
        "compaction": compaction,
        "compact_s": compact_s,
        "compact_summary": summary,
        "open_after_compaction_s": float(np.median(opens_after)),
        "cpu_s": {k: float(np.median(v)) for k, v in cpu.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------- serve (real query path)


def _single_query_latency(index, queries: np.ndarray, k: int) -> dict:
    lat = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], k)
        lat.append(time.perf_counter() - t)
    return percentiles(lat)


def _recall(exact: np.ndarray, approx: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(exact, approx)]))


def dense_evidence(vectors: np.ndarray, live, config, seed: int, n_queries: int, worst_case: bool) -> dict:
    """Flat vs IVF at this size: build time, single-query latency (k=50, the hybrid depth) and
    recall@10 of IVF against exact search, on clustered synthetic queries."""
    import faiss

    from bench.vectors import ClusteredVectors, random_unit
    from qa.store.dense import build_dense_index

    n = len(vectors)
    queries = ClusteredVectors(n, seed=seed).queries(n_queries)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    flat_build = time.perf_counter() - t
    _, exact = flat.search(queries, 10)
    out = {"flat": {"build_s": flat_build, **_single_query_latency(flat, queries[:50], 50)}}
    del flat
    if live is not None:
        ivf, ivf_build = live, None
    else:
        t = time.perf_counter()
        ivf = build_dense_index(vectors, config.with_(ann_threshold=0))
        ivf_build = time.perf_counter() - t
    _, approx = ivf.search(queries, 10)
    out["ivf"] = {
        "nlist": int(ivf.nlist),
        "nprobe": int(ivf.nprobe),
        "build_s": ivf_build,
        "recall_at_10": _recall(exact, approx),
        **_single_query_latency(ivf, queries[:50], 50),
    }
    sweep = {}
    keep = ivf.nprobe
    for nprobe in (8, 16, 32, 64, 128):
        if nprobe <= ivf.nlist:
            ivf.nprobe = nprobe
            _, approx = ivf.search(queries, 10)
            sweep[str(nprobe)] = {"recall_at_10": _recall(exact, approx), **_single_query_latency(ivf, queries[:20], 50)}
    ivf.nprobe = keep
    out["ivf"]["nprobe_sweep"] = sweep
    if worst_case:
        # i.i.d. random unit vectors: no neighbourhoods at all; the structureless worst case.
        rnd = random_unit(n, seed=seed + 5)
        rq = random_unit(n_queries, seed=seed + 6)
        flat = faiss.IndexFlatIP(rnd.shape[1])
        flat.add(rnd)
        _, exact = flat.search(rq, 10)
        ivf_r = build_dense_index(rnd, config.with_(ann_threshold=0))
        _, approx = ivf_r.search(rq, 10)
        out["ivf"]["recall_at_10_iid_random"] = _recall(exact, approx)
        ivf_r.nprobe = min(ivf_r.nlist, 256)
        _, approx = ivf_r.search(rq, 10)
        out["ivf"]["recall_at_10_iid_random_nprobe256"] = _recall(exact, approx)
        del flat, ivf_r, rnd
    return out


def dense_path_recall(index, seed: int, n_queries: int) -> dict:
    """Recall@10 of the index's own dense search (`Index.search_dense`: every segment's IVF, the
    re-ranking of compressed codes, the merge) against exact search over the same stored vectors,
    read from the segments' files in blocks; and its single-query latency."""
    from bench.vectors import ClusteredVectors
    from qa.store.segment import VECTORS, NpyRows

    queries = ClusteredVectors(index.n_chunks, seed=seed).queries(n_queries)
    lat, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append([r for r, _ in index.search_dense(q, 10)])
        lat.append(time.perf_counter() - t)
    best = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    rows = np.zeros((len(queries), 10), dtype=np.int64)
    base, step = 0, 250_000
    for seg, live in zip(index.segments, index._live_rows):
        stored = NpyRows(seg.path / VECTORS)  # read, not mapped: the scan is not the serving memory
        for s in range(0, seg.n_chunks, step):
            block = np.arange(s, min(s + step, seg.n_chunks))
            vectors = stored[s : s + step]
            if live is not None:
                keep = np.isin(block, live)
                block, vectors = block[keep], vectors[keep]
            scores = queries @ np.asarray(vectors, dtype=np.float32).T
            local = base + (block if live is None else np.searchsorted(live, block))
            both = np.concatenate([best, scores], axis=1)
            ids = np.concatenate([rows, np.broadcast_to(local, scores.shape)], axis=1)
            top = np.argpartition(-both, 9, axis=1)[:, :10]
            best, rows = np.take_along_axis(both, top, 1), np.take_along_axis(ids, top, 1)
        base += seg.n_chunks if live is None else len(live)
    return {"recall_at_10": _recall(rows, found), "queries": len(queries), **percentiles(lat)}


def stage_serve(args) -> dict:
    from bench.synth import ArticleGenerator
    from qa.pipeline import QA

    n = args.passages
    config = synthetic_config(args).with_(index_dir=Path(args.workdir) / f"index-{n}")
    rss0 = rss_mb()
    qa = QA(config)
    t = time.perf_counter()
    qa.embedder.encode_passages(["warm up"])
    model_s = time.perf_counter() - t
    rss_model = rss_mb()
    t = time.perf_counter()
    index = qa.index()
    open_s = time.perf_counter() - t
    rss_open = rss_mb()

    questions = ArticleGenerator(seed=args.seed).questions(6 + 5 * args.queries)
    warm, rest = questions[:6], questions[6:]
    for q in warm[:3]:
        qa.ask(q)  # loads the reader's spaCy pipeline
    for q in warm[3:]:
        qa.search(q)
    groups = [rest[i * args.queries : (i + 1) * args.queries] for i in range(5)]

    def timed(fn, qs):
        lat = []
        for q in qs:
            t = time.perf_counter()
            fn(q)
            lat.append(time.perf_counter() - t)
        return percentiles(lat)

    latency = {
        "encode_question": timed(qa.embedder.encode_query, groups[0]),
        "search_dense": timed(lambda q: qa.search(q, retriever="dense"), groups[1]),
        "search_bm25": timed(lambda q: qa.search(q, retriever="bm25"), groups[2]),
        "search_hybrid": timed(qa.search, groups[3]),
        "ask": timed(qa.ask, groups[4]),
    }
    answered = sum(1 for q in groups[4][:5] if qa.ask(q).answer)  # cached questions: cheap
    out = {
        "passages": n,
        "dense_index": index.segments[0].manifest["dense"],
        "segments": len(index.segments),
        "model_load_s": model_s,
        "open_s": open_s,
        "rss_mb": {"start": rss0, "model_loaded": rss_model, "index_open": rss_open, "after_queries": rss_mb()},
        "latency": latency,
        "answered_of_5": answered,
    }
    out["dense_path"] = dense_path_recall(index, args.seed, args.recall_queries)
    if n <= args.full_max and len(index.segments) == 1 and not index.segments[0].rerank_depth:  # IVF-Flat or flat
        out["dense"] = dense_evidence(
            index.vectors, index.segments[0].ivf, config, args.seed, args.recall_queries, worst_case=n <= args.worst_case_max
        )
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("stage", choices=("ingest", "build", "update", "serve"))
    p.add_argument("--workdir", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--docs", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--passages", type=int, default=10_000)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--recall-queries", type=int, default=200)
    p.add_argument("--worst-case-max", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", type=int, default=3, help="articles added and removed in the update stage")
    p.add_argument("--segment-passages", type=int, default=0,
                   help="build larger indexes as segments of this size (0: the memory budget's, Config.max_segment_chunks)")
    p.add_argument("--full-max", type=int, default=2_000_000,
                   help="up to this size: `qa check`, full compaction and the flat/IVF comparison")
    p.add_argument("--no-stories", action="store_true", help="story detection off for the synthetic archive")
    args = p.parse_args(argv)
    stage = {"ingest": stage_ingest, "build": stage_build, "update": stage_update, "serve": stage_serve}[args.stage]
    t = time.perf_counter()
    result = stage(args)
    result["stage_s"] = time.perf_counter() - t
    Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
