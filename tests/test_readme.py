"""The README says what the product does: its first two commands are `make run` and `make test`,
every message its answer card quotes is one the product prints, its sample replies are what
`qa ask` prints for those answers, and the confidence numbers in docs/evaluation.md are the shipped
calibration's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.cli import answer_text
from qa.documents import Answer, ArticleMeta, Chunk, Citation, Passage, PossibleAnswer
from qa.reader.calibration import band_of
from qa.sources import (
    CLOSEST_HEADING,
    FIELD_MISSING,
    FIELD_NAMES,
    NO_ANSWER,
    POSSIBLE_ANSWER,
    below_threshold,
    confidence_label,
    field_origin,
    undated_note,
)

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
NUMBERS = [n / 100 for n in range(101)]


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)


def _printed_messages() -> set[str]:
    """Every message the answer card can print, built by the product's own functions."""
    bands = (None, *sorted({band_of(x, (0.3, 0.76)) for x in NUMBERS}))
    return {
        NO_ANSWER, POSSIBLE_ANSWER, CLOSEST_HEADING,
        *(confidence_label(x, band) for x in NUMBERS for band in bands),
        *(below_threshold(x, t) for x in NUMBERS for t in NUMBERS),
        *(undated_note(n) for n in range(1, 100)),
        *FIELD_MISSING.values(), *(field_origin(f) for f in FIELD_NAMES),
    }


def test_the_first_two_commands_are_make_run_and_make_test():
    first_block = README.index("```")
    assert "`" not in README[:first_block].replace("``", ""), "no command before the first code block"
    block = _code_blocks(README, "bash")[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands[:2] == ["make run", "make test"]


def test_every_message_the_answer_card_quotes_is_printed_by_the_product():
    card = _section(README, "The answer card")
    prose = re.sub(r"```.*?```", "", card, flags=re.DOTALL)
    quotes = re.findall(r'"([^"]+)"', prose)
    assert len(quotes) >= 6, quotes
    printed = _printed_messages()
    for quote in quotes:
        words = " ".join(quote.split())
        # a quote is a whole message, or its first words ("high", "low confidence")
        assert any(m == words or m.startswith(words + " ") for m in printed), f"not printed by the product: {quote!r}"
    for message in (NO_ANSWER, POSSIBLE_ANSWER, CLOSEST_HEADING, undated_note(1)):
        assert message in " ".join(prose.split()), f"the answer card does not quote {message!r}"


def _passage() -> Passage:
    text = "Stoltenberg is said to be the first NATO secretary general to visit Armenia."
    return Passage(
        Chunk("nhk-stoltenberg-visits-armenia#2", "nhk-stoltenberg-visits-armenia", 900, 900 + len(text), text),
        ArticleMeta("nhk-stoltenberg-visits-armenia",
                    "NATO Secretary General Jens Stoltenberg has visited Armenia in a move to strengthen ties…",
                    "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/", "March 20, 2024", "nhk.or.jp"),
        0.03,
    )


def _printed_replies() -> list[list[str]]:
    """What `qa ask` prints for the three states shown in the README (the real formatter)."""
    nato = "Who was the first NATO secretary general to visit Armenia?"
    cited = Citation(_passage(), 0, len("Stoltenberg"))
    answers = [
        (Answer(nato, "Stoltenberg", 0.81, [cited], [_passage()], "span", band="high"), 0.17),
        (Answer(nato, None, 0.71, [], [_passage()], candidate=PossibleAnswer("Stoltenberg", 0.71, cited)), 0.9),
        (Answer("What is the capital of France?", None, 0.0, [], [_passage()]), 0.17),
        (Answer("When was the NHK article published?", "March 20, 2024", 1.0, [Citation(_passage(), 0, 0)], [_passage()],
                "field", article_field="date"), 0.17),
    ]
    return [answer_text(answer, threshold).split("\n") for answer, threshold in answers]


def test_the_answer_cards_sample_replies_are_what_qa_ask_prints():
    blocks = _code_blocks(_section(README, "The answer card"), "text")
    assert len(blocks) == 4
    for block, printed in zip(blocks, _printed_replies()):
        lines = block.rstrip("\n").split("\n")
        assert lines == printed[: len(lines)]


def test_the_confidence_numbers_in_the_docs_are_the_shipped_calibrations():
    calibration = json.loads((REPO / "qa" / "reader_model" / "calibration.json").read_text(encoding="utf-8"))
    docs = (REPO / "docs" / "evaluation.md").read_text(encoding="utf-8")
    said = " ".join(_section(docs, "Confidence in words").split())
    medium, high = calibration["bands"]
    for phrase in (f'"medium" from {medium:.2f}', f'"high" from {high:.2f}', f"the threshold is {calibration['threshold']:.2f}",
                   f"floor {calibration['floor']:g}"):
        assert phrase in said, (phrase, said)


@pytest.mark.parametrize("doc", ["architecture", "evaluation", "performance", "training", "reliability"])
def test_the_readme_links_every_doc_and_each_exists(doc):
    assert f"(docs/{doc}.md)" in README and (REPO / "docs" / f"{doc}.md").is_file()
