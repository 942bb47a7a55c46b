"""The index: incremental re-ingest, replacement of changed documents, remove, and mismatch checks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qa.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.store.index import current_version, open_index
from qa.store.lock import WriterLock
from tests.conftest import CORPUS, MASSIS, NHK


def test_bundled_index_contents(bundled_index):
    index = open_index(bundled_index.index_dir, bundled_index)
    assert [d.doc_id for d in index.documents] == [MASSIS, NHK]
    nhk = next(d for d in index.documents if d.doc_id == NHK)
    assert nhk.article.url == "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/" and nhk.article.date == "March 20, 2024"
    assert index.vectors.shape == (index.n_chunks, 384)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-4)
    assert index.settings["model_name"].endswith("all-MiniLM-L6-v2")
    records = index.document_records()
    assert {r.doc_id for r in records} == {MASSIS, NHK} and all(len(r.content_hash) == 64 for r in records)
    texts = [index.chunk(i).text for i in range(index.n_chunks)]
    for i in range(index.n_chunks):
        c = index.chunk(i)
        assert index.document(i).text[c.start : c.end] == c.text
    # No passage holds boilerplate, and no passage repeats another's sentences beyond the small overlap.
    for t in texts:
        for junk in ("Leave a Reply", "You May Also Like", "Similar Readings", "Read Count", "Newsletter", "URL:"):
            assert junk not in t
    assert len(set(texts)) == len(texts)


def test_reingest_unchanged_is_a_no_op(fresh_index, embedder):
    before = current_version(fresh_index.index_dir)
    report = ingest_paths([CORPUS], fresh_index, embedder=embedder)
    assert sorted(report.unchanged) == [MASSIS, NHK] and report.chunks_added == 0
    assert current_version(fresh_index.index_dir) == before


def test_changed_document_replaces_its_chunks(bundled_index, embedder, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    config = bundled_index.with_(index_dir=tmp_path / "index")
    ingest_paths([corpus], config, embedder=embedder)
    qa = QA(config)
    path = corpus / f"{MASSIS}.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("1994", "1996"), encoding="utf-8")
    report = ingest_paths([corpus], config, embedder=embedder)
    assert report.updated == [MASSIS] and report.unchanged == [NHK] and report.chunks_added == 5
    for kind in ("dense", "bm25", "hybrid"):
        texts = " ".join(p.text for p in qa.search("Partnership for Peace program", k=20, retriever=kind))
        assert "1996" in texts and "1994" not in texts
    assert sorted(d.doc_id for d in qa.documents()) == [MASSIS, NHK]
    assert open_index(config.index_dir, config).n_chunks == 9


def test_same_stem_from_two_folders_gets_distinct_ids(fresh_index, embedder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / f"{NHK}.txt").write_text("A different story about a bridge in Lisbon opening to traffic.", encoding="utf-8")
    report = ingest_paths([other], fresh_index, embedder=embedder)
    [new_id] = report.added
    assert new_id.startswith(NHK + "-") and new_id != NHK
    assert len(QA(fresh_index).documents()) == 3


def test_remove_takes_passages_out_of_every_retriever(fresh_index):
    remove_documents([MASSIS], fresh_index)
    qa = QA(fresh_index)
    assert [d.doc_id for d in qa.documents()] == [NHK]
    for kind in ("dense", "bm25", "hybrid"):
        hits = qa.search("Mirzoyan Partnership for Peace 1994", k=10, retriever=kind)
        assert all(h.doc_id == NHK for h in hits)


def test_remove_unknown_id_is_a_clear_error(fresh_index):
    from qa.errors import BadInputError

    with pytest.raises(BadInputError, match="qa list"):
        remove_documents(["no-such-doc"], fresh_index)


def test_mismatched_settings_say_how_to_rebuild(bundled_index):
    with pytest.raises(IndexMismatchError, match="chunk_tokens=128.*--rebuild"):
        open_index(bundled_index.index_dir, bundled_index.with_(chunk_tokens=200))
    with pytest.raises(IndexMismatchError, match="model_name"):
        open_index(bundled_index.index_dir, bundled_index.with_(model_name="other/model"))


def test_missing_index(tmp_path, bundled_index):
    with pytest.raises(IndexMissingError, match="qa ingest"):
        open_index(tmp_path / "nowhere", bundled_index)


def test_edited_part_is_detected(fresh_index):
    docs = fresh_index.index_dir / "segments" / "s000001" / "documents.jsonl"
    docs.write_text(docs.read_text(encoding="utf-8").replace("Stoltenberg", "Stoltenbarg"), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="documents.jsonl.*rebuild"):
        open_index(fresh_index.index_dir, fresh_index)


def test_large_segments_open_by_sizes_and_counts_and_check_names_the_damaged_part(fresh_index, capsys):
    """Open hashes only segments up to `open_verify_bytes`; `qa check` hashes everything."""
    from qa.cli import main

    docs = fresh_index.index_dir / "segments" / "s000001" / "documents.jsonl"
    data = docs.read_bytes()
    docs.write_bytes(data.replace(b"Stoltenberg", b"Stoltenbarg"))  # same size, other bytes
    fast = fresh_index.with_(open_verify_bytes=0)
    index = open_index(fresh_index.index_dir, fast)  # sizes and counts agree: opens
    # ...but a damaged document is never returned: its line's CRC is checked when it is read.
    with pytest.raises(IndexCorruptError, match="documents.jsonl.*damaged.*rebuild"):
        [index.document(row) for row in range(index.n_chunks)]
    assert main(["check", "--index", str(fresh_index.index_dir)]) == 1
    err = capsys.readouterr().err
    assert f"damaged: {docs}: damaged (checksum differs" in err and "--rebuild" in err
    docs.write_bytes(data)
    assert main(["check", "--index", str(fresh_index.index_dir)]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 segments")


def test_second_writer_is_refused(fresh_index):
    with WriterLock(fresh_index.index_dir), pytest.raises(IndexLockedError, match="another qa process"):
        remove_documents([MASSIS], fresh_index)


def test_search_puts_nhk_first_for_the_demo_question(bundled_index):
    qa = QA(bundled_index)
    for kind in ("dense", "bm25", "hybrid"):
        hits = qa.search("first NATO secretary general to visit Armenia", k=3, retriever=kind)
        assert hits[0].doc_id == NHK, kind
        assert hits[0].article.url == "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/"
        assert "first NATO secretary general" in hits[0].text


def test_pruned_bm25_equals_scoring_every_row():
    """`bm25_top` skips the postings of common terms once they cannot change the top k (MaxScore):
    its ranking and scores must be those of scoring every live row with the BM25 formula."""
    from collections import Counter

    from bench.synth import ArticleGenerator, build_documents
    from qa.config import Config
    from qa.store.lexical import LexicalPart, bm25_top, build_postings
    from qa.terms import terms_of_many

    K1, B = Config().bm25_k1, Config().bm25_b
    docs, rows = build_documents(600)
    texts = [docs[int(r["doc"])].text[int(r["start"]) : int(r["end"])] for r in rows]
    alive = [None, np.random.default_rng(1).random(200) > 0.2]
    parts = [LexicalPart.of(build_postings(texts[:400]), alive[0]), LexicalPart.of(build_postings(texts[400:]), alive[1])]
    live = [(0, r, t) for r, t in enumerate(texts[:400])] + [(1, r, t) for r, t in enumerate(texts[400:]) if alive[1][r]]
    words = {(p, r): Counter(w) for (p, r, _), w in zip(live, terms_of_many([t for _, _, t in live]))}
    avg = sum(sum(c.values()) for c in words.values()) / len(live)
    for question in ArticleGenerator(seed=2).questions(15) + ["the harbour ferry said said", "zzzunseen ferry"]:
        query = terms_of_many([question])[0]
        df = {t: sum(1 for c in words.values() if t in c) for t in set(query)}
        expected = []
        for (p, r), c in words.items():
            norm = K1 * (1 - B + B * sum(c.values()) / avg)
            score = sum(np.log1p((len(live) - df[t] + 0.5) / (df[t] + 0.5)) * c[t] / (c[t] + norm) for t in query if c[t])
            if score > 0:
                expected.append((p, r, score))
        expected.sort(key=lambda e: (-e[2], e[0], e[1]))
        for k in (1, 5, 50):
            found = bm25_top(parts, query, k)
            assert [(p, r) for p, r, _ in found] == [(p, r) for p, r, _ in expected[:k]], (question, k)
            assert [s for _, _, s in found] == pytest.approx([s for _, _, s in expected[:k]], rel=1e-9)
