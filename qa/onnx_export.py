"""Build the weightless ONNX graphs of `qa/model/onnx/` from the PyTorch modules (needs torch and onnx,
the `test` extra; nothing at run time calls this).

    python -m qa.onnx_export [--out qa/onnx]

Each network is exported with the TorchScript exporter (opset 17, dynamic batch and length, no
constant folding so that every initializer is a parameter under its PyTorch name); then every
initializer is turned into a declaration of external data without bytes, and the graph's sha256
and the name and shape of each weight go into graphs.json. Last, each graph is loaded the way the
product loads it (`qa.model.onnx_runtime`, weights fed from the safetensors files) and its outputs are
compared with PyTorch's float32 outputs on real text: the build fails if they differ by more
than 1e-4. Rebuild only when a network's architecture or the exporter changes: a retrained
reader with the same architecture uses the same graph.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qa.checksums import sha256_file
from qa.model.onnx_runtime import GRAPH_DIR, GRAPHS_FILE, GRAPHS_FORMAT, SENTENCE_ENCODER, SPAN_READER

OPSET = 17
TOLERANCE = 1e-4


class SentenceVectors(torch.nn.Module):
    """The packaged pipeline as one module: BERT, mean pooling under the mask, L2 normalisation."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(input_ids, attention_mask)
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


class _FusedAttention(torch.autograd.Function):
    """`BertEncoder`'s attention as one node: PyTorch's result when traced, a placeholder op in the
    graph that `_strip_weights` turns into ONNX Runtime's MultiHeadAttention (com.microsoft):
    unfused, each layer's scores make several passes over a (batch, heads, tokens, tokens) tensor,
    which made batches of 64 passages 40 % slower than PyTorch."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
        b, n, h = q.shape
        qh, kh, vh = (t.view(b, n, heads, h // heads).transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask)
        return out.transpose(1, 2).reshape(b, n, h)

    @staticmethod
    def symbolic(g: Any, q: Any, k: Any, v: Any, mask: Any, heads: int) -> Any:
        # The boolean key mask (batch, 1, 1, tokens) as MultiHeadAttention's int32 key_padding_mask (batch, tokens).
        flat = g.op("Squeeze", g.op("Cast", mask, to_i=6), g.op("Constant", value_t=torch.tensor([1, 2])))
        out = g.op("qa::Attention", q, k, v, flat, num_heads_i=heads)
        out.setType(q.type())
        return out


@contextmanager
def _fused_attention() -> Iterator[None]:
    from qa.model.bert import _Layer

    original = _Layer.attend
    _Layer.attend = lambda self, q, k, v, mask: _FusedAttention.apply(q, k, v, mask, self.heads)  # type: ignore[method-assign, no-untyped-call]
    try:
        yield
    finally:
        _Layer.attend = original  # type: ignore[method-assign]


def _use_ort_attention(model: Any) -> int:
    """Replace the placeholder attention nodes by com.microsoft MultiHeadAttention (no bias input)."""
    import onnx

    count = 0
    for node in model.graph.node:
        if node.domain == "qa" and node.op_type == "Attention":
            q, k, v, mask = node.input
            node.domain, node.op_type = "com.microsoft", "MultiHeadAttention"
            del node.input[:]
            node.input.extend([q, k, v, "", mask])
            count += 1
    kept = [o for o in model.opset_import if o.domain != "qa"]
    del model.opset_import[:]
    model.opset_import.extend(kept + [onnx.helper.make_opsetid("com.microsoft", 1)])
    return count


def _strip_weights(path: Path, parameters: dict[str, torch.Tensor], location: str) -> dict[str, list[int]]:
    """Turn every initializer of the graph at `path` into external data without bytes; the
    {name: shape} of the weights the graph takes."""
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load(str(path))
    if _use_ort_attention(model) == 0:
        raise SystemExit(f"{path}: no attention node was exported")
    taken: dict[str, list[int]] = {}
    for tensor in model.graph.initializer:
        if tensor.name not in parameters:
            raise SystemExit(f"{path}: initializer {tensor.name!r} is not a parameter; export without constant folding")
        if list(tensor.dims) != list(parameters[tensor.name].shape):
            raise SystemExit(f"{path}: initializer {tensor.name!r} has shape {list(tensor.dims)}, the parameter {list(parameters[tensor.name].shape)}")
        set_external_data(tensor, location=location)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        taken[tensor.name] = list(tensor.dims)
    model.doc_string = f"weights not included: fed from {location} at session creation (qa/model/onnx_runtime.py)"
    onnx.save(model, str(path))
    return taken


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str], outputs: list[str],
            path: Path) -> None:
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    dynamic.update({name: {0: "batch"} if name == "sentence_vectors" else {0: "batch", 1: "tokens"} for name in outputs})
    with warnings.catch_warnings(), _fused_attention():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=False,
                          custom_opsets={"qa": 1})


def build(out: Path) -> dict[str, dict[str, Any]]:
    """Export both graphs into `out`, write graphs.json, check them against PyTorch; graphs.json's entries."""
    from qa.model.embed import load_model
    from qa.reader.span_io import default_model_dir, encode_pair_arrays
    from qa.reader.span_model import load_reader

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    base = load_model("cpu", 256, "float32")
    sentence = SentenceVectors(base.network).eval()
    reader, shape, _ = load_reader()
    ids = torch.randint(1000, 20000, (2, 12))
    mask = torch.ones_like(ids)
    graphs: dict[str, dict[str, Any]] = {}
    exports = [
        (SENTENCE_ENCODER, sentence, (ids, mask), ["input_ids", "attention_mask"], ["sentence_vectors"], "model.safetensors"),
        (SPAN_READER, reader, (ids, mask, torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"],
         ["start_logits", "end_logits"], "reader.safetensors"),
    ]
    for name, module, args, inputs, outputs, location in exports:
        path = out / f"{name}.onnx"
        _export(module, args, inputs, outputs, path)
        weights = _strip_weights(path, dict(module.state_dict()), location)
        graphs[name] = {"file": path.name, "sha256": sha256_file(path), "inputs": inputs, "outputs": outputs,
                        "weights_from": location, "weights": weights}
    manifest: dict[str, object] = {
        "format": GRAPHS_FORMAT,
        "graphs": graphs,
        "opset": OPSET,
        "exporter": f"torch.onnx.export (TorchScript), torch {torch.__version__}",
        "command": "python -m qa.onnx_export",
    }
    (out / GRAPHS_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")

    # The product's way of loading them, against PyTorch float32 on real text.
    from qa.model.onnx_runtime import SentenceEncoderGraph, checked_graph
    from qa.reader.onnx_reader import SpanReaderGraph

    if out.resolve() != GRAPH_DIR.resolve():
        print(f"(graphs written to {out}; the check below loads them from {GRAPH_DIR} only when --out is that folder)")
        return graphs
    checked_graph(SENTENCE_ENCODER)
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    texts = [p.read_text(encoding="utf-8")[:1500] for p in sorted(corpus.glob("*.txt"))] or ["Stoltenberg visited Armenia."]
    features = base.tokenize(texts + ["Who visited Armenia?"])
    expected = base.forward(features).numpy()
    got = SentenceEncoderGraph().encode(features["input_ids"].numpy(), features["attention_mask"].numpy())
    sentence_diff = float(np.abs(got - expected).max())
    pairs = encode_pair_arrays(["Who visited Armenia?"] * len(texts), texts, shape)
    with torch.inference_mode():
        start, end = reader(*(torch.from_numpy(a) for a in (pairs.input_ids, pairs.attention_mask, pairs.token_type_ids)))
    ort_start, ort_end = SpanReaderGraph.load(default_model_dir()).logits(pairs)
    reader_diff = float(max(np.abs(ort_start - start.numpy()).max(), np.abs(ort_end - end.numpy()).max()))
    print(f"max abs difference to PyTorch float32: sentence vectors {sentence_diff:.2e}, reader logits {reader_diff:.2e}")
    if max(sentence_diff, reader_diff) > TOLERANCE:
        raise SystemExit(f"the exported graphs differ from PyTorch by more than {TOLERANCE}")
    return graphs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.onnx_export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=GRAPH_DIR, help=f"where the graphs go (default {GRAPH_DIR})")
    args = parser.parse_args(argv)
    for entry in build(args.out).values():
        size = (args.out / entry["file"]).stat().st_size
        print(f"{args.out / entry['file']}: {size / 1024:.0f} KB, {len(entry['weights'])} weights fed at load, sha256 {entry['sha256'][:12]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
