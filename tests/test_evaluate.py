"""qa/evaluate.py: metrics against hand-computed values, both question-file formats, and `qa eval`
end to end on a SQuAD v2.0 file of four real paragraphs (tests/data/squad-v2-mini.json: the
Normans, Huguenot, Packet switching and Scottish Parliament paragraphs of
/work/shared/eval/squad-v2.0-dev-a.json, 3 answerable + 2 unanswerable questions each)."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import BadInputError, IndexMissingError
from qa.evaluate import (
    DEFAULT_EVAL_FILE,
    EvalQuestion,
    abstention_metrics,
    add_eval_arguments,
    best_threshold,
    exact_match,
    f1_score,
    first_relevant_rank,
    latency_summary,
    load_eval_file,
    normalize_answer,
    predictions_at,
    ranked_doc_ids,
    retrieval_metrics,
    run_eval_command,
    sample_questions,
    score_answers,
    squad_index_dir,
    threshold_sweep,
)
from tests.conftest import MASSIS, NHK, REPO

SQUAD_MINI = Path(__file__).parent / "data" / "squad-v2-mini.json"
GOLD_SET = REPO / DEFAULT_EVAL_FILE


# ---------------------------------------------------------------- SQuAD normalisation, EM, F1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear ", "apple pear"),
        ("THEATRE the", "theatre"),  # "the" inside a word stays
        ("U.S.-led", "usled"),
        ("Armenia’s agenda", "armenia’s agenda"),  # only ASCII punctuation goes, as in the official script
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_takes_the_best_gold_and_handles_abstention():
    assert exact_match("the Yerevan.", ["Yerevan"]) == 1.0
    assert exact_match("Yerevan city", ["Yerevan", "Gyumri"]) == 0.0
    assert exact_match(None, ["Yerevan"]) == 0.0  # abstained on an answerable question
    assert exact_match(None, []) == 1.0  # abstained on an unanswerable one
    assert exact_match("Yerevan", []) == 0.0  # answered an unanswerable one
    assert exact_match("the", []) == 1.0  # normalises to the empty answer, as in the official script
    # a gold answer that normalises to nothing is dropped (official v2.0 script); if none is left,
    # the question counts as unanswerable for scoring
    assert exact_match(None, ["Yerevan", "."]) == 0.0 and exact_match(None, ["."]) == 1.0


def test_f1_hand_computed():
    # pred tokens: [10th, and, 11th]; gold: [in, 10th, and, 11th, centuries]: 3 common,
    # precision 3/3, recall 3/5, F1 = 2 * 1 * 0.6 / 1.6 = 0.75
    assert f1_score("the 10th and 11th", ["in the 10th and 11th centuries"]) == pytest.approx(0.75)
    # best of two golds: "Denmark" vs "Denmark, Iceland and Norway" = 2*(1)(1/4)/(1.25) = 0.4
    assert f1_score("Denmark", ["Denmark, Iceland and Norway", "Norway"]) == pytest.approx(0.4)
    assert f1_score("Denmark", ["Denmark, Iceland and Norway", "Denmark"]) == 1.0
    # repeated tokens count once per occurrence: pred [a1, a1, b], gold [a1, b, c] -> 2 common,
    # P = 2/3, R = 2/3, F1 = 2/3
    assert f1_score("x x y", ["x y z"]) == pytest.approx(2 / 3)
    assert f1_score("Paris", ["Yerevan"]) == 0.0
    assert f1_score(None, ["Yerevan"]) == 0.0
    assert f1_score(None, []) == 1.0
    assert f1_score("something", []) == 0.0


def test_abstention_precision_and_recall_hand_computed():
    abstained = [True, True, False, True, False]
    unanswerable = [True, False, True, True, False]
    m = abstention_metrics(abstained, unanswerable)
    # abstained on 3, 2 of them unanswerable -> precision 2/3; 3 unanswerable, 2 abstained -> recall 2/3
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["abstained"] == 3 and m["unanswerable"] == 3
    none = abstention_metrics([False, False], [True, False])
    assert none["precision"] is None and none["recall"] == 0.0


def test_score_answers_hand_computed_and_always_abstain_baseline():
    golds = [("Yerevan",), ("1994", "in 1994"), ("Nikol Pashinyan",), (), ()]
    preds = ["Yerevan", "1994 and 2005", None, None, "Paris"]
    s = score_answers(preds, golds)
    # answerable: EM [1, 0, 0]; F1 [1, 2*(1/3)(1)/(4/3)=0.5, 0]
    assert s["answerable"] == {"n": 3, "em": pytest.approx(1 / 3), "f1": pytest.approx(0.5)}
    # unanswerable: abstained on 1 of 2
    assert s["unanswerable"] == {"n": 2, "accuracy": 0.5}
    assert s["overall"]["em"] == pytest.approx(2 / 5)
    assert s["overall"]["f1"] == pytest.approx((1 + 0.5 + 0 + 1 + 0) / 5)
    assert s["answered"] == 3
    assert s["abstention"]["precision"] == pytest.approx(1 / 2) and s["abstention"]["recall"] == pytest.approx(1 / 2)

    base = score_answers([None] * 5, golds)
    assert base["answerable"]["f1"] == 0.0 and base["unanswerable"]["accuracy"] == 1.0
    assert base["overall"]["f1"] == pytest.approx(2 / 5)  # the share of unanswerable questions
    assert base["abstention"]["precision"] == pytest.approx(2 / 5) and base["abstention"]["recall"] == 1.0


def test_threshold_sweep_applies_the_threshold_like_the_reader():
    spans = ["Yerevan", "Paris", None]
    confidences = [0.8, 0.3, 0.0]
    golds = [("Yerevan",), (), ()]
    assert predictions_at(spans, confidences, 0.3) == ["Yerevan", "Paris", None]  # >= threshold answers
    assert predictions_at(spans, confidences, 0.31) == ["Yerevan", None, None]
    rows = threshold_sweep(spans, confidences, golds, thresholds=[0.0, 0.5, 0.9])
    assert [r["overall_f1"] for r in rows] == pytest.approx([2 / 3, 1.0, 2 / 3])
    assert [r["answered"] for r in rows] == [2, 1, 0]
    assert best_threshold(rows)["threshold"] == 0.5


# ---------------------------------------------------------------- retrieval metrics (ir-measures)


def test_retrieval_metrics_hand_computed():
    qrels = {"q1": ["a"], "q2": ["b"], "q3": ["c", "d"], "q4": ["e"]}
    runs = {
        "q1": ["a", "x", "y"],  # hit at 1
        "q2": ["x", "y", "b"],  # hit at 3
        "q3": ["c", "x", "d"],  # both relevant, at 1 and 3
        "q4": [],  # nothing retrieved: scores 0, not skipped
        "q5": ["a"],  # not in qrels: ignored
    }
    m = retrieval_metrics(qrels, runs, ks=(1, 3, 5))
    assert m["n"] == 4
    assert m["R@1"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert m["R@3"] == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert m["R@5"] == pytest.approx(0.75)
    assert m["MRR@10"] == pytest.approx((1 + 1 / 3 + 1 + 0) / 4)
    ndcg_q2 = 1 / math.log2(4)
    ndcg_q3 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert m["nDCG@10"] == pytest.approx((1 + ndcg_q2 + ndcg_q3 + 0) / 4)


def test_ranking_helpers():
    assert ranked_doc_ids(["a", "a", "b", "a", "c", "d"], depth=3) == ["a", "b", "c"]
    assert first_relevant_rank(["x", "b", "a"], ["a", "b"]) == 2
    assert first_relevant_rank(["x"], ["a"]) is None
    lat = latency_summary([0.1, 0.2, 0.3, 0.4])
    assert lat["mean_ms"] == pytest.approx(250) and lat["p50_ms"] == pytest.approx(250) and lat["max_ms"] == 400
    assert latency_summary([])["mean_ms"] is None


# ---------------------------------------------------------------- loading both formats


def test_bundled_gold_set_is_complete_and_copied_from_the_cleaned_articles(corpus_dir):
    from qa.ingest import make_document, read_file, source_doc_id

    eval_set = load_eval_file(GOLD_SET)
    assert eval_set.format == "qa-eval" and eval_set.documents is None
    answerable = [q for q in eval_set.questions if q.answerable]
    unanswerable = [q for q in eval_set.questions if not q.answerable]
    assert len(answerable) >= 40 and len(unanswerable) >= 10
    tags = {t for q in eval_set.questions for t in q.tags}
    assert {"date", "person", "place", "organisation", "number", "yesno", "paraphrase"} <= tags
    texts = {}
    for path in sorted(corpus_dir.iterdir()):
        for source, article in read_file(path, Config()):
            texts[source_doc_id(source)] = make_document(source_doc_id(source), source, article).text
    assert set(texts) == {NHK, MASSIS}
    for q in answerable:
        assert q.doc_ids and set(q.doc_ids) <= set(texts), q.qid
        for answer in q.answers:  # every gold answer is a verbatim span of the cleaned body
            assert any(answer in texts[d] for d in q.doc_ids), (q.qid, answer)


def test_load_squad_v2_and_v11(tmp_path):
    eval_set = load_eval_file(SQUAD_MINI)
    assert eval_set.format == "squad-v2.0"
    assert len(eval_set.documents) == 4 and len(eval_set.questions) == 20
    docs = {d.doc_id: d for d in eval_set.documents}
    assert set(docs) == {"normans-0", "huguenot-0", "packet-switching-0", "scottish-parliament-0"}
    assert docs["packet-switching-0"].title == "Packet switching"
    q = next(q for q in eval_set.questions if q.question == "In what country is Normandy located?")
    assert q.answers == ("France",) and q.doc_ids == ("normans-0",)  # duplicates of a gold answer dropped
    assert sum(not q.answerable for q in eval_set.questions) == 8
    # gold offsets index the unchanged context
    raw = json.loads(SQUAD_MINI.read_text(encoding="utf-8"))
    first = raw["data"][0]["paragraphs"][0]
    ans = first["qas"][0]["answers"][0]
    doc = eval_set.documents[0]
    assert doc.text[ans["answer_start"] : ans["answer_start"] + len(ans["text"])] == ans["text"]

    v11 = {"version": "1.1", "data": [{"title": "T", "paragraphs": [first | {"qas": first["qas"][:1]}]}]}
    for qa_ in v11["data"][0]["paragraphs"][0]["qas"]:
        qa_.pop("is_impossible", None)
    path = tmp_path / "v11.json"
    path.write_text(json.dumps(v11), encoding="utf-8")
    loaded = load_eval_file(path)
    assert loaded.format == "squad-v1.1" and loaded.questions[0].answerable


def test_load_own_format_variants(tmp_path):
    path = tmp_path / "qs.jsonl"
    path.write_text(
        "# a comment\n"
        '{"id": "a", "question": "Who?", "answers": ["X"], "doc_ids": ["d1"], "tags": ["person"]}\n\n'
        '{"question": "Unknown?", "answers": []}\n',
        encoding="utf-8",
    )
    qs = load_eval_file(path).questions
    assert qs[0] == EvalQuestion("a", "Who?", ("X",), ("d1",), ("person",))
    assert qs[1].qid == "q4" and not qs[1].answerable
    as_array = tmp_path / "qs.json"
    as_array.write_text(json.dumps([{"question": "Who?", "answers": ["X"], "doc_ids": ["d1"]}]), encoding="utf-8")
    assert load_eval_file(as_array).questions[0].answers == ("X",)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", '{"question": "ok?", "answers": []}\n{"question": "broken"\n', "line 2 is not valid JSON"),
        ("bad.json", '{"version": "v2.0", "data": [', "malformed JSON on line 1"),
        ("bad2.json", '{"version": "v2.0", "data": [{"title": "T"}]}', "not a SQuAD file"),
        ("noctx.json", '{"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}', "no 'context' string"),
        ("nodoc.jsonl", '{"question": "Who?", "answers": ["X"]}\n', "needs 'doc_ids'"),
        ("noq.jsonl", '{"answers": []}\n', "'question' must be a non-empty string"),
        ("ans.jsonl", '{"question": "Who?", "answers": "X", "doc_ids": ["d"]}\n', "'answers' must be a list"),
        ("dup.jsonl", '{"id": "a", "question": "A?"}\n{"id": "a", "question": "B?"}\n', "duplicate question id"),
        ("empty.jsonl", "\n\n", "no questions found"),
        ("obj.json", '{"something": 1}', "without 'data'"),
    ],
)
def test_malformed_files_raise_one_line_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInputError) as info:
        load_eval_file(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        load_eval_file(tmp_path / "nope.jsonl")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(BadInputError, match="not UTF-8"):
        load_eval_file(binary)


def test_sampling_is_seeded_and_keeps_file_order():
    qs = [EvalQuestion(str(i), f"q{i}?", ("a",), ("d",)) for i in range(100)]
    a, b = sample_questions(qs, 10, seed=0), sample_questions(qs, 10, seed=0)
    assert a == b and len(a) == 10 and [int(q.qid) for q in a] == sorted(int(q.qid) for q in a)
    assert sample_questions(qs, 10, seed=1) != a
    assert sample_questions(qs, None) == qs and sample_questions(qs, 500) == qs


def test_squad_cache_dir_depends_on_file_and_settings(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(SQUAD_MINI.read_text(encoding="utf-8") + " ", encoding="utf-8")
    base = squad_index_dir(SQUAD_MINI, Config(), tmp_path)
    assert base == squad_index_dir(SQUAD_MINI, Config(), tmp_path) and base.parent == tmp_path
    assert base != squad_index_dir(other, Config(), tmp_path)
    assert base != squad_index_dir(SQUAD_MINI, Config().with_(chunk_tokens=64), tmp_path)


# ---------------------------------------------------------------- the command, end to end


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default="index")
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_eval_command_on_squad_file_end_to_end(tmp_path, capsys):
    report = tmp_path / "report"
    args = _args(str(SQUAD_MINI), "--cache", str(tmp_path / "cache"), "--report", str(report), "--json")
    assert run_eval_command(args, Config().with_(index_dir=tmp_path / "unused")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert not (tmp_path / "unused").exists()  # SQuAD paragraphs never go into the --index folder
    assert summary["format"] == "squad-v2.0"
    assert summary["questions"] == {"total": 20, "answerable": 12, "unanswerable": 8, "in_file": 20}
    assert summary["settings"]["documents"] == 4
    assert set(summary["retrieval"]) == {"dense", "bm25", "hybrid"}
    for metrics in summary["retrieval"].values():
        assert metrics["n"] == 12
        assert 0.5 <= metrics["R@10"] <= 1.0  # 4 paragraphs on 4 topics: the gold one is found
        assert metrics["R@1"] <= metrics["R@5"] <= metrics["R@10"]
    answers = summary["answers"]
    assert answers["always_abstain"]["overall"]["f1"] == pytest.approx(8 / 20)
    assert answers["always_abstain"]["unanswerable"]["accuracy"] == 1.0
    assert 0.0 <= answers["system"]["overall"]["f1"] <= 1.0
    assert len(summary["per_question"]) == 20 and summary["latency"]["ask"]["mean_ms"] > 0
    # the best span of an easy question is right, whatever the threshold does with it
    normandy = next(q for q in summary["per_question"] if q["question"] == "In what country is Normandy located?")
    assert normandy["gold_rank"]["dense"] == 1 and normandy["span_f1"] == 1.0

    files = {p.name: p for p in report.iterdir()}
    assert set(files) == {"report.md", "results.json", "recall_at_k.png", "confidence.png"}
    for png in ("recall_at_k.png", "confidence.png"):
        assert files[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[png].stat().st_size > 5000
    md = files["report.md"].read_text(encoding="utf-8")
    assert "always abstain" in md and "| hybrid (answering) |" in md and "recall_at_k.png" in md
    assert json.loads(files["results.json"].read_text(encoding="utf-8"))["questions"]["total"] == 20

    # second run, through the `qa` command: cached index (nothing embedded), --limit samples
    # with the fixed seed, the table is printed
    result = run_qa("eval", str(SQUAD_MINI), "--cache", str(tmp_path / "cache"), "--limit", "5", "--retriever", "bm25")
    assert result.returncode == 0, result.stderr
    assert "5 of 20 questions" in result.stdout and "always-abstain" in result.stdout
    assert "answers (retriever bm25" in result.stdout.lower()
    assert "0 passages embedded now" in result.stderr
    assert len(list((tmp_path / "cache").iterdir())) == 1


def run_qa(*argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "qa.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_cli_bad_eval_file_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [', encoding="utf-8")
    result = run_qa("eval", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr and "malformed JSON" in result.stderr


def test_eval_command_on_bundled_set(bundled_index, capsys):
    args = _args("--limit", "12")
    args.file = str(GOLD_SET)
    assert run_eval_command(args, bundled_index) == 0
    table = capsys.readouterr().out
    assert "12 of" in table and "answerable F1" in table and "overall F1" in table
    for name in ("dense", "bm25", "hybrid"):
        assert f"  {name} " in table


def test_eval_on_missing_index_says_how_to_build_it(tmp_path):
    args = _args(str(GOLD_SET))
    with pytest.raises(IndexMissingError, match="qa ingest corpus"):
        run_eval_command(args, Config().with_(index_dir=tmp_path / "none"))
