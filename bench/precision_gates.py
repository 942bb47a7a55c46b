"""Which passage-encoder precisions may ingest use on this CPU: the gates of issue 31.

    python -m bench.precision_gates [--squad ../shared/eval/squad-v2.0-dev-a.json] [--out bench/precision-gates.json]

A faster precision than float32 is allowed only where, on this repo's evaluation data, (1) its
passage vectors are at cosine >= 0.995 to the float32 ones on average and (2) retrieval by gold
article moves by at most 0.005 in R@5 and MRR@10, for the dense and the hybrid retriever, on the
bundled set (corpus/ with eval/questions.jsonl) and on the SQuAD dev-a held-out articles
(Packet_switching, French_and_Indian_War). For each set and each candidate the set's passages are
chunked as ingest chunks them, encoded, written to a real index (`qa.pipeline.index_documents`)
and searched through `QA.search` with the questions encoded as the product encodes them (ONNX
Runtime, float32), exactly as `qa eval` scores retrieval (answerable questions, ir-measures).
The reference is ONNX Runtime float32 (equal to PyTorch float32 within 1e-6). Candidates:
PyTorch bfloat16 autocast (only where the CPU has native bfloat16: emulated it is ~25x slower),
PyTorch float32, and ONNX Runtime int8 (dynamic quantisation of the MatMul weights, per channel,
with reduce_range so that it is right on AVX2 CPUs without VNNI too; the graph gets its weights
here, quantised with onnxruntime.quantization; needs the `onnx` package of the test extra). Speed
is measured as CPU time (user + system of this process, all threads), which other processes'
load disturbs far less than wall time. The result names the fastest candidate that passes every
gate: what ingest should use on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HELD_OUT = ("Packet_switching", "French_and_Indian_War")
MIN_MEAN_COSINE = 0.995
MAX_METRIC_DELTA = 0.005
GATED = ("R@5", "MRR@10")
RETRIEVERS = ("dense", "hybrid")


class Fixed:
    """A passage encoder that returns vectors computed beforehand (`qa.protocols.PassageEncoder`)."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.rows = {t: v for t, v in zip(texts, vectors)}

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return np.stack([self.rows[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def eval_sets(squad: Path | None) -> dict:
    """name -> (documents, answerable questions)."""
    from qa.config import Config
    from qa.evaluation.data import load_eval_file, select_articles
    from qa.ingest.read import read_documents

    documents, _ = read_documents([REPO / "corpus"], Config())
    bundled = load_eval_file(REPO / "eval" / "questions.jsonl")
    sets = {"bundled": (documents, [q for q in bundled.questions if q.answers and q.doc_ids])}
    if squad is not None:
        held = select_articles(load_eval_file(squad), HELD_OUT)
        assert held.documents is not None
        sets["squad-dev-a-held-out"] = (held.documents, [q for q in held.questions if q.answers and q.doc_ids])
    return sets


def int8_encoder(work: Path):
    """ONNX Runtime with the sentence graph's MatMul weights quantised to int8 (dynamic, per channel,
    reduce_range); encode(texts) like `qa.model.embed.OnnxModel.encode`."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from qa.config import Config
    from qa.model.base import base_weights
    from qa.model.embed import OnnxModel, _tokenizer
    from qa.model.onnx_runtime import SENTENCE_ENCODER, checked_graph

    path, _ = checked_graph(SENTENCE_ENCODER)
    model = onnx.load(str(path), load_external_data=False)
    weights = {f"encoder.{k}": v for k, v in base_weights().items()}
    tensors = [numpy_helper.from_array(np.array(weights[t.name]), t.name) for t in model.graph.initializer]
    del model.graph.initializer[:]
    model.graph.initializer.extend(tensors)
    import onnxruntime as ort

    full, folded, out = (work / f"sentence_encoder.{n}.onnx" for n in ("fp32", "folded", "int8"))
    onnx.save(model, str(full))
    # The weights reach the MatMuls through Transpose nodes (exported without constant folding):
    # fold them first, or the quantiser finds no MatMul with a constant weight.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(full), options, providers=["CPUExecutionProvider"])
    quantize_dynamic(folded, out, op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=True,
                     weight_type=QuantType.QInt8)
    quantised = onnx.load(str(out), load_external_data=False)
    if not any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in quantised.graph.node):
        raise SystemExit(f"{out}: no MatMul was quantised")

    class Int8Graph:
        def __init__(self) -> None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = os.cpu_count() or 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])

        def encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    config = Config()
    encoder = OnnxModel(Int8Graph(), _tokenizer(config.max_seq_length), config.max_seq_length, 384)  # type: ignore[arg-type]
    return lambda texts: encoder.encode(texts, config.onnx_batch_size)


def encoders(work: Path) -> dict:
    """name -> encode(texts) for every precision measured on this CPU."""
    from qa.config import Config
    from qa.model.base import cpu_has_native_bf16
    from qa.model.embed import load_model, load_onnx_model

    config = Config()
    out = {"onnxruntime-float32": lambda texts: load_onnx_model().encode(texts, config.onnx_batch_size),
           "torch-float32": lambda texts: load_model("cpu", 256, "float32").encode(texts, config.batch_size)}
    if cpu_has_native_bf16():
        out["torch-bfloat16"] = lambda texts: load_model("cpu", 256, "bfloat16").encode(texts, config.batch_size)
    try:
        out["onnxruntime-int8-dynamic"] = int8_encoder(work)
    except ImportError as e:  # the onnx package (test extra) is missing
        print(f"[gates] int8 skipped: {e}", file=sys.stderr)
    return out


def retrieval(documents, questions, texts: list[str], vectors: np.ndarray, work: Path) -> dict:
    """R@k / MRR@10 / nDCG@10 of the dense and hybrid retrievers over an index of these vectors."""
    from qa.config import Config
    from qa.evaluation.metrics import SEARCH_DEPTH, ranked_doc_ids, retrieval_metrics
    from qa.model.embed import Embedder
    from qa.pipeline import QA, index_documents

    config = Config().with_(index_dir=work)
    index_documents(documents, config, embedder=Fixed(texts, vectors))
    qa = QA(config, embedder=Embedder(config))
    qrels = {q.qid: list(q.doc_ids) for q in questions}
    out = {}
    for name in RETRIEVERS:
        runs = {q.qid: ranked_doc_ids(p.doc_id for p in qa.search(q.question, k=SEARCH_DEPTH, retriever=name)) for q in questions}
        out[name] = {k: v for k, v in retrieval_metrics(qrels, runs).items()}
    return out


def measure(squad: Path | None) -> dict:
    from qa.config import Config
    from qa.ingest.chunk import chunk_document
    from qa.model.base import cpu_has_native_bf16, cpu_model

    result: dict = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "native_bf16": cpu_has_native_bf16(),
        "gates": {"min_mean_cosine": MIN_MEAN_COSINE, "max_delta": MAX_METRIC_DELTA, "metrics": list(GATED),
                  "retrievers": list(RETRIEVERS)},
        "sets": {},
    }
    quantised = tempfile.TemporaryDirectory(prefix="qa-int8-")
    run = encoders(Path(quantised.name))
    for set_name, (documents, questions) in eval_sets(squad).items():
        texts = [c.text for d in documents for c in chunk_document(d, Config())]
        entry: dict = {"documents": len(documents), "passages": len(texts), "questions": len(questions), "encoders": {}}
        reference = None
        for enc_name, encode in run.items():
            encode(texts[:4])  # warm
            started, cpu = time.perf_counter(), time.process_time()
            vectors = encode(texts)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            if reference is None:
                reference = vectors
            cosines = np.sum(vectors * reference, axis=1)
            with tempfile.TemporaryDirectory(prefix="qa-gates-") as tmp:
                metrics = retrieval(documents, questions, texts, vectors, Path(tmp) / "index")
            entry["encoders"][enc_name] = {"encode_s": seconds, "passages_per_s": len(texts) / seconds, "cpu_s": cpu,
                                           "passages_per_cpu_s": len(texts) / cpu,
                                           "cosine_to_float32": {"mean": float(cosines.mean()), "min": float(cosines.min())},
                                           "retrieval": metrics}
            print(f"[gates] {set_name} {enc_name}: {len(texts) / cpu:.1f} passages per CPU-second, cosine mean "
                  f"{cosines.mean():.6f}, " + ", ".join(f"{r} R@5 {metrics[r]['R@5']:.3f} MRR@10 {metrics[r]['MRR@10']:.3f}" for r in RETRIEVERS),
                  file=sys.stderr, flush=True)
        result["sets"][set_name] = entry
    quantised.cleanup()
    result["verdicts"] = verdicts(result)
    speed = {name: sum(s["passages"] for s in result["sets"].values()) / sum(s["encoders"][name]["cpu_s"] for s in result["sets"].values())
             for name in run}
    result["passages_per_cpu_s"] = speed
    result["speed_vs_float32"] = {name: speed[name] / speed["onnxruntime-float32"] for name in run}
    passing = [name for name, v in result["verdicts"].items() if v["pass"]]
    result["chosen"] = max(passing, key=lambda n: speed[n]) if passing else "onnxruntime-float32"
    result["loadavg_1m"] = os.getloadavg()[0]
    return result


def verdicts(result: dict) -> dict:
    """Per encoder: pass or the first gate it fails."""
    out = {}
    names = next(iter(result["sets"].values()))["encoders"]
    for name in names:
        failures = []
        for set_name, entry in result["sets"].items():
            ref, got = entry["encoders"]["onnxruntime-float32"], entry["encoders"][name]
            if got["cosine_to_float32"]["mean"] < MIN_MEAN_COSINE:
                failures.append(f"{set_name}: mean cosine {got['cosine_to_float32']['mean']:.4f} < {MIN_MEAN_COSINE}")
            for retriever in RETRIEVERS:
                for metric in GATED:
                    delta = got["retrieval"][retriever][metric] - ref["retrieval"][retriever][metric]
                    if abs(delta) > MAX_METRIC_DELTA:
                        failures.append(f"{set_name}: {retriever} {metric} moved by {delta:+.4f}")
        out[name] = {"pass": not failures, "failures": failures}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.precision_gates", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    default_squad = REPO.parent / "shared" / "eval" / "squad-v2.0-dev-a.json"
    p.add_argument("--squad", type=Path, default=default_squad if default_squad.exists() else None,
                   help="SQuAD 2.0 dev-a (its held-out articles are the second set); default ../shared/eval/squad-v2.0-dev-a.json")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "precision-gates.json")
    args = p.parse_args(argv)
    result = measure(args.squad)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, v in result["verdicts"].items():
        print(f"{name}: {'passes every gate' if v['pass'] else 'fails: ' + '; '.join(v['failures'])}")
    print(f"chosen for ingest on {result['cpu']}: {result['chosen']} (written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
