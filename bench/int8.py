"""python -m bench.int8: PyTorch dynamic int8 quantisation of the encoder's Linear layers on this CPU.

    python -m bench.int8 [--texts 128] [--repeats 2]

Quantises (`torch.ao.quantization.quantize_dynamic`, int8 weights, activations quantised at run
time by the CPU's engine) all Linear layers per tensor, all per channel, and subsets per channel,
and prints for each the cosine of its sentence vectors to float32 on generated news passages
(bench/synth.py), then the encode time of each against float32, interleaved, best of --repeats.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.int8", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")  # quantize_dynamic's deprecation notice
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    from bench.synth import build_documents
    from qa.model.embed import Model, load_model

    docs, rows = build_documents(args.texts, seed=1)
    texts = [docs[int(r["doc"])].text[int(r["start"]) : int(r["end"])] for r in rows]
    fp32 = load_model("cpu", 256, "float32")
    reference = fp32.encode(texts)
    layers = fp32.network.shape.num_hidden_layers

    def quantised(kinds: tuple[str, ...], qconfig) -> Model:
        names = {f"layers.{i}.{kind}" for i in range(layers) for kind in kinds}
        network = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32.network), {n: qconfig for n in names}, dtype=torch.qint8)
        return Model(network, fp32.tokenizer, "cpu", "float32", fp32.max_seq_length, fp32.dimension)

    every = ("query", "key", "value", "attention_out", "intermediate", "output")
    variants = {
        "all, per tensor": quantised(every, default_dynamic_qconfig),
        "all, per channel": quantised(every, per_channel_dynamic_qconfig),
        "all but the FFN output, per channel": quantised(every[:-1], per_channel_dynamic_qconfig),
        "FFN intermediate only, per channel": quantised(("intermediate",), per_channel_dynamic_qconfig),
    }
    print(f"engine {torch.backends.quantized.engine}, {len(texts)} passages")
    for name, model in variants.items():
        cos = np.sum(model.encode(texts) * reference, axis=1)
        print(f"{name}: cosine to float32 min {cos.min():.4f} mean {cos.mean():.4f}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in ["float32", *variants]}
    for _ in range(args.repeats):
        for name, model in [("float32", fp32), *variants.items()]:
            t = time.perf_counter()
            model.encode(texts)
            times[name].append(time.perf_counter() - t)
    for name, runs in times.items():
        print(f"{name}: encode {min(runs):.2f} s ({min(times['float32']) / min(runs):.2f}x float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
