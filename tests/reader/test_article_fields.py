"""Questions about the article itself (qa/reader/article_fields.py): recognised, routed to the article's
own fields by `QA.ask`, and shown by the CLI; on the bundled articles with the real model."""

from __future__ import annotations

import pytest

from qa.documents import ArticleMeta, Chunk, Passage
from qa.reader.article_fields import FieldQuestion, field_question, named_in


@pytest.mark.parametrize(
    "question, field, about",
    [
        ("When was the NHK article published?", "date", "the NHK article"),
        ("When was the Massis Post interview published?", "date", "the Massis Post interview"),
        ("Which outlet reported Stoltenberg's visit?", "publisher", "Stoltenberg's visit"),
        ("What newspaper published the interview with Mirzoyan?", "publisher", "the interview with Mirzoyan"),
        ("Who wrote the NHK article?", "author", "the NHK article"),
        ("Who is the author of the interview?", "author", "the interview"),
    ],
)
def test_questions_about_the_article_are_recognised(question, field, about):
    assert field_question(question) == FieldQuestion(field, about)


@pytest.mark.parametrize(
    "question",
    [
        "Which TV channel interviewed Mirzoyan?",  # the text answers it
        "When was the treaty published?",  # about the treaty, not the article
        "When did Armenia join the Partnership for Peace program?",
        "Who wrote the letter to the minister?",
        "Who is the Kremlin spokesperson?",
    ],
)
def test_questions_about_the_text_are_not_field_questions(question):
    assert field_question(question) is None


def _passage(doc_id: str, publisher: str | None = None, url: str | None = None) -> Passage:
    return Passage(Chunk(f"{doc_id}#0", doc_id, 0, 4, "text"), ArticleMeta(doc_id, "A headline", url, None, publisher), 1.0)


def test_an_article_is_named_by_its_publisher_site_or_file():
    nhk = _passage("nhk-stoltenberg", "nhk.or.jp", "https://www3.nhk.or.jp/nhkworld/en/news/1/")
    massis = _passage("massispost-armenia-nato-agenda")
    assert named_in("the NHK article", nhk) and not named_in("the NHK article", massis)
    assert named_in("the Massis Post interview", massis) and not named_in("the Massis Post interview", nhk)
    assert not named_in("the interview", massis), "a lower-case word names nothing"


@pytest.fixture(scope="module")
def qa(bundled_index):
    from qa.pipeline import QA

    return QA(bundled_index)


def test_publication_date_comes_from_the_date_field(qa):
    answer = qa.ask("When was the NHK article published?")
    assert (answer.answer, answer.answer_type, answer.article_field) == ("March 20, 2024", "field", "date")
    assert answer.citations[0].passage.doc_id.startswith("nhk")
    assert answer.to_dict()["field"] == "date"


def test_an_undated_article_is_said_to_be_undated(qa):
    answer = qa.ask("When was the Massis Post interview published?")
    assert answer.answer is None and answer.answer_type == "field" and answer.article_field == "date"
    assert answer.citations[0].passage.doc_id.startswith("massispost"), "the article is still cited"


def test_the_outlet_comes_from_the_publisher_field(qa):
    answer = qa.ask("Which outlet reported Stoltenberg's visit?")
    assert (answer.answer, answer.article_field) == ("nhk.or.jp", "publisher")
    assert answer.citations[0].passage.doc_id.startswith("nhk")


def test_cli_shows_the_field_and_the_missing_field(bundled_index, capsys):
    from qa.cli import main

    assert main(["ask", "When was the NHK article published?", "--index", str(bundled_index.index_dir)]) == 0
    out = capsys.readouterr().out
    assert "A: March 20, 2024 [1]" in out and "from the article's publication date field" in out
    assert main(["ask", "When was the Massis Post interview published?", "--index", str(bundled_index.index_dir)]) == 0
    assert "A: The article is undated: the index has no publication date for it. [1]" in capsys.readouterr().out
