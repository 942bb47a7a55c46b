"""Retrieval test collections in the formats the field uses: a BEIR folder and TREC files.

  * a BEIR folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
    `qrels/<split>.tsv` (header `query-id corpus-id score`, graded relevance); the corpus is
    indexed and every judged query searched;
  * TREC files: qrels (`qid 0 docid relevance`) beside a run (`qid Q0 docid rank score tag`),
    scored as they are; qrels may also come from a BEIR folder's split.

Both become a `Collection`. A problem that leaves nothing to measure (a missing file, a malformed
line) is a one-line `BadInputError` naming the file, the line and the fix; one that leaves the
rest usable (a judged query without text, a judged document not in the corpus) is counted in
`Collection.warnings`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.documents import Document, count_noun
from qa.errors import BadInputError
from qa.ingest.clean import CleanedArticle
from qa.ingest.read import make_document

DEFAULT_SPLIT = "test"
BEIR_HINT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv"
QRELS_HINT = "each line must be `query-id corpus-id score` (BEIR .tsv) or `qid 0 docid relevance` (TREC)"
RUN_HINT = "each line must be `qid Q0 docid rank score tag` (a TREC run)"
SHOWN = 3  # ids quoted in a warning


@dataclass
class Collection:
    """Queries with graded relevance judgments, and what to score: documents to index and search
    (a BEIR folder) or a ranking per query (a TREC run)."""

    path: Path  # the BEIR folder, or the qrels file
    format: str  # "beir" | "trec"
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance; every query has one > 0
    queries: dict[str, str] = field(default_factory=dict)  # query id -> text, for the judged queries searched
    documents: list[Document] | None = None  # the corpus to index; None: score `run`
    run: dict[str, list[str]] | None = None  # query id -> document ids, best first
    run_path: Path | None = None
    split: str | None = None
    warnings: list[str] = field(default_factory=list)


def load_collection(
    path: Path | None, split: str | None = None, qrels: Path | None = None, run: Path | None = None
) -> Collection:
    """`qa eval FOLDER [--split NAME]` (index and search), `qa eval FOLDER --run RUN` or
    `qa eval --qrels QRELS --run RUN` (score the run)."""
    if qrels is not None and path is not None:
        raise BadInputError(f"give a BEIR folder ({path}) or --qrels {qrels}, not both; "
                            "a folder's other qrels files are chosen with --split NAME")
    if qrels is not None:
        if run is None:
            raise BadInputError(f"--qrels {qrels} needs --run FILE: the TREC run to score against it "
                                "(to search your own documents, give a BEIR folder)")
        if split is not None:
            raise BadInputError("--split chooses the qrels of a BEIR folder; with --qrels FILE leave it out")
        collection = Collection(Path(qrels), "trec", read_qrels(Path(qrels)))
    elif path is None and run is not None:
        raise BadInputError(f"--run {run} needs its qrels: a BEIR folder (`qa eval FOLDER --run FILE`) or --qrels FILE")
    elif path is None:
        raise BadInputError("--split NAME goes with a BEIR folder: `qa eval FOLDER --split NAME`")
    elif not Path(path).is_dir():
        raise BadInputError(f"{path}: not a folder; --run and --split go with a BEIR folder ({BEIR_HINT}), "
                            "or give --qrels FILE --run FILE")
    else:
        split = split or DEFAULT_SPLIT
        collection = Collection(Path(path), "beir", read_qrels(qrels_file(Path(path), split)), split=split)
    _keep_relevant(collection)
    if run is not None:
        _add_run(collection, Path(run))
    else:
        _add_corpus_and_queries(collection, collection.path)
    return collection


def qrels_file(folder: Path, split: str) -> Path:
    """`folder/qrels/<split>.tsv`, or BadInputError naming the splits there are."""
    qrels_dir = folder / "qrels"
    if not qrels_dir.is_dir():
        raise BadInputError(f"{folder}: no qrels/ folder; {BEIR_HINT}")
    path = qrels_dir / f"{split}.tsv"
    if not path.is_file():
        splits = sorted(p.stem for p in qrels_dir.glob("*.tsv"))
        there = f"the splits here are {', '.join(splits)}" if splits else "qrels/ holds no .tsv file"
        raise BadInputError(f"{path}: no such file; {there} (choose one with --split NAME)")
    return path


# ---------------------------------------------------------------- reading the files


def _lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file, blank lines skipped; `what` says what a line holds."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - opened apart from `with` so only open() errors are caught here
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{path}: is a folder; {what}") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise BadInputError(f"{path}:{lineno}: not UTF-8 text; save the file as UTF-8") from None
            if line.strip():
                yield lineno, line


def _jsonl_records(path: Path, what: str) -> Iterator[tuple[str, str, dict[str, object]]]:
    """(where, _id, record) of a BEIR JSON Lines file; `where` is "file:line"."""
    seen: dict[str, int] = {}
    for lineno, line in _lines(path, what):
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInputError(f"{where}: malformed JSON at column {e.colno} ({e.msg}); {what}") from None
        if not isinstance(record, dict):
            raise BadInputError(f"{where}: expected a JSON object, got {type(record).__name__}; {what}")
        rid = record.get("_id")
        if isinstance(rid, bool) or not isinstance(rid, str | int) or not str(rid).strip():
            raise BadInputError(f"{where}: no \"_id\" (a non-empty string); {what}")
        rid = str(rid)
        if rid in seen:
            raise BadInputError(f"{where}: duplicate _id {rid!r} (first on line {seen[rid]}); give every line its own _id")
        seen[rid] = lineno
        if not isinstance(record.get("text"), str):
            raise BadInputError(f"{where}: no \"text\" string; {what}")
        yield where, rid, record


def read_corpus(path: Path, label: str) -> tuple[list[Document], list[str]]:
    """The documents of a BEIR corpus.jsonl (id = `_id`, title, text unchanged, as the SQuAD
    paragraphs are) and the ids of those left out because their text is empty, as `qa ingest`
    leaves out a record without text. `label` names the collection in each document's source."""
    what = 'each line must be {"_id": ..., "title": ..., "text": ...}'
    documents, empty = [], []
    for where, doc_id, record in _jsonl_records(path, what):
        text, title = str(record["text"]), record.get("title") or ""
        if not isinstance(title, str):
            raise BadInputError(f"{where}: \"title\" must be a string; {what}")
        if not text.strip():
            empty.append(doc_id)
            continue
        # The source names the collection and the id, not the folder: the same corpus given by
        # another path is the same set of documents.
        documents.append(make_document(doc_id, f"{label}/corpus.jsonl#{doc_id}", CleanedArticle(text, title=title)))
    if not documents:
        raise BadInputError(f"{path}: no document with text; {what}")
    return documents, empty


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text of a BEIR queries.jsonl."""
    what = 'each line must be {"_id": ..., "text": ...}'
    queries = {}
    for where, qid, record in _jsonl_records(path, what):
        text = " ".join(str(record["text"]).split())
        if not text:
            raise BadInputError(f"{where}: the query text is empty; {what}")
        queries[qid] = text
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Query id -> document id -> relevance, from a BEIR qrels .tsv (`query-id corpus-id score`,
    tab-separated, with that header) or TREC qrels (`qid iteration docid relevance`, white
    space). A pair judged twice keeps its higher relevance."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(path, QRELS_HINT):
        fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if lineno == 1 and fields[-1].lower() == "score":
            continue  # the BEIR header
        if len(fields) == 3:
            qid, doc_id, grade = fields
        elif len(fields) == 4:
            qid, _, doc_id, grade = fields
        else:
            raise BadInputError(f"{path}:{lineno}: {len(fields)} fields; {QRELS_HINT}")
        try:
            relevance = int(grade)
        except ValueError:
            raise BadInputError(f"{path}:{lineno}: relevance {grade!r} is not a whole number; {QRELS_HINT}") from None
        if not qid or not doc_id:
            raise BadInputError(f"{path}:{lineno}: an empty query or document id; {QRELS_HINT}")
        judged = qrels.setdefault(qid, {})
        judged[doc_id] = max(relevance, judged.get(doc_id, relevance))
    if not qrels:
        raise BadInputError(f"{path}: no judgments; {QRELS_HINT}")
    return qrels


def read_run(path: Path) -> tuple[dict[str, list[str]], int]:
    """Query id -> document ids, best first, of a TREC run, and the number of repeated
    (query, document) lines (the best-scored one is kept). As trec_eval does, documents are
    ordered by score, ties by document id in reverse; the rank column is not used."""
    scored: dict[str, dict[str, float]] = {}
    repeated = 0
    for lineno, line in _lines(path, RUN_HINT):
        fields = line.split()
        if len(fields) != 6:
            raise BadInputError(f"{path}:{lineno}: {len(fields)} fields; {RUN_HINT}")
        qid, _, doc_id, rank, score, _ = fields
        try:
            int(rank)
            value = float(score)
        except ValueError:
            raise BadInputError(f"{path}:{lineno}: rank {rank!r} or score {score!r} is not a number; {RUN_HINT}") from None
        docs = scored.setdefault(qid, {})
        if doc_id in docs:
            repeated += 1
            value = max(value, docs[doc_id])
        docs[doc_id] = value
    if not scored:
        raise BadInputError(f"{path}: no ranked documents; {RUN_HINT}")
    run = {qid: [d for d, _ in sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)]
           for qid, docs in scored.items()}
    return run, repeated


# ---------------------------------------------------------------- checking the parts against each other


def _first(ids: list[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (", ..." if len(ids) > SHOWN else "")


def _queries(n: int, kind: str = "") -> str:
    return count_noun(n, f"{kind}query", f"{kind}queries")


def _add_corpus_and_queries(collection: Collection, folder: Path) -> None:
    """Read the corpus and the judged queries' text; judged queries without text are left out,
    judged documents not in the corpus count as not found (both counted in the warnings)."""
    corpus, queries = folder / "corpus.jsonl", folder / "queries.jsonl"
    for part in (corpus, queries):
        if not part.is_file():
            raise BadInputError(f"{folder}: no {part.name}; {BEIR_HINT}")
    texts = read_queries(queries)
    no_text = [qid for qid in collection.qrels if qid not in texts]
    if len(no_text) == len(collection.qrels):
        raise BadInputError(f"{queries}: none of the queries judged in qrels/{collection.split}.tsv "
                            f"({_first(no_text)}) is here; the qrels' query-id must be a query's _id")
    if no_text:
        collection.warnings.append(f"left out {len(no_text)} of {_queries(len(collection.qrels), 'judged ')}: no text in "
                                   f"{queries.name} ({_first(no_text)})")
        collection.qrels = {qid: judged for qid, judged in collection.qrels.items() if qid in texts}
    collection.queries = {qid: texts[qid] for qid in collection.qrels}

    documents, empty = read_corpus(corpus, folder.name)
    if empty:
        collection.warnings.append(f"not indexed: {count_noun(len(empty), 'document')} of {corpus.name} without text "
                                   f"({_first(empty)})")
    indexed = {d.doc_id for d in documents}
    relevant = sorted({d for judged in collection.qrels.values() for d, grade in judged.items() if grade > 0})
    missing = [d for d in relevant if d not in indexed]
    if missing and len(missing) == len(relevant):
        raise BadInputError(f"{corpus}: none of the relevant documents of qrels/{collection.split}.tsv "
                            f"({_first(missing)}) is here; the qrels' corpus-id must be a document's _id")
    if missing:
        collection.warnings.append(f"counted as not found: {len(missing)} of {count_noun(len(relevant), 'relevant document')}, "
                                   f"not in {corpus.name} or without text ({_first(missing)})")
    collection.documents = documents


def _keep_relevant(collection: Collection) -> None:
    """Leave out the queries with no relevant document (nothing to find: every metric is undefined)."""
    none = [qid for qid, judged in collection.qrels.items() if not any(grade > 0 for grade in judged.values())]
    if len(none) == len(collection.qrels):
        raise BadInputError(f"{collection.path}: no judged query has a relevant document (relevance above 0)")
    if none:
        collection.warnings.append(f"left out {_queries(len(none))} with no document judged relevant "
                                   f"(relevance above 0) ({_first(none)})")
        collection.qrels = {qid: judged for qid, judged in collection.qrels.items() if qid not in none}
        collection.queries = {qid: text for qid, text in collection.queries.items() if qid in collection.qrels}


def _add_run(collection: Collection, path: Path) -> None:
    run, repeated = read_run(path)
    scored = [qid for qid in collection.qrels if qid in run]
    if not scored:
        raise BadInputError(f"{path}: none of its queries ({_first(sorted(run))}) is judged in {collection.path}; "
                            "the run's qid must be the qrels' query ids")
    unjudged = sorted(set(run) - set(collection.qrels))
    unranked = [qid for qid in collection.qrels if qid not in run]
    if repeated:
        collection.warnings.append(f"kept the best score of {count_noun(repeated, 'repeated (query, document) line')} in {path.name}")
    if unjudged:
        collection.warnings.append(f"not scored: {_queries(len(unjudged))} of {path.name} without judgments "
                                   f"({_first(unjudged)})")
    if unranked:
        collection.warnings.append(f"scored 0: {len(unranked)} of {_queries(len(collection.qrels), 'judged ')}, not in "
                                   f"{path.name} ({_first(unranked)})")
    collection.run, collection.run_path = run, path


def write_beir(eval_set: object, out: Path) -> Path:
    """A SQuAD file's paragraphs and answerable questions as a BEIR folder (each question judged
    relevant to its own paragraph): the same collection, in the format other systems read."""
    from qa.evaluation.data import EvalSet

    assert isinstance(eval_set, EvalSet) and eval_set.documents is not None
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in eval_set.documents:
            f.write(json.dumps({"_id": d.doc_id, "title": d.article.title, "text": d.text}, ensure_ascii=False) + "\n")
    asked = [q for q in eval_set.questions if q.answerable and q.doc_ids]
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in asked:
            f.write(json.dumps({"_id": q.qid, "text": q.question}, ensure_ascii=False) + "\n")
    with open(out / "qrels" / f"{DEFAULT_SPLIT}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q.qid}\t{d}\t1\n" for q in asked for d in q.doc_ids)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.evaluation.beir SQUAD.json [--articles ...] --out DIR`: a SQuAD file as a BEIR folder."""
    import argparse

    from qa.evaluation.data import load_eval_file, select_articles

    parser = argparse.ArgumentParser(prog="python -m qa.evaluation.beir", description=main.__doc__)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--articles", nargs="+", help="only these articles (titles as in the file)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    eval_set = load_eval_file(args.squad)
    if args.articles:
        eval_set = select_articles(eval_set, args.articles)
    print(write_beir(eval_set, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
