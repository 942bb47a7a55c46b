"""Smoke test of the benchmark: a tiny run end to end, and the IVF branch of the dense index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from qa.config import Config

REPO = Path(__file__).resolve().parent.parent


def test_ivf_index_matches_exact_search_on_clustered_vectors():
    import faiss

    from bench.vectors import ClusteredVectors
    from qa.store.dense import build_dense_index

    gen = ClusteredVectors(20_000, seed=3)
    vectors, queries = gen.passages(), gen.queries(50)
    config = Config().with_(ann_threshold=10_000)
    ivf = build_dense_index(vectors, config)
    assert isinstance(ivf, faiss.IndexIVFFlat) and ivf.ntotal == len(vectors)
    assert ivf.nprobe == min(config.ivf_nprobe, ivf.nlist)
    assert isinstance(build_dense_index(vectors[:10_000], config), faiss.IndexFlatIP)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.95
    # Deterministic: the same vectors give the same index.
    _, again = build_dense_index(vectors, config).search(queries, 10)
    assert np.array_equal(found, again)


def test_synthetic_documents_have_valid_chunk_offsets():
    from bench.synth import ArticleGenerator, build_documents

    docs, rows = build_documents(50)
    assert len(rows) == 50
    for r in rows:
        doc = docs[int(r["doc"])]
        assert 0 <= r["start"] < r["end"] <= len(doc.text)
    assert build_documents(50)[0][0].text == docs[0].text
    questions = ArticleGenerator().questions(20)
    assert len(set(questions)) == 20


def test_bench_smoke_run(tmp_path):
    out = tmp_path / "results.json"
    md = tmp_path / "table.md"
    cmd = [sys.executable, "-m", "bench", "--cold-runs", "1", "--warm-questions", "3", "--sizes", "400", "--docs", "2", "--repeats", "1", "--queries", "3",
           "--recall-queries", "20", "--ops", "1", "--api-requests", "4", "--api-limits", "2",
           "--out", str(out), "--markdown", str(md),
           "--copies-stories", "20", "--copies-sizes", "300", "--copies-new", "4", "--copies-ingest", "1"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    ingest = results["ingest"]
    assert ingest["chunks"] > 0 and ingest["bare_encode_s"] > 0 and ingest["reingest_s"] < ingest["ingest_s"]
    assert ingest["cosine_to_fp32"]["min"] > 0.99
    (scale,) = results["scales"]
    serve = scale["serve"]
    assert serve["latency"]["ask"]["n"] == 3 and serve["dense"]["ivf"]["recall_at_10"] > 0.9
    assert scale["build"]["index_bytes"] > 0
    update = scale["update"]
    assert update["add_one_article_s"] > 0 and update["segments_before_compaction"] >= 2
    assert "compacted" in update["compact_summary"]
    assert "| 400 |" in proc.stdout and md.read_text().startswith("Cold start")
    cold = results["cold_start"]["commands"]
    assert set(cold) == {"list", "search", "ask"} and all(c["median_s"] > 0 for c in cold.values())
    assert "| `qa ask` |" in proc.stdout
    api = results["api"]["limits"]["2"]
    assert api["errors"] == 0 and api["p95_ms"] >= api["p50_ms"] > 0 and "concurrent requests" in proc.stdout
    stories = results["stories"]
    assert stories["grouping"]["thresholds"]["0.3"]["archive_recall"] == 1.0
    (cost,) = stories["cost"]
    assert cost["documents"] == 300 and cost["detect_ms_median"] > 0
    assert stories["ingest_standin"]["on"]["docs_per_s"] > 0 and stories["ingest_model"]["off"]["docs_per_s"] > 0
    assert "| 300 |" in proc.stdout
