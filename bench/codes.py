"""python -m bench.codes: which compressed codes for the IVF of a large segment (qa/store/dense.py).

    python -m bench.codes --passages 1000000 --codes flat,sq8,sq4,pq48,pqfs96

For synthetic clustered vectors (bench/vectors.py), each kind of IVF (nlist as qa.store.dense.ivf_lists,
nprobe from Config) is trained and filled, written to measure its size, and searched one
question at a time for R candidates, which are re-scored exactly from the float16 vectors, as
`qa.store.dense.DensePart.top` does; recall@10 is against exact search over the float32 vectors.
Prints one line per kind and depth, and writes them as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def make_ivf(kind: str, dim: int, nlist: int):
    import faiss

    quantizer = faiss.IndexFlatIP(dim)
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        return faiss.IndexIVFFlat(quantizer, dim, nlist, ip)
    if kind in ("sq8", "sq4"):
        qt = faiss.ScalarQuantizer.QT_8bit if kind == "sq8" else faiss.ScalarQuantizer.QT_4bit
        return faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qt, ip)
    if kind.startswith("pqfs"):  # 4-bit codes, SIMD "fast scan"
        return faiss.IndexIVFPQFastScan(quantizer, dim, nlist, int(kind[4:]), 4, ip)
    if kind.startswith("pq"):  # 8-bit codes
        return faiss.IndexIVFPQ(quantizer, dim, nlist, int(kind[2:]), 8, ip)
    raise SystemExit(f"unknown code kind {kind!r}: flat, sq8, sq4, pqM, pqfsM")


def main(argv: list[str] | None = None) -> int:
    from bench.vectors import ClusteredVectors
    from qa.config import Config
    from qa.store.dense import ivf_lists

    p = argparse.ArgumentParser(prog="python -m bench.codes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--passages", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--codes", default="flat,sq8,sq4,pq48,pqfs96")
    p.add_argument("--depths", default="10,50,100,200,400")
    p.add_argument("--out")
    args = p.parse_args(argv)
    config = Config()
    n = args.passages
    gen = ClusteredVectors(n, seed=0)
    vectors, queries = gen.passages(), gen.queries(args.queries)
    halves = vectors.astype(np.float16)
    exact = np.zeros((len(queries), 10), dtype=np.int64)
    best = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    for s in range(0, n, 200_000):
        scores = queries @ vectors[s : s + 200_000].T
        both = np.concatenate([best, scores], axis=1)
        ids = np.concatenate([exact, np.broadcast_to(s + np.arange(scores.shape[1]), scores.shape)], axis=1)
        top = np.argsort(-both, axis=1, kind="stable")[:, :10]
        best, exact = np.take_along_axis(both, top, 1), np.take_along_axis(ids, top, 1)
    nlist = ivf_lists(n, config)
    sample = np.sort(np.random.default_rng(1234).choice(n, min(n, nlist * config.ivf_train_per_list), replace=False))
    rows = []
    for kind in args.codes.split(","):
        import faiss

        index = make_ivf(kind, vectors.shape[1], nlist)
        index.cp.seed = 1234
        index.cp.max_points_per_centroid = config.ivf_train_per_list
        t = time.perf_counter()
        index.train(vectors[sample])
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        index.add(vectors)
        add_s = time.perf_counter() - t
        index.nprobe = config.ivf_nprobe
        with tempfile.TemporaryDirectory() as tmp:
            faiss.write_index(index, os.path.join(tmp, "i.faiss"))
            size = os.path.getsize(os.path.join(tmp, "i.faiss"))
        for depth in (int(d) for d in args.depths.split(",")):
            lat, found = [], []
            for q in queries:
                t = time.perf_counter()
                _, cand = index.search(q[None, :], depth)
                cand = np.sort(cand[0][cand[0] >= 0])
                found.append(cand[np.argsort(-(halves[cand].astype(np.float32) @ q), kind="stable")[:10]])
                lat.append(time.perf_counter() - t)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)]))
            row = {"codes": kind, "depth": depth, "recall_at_10": recall, "p50_ms": 1000 * float(np.median(lat)),
                   "index_mb": size / 2**20, "train_s": train_s, "add_s": add_s, "nlist": nlist, "nprobe": index.nprobe}
            rows.append(row)
            print(f"{kind:7s} R={depth:4d}: recall@10 {recall:.3f}, p50 {row['p50_ms']:.2f} ms, "
                  f"{row['index_mb']:,.0f} MB, train {train_s:.1f} s, add {add_s:.1f} s", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"passages": n, "queries": len(queries), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
