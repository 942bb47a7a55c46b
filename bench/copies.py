"""python -m bench.copies: story detection (qa/store/stories.py) — how well it groups copies, what it
costs per new article as the archive grows, and ingest throughput with it on and off.

    python -m bench.copies                                   # all three, 10k and 100k documents
    python -m bench.copies --sizes 10000 --ingest-docs 20    # faster
    python -m bench.copies --sizes "" --ingest-docs 0        # only precision / recall

- **Grouping**: synthetic stories (bench/synth.py: corpus sentences recombined with generated
  names and numbers, so different stories share sentence frames, as real news does) each with
  0-4 copies made the way syndication makes them (a new headline, a boilerplate paragraph added,
  the ending trimmed by 20-50 %, a correction or a "Related:" line appended, the lede dropped),
  plus the test archive (bench/archive.py). Pairwise precision and recall of the groups that
  `assign_stories` makes, at thresholds 0.1-0.9.
- **Cost per new article**: a catalog (the real one, `qa.store.catalog.Catalog`) holding the stories,
  signatures and band keys of N documents (200 synthetic stories with their copies, the rest
  unrelated documents with random sketches); then new articles,
  half of them copies, each assigned and registered as the writer does (`assign_stories` +
  `Catalog.add_segment` in one transaction). Milliseconds per article, median and p95.
- **Ingest throughput**: `ingest_paths` of synthetic stories and copies into a fresh index with
  story detection on and off, with the real model, and with a stand-in encoder that returns
  zeros (the cost of everything but the model).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.synth import ArticleGenerator
from qa.config import Config
from qa.documents import ArticleMeta, Document
from qa.store.catalog import Catalog, Version
from qa.store.segment import SegmentRecord, segment_name
from qa.store.stories import assign_stories, own_story, stored_sketch

HERE = Path(__file__).resolve().parent
STORIES_IN_CATALOG = 200
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BOILERPLATE = (
    "This story was provided by our wire partners and has been edited for length and house style.",
    "Sign-in to our app for the latest updates on this story, and join the conversation in the comments below.",
    "Editor's note: this report is part of our daily roundup of international news from partner newsrooms.",
)


def copy_of(paragraphs: list[list[str]], rng: np.random.Generator) -> str:
    """A syndicated copy of an article: one or two edits of the kinds reprints make."""
    paras = [list(p) for p in paragraphs]
    edits = rng.choice(["boilerplate", "trim", "correction", "related", "lede", "none"], size=int(rng.integers(1, 3)),
                       replace=False)
    for edit in edits:
        if edit == "boilerplate":
            paras.insert(0, [str(rng.choice(BOILERPLATE))])
        elif edit == "trim":
            sentences = [s for p in paras for s in p]
            keep = max(2, int(len(sentences) * rng.uniform(0.5, 0.8)))
            paras, n = [], 0
            for p in paragraphs:
                if n < keep:
                    paras.append(p[: keep - n])
                    n += len(paras[-1])
        elif edit == "correction":
            paras.append([f"Correction: an earlier version of this story gave the wrong figure; it was {int(rng.integers(2, 999))}."])
        elif edit == "related":
            paras.append(["Related: More news from the region", "Related: What the vote means for the coalition"])
        elif edit == "lede" and len(paras) > 2:
            paras = paras[1:]
    return "\n\n".join(" ".join(p) for p in paras if p)


def synthetic_archive(stories: int, seed: int = 0, start: int = 0) -> tuple[list[Document], list[str]]:
    """`stories` synthetic stories, each with 0-4 copies: (documents, story label of each)."""
    generator = ArticleGenerator(seed)
    rng = np.random.default_rng([seed, 99, start])
    docs, labels = [], []
    for i in range(start, start + stories):
        title, paragraphs = generator.article(i)
        texts = ["\n\n".join(" ".join(p) for p in paragraphs)]
        texts += [copy_of(paragraphs, rng) for _ in range(int(rng.choice([0, 0, 1, 2, 3, 4])))]
        for n, text in enumerate(texts):
            doc_id = f"story{i:06d}-{n}"
            docs.append(Document(ArticleMeta(doc_id, title), text, doc_id, content_hash=f"{i:06d}{n:02d}{'0' * 8}"))
            labels.append(f"story{i}")
    return docs, labels


def _archive_documents(config: Config) -> tuple[list[Document], list[str]]:
    from bench.archive import write_archive
    from qa.ingest.read import read_documents

    folder = Path(tempfile.mkdtemp(prefix="qa-archive-"))
    try:
        labels = write_archive(folder)
        docs, _ = read_documents([folder], config)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return docs, [labels[d.doc_id] for d in docs]


class _Empty:
    """A catalog with no documents: the whole set is one batch (assign_stories' own LSH)."""

    def story_candidates(self, keys: object) -> list[tuple[str, int, str, bytes]]:
        return []


_NOTHING = Version(0, "", "", "", "", (), {}, 0, 0)


def pair_scores(groups: list[str], labels: list[str]) -> tuple[float, float]:
    """Pairwise precision and recall of `groups` against the true `labels`."""
    def pairs(assign: list[str]) -> set[tuple[int, int]]:
        members: dict[str, list[int]] = {}
        for i, g in enumerate(assign):
            members.setdefault(g, []).append(i)
        return {p for m in members.values() for p in itertools.combinations(m, 2)}

    found, truth = pairs(groups), pairs(labels)
    precision = len(found & truth) / len(found) if found else 1.0
    recall = len(found & truth) / len(truth) if truth else 1.0
    return precision, recall


def grouping(stories: int, config: Config) -> dict:
    docs, labels = synthetic_archive(stories, seed=3)
    archive_docs, archive_labels = _archive_documents(config)
    out: dict = {"documents": len(docs) + len(archive_docs), "stories": len(set(labels)) + len(set(archive_labels)),
                 "thresholds": {}}
    for t in THRESHOLDS:
        c = config.with_(story_threshold=t)
        synthetic, _ = assign_stories(docs, _Empty(), _NOTHING, (), c)  # type: ignore[arg-type]
        archive, _ = assign_stories(archive_docs, _Empty(), _NOTHING, (), c)  # type: ignore[arg-type]
        p, r = pair_scores(synthetic + [f"a:{s}" for s in archive], labels + [f"a:{s}" for s in archive_labels])
        pa, ra = pair_scores(archive, archive_labels)
        out["thresholds"][str(t)] = {"precision": round(p, 4), "recall": round(r, 4),
                                     "archive_precision": round(pa, 4), "archive_recall": round(ra, 4)}
    from qa.store.stories import signature, similarity

    sigs = [signature(d.text, config) for d in docs[:400]]
    same = [similarity(sigs[i], sigs[j]) for i, j in itertools.combinations(range(len(sigs)), 2) if labels[i] == labels[j]]
    other = [similarity(sigs[i], sigs[j]) for i, j in itertools.combinations(range(len(sigs)), 2) if labels[i] != labels[j]]
    out["similarity"] = {"copies_min": round(min(same), 3), "copies_p05": round(float(np.percentile(same, 5)), 3),
                         "different_max": round(max(other), 3),
                         "different_p999": round(float(np.percentile(other, 99.9)), 3)}
    return out


def detection_cost(n_docs: int, new: int, config: Config, workdir: Path) -> dict:
    """Ms per new article (assign + register) against a catalog of `n_docs` documents."""
    folder = workdir / f"catalog-{n_docs}"
    shutil.rmtree(folder, ignore_errors=True)
    catalog = Catalog.create(folder, config.index_settings())
    started = time.perf_counter()
    # 200 synthetic stories with their copies, assigned as ingest does; the rest of the archive is
    # unrelated documents whose sketches are random (computing 100k real sketches under load takes
    # an hour and measures the build, not a new article's cost, which depends on the catalog's size).
    docs, _ = synthetic_archive(STORIES_IN_CATALOG, seed=11)
    with catalog.write_transaction():
        stories, sketches = assign_stories(docs, catalog, _NOTHING, (), config)
        catalog.add_segment(SegmentRecord(segment_name(1), len(docs), len(docs), ""), 0, [
            _record(segment_name(1), row, d, story) for row, (d, story) in enumerate(zip(docs, stories))], sketches)
    segments, made = [segment_name(1)], len(docs)
    originals = list(range(STORIES_IN_CATALOG))  # stories whose original article is in the catalog
    rng = np.random.default_rng(17)
    while made < n_docs:
        size = min(4000, n_docs - made)
        name = segment_name(len(segments) + 1)
        fillers = [Document(ArticleMeta(f"filler-{made + i}", "filler"), "", f"filler-{made + i}", content_hash=f"f{made + i:015d}")
                   for i in range(size)]
        sigs = rng.integers(0, 2**32, size=(size, config.story_permutations), dtype=np.uint64).astype(np.uint32)
        with catalog.write_transaction():
            catalog.add_segment(SegmentRecord(name, size, size, ""), 0, [
                _record(name, row, d, own_story(d)) for row, d in enumerate(fillers)],
                [stored_sketch(sig.tobytes(), config) for sig in sigs])
        segments.append(name)
        made += size
    build_s = time.perf_counter() - started
    # New articles: half copies of stories already in the catalog, half new stories.
    fresh = [d for d in synthetic_archive(new, seed=11, start=10_000_000)[0] if d.doc_id.endswith("-0")]  # originals
    rng = np.random.default_rng(5)
    generator = ArticleGenerator(11)
    arrivals = []
    for i in range(new):
        if i % 2 == 0:
            _, paragraphs = generator.article(originals[int(rng.integers(0, len(originals)))])
            text = copy_of(paragraphs, rng)
            arrivals.append(Document(ArticleMeta(f"new-copy-{i}", "copy"), text, f"new-copy-{i}", content_hash=f"newcopy{i:08d}"))
        else:
            arrivals.append(fresh[i])
    detect, detect_cpu, register, joined = [], [], [], {"copy": 0, "new": 0}
    for i, doc in enumerate(arrivals):
        name = segment_name(len(segments) + 1)
        work = Version(0, "", "", "", "", tuple(segments), {}, made, made)
        with catalog.write_transaction():
            t, cpu = time.perf_counter(), time.process_time()
            stories, sketches = assign_stories([doc], catalog, work, (), config)
            t2 = time.perf_counter()
            detect_cpu.append(time.process_time() - cpu)
            catalog.add_segment(SegmentRecord(name, 1, 1, ""), 0, [_record(name, 0, doc, stories[0])], sketches)
        t3 = time.perf_counter()  # the commit included: the writer commits each state anyway
        detect.append(t2 - t)
        register.append(t3 - t2)
        joined["copy" if i % 2 == 0 else "new"] += stories[0] != own_story(doc)
        segments.append(name)
        made += 1
    catalog.close()
    size = sum(p.stat().st_size for p in folder.iterdir())
    shutil.rmtree(folder, ignore_errors=True)
    d, r = np.array(detect) * 1000, np.array(register) * 1000
    return {"documents": n_docs, "new_articles": new,
            "detect_ms_median": round(float(np.median(d)), 2), "detect_ms_p95": round(float(np.percentile(d, 95)), 2),
            "detect_cpu_ms_median": round(float(np.median(detect_cpu)) * 1000, 2),
            "register_ms_median": round(float(np.median(r)), 2),
            "copies_joined": f"{joined['copy']} of {(new + 1) // 2}",
            "new_stories_joined": f"{joined['new']} of {new // 2}",
            "catalog_mb": round(size / 2**20, 1), "build_s": round(build_s, 1)}


def _record(segment: str, row: int, doc: Document, story: str):  # -> DocRecord
    from qa.store.catalog import DocRecord

    return DocRecord(segment, row, doc.article, doc.source, doc.content_hash, 1, story)


class _Zeros:
    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        v = np.zeros((len(texts), 384), np.float32)
        v[:, 0] = 1.0
        return v


def ingest_throughput(n_stories: int, workdir: Path, real_model: bool, repeats: int = 2) -> dict:
    from qa.pipeline import ingest_paths

    folder = workdir / "ingest-articles"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    docs, _ = synthetic_archive(n_stories, seed=21)
    for d in docs:
        (folder / f"{d.doc_id}.txt").write_text(f"{d.article.title}\n\n{d.text}\n", encoding="utf-8")
    embedder = None
    if real_model:
        from qa.model.embed import Embedder

        embedder = Embedder(Config())
        embedder.encode_passages(["warm up"])
    else:
        embedder = _Zeros()
    out: dict = {"documents": len(docs), "encoder": "all-MiniLM-L6-v2" if real_model else "stand-in (zeros)",
                 "repeats": repeats}
    # Warm up first (spaCy, the tokenizer, datasketch load once per process), then alternate off / on
    # and keep the best of each, so that neither pays the cold start or a burst of load alone.
    warm = workdir / "ingest-warm"
    ingest_paths([folder / f"{docs[0].doc_id}.txt"], Config().with_(index_dir=warm), embedder=embedder)
    shutil.rmtree(warm, ignore_errors=True)
    best: dict[bool, float] = {}
    for _ in range(repeats):
        for on in (False, True):
            index = workdir / f"ingest-index-{on}"
            shutil.rmtree(index, ignore_errors=True)
            config = Config().with_(index_dir=index, story_detection=on)
            t = time.perf_counter()
            report = ingest_paths([folder], config, embedder=embedder)
            best[on] = min(best.get(on, float("inf")), time.perf_counter() - t)
            out["chunks"] = report.chunks_added
            shutil.rmtree(index, ignore_errors=True)
    for on, seconds in best.items():
        out["on" if on else "off"] = {"seconds": round(seconds, 2), "docs_per_s": round(len(docs) / seconds, 1)}
    shutil.rmtree(folder, ignore_errors=True)
    return out


def tables(results: dict) -> str:
    lines = []
    if "grouping" in results:
        g = results["grouping"]
        lines += [f"Grouping: {g['documents']} documents, {g['stories']} stories (synthetic copies + the test archive); "
                  f"estimated similarity of copies >= {g['similarity']['copies_min']} (5th percentile "
                  f"{g['similarity']['copies_p05']}), of different stories <= {g['similarity']['different_max']}",
                  "", "| threshold | precision | recall | test archive P / R |", "| --- | --- | --- | --- |"]
        for t, s in g["thresholds"].items():
            lines.append(f"| {t} | {s['precision']:.4f} | {s['recall']:.4f} | {s['archive_precision']:.2f} / "
                         f"{s['archive_recall']:.2f} |")
        lines.append("")
    if results.get("cost"):
        lines += ["| documents | detection per new article (median / p95) | its catalog rows + commit (median) "
                  "| copies that joined their story | new stories that joined one | catalog | build |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in results["cost"]:
            lines.append(f"| {c['documents']:,} | {c['detect_ms_median']} / {c['detect_ms_p95']} ms "
                         f"(CPU {c['detect_cpu_ms_median']} ms) | "
                         f"{c['register_ms_median']} ms | {c['copies_joined']} | {c['new_stories_joined']} | "
                         f"{c['catalog_mb']} MB | {c['build_s']} s |")
        lines.append("")
    for key in ("ingest_model", "ingest_standin"):
        if results.get(key):
            i = results[key]
            lines.append(f"Ingest of {i['documents']} documents ({i['encoder']}, best of {i['repeats']}): detection on "
                         f"{i['on']['docs_per_s']} docs/s ({i['on']['seconds']} s), off {i['off']['docs_per_s']} docs/s "
                         f"({i['off']['seconds']} s)")
    return "\n".join(lines)


def run(stories: int, sizes: list[int], new: int, ingest_docs: int, workdir: Path | None = None) -> dict:
    config = Config()
    work = workdir or Path(tempfile.mkdtemp(prefix="qa-bench-copies-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"settings": {k: getattr(config, k) for k in
                                  ("story_threshold", "story_shingle_words", "story_permutations")}}
    try:
        if stories:
            print(f"[bench.copies] grouping: {stories} synthetic stories with copies ...", flush=True)
            results["grouping"] = grouping(stories, config)
        results["cost"] = []
        for n in sizes:
            print(f"[bench.copies] cost per new article at {n:,} documents ...", flush=True)
            results["cost"].append(detection_cost(n, new, config, work))
        if ingest_docs:
            print(f"[bench.copies] ingest throughput, detection on / off ({ingest_docs} stories) ...", flush=True)
            results["ingest_standin"] = ingest_throughput(ingest_docs * 4, work, real_model=False, repeats=3)
            results["ingest_model"] = ingest_throughput(ingest_docs, work, real_model=True, repeats=1)
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.copies", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stories", type=int, default=300, help="synthetic stories for precision / recall (0: skip)")
    p.add_argument("--sizes", type=lambda s: [int(x.replace("_", "")) for x in s.split(",") if x],
                   default=[10_000, 100_000], help="catalog sizes for the cost per new article ('' to skip)")
    p.add_argument("--new", type=int, default=40, help="new articles timed per size")
    p.add_argument("--ingest-docs", type=int, default=20, help="stories ingested with the real model (0: skip)")
    p.add_argument("--out", default=str(HERE / "results-copies.json"))
    p.add_argument("--workdir", help="keep the work files here")
    args = p.parse_args(argv)
    results = run(args.stories, args.sizes, args.new, args.ingest_docs, Path(args.workdir) if args.workdir else None)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(tables(results))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
