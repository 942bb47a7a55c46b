"""qa/chat.py: the app's replies without Gradio, over a copy of the bundled index with the real model."""

from __future__ import annotations

import pytest

from qa.chat import Chat
from qa.errors import BadInputError, QAError
from tests.conftest import MASSIS, NHK
from tests.reliability import copy_index

NATO_Q = "Who was the first NATO secretary general to visit Armenia?"


@pytest.fixture(scope="module")
def chat(bundled_index, tmp_path_factory, embedder) -> Chat:
    chat = Chat(copy_index(bundled_index, tmp_path_factory.mktemp("chat") / "index"))
    chat.qa.embedder = embedder
    return chat


def test_an_answer_is_appended_with_the_passages_read(chat):
    history, cleared, asked = chat.add_question(NATO_Q, [])
    assert cleared == "" and asked == NATO_Q and history[-1]["role"] == "user"
    history, passages = chat.answer(history, asked, 5, "hybrid", 0.17)
    assert history[-1]["role"] == "assistant" and "Stoltenberg" in history[-1]["content"]
    assert passages is not None and "Passages read" in passages


def test_an_empty_question_gets_a_hint_and_leaves_the_passages(chat):
    history, passages = chat.answer([], "   ", 5, "hybrid", 0.17)
    assert "Type a question" in history[-1]["content"] and passages is None


def test_ask_json_refuses_with_the_librarys_messages(chat):
    with pytest.raises(BadInputError, match="the question is empty"):
        chat.ask_json("  ")
    with pytest.raises(QAError, match="unknown retriever"):
        chat.ask_json(NATO_Q, retriever="fuzzy")
    assert "Stoltenberg" in (chat.ask_json(NATO_Q)["answer"] or "")


def test_search_and_articles(chat):
    assert "Peskov" in chat.search("Kremlin spokesperson Peskov", 3, "hybrid")
    rows, choices = chat.articles()
    assert sorted(r[0] for r in rows) == sorted([MASSIS, NHK]) and len(choices) == 2


def test_status_says_what_the_index_holds(chat):
    assert "2 articles" in chat.status()


def test_a_date_range_says_how_many_undated_articles_it_left_out(chat):
    question = "Is joining NATO on Armenia's agenda, according to Mirzoyan?"
    note = "1 undated article left out by the date range."
    history, _ = chat.answer([], question, 5, "hybrid", 0.17, since="2024-03-01")
    assert note in history[-1]["content"]
    assert note in chat.search(question, 5, "hybrid", since="2024-03-01")
    history, _ = chat.answer([], question, 5, "hybrid", 0.17)
    assert "undated" not in history[-1]["content"]


def test_removing_asks_first_with_the_whole_headlines(chat):
    """The confirmation names each chosen article by its whole headline; nothing is removed by asking."""
    prompt, why_not = chat.removal_prompt([NHK])
    assert why_not == "" and "Remove 1 article from the index?" in prompt
    assert "NATO Secretary General Jens Stoltenberg has visited Armenia in a move to strengthen ties" in prompt
    assert chat.removal_prompt([]) == (None, "Select one or more articles to remove.")
    rows, choices = chat.articles()
    assert sorted(r[0] for r in rows) == sorted([MASSIS, NHK])  # still there
    nhk_label = dict((doc_id, label) for label, doc_id in choices)[NHK]
    assert nhk_label.startswith("NATO Secretary General Jens Stoltenberg has visited Armenia in a move")


def test_the_folded_options_show_a_date_range_that_is_set(chat):
    assert chat.options_label(None, None) == "Date range and settings"
    assert chat.options_label("2024-03-01", "") == "Date range and settings: articles dated 2024-03-01 or later"
    assert "not a date" in chat.options_label("March", None)


def test_questions_about_the_article_itself_in_the_app_and_ask_json(chat):
    """Issue 27's cases through the app's replies and `/ask`: the date and publisher fields, an
    undated article said to be undated, a statement attributed to its speaker, a why-answer."""
    reply = chat.ask_json("When was the NHK article published?")
    assert (reply["answer"], reply["answer_type"], reply["field"]) == ("March 20, 2024", "field", "date")
    assert reply["citations"][0]["doc_id"] == NHK
    reply = chat.ask_json("Which outlet reported Stoltenberg's visit?")
    assert (reply["answer"], reply["field"]) == ("nhk.or.jp", "publisher")
    reply = chat.ask_json("When was the Massis Post interview published?")
    assert reply["answer"] is None and reply["field"] == "date" and reply["citations"][0]["doc_id"] == MASSIS
    said = chat.ask_json("What did Stoltenberg say?")
    shown = said["answer"] or said["candidate"]["text"]
    assert "Stoltenberg said he welcomes" in shown
    why = chat.ask_json("Why did Armenia ask the EU to send a mission?")
    assert "did not work" in (why["answer"] or why["candidate"]["text"])
    history, _, asked = chat.add_question("When was the Massis Post interview published?", [])
    history, _ = chat.answer(history, asked, 5, "hybrid", 0.17)
    assert "The article is undated" in history[-1]["content"] and "qa-field" in history[-1]["content"]
