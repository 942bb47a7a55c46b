"""qa/evaluation/data.py: both question-file formats (the bundled gold set, SQuAD v1.1/v2.0 on
tests/data/squad-v2-mini.json), one-line errors for malformed files, seeded sampling."""

from __future__ import annotations

import json

import pytest

from qa.config import Config
from qa.errors import BadInputError
from qa.evaluation.data import DEFAULT_EVAL_FILE, EvalQuestion, load_eval_file, sample_questions
from tests.conftest import MASSIS, NHK, REPO

SQUAD_MINI = REPO / "tests" / "data" / "squad-v2-mini.json"
GOLD_SET = REPO / DEFAULT_EVAL_FILE


# ---------------------------------------------------------------- loading both formats


def test_bundled_gold_set_is_complete_and_copied_from_the_cleaned_articles(corpus_dir):
    from qa.ingest.read import read_documents

    eval_set = load_eval_file(GOLD_SET)
    assert eval_set.format == "qa-eval" and eval_set.documents is None
    answerable = [q for q in eval_set.questions if q.answerable]
    unanswerable = [q for q in eval_set.questions if not q.answerable]
    assert len(answerable) >= 40 and len(unanswerable) >= 10
    tags = {t for q in eval_set.questions for t in q.tags}
    assert {"date", "person", "place", "organisation", "number", "yesno", "paraphrase"} <= tags
    documents, skipped = read_documents(sorted(corpus_dir.iterdir()), Config())
    assert not skipped
    texts = {d.doc_id: d.text for d in documents}
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
    assert docs["packet-switching-0"].article.title == "Packet switching"
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
