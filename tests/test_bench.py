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
    """Above ann_threshold the IVF holds codes; re-ranked from the vectors (as a segment searches)
    its top 10 is nearly the exact one on the bench's clustered vectors."""
    import faiss

    from bench.vectors import ClusteredVectors
    from qa.store.dense import DensePart, build_dense_index, holds_codes

    gen = ClusteredVectors(20_000, seed=3)
    vectors, queries = gen.passages(), gen.queries(50)
    config = Config().with_(ann_threshold=10_000)
    ivf = build_dense_index(vectors, config)
    assert holds_codes(ivf) and ivf.ntotal == len(vectors)
    assert ivf.nprobe == min(config.ivf_nprobe, ivf.nlist)
    assert isinstance(build_dense_index(vectors[:10_000], config), faiss.IndexFlatIP)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    part = DensePart(vectors, ivf, None, rerank_depth=config.rerank_depth)
    found = [[r for r, _ in part.top(q, 10)] for q in queries]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.95
    # Deterministic: the same vectors give the same index.
    assert faiss.serialize_index(build_dense_index(vectors, config)).tobytes() == faiss.serialize_index(ivf).tobytes()


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


def build_stage(workdir: Path, passages: int, part: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bench.worker", "build", "--passages", str(passages), "--segment-passages", str(part),
           "--workdir", str(workdir), "--json", str(workdir / "build.json")]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def segment_contents(index_dir: Path) -> list[dict]:
    """Every file of every live segment (sha256), the manifests without their time of writing, in order."""
    import hashlib

    from qa.store.index import open_index

    out = []
    for seg in open_index(index_dir, Config().with_(index_dir=index_dir)).segments:
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(seg.path.iterdir()) if p.name != "segment.json"}
        manifest = {k: v for k, v in seg.manifest.items() if k != "created"}
        out.append({"files": files, "manifest": manifest, "documents": [d.doc_id for d in seg_documents(index_dir, seg.name)]})
    return out


def seg_documents(index_dir: Path, name: str):
    from qa.store.catalog import Catalog

    catalog = Catalog.open(index_dir)
    try:
        return catalog.segment_documents(name)
    finally:
        catalog.close()


def test_a_killed_bench_build_continues_where_it_stopped_to_the_same_index(tmp_path):
    """The build stage writes its parts as committed segments: killed after the first part (while
    writing the second), the same command continues and ends with the index an uninterrupted build
    writes, segment for segment and byte for byte; the log shows progress, an ETA and the resume.
    A build of other settings into the same folder is refused."""
    import signal
    import time

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        folder.mkdir()
    assert build_stage(whole, 1200, 400).wait(timeout=600) == 0

    proc = build_stage(killed, 1200, 400)
    log = killed / "build-1200.log"
    deadline = time.monotonic() + 600
    while "part 1/3" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert build_stage(killed, 1200, 400).wait(timeout=600) == 0

    assert segment_contents(killed / "index-1200") == segment_contents(whole / "index-1200")
    text = log.read_text()
    assert "part 1/3" in text and "ETA" in text and "run 2, 1 part(s) already written, resuming" in text
    result = json.loads((killed / "build.json").read_text())
    assert result["runs"] == 2 and result["segments"] == 3 and result["part_passages"] == [400, 400, 400]
    assert result["parts_without_timings"] == 0 and result["build_cpu_s"] > 0

    # Killed in a later stage (which removes and adds): the same command gets past the whole build.
    from qa.pipeline import remove_documents

    config = Config().with_(index_dir=killed / "index-1200")
    remove_documents([seg_documents(config.index_dir, "s000001")[0].doc_id], config)
    assert build_stage(killed, 1200, 400).wait(timeout=600) == 0
    assert "run 3, 3 part(s) already written" in log.read_text()
    assert json.loads((killed / "build.json").read_text())["part_passages"] == [400, 400, 400]

    other = build_stage(whole, 1200, 300)  # other parts into the same folder: refused, not mixed
    assert other.wait(timeout=600) != 0 and "is a build of other settings" in other.stderr.read()
