"""The index writer: segments and tombstones rank exactly as one index, compaction (manual and past
`max_segments`), kept states with `qa versions` / `qa rollback`, refusals of writes that would drop
the index, and clean-up after a killed writer that never touches the live state."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.config import Config
from qa.errors import BadInputError
from qa.pipeline import QA, ingest_paths, remove_documents
from qa.store.index import check_index, current_version, list_versions, open_index
from qa.store.writer import compact, pick_merge, rollback
from qa.terms import terms
from tests.conftest import MASSIS, NHK
from tests.reliability import run_cli

QUESTIONS = [
    "first NATO secretary general to visit Armenia",
    "Partnership for Peace program 1994",
    "Kremlin spokesperson",
    "Brackenford library roof repairs",
    "mayor said the library would stay open late",
]


def write_article(path: Path, *paragraphs: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


def town_articles(root: Path, towns: list[str]) -> Path:
    for n, town in enumerate(towns):
        write_article(
            root / f"{town.lower()}.txt",
            f"The {town} town council opened a new public library on Monday after {n + 3} years of work.",
            f"Mayor Ellen Varga said the library in {town} would stay open late on weekdays for students.",
        )
    return root


def segment_names(config: Config) -> list[str]:
    return [s.name for s in open_index(config.index_dir, config).segments]


def rankings(config: Config) -> dict:
    """Chunk ids and scores of every retriever for QUESTIONS, through a fresh QA."""
    qa = QA(config)
    return {
        (kind, q): [(p.chunk.chunk_id, round(p.score, 5)) for p in qa.search(q, k=8, retriever=kind)]
        for kind in ("dense", "bm25", "hybrid")
        for q in QUESTIONS
    }


@pytest.fixture
def grown_index(bundled_index, embedder, tmp_path) -> Config:
    """Three ingests (three segments), one article changed (a tombstone and a new row) and one removed."""
    config = bundled_index.with_(index_dir=tmp_path / "index")
    shutil.copytree(bundled_index.index_dir, config.index_dir)
    towns = town_articles(tmp_path / "towns", ["Aldmere", "Brackenford", "Corrowick"])
    ingest_paths([towns], config, embedder=embedder)
    write_article(towns / "brackenford.txt", "The Brackenford library closed for repairs to its roof on Friday.")
    ingest_paths([towns / "brackenford.txt"], config, embedder=embedder)
    remove_documents(["corrowick"], config)
    return config


def test_segments_with_tombstones_rank_exactly_as_the_compacted_index(grown_index):
    index = open_index(grown_index.index_dir, grown_index)
    assert len(index.segments) == 3 and index.state.tombstones  # corpus, towns, the changed article
    assert [d.doc_id for d in index.documents] == [MASSIS, NHK, "aldmere", "brackenford"]
    before = rankings(grown_index)
    assert before[("bm25", "Brackenford library roof repairs")][0][0].startswith("brackenford#")
    assert not any("corrowick" in cid for ranking in before.values() for cid, _ in ranking)

    assert compact(grown_index.index_dir, grown_index).startswith("compacted 3 segments into 1")
    index = open_index(grown_index.index_dir, grown_index)
    assert len(index.segments) == 1 and not index.state.tombstones
    assert [d.doc_id for d in index.documents] == [MASSIS, NHK, "aldmere", "brackenford"]
    assert rankings(grown_index) == before  # same chunks, same order, same scores
    assert check_index(grown_index.index_dir, grown_index).problems == []


def test_compact_on_the_command_line(grown_index, capsys):
    assert main(["compact", "--index", str(grown_index.index_dir)]) == 0
    assert "compacted 3 segments into 1" in capsys.readouterr().out
    assert main(["compact", "--index", str(grown_index.index_dir)]) == 0
    assert "nothing to compact" in capsys.readouterr().out


def test_past_max_segments_the_smallest_segments_are_merged(fresh_index, embedder, tmp_path):
    config = fresh_index.with_(max_segments=3)
    towns = ["Dunhallow", "Elderbeck", "Fennimoor", "Glastonmere", "Hollowcrest", "Ivybridge"]
    for town in towns:
        ingest_paths([town_articles(tmp_path / town, [town])], config, embedder=embedder)
        assert len(segment_names(config)) <= 3
    _, versions = list_versions(config.index_dir)
    assert any(v.action == "compact" for v in versions)
    qa = QA(config)
    for town in towns:
        assert qa.search(f"library in {town}", k=1, retriever="bm25")[0].doc_id == town.lower()
    assert [d.doc_id for d in qa.documents()][:2] == [MASSIS, NHK]


def test_merge_policy_takes_the_smallest_segments_while_they_grow_geometrically():
    assert pick_merge([100, 5, 5], max_segments=3) == []
    assert pick_merge([1_000_000, 5, 6, 7, 4], max_segments=4) == [1, 2, 3, 4]
    assert pick_merge([1_000_000, 900, 1000, 5, 5], max_segments=4) == [3, 4]  # 900 > 5 + 5: not yet
    assert pick_merge([1_000_000, 900, 1000, 700, 300], max_segments=4) == [1, 2, 3, 4]
    assert pick_merge([1_000_000, 50_000, 5, 5], max_segments=3) == [2, 3]


def test_versions_and_rollback_restore_kept_states(fresh_index, embedder, tmp_path, capsys):
    index = str(fresh_index.index_dir)
    ingest_paths([town_articles(tmp_path / "t", ["Jarrowfield"])], fresh_index, embedder=embedder)
    remove_documents([MASSIS], fresh_index)
    assert main(["versions", "--index", index]) == 0
    out = capsys.readouterr().out
    assert "  v000001 " in out and "  v000002 " in out and "* v000003 " in out and "remove" in out

    assert main(["rollback", "--index", index]) == 0  # to the state before the live one
    assert "restored v000002 as v000004" in capsys.readouterr().out
    assert sorted(d.doc_id for d in QA(fresh_index).documents()) == ["jarrowfield", MASSIS, NHK]
    assert main(["rollback", "v000001", "--index", index]) == 0
    assert sorted(d.doc_id for d in QA(fresh_index).documents()) == [MASSIS, NHK]
    assert main(["rollback", "v000003", "--index", index]) == 0  # a rollback can be undone too
    assert sorted(d.doc_id for d in QA(fresh_index).documents()) == ["jarrowfield", NHK]

    assert main(["rollback", "v000099", "--index", index]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no kept state 'v000099'" in err and "kept: v000002, v000003" in err
    assert check_index(fresh_index.index_dir, fresh_index).problems == []


def test_rebuild_from_a_typo_is_refused_and_changes_nothing(fresh_index, capsys):
    """`qa ingest TYPO --rebuild` used to publish an empty index, and the next write deleted the old one."""
    before = current_version(fresh_index.index_dir)
    assert main(["ingest", "TYPO", "--rebuild", "--index", str(fresh_index.index_dir)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refusing to rebuild" in errors[0] and "TYPO" in errors[0]
    assert current_version(fresh_index.index_dir) == before
    assert sorted(d.doc_id for d in QA(fresh_index).documents()) == [MASSIS, NHK]
    with pytest.raises(BadInputError, match="refusing to rebuild the index from nothing"):
        from qa.store.update import update_index

        update_index(fresh_index.index_dir, [], fresh_index, rebuild=True)


def test_rebuild_that_would_drop_most_documents_needs_force(fresh_index, embedder, tmp_path):
    ingest_paths([town_articles(tmp_path / "t", ["Kestrelton", "Larkspur"])], fresh_index, embedder=embedder)
    one = town_articles(tmp_path / "one", ["Kestrelton"])
    with pytest.raises(BadInputError, match="would drop 3 of the 4 indexed documents.*--force"):
        ingest_paths([one], fresh_index, rebuild=True, embedder=embedder)
    assert len(QA(fresh_index).documents()) == 4
    report = ingest_paths([one], fresh_index, rebuild=True, embedder=embedder, force=True)
    assert report.total_documents == 1
    rollback(fresh_index.index_dir, fresh_index)  # the previous state is kept
    assert len(QA(fresh_index).documents()) == 4


def test_old_states_are_collected_but_never_the_live_one(fresh_index, embedder, tmp_path):
    config = fresh_index.with_(keep_versions=2)
    for town in ["Aldmere", "Brackenford", "Corrowick"]:
        ingest_paths([town_articles(tmp_path / town, [town])], config, embedder=embedder)
    live, versions = list_versions(config.index_dir)
    assert [v.name for v in versions] == ["v000003", "v000004"] and live == "v000004"
    rollback(config.index_dir, config, "v000003")  # back to the older kept state ...
    for town in ["Dunhallow", "Elderbeck"]:  # ... then more writes collect old states again
        ingest_paths([town_articles(tmp_path / town, [town])], config, embedder=embedder)
    assert sorted(d.doc_id for d in QA(config).documents()) == sorted(
        [MASSIS, NHK, "aldmere", "brackenford", "dunhallow", "elderbeck"]
    )
    report = check_index(config.index_dir, config)
    assert report.problems == []
    on_disk = {p.name for p in (config.index_dir / "segments").iterdir()}
    live, versions = list_versions(config.index_dir)
    assert on_disk == {s for v in versions for s in v.segments}


def test_leftovers_of_a_killed_writer_are_cleared_and_the_live_state_kept(fresh_index, embedder, tmp_path):
    """A writer killed after renaming its segment into place, before the catalog named it, leaves
    an orphan; the next write clears it (and `.tmp-*` leftovers) and keeps every live document."""
    segments = fresh_index.index_dir / "segments"
    shutil.copytree(segments / "s000001", segments / "s000007")  # renamed, never committed
    (fresh_index.index_dir / ".tmp-s000008-999999").mkdir()  # half written
    (fresh_index.index_dir / ".tmp-catalog-999999.sqlite").write_bytes(b"half a catalog")
    assert [d.doc_id for d in QA(fresh_index).documents()] == [MASSIS, NHK]  # readers ignore them
    ingest_paths([town_articles(tmp_path / "t", ["Ivybridge"])], fresh_index, embedder=embedder)
    names = sorted(p.name for p in fresh_index.index_dir.iterdir())
    assert not [n for n in names if n.startswith(".tmp-")], names
    conn = sqlite3.connect(fresh_index.index_dir / "catalog.sqlite")
    known = {row[0] for row in conn.execute("SELECT name FROM segment")}
    conn.close()
    assert {p.name for p in segments.iterdir()} == known
    assert [d.doc_id for d in QA(fresh_index).documents()] == [MASSIS, NHK, "ivybridge"]
    assert check_index(fresh_index.index_dir, fresh_index).problems == []


def test_documents_keep_every_field(fresh_index, embedder, tmp_path):
    """Documents are stored whole (every dataclass field), so fields added later persist."""
    path = tmp_path / "wire.jsonl"
    path.write_text('{"title": "Ferry strike", "text": "The ferry to Tallinn will not sail this week, the union said.", '
                    '"url": "https://example.org/ferry", "date": "2024-03-02"}\n', encoding="utf-8")
    ingest_paths([path], fresh_index, embedder=embedder)
    index = open_index(fresh_index.index_dir, fresh_index)
    doc = index.documents[-1]
    stored = open_index(fresh_index.index_dir, fresh_index).document(index.n_chunks - 1)
    assert stored == doc and stored.article.url == "https://example.org/ferry" and stored.article.date == "2024-03-02"
    assert stored.content_hash and isinstance(stored.meta, dict)


class CountingEmbedder:
    """Random unit vectors of the model's size; counts the calls (no model loaded)."""

    def __init__(self):
        self.calls = 0

    def encode_passages(self, texts, show_progress=False):
        import numpy as np

        self.calls += 1
        v = np.random.default_rng(self.calls).standard_normal((len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_long_ingest_also_publishes_every_segment_seconds(tmp_path):
    """Past `segment_seconds` since the last publish, what is embedded is published (here: after
    every document), so a killed ingest loses at most that many minutes."""
    towns = town_articles(tmp_path / "t", [f"Town{chr(97 + i)}{chr(97 + j)}" for i in range(3) for j in range(4)])
    config = Config().with_(index_dir=tmp_path / "index", batch_size=1, segment_seconds=0, max_segments=100)
    embedder = CountingEmbedder()
    report = ingest_paths([towns], config, embedder=embedder)
    assert embedder.calls == 3 and report.segments_published == 12  # 12 one-chunk articles, 4 per call
    assert len(segment_names(config)) == 12
    assert len(list_versions(config.index_dir)[1]) == 1  # intermediate states of one write are not kept


def test_compressed_segment_reranks_exactly_and_merges_with_float32_segments(tmp_path):
    """Past `compress_threshold` a segment stores float16 vectors and IVF-PQ codes: its search
    re-ranks the codes' candidates with the float16 vectors (recall near exact), tombstones are
    skipped, `qa check` passes, and merging float32 segments into it keeps every chunk's CRC."""
    from bench.synth import build_documents
    from bench.vectors import ClusteredVectors
    from qa.store.segment import CHUNK_DTYPE
    from qa.store.writer import IndexWriter

    config = Config().with_(index_dir=tmp_path / "index", ann_threshold=1000, compress_threshold=1500,
                            rerank_depth=100, max_segments=10)
    docs, rows = build_documents(3000)
    gen = ClusteredVectors(3000, seed=5)
    vectors, queries = gen.passages(), gen.queries(40)
    with IndexWriter(config.index_dir, config) as writer:
        writer.publish(docs, rows, vectors)
    index = open_index(config.index_dir, config)
    (seg,) = index.segments
    assert seg.manifest["dense"] == "ivf-pq" and seg.vectors.dtype == np.float16 and seg.ivf.ntotal == 3000
    exact = vectors.astype(np.float16).astype(np.float32) @ queries.T
    recall = np.mean([len({r for r, _ in index.search_dense(q, 10)} & set(np.argsort(-exact[:, i])[:10])) / 10
                      for i, q in enumerate(queries)])
    assert recall >= 0.95
    row, score = index.search_dense(queries[0], 1)[0]
    assert score == pytest.approx(float(exact[row, 0]), abs=1e-5)  # re-ranked: the exact score, not the code's

    # A small float32 segment beside it, a tombstone, then everything merged into one float16 segment.
    extra_docs, extra_rows = build_documents(20, seed=9)
    extra_docs = [replace(d, article=replace(d.article, doc_id=f"extra-{i}"), source=f"extra-{i}") for i, d in enumerate(extra_docs)]
    with IndexWriter(config.index_dir, config) as writer:
        writer.publish(extra_docs, extra_rows.astype(CHUNK_DTYPE), ClusteredVectors(20, seed=9).passages())
    victim = docs[int(rows[int(index.search_dense(queries[1], 1)[0][0])]["doc"])].doc_id
    remove_documents([victim], config)
    index = open_index(config.index_dir, config)
    assert [s.vectors.dtype for s in index.segments] == [np.float16, np.float32]
    assert all(index.document(r).doc_id != victim for r, _ in index.search_dense(queries[1], 50))
    assert not check_index(config.index_dir, config).problems
    compact(config.index_dir, config)
    merged = open_index(config.index_dir, config)
    assert len(merged.segments) == 1 and merged.segments[0].vectors.dtype == np.float16
    assert merged.n_chunks == index.n_chunks
    assert not check_index(config.index_dir, config).problems
    assert [merged.chunk(r).text for r in range(merged.n_chunks - 20, merged.n_chunks)] == \
        [index.chunk(r).text for r in range(index.n_chunks - 20, index.n_chunks)]


# ---------------------------------------------------------------- memory budget, streaming merges, vectors once


def synthetic_segments(config: Config, sizes: list[int], seed: int = 2) -> list:
    """Publish one segment of `sizes[i]` synthetic passages per size (bench/synth.py text, clustered
    vectors); returns each segment's documents."""
    from bench.synth import build_documents
    from bench.vectors import ClusteredVectors
    from qa.store.writer import IndexWriter

    published = []
    for part, n in enumerate(sizes):
        docs, rows = build_documents(n, seed=seed, block=part)
        with IndexWriter(config.index_dir, config) as writer:
            writer.publish(docs, rows, ClusteredVectors(n, seed=seed).passages_block(part, n))
        published.append(docs)
    return published


def budget_of(monkeypatch, chunks: int) -> Config:
    """A config whose memory budget holds segments of at most `chunks` chunks (64 MB, the least
    Config.segment_memory_mb takes, with the bytes a chunk takes raised to match)."""
    import qa.config

    monkeypatch.setattr(qa.config, "SEGMENT_BYTES_PER_CHUNK", 64 * 2**20 // chunks)
    return Config().with_(segment_memory_mb=64, segment_chunks=100)


def test_the_memory_budget_sets_the_largest_segment(monkeypatch):
    from qa.config import SEGMENT_BYTES_PER_CHUNK
    from qa.errors import ConfigError

    assert Config().max_segment_chunks == Config().segment_memory_mb * 2**20 // SEGMENT_BYTES_PER_CHUNK
    assert budget_of(monkeypatch, 1000).max_segment_chunks == 1000
    with pytest.raises(ConfigError, match=r"segment_memory_mb \(64\) holds segments of at most 1000 chunks, fewer than "
                                          r"segment_chunks \(4000\)"):
        Config().with_(segment_memory_mb=64)
    with pytest.raises(ConfigError, match="segment_memory_mb must be a whole number >= 64"):
        Config().with_(segment_memory_mb=10)


def test_merges_never_make_a_segment_over_the_memory_budget():
    assert pick_merge([1_000_000, 5, 6, 7, 4], max_segments=3, limit=20) == [1, 2, 4]  # 4 + 5 + 6 = 15; + 7 > 20
    assert pick_merge([1_000_000, 5, 6, 7, 4], max_segments=4, limit=20) == []  # 1,000,000 is full: 4 are not
    # Full segments (at least half the limit) are never merged again, however many there are: an
    # article added to a large index is not merged into one of them.
    assert pick_merge([600, 600, 600, 5], max_segments=3, limit=1000) == []
    assert pick_merge([600, 700, 800, 900, 5, 6], max_segments=1, limit=1000) == [4, 5]
    assert pick_merge([400, 450, 300], max_segments=2, limit=1000) == [0, 2]  # 300 + 400; + 450 > 700
    from qa.store.writer import pack_segments

    assert pack_segments([400, 300, 500, 200, 1200, 10], limit=1000) == [[0, 1], [2, 3], [4], [5]]
    assert pack_segments([], limit=10) == []


def test_a_publish_over_the_memory_budget_is_refused_before_writing(fresh_index, monkeypatch):
    from bench.synth import build_documents
    from qa.store.writer import IndexWriter

    config = budget_of(monkeypatch, 1000).with_(index_dir=fresh_index.index_dir)
    docs, rows = build_documents(1001)
    before = current_version(config.index_dir)
    with IndexWriter(config.index_dir, config) as writer, pytest.raises(ValueError, match="at most 1000"):
        writer.publish(docs, rows, np.zeros((1001, 384), np.float32))
    assert current_version(config.index_dir) == before


def test_full_compaction_packs_segments_within_the_budget_and_ranks_the_same(tmp_path, monkeypatch):
    from bench.vectors import ClusteredVectors

    config = budget_of(monkeypatch, 1000).with_(index_dir=tmp_path / "index", max_segments=10)
    docs = synthetic_segments(config, [400, 300, 500, 200])
    remove_documents([docs[2][5].doc_id], config)
    index = open_index(config.index_dir, config)
    queries = ClusteredVectors(1400, seed=2).queries(5)
    words = [terms(docs[0][i].article.title) for i in (0, 9)]

    def ranked(index):
        return ([[(index.chunk(r).chunk_id, round(s, 6)) for r, s in index.search_dense(q, 10)] for q in queries],
                [[(index.chunk(r).chunk_id, s) for r, s in index.search_lexical(t, 10)] for t in words])

    before = ranked(index)
    assert compact(config.index_dir, config).startswith("compacted 4 segments into 2 ")
    after = open_index(config.index_dir, config)
    assert after.live_counts == [700, index.live_counts[2] + 200] and not after.state.tombstones
    assert ranked(after) == before
    assert check_index(config.index_dir, config).problems == []
    assert compact(config.index_dir, config).startswith("nothing to compact: 2 segments, each as large as")


@pytest.mark.parametrize("settings", [{}, {"ann_threshold": 1000, "compress_threshold": 1500}],
                         ids=["flat", "float32 into float16"])
def test_a_streamed_merge_writes_what_the_in_memory_merge_wrote(tmp_path, monkeypatch, settings):
    """Compaction copies documents, chunks and vectors a block at a time and remaps postings a
    run of terms at a time (blocks made tiny here); the merged segment is byte for byte what the
    merge that held everything in memory wrote: the live rows concatenated, postings merged, the
    CRC of each chunk whose vector was rounded to float16 taken again from its text."""
    import qa.store.lexical
    import qa.store.writer
    from qa.store.dense import dense_kind, stored_vectors
    from qa.store.lexical import merge_postings
    from qa.store.segment import CHUNK_DTYPE, chunk_crc, document_from_line, write_segment

    config = Config().with_(index_dir=tmp_path / "index", **settings)
    docs = synthetic_segments(config, [1500, 1000, 700])
    remove_documents([docs[0][3].doc_id, docs[0][40].doc_id, docs[2][0].doc_id], config)
    index = open_index(config.index_dir, config)
    lines, rows, vectors, parts = [], [], [], []
    for seg, alive in zip(index.segments, index.alive):
        dead = index.state.tombstones.get(seg.name, frozenset())
        new_doc = np.cumsum([r not in dead for r in range(seg.n_documents)]) - 1 + len(lines)
        lines += [bytes(seg.doc_line(r)) for r in range(seg.n_documents) if r not in dead]
        keep = np.ones(seg.n_chunks, bool) if alive is None else alive
        moved = np.array(seg.chunks)[keep]
        moved["doc"] = new_doc[moved["doc"]]
        rows.append(moved)
        vectors.append(np.asarray(seg.vectors, dtype=np.float32)[keep])
        parts.append((seg.postings, alive))
    rows, vectors = np.concatenate(rows), np.concatenate(vectors)
    stored = stored_vectors(vectors, dense_kind(len(rows), config))
    crcs = rows["crc32"].copy()
    for i in np.flatnonzero(np.any(stored != vectors, axis=1)):
        text = document_from_line(lines[rows[i]["doc"]]).text
        crcs[i] = chunk_crc(text[rows[i]["start"] : rows[i]["end"]], stored[i])
    plain = np.zeros(len(rows), CHUNK_DTYPE)
    for key in CHUNK_DTYPE.names:
        plain[key] = rows[key]
    write_segment(tmp_path / "in-memory", "s000099", lines, plain, stored, merge_postings(parts), config, crcs)

    monkeypatch.setattr(qa.store.writer, "_MERGE_CHUNKS", 256)
    monkeypatch.setattr(qa.store.lexical, "_MERGE_POSTINGS", 5000)
    compact(config.index_dir, config)
    (merged,) = open_index(config.index_dir, config).segments
    expected = sorted(p.name for p in (tmp_path / "in-memory").iterdir())
    assert sorted(p.name for p in merged.path.iterdir()) == expected
    assert merged.manifest["dense"] == ("flat" if not settings else "ivf-pq")
    for name in expected:
        if name != "segment.json":
            assert (merged.path / name).read_bytes() == (tmp_path / "in-memory" / name).read_bytes(), name
    assert check_index(config.index_dir, config).problems == []


def test_an_ivf_segment_stores_its_vectors_once_and_qa_check_catches_damage_to_them(tmp_path):
    """Above `ann_threshold` a float32 segment's dense.faiss holds 4-bit codes (not a second copy of
    the vectors); its candidates are re-ranked from vectors.npy, the one copy, to the exact score;
    `qa check` names vectors.npy when a byte of it changes."""
    from bench.vectors import ClusteredVectors
    from qa.store.dense import holds_codes

    config = Config().with_(index_dir=tmp_path / "index", ann_threshold=1000)
    synthetic_segments(config, [3000])
    index = open_index(config.index_dir, config)
    (seg,) = index.segments
    assert seg.manifest["dense"] == "ivf" and seg.vectors.dtype == np.float32 and holds_codes(seg.ivf)
    assert seg.rerank_depth == config.rerank_depth
    files = seg.manifest["files"]
    assert files["dense.faiss"]["size"] * 10 < files["vectors.npy"]["size"]  # 48-byte codes, not 1,536-byte vectors
    queries = ClusteredVectors(3000, seed=2).queries(20)
    exact = np.asarray(seg.vectors) @ queries.T
    found = [index.search_dense(q, 10) for q in queries]
    assert np.mean([len({r for r, _ in f} & set(np.argsort(-exact[:, i])[:10])) / 10 for i, f in enumerate(found)]) >= 0.95
    assert found[0][0][1] == pytest.approx(float(exact[found[0][0][0], 0]), abs=1e-6)

    data = bytearray((seg.path / "vectors.npy").read_bytes())
    data[len(data) // 2] ^= 0x01
    (seg.path / "vectors.npy").write_bytes(bytes(data))
    problems = check_index(config.index_dir, config).problems
    assert problems and all("vectors.npy" in p for p in problems)


def test_vectors_handed_over_as_stored_write_the_same_segment(tmp_path):
    """The bench hands a compressed segment's vectors over already as float16 (not held twice):
    the segment written is byte for byte the one written from the float32 vectors."""
    from bench.synth import build_documents
    from bench.vectors import ClusteredVectors
    from qa.store.writer import IndexWriter

    docs, rows = build_documents(1600)
    vectors = ClusteredVectors(1600, seed=3).passages()
    written = []
    for name, given in (("float32", vectors), ("float16", vectors.astype(np.float16))):
        config = Config().with_(index_dir=tmp_path / name, ann_threshold=1000, compress_threshold=1500)
        with IndexWriter(config.index_dir, config) as writer:
            writer.publish(docs, rows, given)
        (seg,) = open_index(config.index_dir, config).segments
        assert seg.manifest["dense"] == "ivf-pq" and not check_index(config.index_dir, config).problems
        written.append({p.name: p.read_bytes() for p in seg.path.iterdir() if p.name != "segment.json"})
    assert written[0] == written[1]


# ---------------------------------------------------------------- issue 28: rollback once, links, state numbers


def test_rollback_killed_after_its_commit_and_run_again_goes_back_once(two_versions, tmp_path, capsys, monkeypatch):
    """`qa rollback` means "undo the last write". Killed after its commit (before it could say so)
    and typed again, it does not go back a second time: the live state is already that rollback."""
    from qa.store.writer import IndexWriter
    from tests.reliability import copy_index

    config = copy_index(two_versions, tmp_path / "index")
    index = str(config.index_dir)

    def killed(self):
        raise KeyboardInterrupt  # as a kill after the commit: nothing after it happens

    with monkeypatch.context() as patched:
        patched.setattr(IndexWriter, "collect_garbage", killed)
        assert main(["rollback", "--index", index]) == 130
    capsys.readouterr()
    assert current_version(config.index_dir) == "v000003"
    texts = " ".join(d.text for d in open_index(config.index_dir, config).documents)
    assert "1994" in texts and "1996" not in texts  # v000001's text, committed

    assert main(["rollback", "--index", index]) == 0  # typed again
    out = capsys.readouterr().out
    assert "nothing to do" in out and "already a rollback (restored v000001" in out
    assert current_version(config.index_dir) == "v000003"
    assert main(["rollback", "v000001", "--index", index]) == 0  # naming the state it restored: nothing either
    assert "nothing to do" in capsys.readouterr().out and current_version(config.index_dir) == "v000003"
    assert main(["rollback", "v000002", "--index", index]) == 0  # undoing it names the state
    assert "restored v000002 as v000004" in capsys.readouterr().out
    assert "1996" in " ".join(d.text for d in open_index(config.index_dir, config).documents)


LINKS = ["segments is a symbolic link", "catalog has a hard link", ".lock has a hard link", "a .tmp- entry is a link"]


@pytest.mark.parametrize("case", LINKS)
def test_no_write_or_delete_follows_a_link_under_the_index(case, fresh_index, tmp_path, capsys):
    """Nothing outside the index folder is ever written or deleted by a write: a link where the
    writer writes in place is refused in one line; a leftover link is removed, never followed."""
    index_dir = fresh_index.index_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    keep = outside / "keep.txt"
    keep.write_text("precious\n", encoding="utf-8")
    if case == "segments is a symbolic link":
        shutil.move(index_dir / "segments", outside / "segments")
        (outside / "segments" / "s000099").mkdir()  # a folder no state names: what a writer clears
        keep = outside / "segments" / "s000099" / "keep.txt"
        keep.write_text("precious\n", encoding="utf-8")
        (index_dir / "segments").symlink_to(outside / "segments")
    elif case == "catalog has a hard link":
        keep = outside / "backup.sqlite"
        os.link(index_dir / "catalog.sqlite", keep)
    elif case == ".lock has a hard link":
        (index_dir / ".lock").unlink(missing_ok=True)
        os.link(keep, index_dir / ".lock")
    else:
        (index_dir / ".tmp-s000009-1").symlink_to(outside)
    before = keep.read_bytes()
    result = run_cli(capsys, "remove", MASSIS, "--index", str(index_dir))
    assert keep.read_bytes() == before and keep.exists()
    if case == "a .tmp- entry is a link":
        assert result.returncode == 0 and not (index_dir / ".tmp-s000009-1").exists()
        return
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert ("symbolic link" if "symbolic" in case else "hard link") in result.stderr
    assert MASSIS in [r.doc_id for r in open_index(index_dir, fresh_index).document_records()] or "segments" in case


def test_a_catalog_that_went_back_in_time_never_reuses_a_state_number(fresh_index, capsys):
    """An old copy of catalog.sqlite put back: the writes after it are named as lost; a write that
    would number its state as one already committed is refused, and `qa rollback` carries on from
    the state the catalog has with numbers after the lost ones."""
    index_dir = fresh_index.index_dir
    old = (index_dir / "catalog.sqlite").read_bytes()
    remove_documents([MASSIS], fresh_index)  # v000002, committed
    (index_dir / "catalog.sqlite").write_bytes(old)  # back to v000001
    result = run_cli(capsys, "remove", NHK, "--index", str(index_dir))
    assert result.returncode == 1 and "went back in time" in result.stderr and "v000002 was committed" in result.stderr
    assert "`qa rollback v000001`" in result.stderr
    assert current_version(index_dir) == "v000001"
    result = run_cli(capsys, "rollback", "v000001", "--index", str(index_dir))
    assert result.returncode == 0 and "nothing to do" in result.stdout  # the live state is v000001 already
    remove_documents([MASSIS], fresh_index)
    assert current_version(index_dir) == "v000003"  # never v000002 again
    assert check_index(index_dir, fresh_index).problems == []


def test_writing_and_merging_never_read_the_ivf_indexes(tmp_path, monkeypatch):
    """A writer opens the index to refuse damage and to pick merges, but never searches it: the IVF
    indexes (most of the time of opening a large segment: 58 MB a 1M-chunk segment, read, not
    mapped) stay unread while segments are added and all merged; a reader still opens and searches them."""
    import qa.store.segment
    from bench.vectors import ClusteredVectors

    config = Config().with_(index_dir=tmp_path / "index", ann_threshold=1000)
    synthetic_segments(config, [3000])
    read = []
    real_read_ivf = qa.store.segment.read_ivf
    monkeypatch.setattr(qa.store.segment, "read_ivf", lambda *a: read.append(a) or real_read_ivf(*a))
    synthetic_segments(config, [20, 20], seed=3)
    compact(config.index_dir, config)
    assert read == []
    index = open_index(config.index_dir, config)
    assert len(index.segments) == 1 and index.n_chunks > 3000 and index.segments[0].ivf is not None and read
    query = ClusteredVectors(3000, seed=2).queries(1)[0]
    assert index.search_dense(query, 5)[0][1] == pytest.approx(float(np.max(np.asarray(index.vectors) @ query)), abs=1e-6)


def test_a_merge_reads_the_catalog_rows_of_the_merged_segments_only(tmp_path, monkeypatch):
    """Merging small segments past `max_segments` reads the catalog entries of their documents, not
    of every document of the index (at 10M passages that was 2.9 million rows, 37 s an add)."""
    from qa.store.catalog import Catalog
    from qa.store.writer import IndexWriter

    # open_verify_bytes 0: opening checks no segment's rows, as with the large segments of a large index
    config = Config().with_(index_dir=tmp_path / "index", max_segments=2, open_verify_bytes=0)
    big, *_ = synthetic_segments(config, [400])
    small = synthetic_segments(config, [0, 3, 3], seed=5)[1:]
    read: list[str] = []
    real = Catalog._document
    monkeypatch.setattr(Catalog, "_document", lambda self, row: read.append(row[0]) or real(self, row))
    with IndexWriter(config.index_dir, config) as writer:
        writer.maintain()  # what an ingest does after it publishes
    index = open_index(config.index_dir, config)
    assert index.live_counts == [400, 6], index.live_counts  # the two small ones merged
    assert 0 < len(read) < len(big)  # the merge read the small segments' rows, not the big one's
    assert {d.doc_id for d in index.documents[len(big):]} == {d.doc_id for docs in small for d in docs}
