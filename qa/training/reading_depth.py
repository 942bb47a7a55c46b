"""How many passages to read, and how long: `python -m qa.training.reading_depth`.

Asks the calibration set's news questions (and the questions the news archive does not cover) as
the product asks them, reading the top k passages for each k of `--k`, with the archive cut into
passages of at most each `--chunk-tokens` word pieces, and reports per setting: the news
answerable F1 always answering (forced) and at the shipped threshold, the best news +
not-covered 2 : 1 overall F1 over all thresholds, how often the gold story is among the passages
read, and the reader's time per question (median, p95). Records are cached like the
calibrator's (`qa.training.fit_calibrator.load_records`), so a rerun costs seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Config
from qa.model.base import cpu_model
from qa.reader.calibration import overall_f1_at
from qa.training.fit_calibrator import load_records

PARTS = ("news", "not-covered")
MIX = {"news": 2 / 3, "not-covered": 1 / 3}


def summarise(records: list[dict[str, Any]], threshold: float, probability: Any) -> dict[str, float]:
    """The figures of one setting (see the module docstring)."""
    news = [r for r in records if r["part"] == "news"]
    conf = [probability(r["kind"], r["features"]) for r in records]
    weight = [MIX[r["part"]] / sum(1 for x in records if x["part"] == r["part"]) for r in records]
    f1s, answerable = [r["f1"] for r in records], [r["answerable"] for r in records]
    grid = [round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.01)]
    best = max(grid, key=lambda t: overall_f1_at(t, conf, f1s, answerable, weight))
    news_conf = [c for c, r in zip(conf, records) if r["part"] == "news"]
    read = sorted(r["read_ms"] for r in records if "read_ms" in r)
    return {
        "news_questions": len(news),
        "news_forced_f1": round(float(np.mean([r["f1"] for r in news])), 4),
        "news_f1_at_threshold": round(float(np.mean([r["f1"] if c >= threshold else 0.0 for r, c in zip(news, news_conf)])), 4),
        "news_cited_gold_first": round(float(np.mean([r["cited_gold_first"] for r in news])), 4),
        "mix_f1_at_threshold": round(overall_f1_at(threshold, conf, f1s, answerable, weight), 4),
        "mix_best_f1": round(overall_f1_at(best, conf, f1s, answerable, weight), 4),
        "mix_best_threshold": best,
        "read_ms_p50": round(read[len(read) // 2], 1) if read else float("nan"),
        "read_ms_p95": round(read[int(0.95 * (len(read) - 1))], 1) if read else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.reading_depth", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=Path, default=Path("runs/calibration"), help="the folder `python -m qa.training.calibration_sets` wrote")
    parser.add_argument("--model", type=Path, help="reader folder (default: the shipped qa/reader_model)")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 8, 10], help="passages read per question")
    parser.add_argument("--chunk-tokens", type=int, nargs="+", default=[128], help="passage lengths (word pieces)")
    parser.add_argument("--out", type=Path, help="write the table as JSON here too")
    args = parser.parse_args(argv)
    from qa.reader.neural import NeuralReader

    rows = []
    for chunk_tokens in args.chunk_tokens:
        for k in args.k:
            config = Config(top_k=k, chunk_tokens=chunk_tokens, reader_model_dir=args.model)
            reader = NeuralReader(config)
            started = time.time()
            records = load_records(args.parts, config, reader.model_dir, PARTS)
            row = {"k": k, "chunk_tokens": chunk_tokens,
                   **summarise(records, reader.default_threshold, reader.calibrator.probability)}
            rows.append(row)
            print(json.dumps(row), f"({time.time() - started:.0f} s)", flush=True)
    print("\n| passages read (k) | passage length | news forced F1 | news F1 at threshold | gold story read first | "
          "news + not-covered 2:1, at threshold / best | read p50 / p95 ms |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['k']} | {r['chunk_tokens']} | {r['news_forced_f1']:.3f} | {r['news_f1_at_threshold']:.3f} | "
              f"{r['news_cited_gold_first']:.3f} | {r['mix_f1_at_threshold']:.3f} / {r['mix_best_f1']:.3f} | "
              f"{r['read_ms_p50']:.0f} / {r['read_ms_p95']:.0f} |")
    if args.out:
        args.out.write_text(json.dumps({"cpu": cpu_model(), "command": "python -m qa.training.reading_depth " + " ".join(argv or []),
                                        "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
