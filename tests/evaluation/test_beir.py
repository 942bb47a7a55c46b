"""qa/evaluation/beir.py and `qa eval` on test collections: a BEIR folder generated here (six short
documents, four queries with graded judgments) searched with the real model, and TREC qrels beside a
fixed run, whose metrics are checked against values computed by hand."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import add_eval_arguments, run_eval_command
from qa.config import Config
from qa.errors import BadInputError
from qa.evaluation.beir import load_collection, read_qrels, read_run
from tests.conftest import REPO

DOCUMENTS = [
    ("d1", "Harbour ferry", "The Skerry Bay harbour ferry crosses the bay twelve times a day and carries about 900 passengers."),
    ("d2", "New ferry captain", "Captain Ingrid Valdemarsen took command of the Skerry Bay harbour ferry on Monday."),
    ("d3", "Library reopens", "The Riverside public library reopened on Saturday after flood repairs that lasted four months."),
    ("d4", "Record harvest", " ".join(  # long enough for several passages: they count once, for d4
        f"Farmers in the northern valley reported a record wheat harvest of {n} thousand tonnes this autumn, "
        "despite a dry summer and a late frost that damaged the orchards." for n in range(20, 28))),
    ("d5", "Chess champion", "A twelve-year-old girl from Gyumri won the national chess championship on Sunday."),
    ("d6", "Volcano alert", "Scientists measured rising gas emissions at the Mount Aragats crater and raised the alert level."),
]
QUERIES = {
    "q1": "Who is the new captain of the harbour ferry?",
    "q2": "When did the library reopen after the flood?",
    "q3": "Who won the national chess championship?",
    "q4": "How big was the wheat harvest in the valley?",
    "q5": "A query judged only in the dev split",
}
# Graded: q1's answer is in d2 (2), d1 is about the same ferry (1); d6 is judged not relevant to q4 (0).
QRELS = [("q1", "d2", 2), ("q1", "d1", 1), ("q2", "d3", 2), ("q3", "d5", 1), ("q4", "d4", 2), ("q4", "d6", 0)]


def write_beir(folder: Path, qrels: list[tuple[str, str, int]] = QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, title, text in DOCUMENTS:
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text, "metadata": {}}) + "\n")
    for split, rows in (("test", qrels), ("dev", [("q5", "d6", 1)])):
        lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{g}" for q, d, g in rows)]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def beir(tmp_path) -> Path:
    return write_beir(tmp_path / "harbour")


# The fixed run of the TREC tests, and its metrics by hand (gain = grade, discount log2(rank + 1)):
#   q1: d1 d2 d3 -> relevant d1 (1) at 1, d2 (2) at 2: R@1 = 1/2, R@5 = 1, RR = 1,
#       DCG = 1/log2(2) + 2/log2(3), ideal = 2/log2(2) + 1/log2(3)
#   q2: d4 and d3 tie at 5.0; trec_eval breaks ties by document id, last first: d4 d3 d2 -> d3 (2) at 2:
#       R@1 = 0, R@5 = 1, RR = 1/2, nDCG = (2/log2(3)) / (2/log2(2)) = 1/log2(3)
#   q3: d5 (1) at 6: R@5 = 0, R@10 = 1, RR = 1/6, nDCG = 1/log2(7)
#   q4: not in the run: every metric 0 (and a warning); q9: in the run, not judged: ignored
RUN = """q1 Q0 d1 1 3.0 fixed
q1 Q0 d2 2 2.0 fixed
q1 Q0 d3 3 1.0 fixed
q2 Q0 d3 1 5.0 fixed
q2 Q0 d4 2 5.0 fixed
q2 Q0 d2 3 1.5 fixed
q3 Q0 d1 1 0.9 fixed
q3 Q0 d2 2 0.8 fixed
q3 Q0 d3 3 0.7 fixed
q3 Q0 d4 4 0.6 fixed
q3 Q0 d6 5 0.5 fixed
q3 Q0 d5 6 0.4 fixed
q9 Q0 d1 1 1.0 fixed
"""
NDCG_Q1 = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
EXPECTED = {
    "R@1": (0.5 + 0 + 0 + 0) / 4,
    "R@5": (1 + 1 + 0 + 0) / 4,
    "R@10": (1 + 1 + 1 + 0) / 4,
    "R@100": (1 + 1 + 1 + 0) / 4,
    "MRR@10": (1 + 1 / 2 + 1 / 6 + 0) / 4,
    "nDCG@10": (NDCG_Q1 + 1 / math.log2(3) + 1 / math.log2(7) + 0) / 4,
}


def write_trec(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    qrels, run = folder / "judgments.qrels", folder / "fixed.run"
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in QRELS), encoding="utf-8")
    run.write_text(RUN, encoding="utf-8")
    return qrels, run


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default="index")
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def run_qa(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *argv], capture_output=True, text=True, timeout=300, cwd=REPO)


# ---------------------------------------------------------------- reading the files


def test_beir_folder_is_read_with_graded_judgments(beir):
    collection = load_collection(beir)
    assert collection.format == "beir" and collection.split == "test"
    assert collection.qrels == {"q1": {"d2": 2, "d1": 1}, "q2": {"d3": 2}, "q3": {"d5": 1}, "q4": {"d4": 2, "d6": 0}}
    assert collection.queries == {q: QUERIES[q] for q in ("q1", "q2", "q3", "q4")}  # q5 is judged in dev only
    assert [d.doc_id for d in collection.documents] == [d for d, _, _ in DOCUMENTS]
    assert collection.documents[1].title == "New ferry captain" and collection.documents[1].text == DOCUMENTS[1][2]
    assert collection.warnings == []
    dev = load_collection(beir, split="dev")
    assert dev.qrels == {"q5": {"d6": 1}} and dev.queries == {"q5": QUERIES["q5"]}


def test_trec_files_are_read_and_ties_broken_as_trec_eval_does(tmp_path):
    qrels, run = write_trec(tmp_path)
    assert read_qrels(qrels) == read_qrels(write_beir(tmp_path / "b") / "qrels" / "test.tsv")
    ranking, repeated = read_run(run)
    assert ranking["q2"] == ["d4", "d3", "d2"] and repeated == 0  # the rank column is not used
    collection = load_collection(None, qrels=qrels, run=run)
    assert collection.format == "trec" and collection.run is not None
    assert collection.warnings == [
        "not scored: 1 query of fixed.run without judgments (q9)",
        "scored 0: 1 of 4 judged queries, not in fixed.run (q4)",
    ]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "corpus.jsonl").unlink(), "harbour: no corpus.jsonl; a BEIR folder holds corpus.jsonl"),
        (lambda f: (f / "queries.jsonl").unlink(), "harbour: no queries.jsonl"),
        (lambda f: (f / "qrels" / "test.tsv").unlink(), "qrels/test.tsv: no such file; the splits here are dev "
                                                        "(choose one with --split NAME)"),
        (lambda f: _append(f / "corpus.jsonl", '{"_id": "d9", "text": "cut off'), "corpus.jsonl:7: malformed JSON"),
        (lambda f: _append(f / "corpus.jsonl", "\udcff latin-1"), "corpus.jsonl:7: not UTF-8 text"),
        (lambda f: _append(f / "corpus.jsonl", '{"_id": "d9", "title": "no text"}'), 'corpus.jsonl:7: no "text" string'),
        (lambda f: _append(f / "corpus.jsonl", '{"_id": "d1", "text": "again"}'),
         "corpus.jsonl:7: duplicate _id 'd1' (first on line 1)"),
        (lambda f: _append(f / "queries.jsonl", '{"id": "q7", "text": "no _id"}'), 'queries.jsonl:6: no "_id"'),
        (lambda f: _append(f / "qrels" / "test.tsv", "q1\td3"), "test.tsv:8: 2 fields; each line must be"),
        (lambda f: _append(f / "qrels" / "test.tsv", "q1\td3\thigh"), "test.tsv:8: relevance 'high' is not a whole number"),
    ],
)
def test_bad_beir_folders_are_one_line_errors_naming_the_file_and_line(beir, damage, message):
    damage(beir)
    with pytest.raises(BadInputError) as error:
        load_collection(beir)
    assert message in str(error.value) and "\n" not in str(error.value)


def _append(path: Path, line: str) -> None:
    with open(path, "ab") as f:
        f.write(line.encode("utf-8", "surrogateescape") + b"\n")  # a lone surrogate escape: a byte that is not UTF-8


def test_judgments_without_query_text_or_document_are_counted_warnings(tmp_path):
    more = [("q6", "d1", 0), ("q8", "d1", 1), ("q1", "gone", 1), ("q3", "lost", 2), ("q2", "d7", 1)]
    folder = write_beir(tmp_path / "harbour", QRELS + more)
    _append(folder / "corpus.jsonl", '{"_id": "d7", "title": "Only a title", "text": " "}')
    collection = load_collection(folder)
    assert set(collection.qrels) == set(collection.queries) == {"q1", "q2", "q3", "q4"}
    assert "d7" not in {d.doc_id for d in collection.documents}
    assert collection.warnings == [
        "left out 1 query with no document judged relevant (relevance above 0) (q6)",
        "left out 1 of 5 judged queries: no text in queries.jsonl (q8)",
        "not indexed: 1 document of corpus.jsonl without text (d7)",
        "counted as not found: 3 of 8 relevant documents, not in corpus.jsonl or without text (d7, gone, lost)",
    ]
    nothing = write_beir(tmp_path / "ids", [("q1", "D1", 1), ("q2", "D3", 1)])  # ids that match nothing
    with pytest.raises(BadInputError, match="none of the relevant documents of qrels/test.tsv \\(D1, D3\\) is here"):
        load_collection(nothing)
    unknown = write_beir(tmp_path / "queries", [("Q1", "d1", 1)])
    with pytest.raises(BadInputError, match="none of the queries judged in qrels/test.tsv \\(Q1\\) is here"):
        load_collection(unknown)


def test_option_mistakes_are_explained(tmp_path, beir):
    qrels, run = write_trec(tmp_path / "trec")
    for kwargs, message in (
        ({"path": None, "qrels": qrels}, "needs --run FILE"),
        ({"path": None, "run": run}, "needs its qrels"),
        ({"path": None, "split": "dev"}, "--split NAME goes with a BEIR folder"),
        ({"path": beir, "qrels": qrels, "run": run}, "not both"),
        ({"path": qrels, "run": run}, "not a folder"),
        ({"path": None, "qrels": qrels, "run": run, "split": "dev"}, "--split chooses the qrels of a BEIR folder"),
    ):
        with pytest.raises(BadInputError, match=message):
            load_collection(**kwargs)
    with pytest.raises(BadInputError, match="--threshold applies to question files"):
        run_eval_command(_args(str(beir), "--threshold", "0.5"), Config())


# ---------------------------------------------------------------- scoring a run: hand-computed values


def test_trec_run_scores_match_the_hand_computed_values_and_pytrec_eval(tmp_path, capsys):
    qrels, run = write_trec(tmp_path / "trec")
    report = tmp_path / "report"
    assert run_eval_command(_args("--qrels", str(qrels), "--run", str(run), "--json", "--report", str(report)), Config()) == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = summary["retrieval"]["fixed.run"]
    assert metrics["n"] == 4
    for name, value in EXPECTED.items():
        assert metrics[name] == pytest.approx(value), name
    by_query = {q["id"]: q for q in summary["per_query"]}
    assert by_query["q1"]["metrics"]["fixed.run"]["nDCG@10"] == pytest.approx(NDCG_Q1, abs=1e-4)
    assert [by_query[q]["first_relevant_rank"]["fixed.run"] for q in ("q1", "q2", "q3", "q4")] == [1, 2, 6, None]

    # the same numbers from pytrec_eval on the files as they are (trec_eval -c: q4 counts as 0)
    import pytrec_eval

    judged = {}
    for line in qrels.read_text().splitlines():
        q, _, d, g = line.split()
        judged.setdefault(q, {})[d] = int(g)
    ranked = {}
    for line in run.read_text().splitlines():
        q, _, d, _, score, _ = line.split()
        ranked.setdefault(q, {})[d] = float(score)
    scores = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.5,100", "recip_rank"}).evaluate(ranked)
    assert metrics["nDCG@10"] == pytest.approx(sum(s["ndcg_cut_10"] for s in scores.values()) / 4)
    assert metrics["R@5"] == pytest.approx(sum(s["recall_5"] for s in scores.values()) / 4)
    assert metrics["MRR@10"] == pytest.approx(sum(s["recip_rank"] for s in scores.values()) / 4)  # all within 10

    assert {p.name for p in report.iterdir()} == {"report.md", "results.json", "recall_at_k.png"}
    assert (report / "recall_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "| retriever | R@1 | R@5 | R@10 | R@100 | MRR@10 | nDCG@10 | mean ms/q |" in md
    assert "| fixed.run | 0.125 | 0.500 | 0.750 | 0.750 | 0.417 | 0.462 | — |" in md
    assert "scored 0: 1 of 4 judged queries, not in fixed.run (q4)" in md and "| q4 | — |" in md  # the warning, and q4 among the hardest queries


def test_a_run_is_scored_against_a_beir_folders_qrels_too(tmp_path, beir, capsys):
    _, run = write_trec(tmp_path / "trec")
    assert run_eval_command(_args(str(beir), "--run", str(run)), Config()) == 0
    table = capsys.readouterr().out
    assert "(beir, qrels/test.tsv), 4 of 4 judged queries; run " in table
    assert "  fixed.run    0.125  0.500  0.750  0.750   0.417    0.462       —" in table


# ---------------------------------------------------------------- `qa eval FOLDER`, end to end with the real model


def test_eval_beir_folder_end_to_end(tmp_path, beir):
    cache, report = tmp_path / "cache", tmp_path / "report"
    result = run_qa("eval", str(beir), "--cache", str(cache), "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "harbour: 6 documents indexed" in result.stderr
    table = result.stdout
    assert "(beir, qrels/test.tsv), 4 of 4 judged queries; 6 documents" in table
    assert "  retriever     R@1    R@5   R@10  R@100  MRR@10  nDCG@10    ms/q" in table
    summary = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert list(summary["retrieval"]) == ["dense", "bm25", "hybrid"]
    for name, metrics in summary["retrieval"].items():
        assert f"  {name} " in table
        # Every query's first document is relevant with every retriever: R@1 = (1/2 + 1 + 1 + 1) / 4 (q1 has
        # two relevant documents), MRR@10 = 1; both relevant documents of q1 are in the top 5.
        assert metrics["R@1"] == pytest.approx(0.875), name
        assert metrics["MRR@10"] == 1.0 and metrics["R@5"] == 1.0 and metrics["R@100"] == 1.0, name
        assert metrics["latency"]["mean_ms"] > 0
    for query in summary["per_query"]:
        for top in query["top"].values():
            assert len(top) == len(set(top)) and set(top) <= {d for d, _, _ in DOCUMENTS}  # d4's passages count once
    assert summary["per_query"][3]["top"]["dense"][0] == "d4"
    assert {p.name for p in report.iterdir()} == {"report.md", "results.json", "recall_at_k.png"}
    assert "every copy of a story ranked" in (report / "report.md").read_text(encoding="utf-8")

    # again: the cached index is used as it is (nothing embedded)
    again = run_qa("eval", str(beir), "--cache", str(cache), "--limit", "2", "--json")
    assert again.returncode == 0, again.stderr
    assert "0 passages embedded now" in again.stderr and len(list(cache.iterdir())) == 1
    assert json.loads(again.stdout)["queries"] == {"total": 2, "in_file": 4}


def test_cli_bad_beir_folder_is_one_line_and_exit_1(tmp_path, beir):
    (beir / "queries.jsonl").unlink()
    result = run_qa("eval", str(beir))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "no queries.jsonl" in result.stderr


def test_a_squad_file_is_written_as_a_beir_folder_with_the_same_questions(tmp_path):
    from qa.evaluation.beir import main as to_beir
    from qa.evaluation.data import load_eval_file

    squad = REPO / "tests" / "data" / "tiny_squad.json"
    assert to_beir([str(squad), "--out", str(tmp_path / "b")]) == 0
    collection = load_collection(tmp_path / "b")
    eval_set = load_eval_file(squad)
    answerable = [q for q in eval_set.questions if q.answerable]
    assert collection.queries == {q.qid: q.question for q in answerable}
    assert collection.qrels == {q.qid: {d: 1 for d in q.doc_ids} for q in answerable}
    assert [(d.doc_id, d.text) for d in collection.documents] == [(d.doc_id, d.text) for d in eval_set.documents]
