"""`qa ingest --ray`: on a local two-node Ray cluster (a head and one worker node, one CPU each)
it builds the same index as `qa ingest`: same documents, chunk ids and texts, vectors equal within
bfloat16 rounding, and the same answers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from qa.cli import main
from qa.config import Config
from qa.pipeline import QA, ingest_paths
from qa.store.index import open_index
from tests.conftest import CORPUS, NHK

pytestmark = pytest.mark.ray
# Enough articles for several per Ray task and actor batch (the equality checked does not grow with
# more); QA_TEST_RAY_ARTICLES=200 for a longer run.
ARTICLES = int(os.environ.get("QA_TEST_RAY_ARTICLES", "8"))


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from bench.synth import ArticleGenerator

    folder = tmp_path_factory.mktemp("generated")
    ArticleGenerator(seed=3).write_files(folder, ARTICLES)
    return folder


def test_ray_ingest_builds_the_same_index_as_qa_ingest(cluster, generated, tmp_path, embedder, capsys):
    from bench.synth import ArticleGenerator
    from qa.pipeline import RaySettings

    local = Config().with_(index_dir=tmp_path / "local")
    distributed = Config().with_(index_dir=tmp_path / "ray")
    ingest_paths([CORPUS, generated], local, embedder=embedder)
    report = ingest_paths([CORPUS, generated], distributed, ray=RaySettings(address=cluster.address))
    assert len(report.added) == ARTICLES + 2 and not report.skipped

    a, b = open_index(local.index_dir, local), open_index(distributed.index_dir, distributed)
    assert [d.doc_id for d in a.documents] == [d.doc_id for d in b.documents]
    assert a.documents == b.documents
    assert [a.chunk(i) for i in range(a.n_chunks)] == [b.chunk(i) for i in range(b.n_chunks)]
    cosines = np.sum(a.vectors * b.vectors, axis=1)
    assert cosines.min() >= 0.999, cosines.min()

    questions = ["first NATO secretary general to visit Armenia", *ArticleGenerator(seed=3).questions(3)]
    qa_a, qa_b = QA(local), QA(distributed)
    for question in questions:
        for kind in ("dense", "bm25", "hybrid"):
            assert [p.chunk.chunk_id for p in qa_a.search(question, k=5, retriever=kind)] == \
                   [p.chunk.chunk_id for p in qa_b.search(question, k=5, retriever=kind)], (kind, question)
        assert qa_a.ask(question).answer == qa_b.ask(question).answer
    assert qa_b.search(questions[0], k=1)[0].doc_id == NHK

    # The command line, against the same cluster: unchanged files cost nothing.
    assert main(["ingest", str(CORPUS), str(generated), "--ray", cluster.address, "--index", str(distributed.index_dir)]) == 0
    assert f"{ARTICLES + 2} unchanged; the index holds" in capsys.readouterr().out
