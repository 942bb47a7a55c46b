"""Answers that differ across articles (qa/reader/alternatives.py): hand-made candidates, then the real
reader on the generated archive's two flood reports (12 dead on 28 February, 40 on 1 March)."""

from __future__ import annotations

from qa.documents import Alternative, ArticleMeta, Chunk, Citation, Passage
from qa.reader.alternatives import agree, differing_answers, supporting


def option(text: str, confidence: float, doc: str, day: str | None, story: str | None = None) -> Alternative:
    body = f"The toll is {text} people."
    article = ArticleMeta(doc, f"Report {doc}", f"https://x.example/{doc}", day, f"Publisher {doc}")
    passage = Passage(Chunk(f"{doc}#0", doc, 0, len(body), body), article, 1.0, story or doc)
    return Alternative(text, confidence, Citation(passage, 12, 12 + len(text)))


def test_agree_compares_words_not_strings():
    assert agree("40", "at least 40 people") and agree("12 People", "12 people")
    assert not agree("40", "14") and not agree("", "40")


def test_other_stories_answers_follow_the_chosen_one_most_confident_first():
    chosen = option("12", 0.8, "feb", "2024-02-28")
    options = [chosen, option("40", 0.6, "mar", "2024-03-01"), option("12", 0.7, "feb-copy", "2024-02-29"),
               option("35", 0.3, "low", "2024-03-02"), option("9", 0.5, "feb-other", "2024-02-28", story="feb")]
    lead, others = differing_answers(options, chosen, latest=False, threshold=0.41)
    # 35 is below the threshold; "12" again agrees; "9" is the chosen answer's own story.
    assert lead is chosen and [o.text for o in others] == ["40"]
    assert [c.passage.doc_id for c in supporting(lead, options)] == ["feb", "feb-copy"]


def test_latest_question_puts_the_newest_confident_answer_first():
    chosen = option("12", 0.8, "feb", "2024-02-28")
    options = [chosen, option("40", 0.5, "mar", "2024-03-01"), option("25", 0.45, "undated", None),
               option("31", 0.6, "late-feb", "2024-02-29")]
    lead, others = differing_answers(options, chosen, latest=True, threshold=0.41)
    assert lead.text == "40"
    assert [(o.text, o.citation.passage.article.date) for o in others] == [("31", "2024-02-29"), ("12", "2024-02-28"),
                                                                   ("25", None)]
    # Nothing newer that disagrees: the chosen answer stays.
    assert differing_answers([chosen], chosen, latest=True, threshold=0.41) == (chosen, [])


def test_changed_answer_shows_both_with_dates(archive_index, embedder, capsys):
    """The real reader over the archive: both death tolls, with their articles and dates; the
    newer first for a "latest" question. (threshold 0.3, below the fitted 0.41: these tests are
    about ordering and display, not about the reader's calibration, which is retrained apart.)"""
    from qa.cli import answer_text
    from qa.pipeline import QA

    qa = QA(archive_index, embedder=embedder)
    answer = qa.ask("How many people died in the Valdoria floods?", threshold=0.3)
    told = [answer.answer] + [a.text for a in answer.alternatives]
    assert {"12", "40"} <= set(told), told
    assert answer.to_dict()["alternatives"][0].keys() == {"text", "confidence", "citation"}
    shown = answer_text(answer)
    assert "Other articles: 40 — Reuters, 1 March 2024" in shown or "Other articles: 12 — " in shown, shown

    latest = qa.ask("Latest news: how many people died in the Valdoria floods?", threshold=0.3)
    assert latest.answer == "40" and latest.citations[0].passage.article.date == "2024-03-01"
    assert [a.text for a in latest.alternatives] == ["12"]
    assert latest.alternatives[0].citation.passage.article.date.startswith("2024-02-2")
    assert "Other articles: 12 — " in answer_text(latest)
