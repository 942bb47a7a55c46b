"""Cold-start times of the `qa` command, and the warm ask: each cold run is a fresh interpreter,
as a user types it.

    python -m bench.coldstart [--runs 5] [--warm 30]      # or as part of `python -m bench` (--cold-runs)

Indexes the bundled corpus/ into a temporary folder once, then times `qa list`, `qa search` and
`qa ask` end to end (process start to exit) `runs` times each and reports the median wall time
and the median CPU time of the process (user + system), next to the targets (list <= 1 s, ask
<= 1 s on 2 cores, issue 31). One more run of each under `python -X importtime` says whether it
imported torch or the evaluation package (`qa.evaluation`): the serving path must not. Then one
process asks `warm` distinct questions of eval/questions.jsonl at the product's k
(`Config.top_k`) after one warm-up question and reports the p50 / p95 of `QA.ask` (target p50
<= 150 ms). On a quiet machine wall and CPU time are close (the models use both cores, so CPU
can exceed wall); when other processes compete for the cores, wall time grows with the load
while CPU time stays near what the command costs. The commands run this checkout's code
(`python -m qa.cli` with it first on the path). Files are in the page cache after the index was
built, as on a machine in use.
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
TARGETS_S = {"list": 1.0, "ask": 1.0}
WARM_TARGET_MS = 150.0
SERVE_MUST_NOT_IMPORT = ("torch", "qa.evaluation")

WARM_SCRIPT = """
import json, statistics, sys, time
from pathlib import Path
from qa.config import Config
from qa.pipeline import QA
questions = [json.loads(line)["question"] for line in Path(sys.argv[2]).read_text(encoding="utf-8").splitlines() if line.strip()]
qa = QA(Config().with_(index_dir=Path(sys.argv[1])))
qa.ask(questions[0])
wall, cpu = [], []
for question in questions[1 : 1 + int(sys.argv[3])]:
    t, c = time.perf_counter(), time.process_time()
    qa.ask(question)
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "k": Config().top_k, "torch": "torch" in sys.modules}))
"""


def qa_command() -> list[str]:
    """This checkout's `qa` command: `python -m qa.cli` (run with the checkout first on the path)."""
    return [sys.executable, "-m", "qa.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


def imported(args: list[str]) -> list[str]:
    """Which of SERVE_MUST_NOT_IMPORT the command `qa ARGS` imports (`python -X importtime`)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "qa.cli", *args], capture_output=True,
                            text=True, cwd=REPO, env=_env())
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return [m for m in SERVE_MUST_NOT_IMPORT if m in modules]


def warm_ask(index: Path, questions: int) -> dict:
    """`QA.ask` p50 / p95 over `questions` distinct questions in one warm process."""
    result = subprocess.run([sys.executable, "-c", WARM_SCRIPT, str(index), str(REPO / "eval" / "questions.jsonl"),
                             str(questions)], capture_output=True, text=True, cwd=REPO, env=_env(), check=True)
    r = json.loads(result.stdout.strip().splitlines()[-1])
    ordered = sorted(r["wall_s"])
    return {
        "questions": len(ordered),
        "k": r["k"],
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "cpu_p50_ms": 1000 * statistics.median(r["cpu_s"]),
        "imports_torch": r["torch"],
        "target_ms": WARM_TARGET_MS,
    }


def measure(runs: int = 5, workdir: Path | None = None, warm: int = 30) -> dict:
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="qa-cold-")) if own else workdir
    index = workdir / "cold-index"
    qa = qa_command()
    try:
        subprocess.run([*qa, "ingest", str(REPO / "corpus"), "--index", str(index)], check=True,
                       capture_output=True, cwd=REPO, env=_env())
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
                subprocess.run([*qa, *args, "--index", str(index)], check=True, capture_output=True, cwd=REPO, env=_env())
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
                "imports": imported([*args, "--index", str(index)]),
            }
        out = {"command": qa, "runs": runs, "loadavg_1m": os.getloadavg()[0], "commands": results}
        if warm:
            out["warm_ask"] = warm_ask(index, warm)
            out["loadavg_1m"] = os.getloadavg()[0]
        return out
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def table(result: dict) -> str:
    from qa.model.base import cpu_model

    lines = [
        f"Cold start (fresh process each run, median of {result['runs']}; bundled corpus index; "
        f"{cpu_model()}, {os.cpu_count()} cores; load average {result.get('loadavg_1m', 0):.1f} at the end)",
        "",
        "| command | wall median | wall min / max | CPU median | target | imports torch / qa.evaluation |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["commands"].items():
        target = f"<= {r['target_s']:.0f} s" if r["target_s"] else "-"
        seen = r.get("imports")
        said = "-" if seen is None else (", ".join(seen) if seen else "neither")
        lines.append(
            f"| `qa {name}` | {r['median_s']:.2f} s | {r['min_s']:.2f} / {r['max_s']:.2f} s "
            f"| {r.get('cpu_median_s', 0):.2f} s | {target} | {said} |"
        )
    w = result.get("warm_ask")
    if w:
        lines += ["", f"Warm `QA.ask` (k = {w['k']}, {w['questions']} distinct questions of eval/questions.jsonl, one process): "
                  f"p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms, CPU p50 {w['cpu_p50_ms']:.0f} ms "
                  f"(target p50 <= {w['target_ms']:.0f} ms); torch imported: {'yes' if w['imports_torch'] else 'no'}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warm", type=int, default=30, help="questions of the warm ask (0: skip it)")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    result = measure(args.runs, warm=args.warm)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
