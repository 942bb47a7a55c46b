"""Average two readers' weights: `python -m qa.training.average --models A B --out DIR [--weight 0.5]`.

Reader v4 is the fine-tuned reader averaged with the reader it was fine-tuned from (weight-space
ensembling, Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"): both share one
starting point, so their average is a reader too, and it kept v4's gains on news while giving back
what v4's news-heavy training had cost on Wikipedia articles (the calibration set's parts,
out of fold; see the model card). The artifact records both parents and the weight.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qa.reader.span_model import load_reader, read_manifest, save_reader
from qa.training.model_card import write_model_card

PROVENANCE_SKIPPED = ("format", "weights", "weights_sha256", "base_word_embeddings_sha256", "shape")


def average(first: Path, second: Path, out: Path, weight: float = 0.5) -> Path:
    """`weight` * first + (1 - weight) * second, every trained parameter; the provenance is the
    second reader's (the fine-tuned one) with `averaged_with` naming the first."""
    if not 0.0 < weight < 1.0:
        raise SystemExit(f"--weight must be between 0 and 1, not {weight}")
    a, shape_a, _ = load_reader(first)
    b, shape_b, manifest = load_reader(second)
    if shape_a != shape_b:
        raise SystemExit(f"{first} and {second} read inputs of different shapes; they cannot be averaged")
    sa, sb = a.trainable_state(), b.trainable_state()
    b.load_state_dict({k: weight * sa[k].float() + (1 - weight) * sb[k].float() for k in sb}, strict=False)
    provenance = {k: v for k, v in manifest.items() if k not in PROVENANCE_SKIPPED}
    provenance["averaged_with"] = {"reader": str(first), "weights_sha256": read_manifest(first)["weights_sha256"],
                                   "weight": weight, "training": read_manifest(first).get("training")}
    save_reader(b, shape_b, out, provenance)
    write_model_card(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.average", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, nargs=2, required=True, metavar=("FIRST", "SECOND"),
                        help="the reader fine-tuned from, then the fine-tuned reader")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weight", type=float, default=0.5, help="the first reader's share (default 0.5)")
    args = parser.parse_args(argv)
    print(average(args.models[0], args.models[1], args.out, args.weight))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
