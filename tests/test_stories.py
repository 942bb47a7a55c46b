"""Stories (qa/store/stories.py, qa/stories.py) on the generated archive (bench/archive.py): copies of one story found
at ingest, kept consistent by remove, rollback, compaction and rebuild; retrieval reads one copy
per story; the CLI's card and `qa list` show a story once with its copies."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench.archive import MASSIS, NHK
from qa.cli import main
from qa.config import Config
from qa.documents import ArticleMeta, Chunk, Document, Passage
from qa.store.index import open_index
from qa.store.stories import shingles, signature, similarity
from qa.stories import distinct_stories


@pytest.fixture
def writable(archive_index, tmp_path) -> Config:
    shutil.copytree(archive_index.index_dir, tmp_path / "index")
    return archive_index.with_(index_dir=tmp_path / "index")


def groups(config: Config) -> set[frozenset[str]]:
    """The partition of the live documents into stories."""
    out: dict[str, set[str]] = {}
    for r in open_index(config.index_dir, config).document_records():
        out.setdefault(r.story, set()).add(r.doc_id)
    return {frozenset(g) for g in out.values()}


def expected(labels: dict[str, str], without: set[str] = frozenset()) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for doc, label in labels.items():
        if doc not in without:
            out.setdefault(label, set()).add(doc)
    return {frozenset(g) for g in out.values()}


# ---------------------------------------------------------------- MinHash


def test_shingles_and_similarity_estimate_jaccard():
    assert shingles("One two three", 5) == [b"one two three"]
    assert shingles("a b c d e f a b c d e", 5)[:2] == [b"a b c d e", b"b c d e f"]
    config = Config()
    base = " ".join(f"word{i}" for i in range(400))
    half = " ".join(f"word{i}" for i in range(200))
    a, b = signature(base, config), signature(half, config)
    assert a.dtype == np.uint32 and len(a) == config.story_permutations
    assert np.array_equal(a, signature(base, config))  # fixed permutations: the same in every process
    truth = 196 / 396  # shared 5-word shingles / all shingles of the two texts
    assert abs(similarity(a, b) - truth) < 0.15
    assert similarity(a, signature("something else entirely, about a tram line in Westport", config)) < 0.1


def test_lsh_bands_are_datasketchs_choice():
    from datasketch import MinHashLSH

    from qa.store.stories import lsh_bands

    for threshold in (0.3, 0.5):
        lsh = MinHashLSH(threshold=threshold, num_perm=128)
        assert lsh_bands(threshold, 128) == (lsh.b, lsh.r)


def test_distinct_stories_keeps_the_best_ranked_copy_with_all_its_passages():
    rows = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]
    doc = {1: "a", 2: "b", 3: "a", 4: "c", 5: "d"}
    story = {"a": "s1", "b": "s1", "c": "s2"}  # d: no story recorded, its own
    kept = distinct_stories(rows, doc.__getitem__, lambda ids: {i: story[i] for i in ids if i in story})
    assert kept == [(1, 0.9), (3, 0.7), (4, 0.6), (5, 0.5)]


# ---------------------------------------------------------------- grouping at ingest


def test_copies_are_one_story_and_similar_stories_stay_apart(archive, archive_index):
    assert groups(archive_index) == expected(archive[1])
    records = {r.doc_id: r for r in open_index(archive_index.index_dir, archive_index).document_records()}
    assert records["nhk-copy-trimmed"].article.publisher == "Transcaucasus Today"
    assert records[NHK].story != records[MASSIS].story  # the same visit, another story


def test_removing_one_copy_keeps_the_others_grouped(archive, writable, embedder):
    from qa.pipeline import ingest_paths, remove_documents

    # The first-indexed copy (whose content hash named the story) goes: the others keep their story.
    story = {r.doc_id: r.story for r in open_index(writable.index_dir, writable).document_records()}
    first = min(d for d in story if story[d] == story[NHK])
    remove_documents([first], writable)
    assert groups(writable) == expected(archive[1], {first})
    # A copy arriving later still finds the story through the remaining copies.
    again = writable.index_dir.parent / "again"
    again.mkdir()
    shutil.copy(archive[0] / f"{first}.txt", again / "late-reprint.txt")
    ingest_paths([again], writable, embedder=embedder)
    after = {r.doc_id: r.story for r in open_index(writable.index_dir, writable).document_records()}
    assert after["late-reprint"] == after[NHK]


def test_rollback_compaction_and_rebuild_keep_the_groups(archive, writable, embedder):
    from qa.pipeline import ingest_paths, remove_documents
    from qa.store.writer import compact, rollback

    before = groups(writable)
    remove_documents(["flood-february"], writable)
    assert groups(writable) == expected(archive[1], {"flood-february"})
    rollback(writable.index_dir, writable)
    assert groups(writable) == before

    # Compaction copies stories and signatures: a copy ingested afterwards joins its story.
    compact(writable.index_dir, writable)
    assert groups(writable) == before
    late = writable.index_dir.parent / "late"
    late.mkdir()
    text = (archive[0] / "flood-february.txt").read_text(encoding="utf-8")
    (late / "flood-syndicated.txt").write_text(text.replace("Northern Courier", "Valley Wire"), encoding="utf-8")
    ingest_paths([late], writable, embedder=embedder)
    story = {r.doc_id: r.story for r in open_index(writable.index_dir, writable).document_records()}
    assert story["flood-syndicated"] == story["flood-february"] == story["flood-february-reprint"]

    # A rebuild from the same articles makes the same groups.
    report = ingest_paths([archive[0]], writable, rebuild=True, embedder=embedder)
    assert report.total_documents == len(archive[1])
    assert groups(writable) == before


def test_detection_off_gives_every_document_its_own_story(archive, tmp_path, embedder):
    from qa.pipeline import ingest_paths

    config = Config().with_(index_dir=tmp_path / "index", story_detection=False)
    ingest_paths([archive[0]], config, embedder=embedder)
    assert groups(config) == {frozenset([d]) for d in archive[1]}


# ---------------------------------------------------------------- reading one copy per story


def test_search_reads_one_copy_per_story(archive, archive_index, embedder):
    from qa.pipeline import QA

    question = "first NATO secretary general to visit Armenia"
    qa = QA(archive_index, embedder=embedder)
    passages = qa.search(question, k=5)
    assert len(passages) == 5
    by_story: dict[str, set[str]] = {}
    for p in passages:
        by_story.setdefault(p.story, set()).add(p.doc_id)
    assert all(len(docs) == 1 for docs in by_story.values()), by_story
    nhk = next(p for p in passages if archive[1][p.doc_id] == "nhk")
    assert {c.doc_id for c in nhk.copies} == {d for d, label in archive[1].items() if label == "nhk"} - {nhk.doc_id}
    assert nhk.to_dict()["copies"][0].keys() == {"doc_id", "title", "publisher", "date", "url"}

    # Turned off, the copies take several of the five places.
    every = QA(archive_index.with_(distinct_stories=False), embedder=embedder).search(question, k=5)
    assert len({p.doc_id for p in every if archive[1][p.doc_id] == "nhk"}) > 1


def test_cli_search_list_and_card(archive, archive_index, capsys):
    index = str(archive_index.index_dir)
    assert main(["search", "first NATO secretary general to visit Armenia", "--index", index, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    docs_per_story = {h["story"]: {g["doc_id"] for g in hits if g["story"] == h["story"]} for h in hits}
    assert len(hits) == 5 and all(len(d) == 1 for d in docs_per_story.values())

    assert main(["search", "first NATO secretary general to visit Armenia", "--index", index, "--all-copies",
                 "--json"]) == 0
    assert len({h["doc_id"] for h in json.loads(capsys.readouterr().out)}) > len(docs_per_story)

    assert main(["list", "--index", index]) == 0
    out = capsys.readouterr().out.splitlines()
    n_stories = len(set(archive[1].values()))
    assert out[-1].startswith(f"{n_stories} stories, {len(archive[1])} documents")
    copies = [line for line in out if line.startswith("  = ")]
    assert len(copies) == len(archive[1]) - n_stories
    # Each story once, its oldest copy first and the others under it.
    nhk_at = next(i for i, line in enumerate(out) if line.startswith("nhk-"))
    assert "\t2024-03-19\t" in out[nhk_at]
    assert all(out[nhk_at + i].startswith("  = nhk-") for i in range(1, 5))
    assert [line.split("\t")[2] for line in out[nhk_at + 1 : nhk_at + 5]] == [
        "2024-03-19", "2024-03-20", "2024-03-20", "2024-03-21"]


def test_card_shows_the_story_once_with_its_copies():
    from qa.cli import answer_text
    from qa.documents import Answer, ArticleMeta, Citation

    text = "Floods in the Valdoria river valley have killed 12 people."
    chunk = Chunk("flood-february#0", "flood-february", 0, len(text), text)
    copy = ArticleMeta("flood-february-reprint", "Valdoria river bursts its banks, twelve dead",
                       "https://alpine-post.example/valdoria-river-floods", "2024-02-29", "Alpine Post")
    article = ArticleMeta("flood-february", "Floods in Valdoria valley kill 12", "https://northern-courier.example/f",
                          "2024-02-28", "Northern Courier")
    passage = Passage(chunk, article, 1.0, "story-1", (copy,))
    at = text.index("12")
    answer = Answer("How many died?", "12", 0.9, [Citation(passage, at, at + 2)], [passage], "span")
    shown = " ".join(answer_text(answer).split())
    assert shown.count("Floods in Valdoria valley kill 12") == 1 and "killed [[12]] people" in shown
    assert "also published by Alpine Post (29 February 2024, https://alpine-post.example/valdoria-river-floods)" in shown
    cited = answer.to_dict()["citations"][0]
    assert cited["story"] == "story-1" and cited["copies"][0]["publisher"] == "Alpine Post"


def test_copies_within_one_batch_are_one_story(tmp_path):
    """Copies written in the same segment find each other (the batch's own LSH), and the catalog
    keeps each document's publisher."""
    from qa.pipeline import index_documents

    class Tiny:
        def encode_passages(self, texts, show_progress=False):
            return np.eye(len(texts), 8, dtype=np.float32)

    config = Config().with_(index_dir=tmp_path / "index")
    docs = [Document(ArticleMeta(f"d{i}", f"T{i}", publisher="P"), "Same words in every document of this batch. " * 20,
                     f"s{i}", content_hash=f"h{i}") for i in range(3)]
    index_documents(docs, config, embedder=Tiny())
    records = open_index(config.index_dir, config).document_records()
    assert {r.story for r in records} == {"h0"} and {r.article.publisher for r in records} == {"P"}


# ---------------------------------------------------------------- the batch's sketches as arrays


def _pairwise_stories(documents, catalog, work, dropping, config):
    """The grouping as it was written before the batch was held as arrays: band keys per document
    in a dict, every earlier document sharing one compared with `similarity` one pair at a time."""
    from qa.store.stories import band_keys, own_story

    live = set(work.segments)
    stories, sigs, batch = [], [], {}
    for doc in documents:
        sig = signature(doc.text, config)
        keys = band_keys(sig, config)
        found = [(similarity(sig, np.frombuffer(stored, dtype=np.uint32)), story)
                 for segment, row, story, stored in catalog.story_candidates(keys)
                 if segment in live and row not in work.tombstones.get(segment, ()) and (segment, row) not in dropping]
        found += [(similarity(sig, sigs[p]), stories[p]) for p in sorted({p for k in keys for p in batch.get(k, ())})]
        close = [(s, story) for s, story in found if s >= config.story_threshold]
        stories.append(min(close, key=lambda c: (-c[0], c[1]))[1] if close else own_story(doc))
        for k in keys:
            batch.setdefault(k, []).append(len(sigs))
        sigs.append(sig)
    return stories


def test_assign_stories_groups_a_batch_of_copies_as_the_pairwise_comparison(archive, writable):
    """The archive's articles (copies of one story and look-alikes) written again as one batch:
    against the live index each joins its stored copy's story, and with every stored row dropped the
    batch's own LSH groups them as labelled; both exactly as the pair-by-pair comparison."""
    from qa.store.stories import assign_stories, band_keys
    from qa.store.writer import IndexWriter

    documents = open_index(writable.index_dir, writable).documents
    stored_story = {r.doc_id: r.story for r in open_index(writable.index_dir, writable).document_records()}
    with IndexWriter(writable.index_dir, writable) as writer:
        everything = {(d.segment, d.row) for d in writer.catalog.documents(writer.work)}
        for batch in (documents, documents[::-1]):
            stories, sketches = assign_stories(batch, writer.catalog, writer.work, set(), writable)
            assert stories == _pairwise_stories(batch, writer.catalog, writer.work, set(), writable)
            assert stories == [stored_story[d.doc_id] for d in batch]
            alone, _ = assign_stories(batch, writer.catalog, writer.work, everything, writable)
            assert alone == _pairwise_stories(batch, writer.catalog, writer.work, everything, writable)
            grouped: dict[str, set[str]] = {}
            for d, story in zip(batch, alone):
                grouped.setdefault(story, set()).add(d.doc_id)
            assert {frozenset(g) for g in grouped.values()} == expected(archive[1])
            assert len(sketches) == len(batch)
            for d, (keys, sig) in zip(batch, sketches):
                assert sig == signature(d.text, writable).tobytes() and keys == band_keys(signature(d.text, writable), writable)


def test_stored_sketches_round_trip_with_rows_that_have_none():
    from qa.store.stories import band_keys, stored_sketches

    config = Config()
    sigs = [signature(f"story number {i}: " + " ".join(f"w{i * j}" for j in range(60)), config) for i in range(5)]
    stored = [sigs[0].tobytes(), None, sigs[2].tobytes(), sigs[3].tobytes(), None]
    sketches = stored_sketches(stored, config)
    assert len(sketches) == 5 and sketches[1] is None and sketches[4] is None and sketches[-1] is None
    for i in (0, 2, 3):
        assert sketches[i] == (band_keys(sigs[i], config), sigs[i].tobytes())
    assert sketches[1:4] == [None, sketches[2], sketches[3]]
    assert list(sketches) == [sketches[i] for i in range(5)]
    assert len(stored_sketches([], config)) == 0


def test_batch_lsh_finds_exactly_the_earlier_documents_sharing_a_key():
    from qa.store.stories import _BatchLSH

    rng = np.random.default_rng(7)
    for n, b, values in ((300, 4, 40), (50, 9, 1000), (1, 3, 5), (0, 3, 5)):
        keys = rng.integers(-values, values, size=(n, b), dtype=np.int64)  # many collisions, some within a row
        lsh = _BatchLSH(keys)
        for i in range(n):
            brute = [j for j in range(i) if set(keys[j].tolist()) & set(keys[i].tolist())]
            found = lsh.earlier(i)
            assert found.tolist() == brute and found.dtype.kind == "i"
