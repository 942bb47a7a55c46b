"""`/ask` under concurrent requests: the app launched in-process over an index of the bundled
corpus, N requests sent at once (raw HTTP, as any client would), each timed from its POST to its
answer; p50 / p95 per limit of questions answered at once (the app's `QA_CONCURRENCY`).

    python -m bench.api [--requests 200] [--limits 1,4]      # also part of `python -m bench`
    python -m bench.api --json after.json --before before.json   # with a run of the previous code beside it

The table names the CPU and the load average after the run; `--before` adds the p50 / p95 of an
earlier run's JSON (e.g. the same command on the commit before a change) beside each limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Who is the Kremlin spokesperson?",
    "When did Armenia join the Partnership for Peace program?",
    "Who was the first NATO secretary general to visit Armenia?",
    "What did Stoltenberg say about Ukraine?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(requests: int, limits: list[int], workdir: Path | None = None) -> dict:
    import httpx

    import app
    from qa.config import Config
    from qa.pipeline import ingest_paths

    root = workdir or Path(tempfile.mkdtemp(prefix="qa-bench-api-"))
    config = Config().with_(index_dir=root / "api-index")
    if not (config.index_dir / "catalog.sqlite").exists():
        ingest_paths([REPO / "corpus"], config)
    from qa.model.base import cpu_model

    out: dict = {"requests": requests, "questions": QUESTIONS, "limits": {}, "cpu": cpu_model()}
    try:
        for limit in limits:
            app.QA_CONCURRENCY = limit
            demo = app.build_app(config)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            app.launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True,
                       max_threads=max(40, requests))
            url = f"http://127.0.0.1:{port}/gradio_api/call/ask"
            client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=requests + 10))

            def ask(i: int, url: str = url, client: httpx.Client = client) -> tuple[float, bool]:
                t = time.perf_counter()
                event = client.post(url, json={"data": [QUESTIONS[i % len(QUESTIONS)]]}).json()["event_id"]
                reply = client.get(f"{url}/{event}").text
                return time.perf_counter() - t, "event: complete" in reply

            try:
                ask(0)  # warm-up: models loaded, index opened
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=requests) as pool:
                    results = list(pool.map(ask, range(requests)))
                wall = time.perf_counter() - started
            finally:
                client.close()
                demo.close()
            times = [t for t, _ in results]
            out["limits"][str(limit)] = {
                "p50_ms": 1000 * statistics.median(times),
                "p95_ms": 1000 * _percentile(times, 0.95),
                "max_ms": 1000 * max(times),
                "wall_s": wall,
                "requests_per_s": requests / wall,
                "errors": sum(not ok for _, ok in results),
            }
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    out["loadavg_1m"] = os.getloadavg()[0]
    return out


def table(result: dict, before: dict | None = None) -> str:
    lines = [
        f"`/ask` under {result['requests']} concurrent requests (app in-process over the bundled corpus; "
        f"each request timed from its POST to its answer; {result.get('cpu', 'CPU not recorded')}, "
        f"load average {result.get('loadavg_1m', float('nan')):.1f} after the run)",
        "",
        "| questions answered at once | p50 | p95 | max | throughput | errors |" + (" before: p50 / p95 |" if before else ""),
        "|---|---|---|---|---|---|" + ("---|" if before else ""),
    ]
    for limit, r in result["limits"].items():
        row = (f"| {limit} | {r['p50_ms'] / 1000:.2f} s | {r['p95_ms'] / 1000:.2f} s | {r['max_ms'] / 1000:.2f} s "
               f"| {r['requests_per_s']:.1f} req/s | {r['errors']} |")
        if before:
            old = before.get("limits", {}).get(limit)
            row += f" {old['p50_ms'] / 1000:.2f} s / {old['p95_ms'] / 1000:.2f} s |" if old else " - |"
        lines.append(row)
    if before:
        lines.append(f"\nbefore: {before.get('requests')} requests, {before.get('cpu', 'CPU not recorded')}, "
                     f"load average {before.get('loadavg_1m', float('nan')):.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=200, help="requests sent at once (default 200)")
    p.add_argument("--limits", default="1,4", help="questions answered at once, compared (default 1,4)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--before", help="an earlier run's JSON, shown beside this one")
    args = p.parse_args(argv)
    result = measure(args.requests, [int(x) for x in args.limits.split(",") if x])
    before = json.loads(Path(args.before).read_text(encoding="utf-8")) if args.before else None
    print(table(result, before))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
