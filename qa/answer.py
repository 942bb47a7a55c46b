"""Extractive answering with the trained reader: the best span across the retrieved passages,
the evidence sentence for questions that no short span answers, or an abstention.

All passages are read in one batched forward pass. Each passage proposes its best span and a
no-answer score; the span whose passage is surest of it (largest span-minus-no-answer margin)
wins. A fitted calibrator (`qa/reader_model/calibration.json`) turns the winner's scores into the
probability that it is right; below the threshold the reader abstains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.alternatives import differing_answers, supporting
from qa.calibration import Calibrator, features, load_calibrator
from qa.chunk import split_sentences
from qa.config import Config
from qa.documents import Alternative, Answer, Citation, Passage
from qa.news import asks_for_latest

if TYPE_CHECKING:  # torch loads only when the reader first reads
    from qa.reader_model import ReaderShape, SpanReader

# ---------------------------------------------------------------------------------------------
# Questions that a short span cannot answer: the evidence sentence is the answer.
# ---------------------------------------------------------------------------------------------

_AUXILIARIES = (
    "is are was were am do does did can could will would should shall may might must has have had "
    "isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't wouldn't shouldn't hasn't haven't"
).split()
_QUANTITY_HOW = "many much long old far big large often tall high few soon early late fast deep wide heavy large small".split()
# "What did Peskov say?", "What does the minister think about it?": the question ends at the verb
# of saying (or its "about ..." topic); "What did he say he welcomes?" asks for a span.
_SAYING = re.compile(
    r"^(?:and |so |but )?what (?:did|does|do|has|have|had|will|would) .+? "
    r"(?:say|said|think|tell|told|claim|mean|announce|warn|write|argue|believe|state|report|reveal|"
    r"suggest|propose|promise|explain|note|stress)(?:\s+(?:about|on|regarding)\s+[^?]+)?\s*\??\s*$",
    re.IGNORECASE,
)
_IMPERATIVE = re.compile(r"^(?:please )?(?:explain|describe|summari[sz]e|tell me (?:about|why|how))\b", re.IGNORECASE)


def answer_kind(question: str) -> str:
    """"sentence" for yes/no, why, how (manner), "what did X say" and explain/describe
    questions; "span" for the rest (who, when, where, which, how many, what ...)."""
    words = re.findall(r"[\w']+", question.lower())
    if not words:
        return "span"
    first = words[1] if words[0] in ("and", "so", "but") and len(words) > 1 else words[0]
    if first in _AUXILIARIES or first == "why" or "why" in words[:4]:
        return "sentence"
    if first == "how" and (len(words) < 2 or words[words.index("how") + 1] not in _QUANTITY_HOW):
        return "sentence"
    if _SAYING.search(question) or _IMPERATIVE.search(question):
        return "sentence"
    return "span"


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """The best span of one passage: `passage.text[start:end]`."""

    passage_index: int
    start: int
    end: int
    margin: float  # span score minus the passage's no-answer score
    probability: float  # P(start) * P(end) within the passage, no-answer included

    def text(self, passages: list[Passage]) -> str:
        return passages[self.passage_index].text[self.start : self.end]


@dataclass(frozen=True)
class Reading:
    """The reader's choice before the abstention decision."""

    candidate: Candidate | None  # None: nothing to read
    kind: str  # "span" | "sentence"
    start: int  # the answer in passages[candidate.passage_index].text
    end: int
    agreeing: tuple[Candidate, ...] = ()  # other passages whose best span is the same text
    candidates: tuple[Candidate, ...] = ()  # every passage's best span (issue 21: alternatives)


@lru_cache(maxsize=2)
def _load(folder: str) -> tuple[SpanReader, ReaderShape, dict[str, Any]]:
    from qa.reader_model import load_reader

    return load_reader(Path(folder))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence(s) of `text` that hold [start, end), without an opening quote or bracket
    that the sentence splitter left at the end."""
    spans = [(s, e) for s, e in split_sentences(text) if s < end and start < e]
    if not spans:
        return start, end
    s, e = min(start, spans[0][0]), max(end, spans[-1][1])
    while e > end and text[e - 1] in " \t“‘\"'([":
        e -= 1
    return s, e


class NeuralReader:
    """The trained span reader behind the `qa.protocols.Reader` protocol. The model loads on first use."""

    def __init__(self, config: Config, model_dir: Path | None = None):
        from qa.reader_model import default_model_dir

        self.config = config
        self.model_dir = Path(model_dir or config.reader_model_dir or default_model_dir())
        self.calibrator: Calibrator = load_calibrator(self.model_dir)

    @property
    def default_threshold(self) -> float:
        """The abstention threshold: the config's, else the one fitted with the calibrator."""
        return self.calibrator.threshold if self.config.abstain_threshold is None else self.config.abstain_threshold

    def describe(self) -> dict[str, Any]:
        """What the evaluation report says about the reader."""
        from qa.reader_model import read_manifest

        training = read_manifest(self.model_dir).get("training", {})
        return {
            "model_dir": str(self.model_dir),
            "trained_questions": training.get("questions"),
            "calibration": self.calibrator.provenance.get("command", "uncalibrated"),
            "threshold": self.default_threshold,
        }

    def read(self, question: str, passages: list[Passage]) -> list[Candidate]:
        """Every passage's best span, in passage order (one batched forward pass)."""
        import torch

        from qa.encoder import autocast
        from qa.reader_model import best_spans, encode_pairs, truncate_question

        texts = [p.text for p in passages]
        if not question.strip() or not any(t.strip() for t in texts):
            return []
        model, shape, _ = _load(str(self.model_dir))
        question = truncate_question(question, shape.max_question_tokens)
        batch = encode_pairs([question] * len(texts), texts, shape)
        with torch.inference_mode(), autocast("cpu", self.config.cpu_dtype):
            start, end = model(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        out = []
        for row, span in enumerate(best_spans(start, end, batch.context_mask, shape.max_answer_tokens, batch.line_ids)):
            if span is None:
                continue
            s_char, e_char = batch.offsets[row][span.start_token][0], batch.offsets[row][span.end_token][1]
            out.append(Candidate(row, s_char, e_char, span.score - span.null_score, span.probability))
        return out

    def best(self, question: str, passages: list[Passage]) -> Reading:
        """The winning span (no abstention decision): the answer's offsets, its kind, and the
        other passages that propose the same text."""
        candidates = self.read(question, passages)
        if not candidates:
            return Reading(None, answer_kind(question), 0, 0)
        best = max(candidates, key=lambda c: c.margin)
        key = _norm(best.text(passages))
        agreeing = tuple(c for c in candidates if c is not best and _norm(c.text(passages)) == key)
        kind = answer_kind(question)
        start, end = best.start, best.end
        if kind == "sentence":
            start, end = sentence_around(passages[best.passage_index].text, start, end)
        return Reading(best, kind, start, end, agreeing, tuple(candidates))

    def answer(
        self, question: str, passages: list[Passage], threshold: float | None = None, asked: str | None = None
    ) -> Answer:
        """The answer with its citations, or an abstention (answer=None) when the calibrated
        confidence is below `threshold`. `passages` come back as read; the Answer's question is
        `asked` (the question as typed) when given, else `question` (the text read)."""
        threshold = self.default_threshold if threshold is None else threshold
        passages = list(passages)
        shown = question if asked is None else asked
        reading = self.best(question, passages)
        if reading.candidate is None:
            return Answer(shown, None, 0.0, [], passages)
        best = reading.candidate
        passage = passages[best.passage_index]
        confidence = self.calibrator.probability(features(best))
        if confidence < threshold:
            return Answer(shown, None, confidence, [], passages)
        citations = [Citation(passage, reading.start, reading.end)]
        if reading.kind == "span":
            # Other retrieved articles whose own best span is the same answer are cited too.
            cited = {passage.doc_id}
            for c in sorted(reading.agreeing, key=lambda c: -c.margin):
                other = passages[c.passage_index]
                if other.doc_id not in cited and c.margin > 0:
                    citations.append(Citation(other, c.start, c.end))
                    cited.add(other.doc_id)
        text = passage.text[reading.start : reading.end]
        # --- issue 21 (qa/alternatives.py): confident answers of other stories that differ, and for a
        # "latest" question the newest confident answer leads. Each candidate's confidence: the calibrator.
        alternatives: list[Alternative] = []
        if reading.kind == "span":
            options = [Alternative(c.text(passages), self.calibrator.probability(features(c)),
                                   Citation(passages[c.passage_index], c.start, c.end)) for c in reading.candidates]
            lead, alternatives = differing_answers(options, Alternative(text, confidence, citations[0]),
                                                   asks_for_latest(question), threshold)
            if lead.citation is not citations[0]:
                text, confidence, citations = lead.text, lead.confidence, supporting(lead, options)
        # --- end issue 21
        return Answer(shown, text, confidence, citations, passages, reading.kind, alternatives)
