"""Cold-start times of the `qa` command: each run is a fresh interpreter, as a user types it.

    python -m bench.coldstart [--runs 5]      # or as part of `python -m bench` (--cold-runs)

Indexes the bundled corpus/ into a temporary folder once, then times `qa list`, `qa search` and
`qa ask` end to end (process start to exit) `runs` times each and reports the median wall time
and the median CPU time of the process (user + system), next to the targets (list <= 1 s, ask
<= 3 s on 2 cores). On a quiet machine the two are close; when other processes compete for the
cores, wall time grows with the load while CPU time stays near what the command costs. Files are
in the page cache after the index was built, as on a machine in use.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Who was the first NATO secretary general to visit Armenia?"
TARGETS_S = {"list": 1.0, "ask": 3.0}


def qa_command() -> list[str]:
    """The installed `qa` script beside this interpreter, else `python -m qa.cli`."""
    script = Path(sys.executable).parent / "qa"
    return [str(script)] if script.exists() else [sys.executable, "-m", "qa.cli"]


def measure(runs: int = 5, workdir: Path | None = None) -> dict:
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="qa-cold-")) if own else workdir
    index = workdir / "cold-index"
    qa = qa_command()
    try:
        subprocess.run([*qa, "ingest", str(REPO / "corpus"), "--index", str(index)], check=True,
                       capture_output=True, cwd=REPO)
        commands = {
            "list": ["list"],
            "search": ["search", QUESTION],
            "ask": ["ask", QUESTION],
        }
        results = {}
        for name, args in commands.items():
            times, cpu = [], []
            for _ in range(runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([*qa, *args, "--index", str(index)], check=True, capture_output=True, cwd=REPO)
                times.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            results[name] = {
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "cpu_median_s": statistics.median(cpu),
                "runs_s": [round(t, 3) for t in times],
                "cpu_runs_s": [round(t, 3) for t in cpu],
                "target_s": TARGETS_S.get(name),
            }
        return {"command": qa, "runs": runs, "loadavg_1m": os.getloadavg()[0], "commands": results}
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def table(result: dict) -> str:
    lines = [
        f"Cold start (fresh process each run, median of {result['runs']}; bundled corpus index; "
        f"load average {result.get('loadavg_1m', 0):.1f} at the end)",
        "",
        "| command | wall median | wall min / max | CPU median | target |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["commands"].items():
        target = f"<= {r['target_s']:.0f} s" if r["target_s"] else "-"
        lines.append(
            f"| `qa {name}` | {r['median_s']:.2f} s | {r['min_s']:.2f} / {r['max_s']:.2f} s "
            f"| {r.get('cpu_median_s', 0):.2f} s | {target} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    result = measure(args.runs)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
