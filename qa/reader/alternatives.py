"""Answers that differ across articles: a death toll rises, an official is replaced. When confident
candidates from different stories (qa/stories.py) give different answers, the chosen answer
leads and the others follow with their article and date; for a question that asks for the
latest news (`qa.dates.asks_for_latest`), the newest confident answer leads.

Pure functions over `Alternative`s (text, confidence, citation): the reader proposes one per
passage and calls `differing_answers` once it has chosen.
"""

from __future__ import annotations

import re
from datetime import date

from qa.documents import Alternative, Citation


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def agree(a: str, b: str) -> bool:
    """Whether two answers say the same: equal words, or one's words inside the other's
    ("40" and "at least 40 people")."""
    x, y = _words(a), _words(b)
    return x.strip() != "" and y.strip() != "" and (x in y or y in x)


def _story(option: Alternative) -> str:
    passage = option.citation.passage
    return passage.story or passage.doc_id


def _date(option: Alternative) -> date | None:
    from qa.dates import parse_date

    return parse_date(option.citation.passage.article.date)


def differing_answers(
    options: list[Alternative], chosen: Alternative, latest: bool, threshold: float
) -> tuple[Alternative, list[Alternative]]:
    """(the answer that leads, the other answers). `options` are every passage's best answer with
    its calibrated confidence; `chosen` is the reader's answer. Only options at or above
    `threshold` count. For a `latest` question, a strictly newer dated option that disagrees with
    `chosen` leads instead. The others: one per story other than the lead's, each disagreeing
    with the lead and with those before it; newest first (undated last) for a `latest` question,
    else most confident first."""
    confident = [o for o in options if o.confidence >= threshold]
    lead = chosen
    if latest and (chosen_day := _date(chosen)) is not None:
        newer = [(day, o) for o in confident if (day := _date(o)) is not None and day > chosen_day
                 and not agree(o.text, chosen.text)]
        if newer:
            lead = max(newer, key=lambda item: (item[0], item[1].confidence))[1]

    def order(o: Alternative) -> tuple[int, float]:
        day = _date(o) if latest else None
        return (-(day.toordinal() if day else 0), -o.confidence)

    others: list[Alternative] = []
    stories = {_story(lead)}
    for o in sorted([*confident, chosen], key=order):
        if _story(o) in stories or any(agree(o.text, seen.text) for seen in [lead, *others]):
            continue
        stories.add(_story(o))
        others.append(o)
    return lead, others


def supporting(lead: Alternative, options: list[Alternative]) -> list[Citation]:
    """The lead's citation, then one more per other article whose own answer agrees with it."""
    citations = [lead.citation]
    cited = {lead.citation.passage.doc_id}
    for o in sorted(options, key=lambda o: -o.confidence):
        doc = o.citation.passage.doc_id
        if doc not in cited and agree(o.text, lead.text):
            citations.append(o.citation)
            cited.add(doc)
    return citations
