"""The trained reader (qa/reader/neural.py, qa/reader/span_model.py) with the shipped model on the bundled articles."""

from __future__ import annotations

import shutil

import pytest

from qa.config import Config
from qa.documents import Answer
from qa.errors import ReaderModelError
from qa.reader.neural import (
    NeuralReader,
    answer_kind,
    attributed_sentence,
    attributed_to,
    deciding_sentence,
    sentence_around,
    speaker_of,
    with_reason,
)
from qa.reader.span_model import default_model_dir, load_reader, read_manifest
from qa.terms import terms


@pytest.fixture(scope="module")
def qa(bundled_index):
    from qa.pipeline import QA

    return QA(bundled_index)


def assert_cited_exactly(answer: Answer) -> None:
    """Every citation's offsets slice its passage to the answer (the first) or the same answer."""
    assert answer.citations
    first = answer.citations[0]
    assert first.passage.text[first.answer_start : first.answer_end] == answer.answer
    for c in answer.citations:
        assert 0 <= c.answer_start < c.answer_end <= len(c.passage.text)
    assert len({c.passage.doc_id for c in answer.citations}) == len(answer.citations)


@pytest.mark.parametrize(
    "question, expected, doc",
    [
        ("Who was the first NATO secretary general to visit Armenia?", "Stoltenberg", "nhk"),
        ("Which TV channel interviewed Mirzoyan?", "Todo Noticias", "massispost"),
        ("When did Armenia join the Partnership for Peace program?", "1994", "massispost"),
        ("Who is the Kremlin spokesperson?", "Peskov", "nhk"),
    ],
)
def test_short_answers_are_exact_spans_with_the_right_article(qa, question, expected, doc):
    answer = qa.ask(question)
    assert answer.answer is not None and expected in answer.answer, answer.to_dict()
    assert answer.answer_type == "span"
    assert len(answer.answer.split()) <= 6
    assert_cited_exactly(answer)
    assert answer.citations[0].passage.doc_id.startswith(doc)
    assert 0.0 <= answer.confidence <= 1.0


@pytest.mark.parametrize(
    "question, words",
    [
        ("Does Armenia want to join NATO?", ["not on Armenia"]),
        ("Why did Armenia freeze its participation in the CSTO?", ["military support", "dissatisfied"]),
        ("What did Peskov say?", ["not enhance stability", "influence"]),
        ("Why did Armenia ask the EU to send a mission?", ["did not work"]),  # the reason, not just the restated ask
    ],
)
def test_questions_without_a_short_answer_get_the_evidence_sentence(qa, question, words):
    """Answered with the evidence sentence, or offered it as a possible answer to check."""
    answer = qa.ask(question)
    if answer.answer is not None:
        shown, kind = answer.answer, answer.answer_type
        assert_cited_exactly(answer)
    else:
        assert answer.candidate is not None, answer.to_dict()
        shown, kind = answer.candidate.text, answer.candidate.answer_type
        c = answer.candidate.citation
        assert c.passage.text[c.answer_start : c.answer_end] == shown
    assert kind == "sentence"
    assert any(w in shown for w in words), shown


def test_a_yes_no_answer_leads_with_the_sentence_that_decides_it(qa):
    answer = qa.ask("Does Armenia want to join NATO?")
    shown = answer.answer if answer.answer is not None else answer.candidate.text
    assert shown.startswith("This issue is not on Armenia’s agenda today"), shown


def test_what_did_x_say_gets_a_statement_attributed_to_x(qa):
    answer = qa.ask("What did Stoltenberg say?")
    shown = answer.answer if answer.answer is not None else answer.candidate.text
    assert "Stoltenberg said he welcomes" in shown, answer.to_dict()
    assert "is said to be" not in shown


def test_what_did_x_say_declines_when_nothing_is_attributed_to_x(qa):
    answer = qa.ask("What did Putin say?")
    assert answer.answer is None and answer.candidate is None


@pytest.mark.parametrize(
    "sentence, speaker, attributed",
    [
        ("Stoltenberg said he welcomes Armenia's solidarity with Ukraine.", "Stoltenberg", True),
        ("Stoltenberg is said to be the first NATO secretary general to visit Armenia.", "Stoltenberg", False),
        ("“This issue is not on Armenia’s agenda today,” Mirzoyan noted.", "Mirzoyan", True),
        ("According to the minister, the border is calm.", "the foreign minister", True),
        ("Pashinyan said his country is keen to develop the dialogue.", "Stoltenberg", False),
        ("Stoltenberg visited Yerevan on Tuesday.", "Stoltenberg", False),
    ],
)
def test_attributed_to(sentence, speaker, attributed):
    assert attributed_to(sentence, set(terms(speaker))) is attributed
    assert speaker_of(f"What did {speaker} say?") == speaker


def test_an_attributed_quote_is_taken_from_its_opening_mark():
    text = "Intro line.\n“We cooperate with NATO. This issue is not on the agenda,” Mirzoyan noted. Then more."
    s, e = attributed_sentence(text, set(terms("Mirzoyan")), 0, 5)
    assert text[s:e] == "“We cooperate with NATO. This issue is not on the agenda,” Mirzoyan noted."


def test_a_why_answer_that_points_back_to_its_reason_brings_the_reason_along():
    text = ("Intro.\n“Thus, the security mechanisms that we had did not work. It is for this reason that we were "
            "forced to ask the European Union to send a mission,” the minister said.")
    start = text.index("It is")
    why = "Why did Armenia ask the EU to send a mission?"
    assert text[slice(*with_reason(why, text, start, len(text)))].startswith("“Thus, the security mechanisms")
    plain = "First.\nThe vote was held. Officials said it went well."
    start = plain.index("Officials")
    assert with_reason("Why did officials say so?", plain, start, len(plain)) == (start, len(plain)), "the sentence alone"
    assert with_reason("Why?", plain, 0, 6) == (0, 6), "nothing before the first sentence"


def test_a_reason_comes_with_the_sentence_it_is_the_reason_for():
    text = ("In February, the country announced that it had frozen its participation in the CSTO. Pashinyan was "
            "dissatisfied with the lack of military support from Russia.")
    start = text.index("Pashinyan")
    s, e = with_reason("Why did Armenia freeze its participation in the CSTO?", text, start, len(text))
    assert text[s:e] == text


def test_deciding_sentence_prefers_a_short_direct_statement_in_the_paragraph():
    text = ("Lead sentence about NATO and Armenia joining. \n\n“We cooperate with NATO, we took part in missions "
            "and we increased our presence, and if we talk about the intention to join NATO, then no. "
            "This issue is not on Armenia’s agenda today,” he said.")
    start = text.index("intention")
    s, e = deciding_sentence("Does Armenia want to join NATO?", text, start, start + 9)
    assert text[s:e].startswith("This issue is not on Armenia’s agenda today")


@pytest.mark.parametrize("question", ["What is the capital of France?", "Who won the 2018 FIFA World Cup?"])
def test_off_topic_questions_are_declined(qa, question):
    answer = qa.ask(question)
    assert answer.answer is None and answer.citations == [] and answer.answer_type is None
    assert answer.candidate is None, "below the floor: not even a possible answer"
    assert answer.passages, "the closest passages are still returned"


def test_no_passages_or_empty_question_abstain():
    reader = NeuralReader(Config())
    assert reader.answer("Who?", []).answer is None
    assert reader.answer("", []).confidence == 0.0


@pytest.mark.parametrize(
    "question, kind",
    [
        ("Does Armenia want to join NATO?", "sentence"),
        ("Is the CSTO led by Russia?", "sentence"),
        ("Why did Armenia freeze its participation?", "sentence"),
        ("How did Russia react to the visit?", "sentence"),
        ("What did Peskov say about NATO?", "sentence"),
        ("How many rounds did Armenia lead?", "span"),
        ("Who is the Kremlin spokesperson?", "span"),
        ("What is the capital of Armenia?", "span"),
        ("When did relations begin?", "span"),
    ],
)
def test_answer_kind(question, kind):
    assert answer_kind(question) == kind


def test_sentence_around_widens_to_whole_sentences():
    text = "First one here. The answer sits in this one. Last."
    start = text.index("answer")
    assert text[slice(*sentence_around(text, start, start + 6))] == "The answer sits in this one."


def test_shipped_artifact_loads_offline_with_its_hashes():
    manifest = read_manifest(default_model_dir())
    assert manifest["weights_sha256"] and manifest["training"]["questions"] > 1000
    size = (default_model_dir() / manifest["weights"]).stat().st_size
    assert size < 40_000_000, "the artifact stores only the trained layers, in fp16"
    model, shape, _ = load_reader()
    assert shape.max_answer_tokens > 0 and not model.training


def test_a_damaged_artifact_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "reader"
    shutil.copytree(default_model_dir(), folder)
    weights = folder / read_manifest(folder)["weights"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ReaderModelError, match=r"reader\.safetensors: sha256 .* does not match .*reinstall"):
        load_reader(folder)
    (folder / "reader.json").unlink()
    with pytest.raises(ReaderModelError, match="no reader model here"):
        load_reader(folder)
