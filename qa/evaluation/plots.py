"""Evaluation plots (matplotlib, drawn off-screen): recall@k per retriever, and scores, confidence
and reliability against the abstention threshold. Both read only the summary dict of a run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qa.evaluation.metrics import RECALL_KS


def plot_recall_curves(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    all_ks: set[int] = set()
    for name, m in summary["retrieval"].items():
        ks = sorted(int(key[2:]) for key, value in m.items() if key.startswith("R@") and value is not None)
        all_ks.update(ks)
        ax.plot(ks, [m[f"R@{k}"] for k in ks], marker="o", label=name)
    if max(all_ks, default=0) > 2 * max(RECALL_KS):  # R@1 .. R@100: a log scale keeps the small k apart
        ax.set_xscale("log")
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("recall@k (gold document in top k)" if "questions" in summary else "recall@k (relevant documents in top k)")
    ax.set_xticks(sorted(all_ks) or list(RECALL_KS), [str(k) for k in sorted(all_ks) or RECALL_KS])
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    counted = f"{summary['questions']['answerable']} questions" if "questions" in summary else f"{summary['queries']['total']} queries"
    ax.set_title(f"Retrieval: {Path(summary['eval_file']).name}, {counted}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confidence(summary: dict[str, Any], path: Path) -> None:
    """Left: scores against the abstention threshold, with the always-abstain line. Right: the
    reader's confidence for right answers, wrong answers and unanswerable questions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = summary["threshold_sweep"]
    current = summary["settings"]["threshold"]
    fig, (left, right, calib) = plt.subplots(1, 3, figsize=(16, 4), dpi=110)
    ts = [r["threshold"] for r in sweep]
    for key, label in (
        ("overall_f1", "overall F1"),
        ("answerable_f1", "answerable F1"),
        ("unanswerable_accuracy", "unanswerable accuracy"),
    ):
        values = [r[key] for r in sweep]
        if any(v is not None for v in values):
            left.plot(ts, [math.nan if v is None else v for v in values], label=label)
    baseline = summary["answers"]["always_abstain"]["overall"]["f1"]
    left.axhline(baseline, color="grey", linestyle="--", label="always abstain (overall F1)")
    left.axvline(current, color="black", linestyle=":", label=f"threshold {current:.2f}")
    left.set_xlabel("abstention threshold (answer when confidence ≥ threshold)")
    left.set_ylim(0, 1.02)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title("Scores by threshold")

    groups: dict[str, list[float]] = {"right answer (F1 ≥ 0.5)": [], "wrong answer": [], "unanswerable": []}
    for q in summary["per_question"]:
        if q["span"] is None:
            continue
        if not q["gold_answers"]:
            groups["unanswerable"].append(q["confidence"])
        elif (q["span_f1"] or 0) >= 0.5:
            groups["right answer (F1 ≥ 0.5)"].append(q["confidence"])
        else:
            groups["wrong answer"].append(q["confidence"])
    bins = [i / 20 for i in range(21)]
    colours = ["tab:green", "tab:red", "tab:grey"]
    right.hist(list(groups.values()), bins=bins, stacked=True, label=list(groups), color=colours)
    right.axvline(current, color="black", linestyle=":")
    right.set_xlabel("reader confidence of its best span")
    right.set_ylabel("questions")
    right.legend(fontsize=8)
    right.set_title("Confidence vs correctness")

    table = summary.get("reliability") or []
    calib.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    if table:
        calib.plot([r["mean_confidence"] for r in table], [r["fraction_right"] for r in table], marker="o", label="reader")
        for r in table:
            calib.annotate(str(r["n"]), (r["mean_confidence"], r["fraction_right"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
    bands = (summary["settings"].get("reader") or {}).get("bands")
    if isinstance(bands, list) and len(bands) == 2:  # where "medium" and "high" start (measured on the calibration set)
        for edge, word, colour in zip(bands, ("medium", "high"), ("tab:orange", "tab:green")):
            calib.axvline(edge, color=colour, linestyle=":", label=f"'{word}' from {edge:.2f}")
    calib.set_xlim(0, 1)
    calib.set_ylim(0, 1.02)
    calib.set_xlabel("confidence (bin mean; labels: questions per bin)")
    calib.set_ylabel("fraction of answers right (F1 ≥ 0.5)")
    calib.grid(alpha=0.3)
    calib.legend(fontsize=8, loc="upper left")
    calib.set_title("Reliability")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
