"""python -m bench: ingest throughput, index build, open, memory, recall and query latency.

    python -m bench                       # defaults: cold starts, 60 real articles, 10k / 100k / 1M passages
    python -m bench --sizes 10000 --docs 8 --queries 10 --out /tmp/r.json
    python -m bench --sizes "" --docs 0   # only the cold-start times of `qa list` / `qa search` / `qa ask`

Each stage runs in its own process (bench/worker.py) so its peak memory is its own. The ingest
stage embeds text for real and compares with a plain float32 sentence-transformers encode; the
10k-1M indexes hold synthetic documents recombined from the bundled corpus and synthetic
clustered unit vectors (bench/vectors.py), written through the public writer
(`qa.store.writer.IndexWriter`), then grown and shrunk by one real article at a time
(`ingest_paths`, `remove_documents`, real model), checked (`check_index`), compacted
(`compact`) and queried through the real `QA.search` / `QA.ask`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _machine() -> dict:
    import psutil

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": "none (GPU path of qa/model/embed.py not measured)",
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import faiss
        import onnxruntime
        import torch

        from qa.model.base import cpu_has_native_bf16

        info.update(torch=torch.__version__, faiss=faiss.__version__, onnxruntime=onnxruntime.__version__,
                    native_bf16=cpu_has_native_bf16())
    except ImportError:
        pass
    return info


def _run_stage(stage: str, workdir: Path, extra: list[str], timeout: float | None) -> dict:
    """Run one worker; also record how much CPU other processes used meanwhile (2-core machines
    are easily disturbed, and torch's spinning OpenMP threads suffer most)."""
    import psutil

    out = workdir / f"{stage}-{len(list(workdir.glob('*.json')))}.json"
    cmd = [sys.executable, "-m", "bench.worker", stage, "--workdir", str(workdir), "--json", str(out), *extra]
    import resource

    before = psutil.cpu_times()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, timeout=timeout)
    wall = time.perf_counter() - t
    after = psutil.cpu_times()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench: stage {stage} {' '.join(extra)} failed (exit {proc.returncode})")
    result = json.loads(out.read_text())

    def busy(c) -> float:
        return c.user + c.system + getattr(c, "nice", 0) + getattr(c, "irq", 0) + getattr(c, "softirq", 0)

    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    result["wall_s"] = wall
    result["own_cpu_s"] = own
    result["others_cpu_s"] = max(0.0, busy(after) - busy(before) - own)
    result["loadavg_1m_after"] = os.getloadavg()[0]
    return result


def run(args) -> dict:
    from qa.config import Config
    from qa.store.dense import ivf_lists

    config = Config()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="qa-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict = {
        "machine": _machine(),
        "settings": {
            "sizes": args.sizes,
            "docs": args.docs,
            "queries": args.queries,
            "ann_threshold": config.ann_threshold,
            "ivf_nlist": config.ivf_nlist or {str(n): ivf_lists(n, config) for n in args.sizes},
            "ivf_nprobe": config.ivf_nprobe,
            "ivf_train_per_list": config.ivf_train_per_list,
            "batch_size": config.batch_size,
            "chunk_tokens": config.chunk_tokens,
            "story_detection_synthetic": not args.no_stories,
        },
        "synthetic": (
            "ingest: real embeddings of generated articles (corpus sentences recombined with generated names "
            "and numbers); 10k-1M: the same kind of text, one passage per 3-5 sentence paragraph, with synthetic "
            "clustered unit vectors (topics > stories > passages, bench/vectors.py) instead of embeddings; "
            "questions are real and embedded by the real model"
        ),
    }
    try:
        if args.cold_runs:
            from bench.coldstart import measure

            print(f"[bench] cold start: qa list / search / ask, {args.cold_runs} fresh processes each ...", flush=True)
            results["cold_start"] = measure(args.cold_runs, workdir, warm=args.warm_questions)
        if args.api_requests:
            from bench.api import measure as measure_api

            print(f"[bench] /ask: {args.api_requests} concurrent requests, limits {args.api_limits} ...", flush=True)
            results["api"] = measure_api(args.api_requests, [int(x) for x in args.api_limits.split(",") if x])
        if args.docs:
            print(f"[bench] ingest: {args.docs} articles, real embeddings ...", flush=True)
            results["ingest"] = _run_stage(
                "ingest", workdir, ["--docs", str(args.docs), "--repeats", str(args.repeats)], args.stage_timeout
            )
        results["scales"] = []
        for n in args.sizes:
            print(f"[bench] {n:,} passages: build (resumable: progress in {workdir / f'build-{n}.log'}) ...", flush=True)
            sizing = ["--segment-passages", str(args.segment_passages), "--full-max", str(args.full_max),
                      *(["--no-stories"] if args.no_stories else [])]
            if "build" not in args.skip:
                build = _run_stage("build", workdir, ["--passages", str(n), *sizing], args.stage_timeout)
            else:
                build = json.loads(sorted(workdir.glob("build-*.json"))[-1].read_text())
            print(f"[bench] {n:,} passages: open, add, remove, check, compact ...", flush=True)
            update = _run_stage("update", workdir, ["--passages", str(n), "--ops", str(args.ops), *sizing], args.stage_timeout)
            print(f"[bench] {n:,} passages: open + queries ...", flush=True)
            serve = _run_stage(
                "serve",
                workdir,
                ["--passages", str(n), "--queries", str(args.queries), "--recall-queries", str(args.recall_queries), *sizing],
                args.stage_timeout,
            )
            results["scales"].append({"passages": n, "build": build, "update": update, "serve": serve})
            if not args.keep:
                shutil.rmtree(workdir / f"index-{n}", ignore_errors=True)
                (workdir / f"index-{n}.progress.json").unlink(missing_ok=True)
        if args.copies_stories or args.copies_sizes or args.copies_ingest:
            from bench.copies import run as run_copies

            print("[bench] stories: grouping precision / recall, cost per new article, ingest on / off ...", flush=True)
            results["stories"] = run_copies(args.copies_stories, args.copies_sizes, args.copies_new, args.copies_ingest,
                                            workdir / "copies")
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["total_s"] = time.perf_counter() - started
    return results


# ---------------------------------------------------------------- reporting


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB" if b >= 2**20 else f"{b / 2**10:,.0f} KB"


def tables(results: dict) -> str:
    lines = []
    if results.get("cold_start"):
        from bench.coldstart import table

        lines += [table(results["cold_start"]), ""]
    if results.get("api"):
        from bench.api import table as api_table

        lines += [api_table(results["api"]), ""]
    ing = results.get("ingest")
    if ing:
        p = ing["profile_s"]
        lines += [
            f"Ingest ({ing['documents']} generated articles, {ing['chunks']} chunks, {ing['tokens']:,} word pieces; real model, warm, best of {len(ing['ingest_s_runs'])})",
            "",
            "| metric | value |",
            "|---|---|",
            f"| `ingest_paths` (read, clean, chunk, embed with {ing.get('embed_runtime', 'torch')} {ing['embed_dtype']}, write) | {ing['ingest_s']:.2f} s: {ing['chunks_per_s']:.1f} chunks/s, {ing['tokens_per_s']:,.0f} tokens/s; CPU {ing.get('ingest_cpu_s', 0):.2f} s |",
            f"| plain float32 `SentenceTransformer.encode` of the same chunks | {ing['bare_encode_s']:.2f} s: {ing['bare_chunks_per_s']:.1f} chunks/s; CPU {ing.get('bare_encode_cpu_s', 0):.2f} s |",
            f"| **ingest speed / plain fp32 encode** | **{ing['speedup_vs_bare_fp32']:.2f}x** wall, {ing.get('bare_encode_cpu_s', 0) / max(ing.get('ingest_cpu_s', 0), 1e-9):.2f}x CPU (issue 31: >= 1, then >= 1.8 where the precision gates allow) |",
            *(f"| encode alone: {name} | {r['encode_s']:.2f} s ({r['chunks_per_s']:.1f} chunks/s), CPU {r['cpu_s']:.2f} s |"
              for name, r in ing.get("runtimes", {}).items()),
            f"| cosine of ingest vectors to fp32 sentence-transformers (min / mean) | {ing['cosine_to_fp32']['min']:.5f} / {ing['cosine_to_fp32']['mean']:.5f} |",
            f"| not encoding (read+clean, chunk, lexical index, write) | {ing['not_encoding_s']:.3f} s: read {p.get('read_file', 0):.3f}, chunk {p.get('chunk_document', 0):.3f}, postings {p.get('build_postings', 0):.3f} |",
            f"| re-ingest unchanged corpus | {ing['reingest_s'] * 1000:.0f} ms = {100 * ing['reingest_ratio']:.1f}% of first ingest |",
            f"| index on disk / peak RSS | {_mb(ing['index_bytes'])} / {ing['peak_rss_mb']:,.0f} MB |",
            f"| other processes' CPU during the stage | {ing['others_cpu_s']:.0f} CPU-s over {ing['wall_s']:.0f} s wall (0 = quiet machine) |",
            "",
        ]
    scales = results.get("scales") or []
    if scales:
        lines += [
            "Scale (synthetic passages and clustered vectors; real query path `QA.search` / `QA.ask`, model loaded, warm; p50 / p95 ms"
            + ("; story detection off" if results.get("settings", {}).get("story_detection_synthetic") is False else "") + ")",
            "",
            "| passages | segments: dense index | build s (dense / lexical) | on disk | open s | RSS serving | dense recall@10 vs exact | dense search p50 | encode q | search dense | search bm25 | search hybrid | ask |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in scales:
            b, v = s["build"], s["serve"]
            lat, wp, path = v["latency"], b["write_profile_s"], v["dense_path"]

            def f(k: str, lat: dict = lat) -> str:
                return f"{lat[k]['p50_ms']:.0f} / {lat[k]['p95_ms']:.0f}"

            lines.append(
                f"| {s['passages']:,} | {v.get('segments', 1)}: {v['dense_index']} "
                f"| {b['write_index_s']:.0f} ({wp.get('build_dense_index', 0):.0f} / {wp.get('build_postings', 0):.0f}) "
                f"| {_mb(b['index_bytes'])} | {v['open_s']:.2f} | {v['rss_mb']['after_queries']:,.0f} MB "
                f"| {path['recall_at_10']:.3f} | {path['p50_ms']:.1f} "
                f"| {f('encode_question')} | {f('search_dense')} | {f('search_bm25')} | {f('search_hybrid')} | {f('ask')} |"
            )
        lines += [
            "",
            "Growing archive (one real article added / removed at a time, real model warm; medians of "
            f"{len(scales[0]['update']['add_one_article_s_runs'])})",
            "",
            "| passages | open | add one article | remove one | `qa check` (bytes) | compaction (segments) | open after |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in scales:
            u = s["update"]
            check = "-" if u.get("check_s") is None else f"{u['check_s']:.1f} s ({_mb(u['check_bytes'])})"
            lines.append(
                f"| {s['passages']:,} | {u['open_s'] * 1000:.0f} ms | {u['add_one_article_s'] * 1000:.0f} ms "
                f"| {u['remove_one_s'] * 1000:.0f} ms | {check} "
                f"| {u.get('compaction', 'full')} {u['compact_s']:.1f} s ({u['segments_before_compaction']}) "
                f"| {u['open_after_compaction_s'] * 1000:.0f} ms |"
            )
        lines.append("")
        sweep_rows = []
        for s in scales:
            if "dense" not in s["serve"]:
                continue
            d = s["serve"]["dense"]
            sw = d["ivf"]["nprobe_sweep"]
            cells = " | ".join(
                f"{sw[k]['recall_at_10']:.3f} @ {sw[k]['p50_ms']:.2f} ms" if k in sw else "-" for k in ("8", "16", "32", "64", "128")
            )
            sweep_rows.append(f"| {s['passages']:,} | {d['flat']['p50_ms']:.1f} ms | {d['ivf']['nlist']} | {cells} |")
        if sweep_rows:
            lines += [
                "One segment's IVF (as built at that size) against exact flat search: recall@10 @ single-query p50, k=50, by nprobe",
                "",
                "| passages | flat p50 | nlist | nprobe 8 | 16 | 32 | 64 | 128 |",
                "|---|---|---|---|---|---|---|---|",
                *sweep_rows,
                "",
            ]
        peak = ", ".join(
            f"{s['passages']:,}: build {s['build']['peak_rss_mb']:,.0f} MB / update {s['update']['peak_rss_mb']:,.0f} MB / "
            f"serve {s['serve']['peak_rss_mb']:,.0f} MB" for s in scales
        )
        lines.append(f"Peak RSS per stage process (serve: includes the exact scan for recall): {peak}.")
    if results.get("stories"):
        from bench.copies import tables as copies_tables

        lines += ["Stories (copies of one story, qa/store/stories.py; `python -m bench.copies`)", "", copies_tables(results["stories"]), ""]
    m = results["machine"]
    if scales:
        lines.append(
            "Other processes' CPU during serve stages: "
            + ", ".join(f"{s['passages']:,}: {s['serve']['others_cpu_s']:.0f} CPU-s over {s['serve']['wall_s']:.0f} s" for s in scales)
            + "."
        )
    lines.append(
        f"Machine: {m['cpu']}, {m['cpu_count']} CPU cores, {m['memory_gib']} GiB, no GPU; torch {m.get('torch')}, "
        f"faiss {m.get('faiss')}; OMP_WAIT_POLICY={m.get('OMP_WAIT_POLICY')}. Total bench time {results.get('total_s', 0):.0f} s."
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=lambda s: [int(x.replace("_", "")) for x in s.split(",") if x], default=[10_000, 100_000, 1_000_000])
    p.add_argument("--cold-runs", type=int, default=5, help="fresh processes per command for cold starts (0: skip)")
    p.add_argument("--warm-questions", type=int, default=30, help="questions of the warm ask after the cold starts (0: skip)")
    p.add_argument("--api-requests", type=int, default=200,
                   help="concurrent /ask requests against the app (0: skip; bench/api.py)")
    p.add_argument("--api-limits", default="1,4", help="questions the app answers at once, compared (default 1,4)")
    p.add_argument("--docs", type=int, default=60, help="real articles to ingest and embed (0: skip the ingest stage)")
    p.add_argument("--repeats", type=int, default=2, help="ingest and bare-encode runs; the best of each is compared")
    p.add_argument("--queries", type=int, default=30, help="distinct questions per latency measurement")
    p.add_argument("--recall-queries", type=int, default=200)
    p.add_argument("--ops", type=int, default=3, help="articles added and removed one at a time per size")
    p.add_argument("--out", default=str(HERE / "results.json"))
    p.add_argument("--markdown", help="also write the tables to this file")
    p.add_argument("--workdir", help="keep indexes and articles here (default: a temporary folder, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--stage-timeout", type=float, default=None)
    p.add_argument("--copies-stories", type=int, default=300,
                   help="synthetic stories with copies for the grouping's precision / recall (0: skip)")
    p.add_argument("--copies-sizes", type=lambda s: [int(x.replace("_", "")) for x in s.split(",") if x],
                   default=[10_000, 100_000], help="archive sizes (documents) for story detection's cost per new article ('' to skip)")
    p.add_argument("--copies-new", type=int, default=40, help="new articles timed per archive size")
    p.add_argument("--copies-ingest", type=int, default=20,
                   help="stories (with copies) ingested with detection on and off (0: skip)")
    p.add_argument("--segment-passages", type=int, default=0,
                   help="indexes larger than this are built as segments of about this size (a grown archive; "
                        "0: the largest the memory budget allows, Config.max_segment_chunks)")
    p.add_argument("--full-max", type=int, default=2_000_000,
                   help="up to this size also `qa check`, a full compaction and the flat / IVF-Flat comparison")
    p.add_argument("--no-stories", action="store_true",
                   help="story detection off for the synthetic archives (their text is far more alike than news; bench/worker.py)")
    p.add_argument("--skip", default="", help="'build': reuse the index and build results already in --workdir")
    args = p.parse_args(argv)
    results = run(args)
    text = tables(results)
    print(text)
    Path(args.out).write_text(json.dumps(results, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
