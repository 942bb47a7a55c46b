"""Removal: a removed or changed document leaves the dense, BM25 and hybrid retrievers at once,
for a reader held across the writes and for a new one; no chunk or document keeps its old words."""

from __future__ import annotations

from qa.pipeline import QA, ingest_paths
from qa.retrieve import RETRIEVERS
from qa.store.index import open_index
from tests.conftest import MASSIS, NHK
from tests.reliability import assert_clean_exit, copy_index, run_qa, write_article


def test_removed_and_changed_documents_leave_dense_bm25_and_hybrid(bundled_index, tmp_path, embedder):
    config = copy_index(bundled_index, tmp_path / "index")
    articles = tmp_path / "articles"
    write_article(
        articles / "lighthouse.txt",
        "The Quillmarsh lighthouse keepers voted on Thursday to restore the copper lantern room.",
        "Repairs to the Quillmarsh tower will start in May and close the cliff path for six weeks.",
    )
    festival = write_article(
        articles / "festival.txt",
        "The Vintrabelle lantern parade will cross the old town on Saturday night, organisers said.",
        "Thousands of paper lanterns were folded by school children for the Vintrabelle parade.",
    )
    report = ingest_paths([articles], config, embedder=embedder)
    assert sorted(report.added) == ["festival", "lighthouse"]

    held = QA(config)  # held across both writes below
    for kind in RETRIEVERS:
        assert held.search("Quillmarsh lighthouse keepers", k=1, retriever=kind)[0].doc_id == "lighthouse"
        assert held.search("Vintrabelle lantern parade", k=1, retriever=kind)[0].doc_id == "festival"

    removed = run_qa("remove", "lighthouse", "--index", str(config.index_dir))
    assert_clean_exit(removed, allowed=(0,))
    assert "1 removed" in removed.stdout

    write_article(
        festival,
        "The Oskarveld kite festival will fill the old town square on Saturday, organisers said.",
        "Thousands of paper kites were folded by school children for the Oskarveld festival.",
    )
    report = ingest_paths([festival], config, embedder=embedder)
    assert report.updated == ["festival"] and not report.added

    gone = ("Quillmarsh", "Vintrabelle")
    for qa in (held, QA(config)):
        assert sorted(d.doc_id for d in qa.documents()) == sorted([MASSIS, NHK, "festival"])
        for kind in RETRIEVERS:
            for question in ("Quillmarsh lighthouse keepers copper lantern", "Vintrabelle lantern parade", "Quillmarsh", "Vintrabelle"):
                hits = qa.search(question, k=50, retriever=kind)
                assert all(h.doc_id != "lighthouse" for h in hits), (kind, question)
                assert not any(word in h.text for h in hits for word in gone), (kind, question)
            assert qa.search("Oskarveld kite festival", k=1, retriever=kind)[0].doc_id == "festival"
        assert qa.search("Vintrabelle", retriever="bm25") == [] and qa.search("Quillmarsh", retriever="bm25") == []
    index = open_index(config.index_dir, config)
    assert not any(word in text for text in index.chunk_texts() for word in gone)
    assert not any(word in d.text for d in index.documents for word in gone)


