"""Extractive answering with the trained reader: the best span across the retrieved passages,
the evidence sentence for questions that no short span answers, a possible answer, or an
abstention.

All passages are read in one batched forward pass. Each passage proposes its best span and a
no-answer score. A reader trained with shared normalisation (its manifest says `"scoring":
"shared"`) scores spans on one scale across passages, so the highest-scoring span wins; a reader
trained passage by passage compares span-minus-no-answer margins instead. A fitted calibrator
(`qa/reader_model/calibration.json`) turns what the reader saw into the probability that the
answer is right: at or above the threshold it answers; between the fitted floor and the threshold
it offers the candidate as a possible answer; below the floor it says the articles don't say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.config import Config
from qa.dates import asks_for_latest
from qa.documents import Alternative, Answer, Citation, Passage, PossibleAnswer
from qa.reader.alternatives import differing_answers, supporting
from qa.reader.calibration import Calibrator, Candidate, band_of, load_calibrator, norm_text, reading_features
from qa.sentences import split_sentences

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
    r"^(?:and |so |but )?what (?:did|does|do|has|have|had|will|would) (?P<speaker>.+?) "
    r"(?:say|said|think|tell|told|claim|mean|announce|warn|write|argue|believe|state|report|reveal|"
    r"suggest|propose|promise|explain|note|stress)(?:\s+(?:about|on|regarding)\s+(?P<topic>[^?]+))?\s*\??\s*$",
    re.IGNORECASE,
)
_IMPERATIVE = re.compile(r"^(?:please )?(?:explain|describe|summari[sz]e|tell me (?:about|why|how))\b", re.IGNORECASE)


def answer_kind(question: str, yes_no: bool = False) -> str:
    """"sentence" for yes/no, why, how (manner), "what did X say" and explain/describe
    questions; "span" for the rest (who, when, where, which, how many, what ...). With `yes_no`,
    a yes/no question is "yes/no" instead of "sentence"."""
    words = re.findall(r"[\w']+", question.lower())
    if not words:
        return "span"
    first = words[1] if words[0] in ("and", "so", "but") and len(words) > 1 else words[0]
    if first in _AUXILIARIES:
        return "yes/no" if yes_no else "sentence"
    if first == "why" or "why" in words[:4]:
        return "sentence"
    if first == "how" and (len(words) < 2 or words[words.index("how") + 1] not in _QUANTITY_HOW):
        return "sentence"
    if _SAYING.search(question) or _IMPERATIVE.search(question):
        return "sentence"
    return "span"


# "What did X say?": the answer is a statement attributed to X — a sentence where X (a word of
# the speaker's name or title) is near a verb of saying in the active voice ("Stoltenberg said he
# welcomes …", "“…,” Mirzoyan noted", "according to the minister"), never "X is said to be …".
_SPEECH = re.compile(
    r"\b(?:said|says|say|told|tells|noted|notes|added|adds|stated|states|emphasi[sz]ed|stressed|warned|warns|"
    r"argued|claimed|explained|announced|insisted|replied|wrote|writes|remarked|declared|acknowledged|urged|"
    r"according to)\b",
    re.IGNORECASE,
)
_PASSIVE_SAID = re.compile(r"\b(?:is|are|was|were|be|been|being)\s+(?:also\s+)?said\s+to\b", re.IGNORECASE)
_WORDS = re.compile(r"\w[\w’'-]*")


def speaker_of(question: str) -> str | None:
    """X of "What did X say (about Y)?", None for other questions."""
    m = _SAYING.search(question.strip())
    return m.group("speaker") if m else None


def attributed_to(sentence: str, speaker_terms: set[str], window: int = 8) -> bool:
    """Whether `sentence` reports something said by the speaker: a verb of saying in the active
    voice with one of the speaker's terms (stemmed) at most `window` words before it or 4 after."""
    from qa.terms import stem

    if not speaker_terms:
        return False
    active = _PASSIVE_SAID.sub(lambda m: " " * len(m.group(0)), sentence)
    words = [(m.start(), stem(m.group(0).lower().strip("’'"))) for m in _WORDS.finditer(active)]
    for verb in _SPEECH.finditer(active):
        at = sum(1 for start, _ in words if start < verb.start())
        if any(w in speaker_terms for _, w in words[max(0, at - window) : at + 4]):
            return True
    return False


def attributed_sentence(text: str, speaker_terms: set[str], start: int, end: int) -> tuple[int, int] | None:
    """The statement of the speaker in `text` nearest to [start, end) — the sentence holding it
    when it is one — widened back to the opening quotation mark of a quote that began in an
    earlier sentence; None when the passage attributes nothing to the speaker."""
    best: tuple[int, int] | None = None
    best_distance = math.inf
    for s, e in split_sentences(text):
        if not attributed_to(text[s:e], speaker_terms):
            continue
        distance = 0 if s < end and start < e else min(abs(s - end), abs(start - e))
        if distance < best_distance:
            best, best_distance = (s, e), distance
    if best is None:
        return None
    s, e = best
    paragraph_start = text.rfind("\n", 0, s) + 1
    opening = text.rfind("“", paragraph_start, s)
    if opening >= 0 and "”" not in text[opening:s]:
        s = opening
    return s, e


# "Why …?": an evidence sentence that points back to its reason ("It is for this reason that …",
# "That is why …", "Thus …") is answered together with the sentence before it, which gives it; so
# is a reason whose sentence before it says what it is the reason for (restates the question).
_BACK_TO_REASON = re.compile(
    r"\b(?:for (?:this|that|these|those) reasons?|(?:this|that) is why|because of (?:this|that)|as a result|"
    r"therefore|thus|hence|consequently|so)\b",
    re.IGNORECASE,
)


def asks_why(question: str) -> bool:
    return "why" in re.findall(r"[\w']+", question.lower())[:4]


def with_reason(question: str, text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened back over the sentence before it, in the same paragraph, when its
    first clause points back to a reason given there (`_BACK_TO_REASON`), or when that sentence
    shares more of the question's words (it says what the reason is for)."""
    from qa.terms import terms

    sentences = split_sentences(text)
    at = [i for i, (s, e) in enumerate(sentences) if s < end and start < e]
    if not at or at[0] == 0:
        return start, end
    first = sentences[at[0]]
    previous = sentences[at[0] - 1]
    if "\n" in text[previous[0] : start]:
        return start, end
    first_clause = re.split(r"[,;:]", text[first[0] : first[1]], maxsplit=1)[0]
    wanted = set(terms(question))
    restates = len(wanted & set(terms(text[previous[0] : previous[1]]))) > len(wanted & set(terms(text[first[0] : first[1]])))
    if not _BACK_TO_REASON.search(first_clause) and not restates:
        return start, end
    return min(start, previous[0]), end


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The reader's choice before the abstention decision."""

    candidate: Candidate | None  # None: nothing to read
    kind: str  # "span" | "sentence"
    start: int  # the answer in passages[candidate.passage_index].text
    end: int
    agreeing: tuple[Candidate, ...] = ()  # other passages whose best span is the same text
    features: dict[str, float] | None = None  # `qa.reader.neural.calibration.reading_features` of the choice
    candidates: tuple[Candidate, ...] = ()  # every passage's best span (for the answers of other stories)


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


_POLARITY = re.compile(r"\b(?:not|no|never|neither|nor|none|nothing|without|yes|indeed)\b|n[’']t\b", re.IGNORECASE)


def deciding_sentence(question: str, text: str, start: int, end: int) -> tuple[int, int]:
    """For a yes/no question: the sentence that decides it, to lead the answer. Among the
    evidence sentence and the sentences on either side of it in its paragraph, the one with the most of the
    question's content words (and a yes/no word: "not", "no", "never" ...) for its length — a
    decision is a short, direct statement: "Does Armenia want to join NATO?" is decided by "This
    issue is not on Armenia's agenda today", not by the long quote before it."""
    from qa.terms import terms

    wanted = set(terms(question))
    sentences = split_sentences(text)
    at = [i for i, (s, e) in enumerate(sentences) if s < end and start < e]
    if not at or not wanted:
        return sentence_around(text, start, end)
    near = [i for i in range(max(at[0] - 1, 0), min(at[-1] + 2, len(sentences)))  # within the evidence's paragraph
            if "\n" not in text[min(sentences[i][0], sentences[at[0]][0]) : max(sentences[i][1], sentences[at[-1]][1])]]

    def decides(i: int) -> float:
        s, e = sentences[i]
        matched = len(wanted & set(terms(text[s:e])))
        if not matched:
            return 0.0
        return (matched + bool(_POLARITY.search(text[s:e]))) / math.sqrt(max(len(text[s:e].split()), 1))

    best = max(near, key=decides)
    if decides(best) == 0.0:
        return sentence_around(text, start, end)
    return sentence_around(text, *sentences[best])


class NeuralReader:
    """The trained span reader behind the `qa.protocols.Reader` protocol. The model loads on first use."""

    def __init__(self, config: Config, model_dir: Path | None = None):
        from qa.reader.span_io import (  # issue 31: torch-free (was qa.reader.span_model)
            default_model_dir,
            read_manifest,
        )

        self.config = config
        self.model_dir = Path(model_dir or config.reader_model_dir or default_model_dir())
        self.calibrator: Calibrator = load_calibrator(self.model_dir)
        self.scoring = str(read_manifest(self.model_dir).get("scoring", "per-passage"))
        # --- issue 31: the network starts loading now, in the background (qa/model/onnx_runtime.py) ---
        from qa.reader.onnx_reader import preload_span_reader

        preload_span_reader(str(self.model_dir))

    @property
    def default_threshold(self) -> float:
        """The abstention threshold: the config's, else the one fitted with the calibrator."""
        return self.calibrator.threshold if self.config.abstain_threshold is None else self.config.abstain_threshold

    def band(self, confidence: float) -> str:
        """The confidence in words: the config's bands if set, else the calibrator's (measured)."""
        return band_of(confidence, self.config.confidence_bands or self.calibrator.bands)

    def describe(self) -> dict[str, Any]:
        """What the evaluation report says about the reader."""
        from qa.reader.span_io import read_manifest  # issue 31: torch-free (was qa.reader.span_model)

        training = read_manifest(self.model_dir).get("training", {})
        return {
            "model_dir": str(self.model_dir),
            "trained_questions": training.get("questions"),
            "scoring": self.scoring,
            "calibration": self.calibrator.provenance.get("command", "uncalibrated"),
            "threshold": self.default_threshold,
            "floor": self.calibrator.floor,
            "bands": list(self.calibrator.bands),
        }

    def read(self, question: str, passages: list[Passage]) -> list[Candidate]:
        """Every passage's best span, in passage order (one batched forward pass)."""
        # --- issue 31: the network runs on ONNX Runtime in float32 (qa/model/onnx_runtime.py), without torch ---
        from qa.reader.onnx_reader import span_reader
        from qa.reader.span_io import best_spans, encode_pair_arrays, truncate_question

        texts = [p.text for p in passages]
        if not question.strip() or not any(t.strip() for t in texts):
            return []
        network = span_reader(str(self.model_dir))
        shape = network.shape
        question = truncate_question(question, shape.max_question_tokens)
        batch = encode_pair_arrays([question] * len(texts), texts, shape)
        start, end = network.logits(batch)
        # --- end of the issue-31 change ---
        out = []
        for row, span in enumerate(best_spans(start, end, batch.context_mask, shape.max_answer_tokens, batch.line_ids)):
            if span is None:
                continue
            s_char, e_char = batch.offsets[row][span.start_token][0], batch.offsets[row][span.end_token][1]
            out.append(Candidate(row, s_char, e_char, texts[row][s_char:e_char], span.score, span.start_null,
                                 span.end_null, span.start_norm, span.end_norm))
        return out

    def choose(self, candidates: list[Candidate]) -> Candidate:
        """The winning span: the highest score when scores compare across passages, else the
        largest margin over the passage's own no-answer score."""
        return max(candidates, key=self._strength)

    def _strength(self, c: Candidate) -> float:
        return c.score if self.scoring == "shared" else c.margin

    def best(self, question: str, passages: list[Passage]) -> Reading:
        """The winning span (no abstention decision): the answer's offsets, its kind, the other
        passages that propose the same text, and the calibrator's features."""
        from qa.terms import terms

        candidates = self.read(question, passages)
        kind = answer_kind(question)
        if not candidates:
            return Reading(None, kind, 0, 0)
        best = self.choose(candidates)
        speaker = speaker_of(question)
        if kind == "sentence" and speaker is not None:
            # A statement attributed to the speaker, in the best-scoring passage that has one; else none.
            said = self._statement(candidates, passages, set(terms(speaker)))
            if said is None:
                return Reading(None, kind, 0, 0)
            best, (start, end) = said
        else:
            start, end = best.start, best.end
        key = norm_text(best.text)
        agreeing = tuple(c for c in candidates if c is not best and norm_text(c.text) == key)
        text = passages[best.passage_index].text
        if kind == "sentence" and speaker is None:
            start, end = sentence_around(text, start, end)
            if answer_kind(question, yes_no=True) == "yes/no":
                start, end = deciding_sentence(question, text, start, end)
            elif asks_why(question):
                start, end = with_reason(question, text, start, end)
        features = reading_features(
            question, best, candidates, terms(question), terms(text), terms(text[start:end]), best.passage_index
        )
        return Reading(best, kind, start, end, agreeing, features, tuple(candidates))

    def _statement(self, candidates: list[Candidate], passages: list[Passage],
                   speaker_terms: set[str]) -> tuple[Candidate, tuple[int, int]] | None:
        """The best candidate (by `choose`'s order) whose passage attributes a statement to the
        speaker, and that statement's offsets (`attributed_sentence`)."""
        for c in sorted(candidates, key=self._strength, reverse=True):
            span = attributed_sentence(passages[c.passage_index].text, speaker_terms, c.start, c.end)
            if span is not None:
                return c, span
        return None

    def candidate_confidence(self, question: str, c: Candidate, candidates: tuple[Candidate, ...], passages: list[Passage]) -> float:
        """The calibrated confidence of one passage's best span as if it had been chosen."""
        from qa.terms import terms

        text = passages[c.passage_index].text
        features = reading_features(question, c, candidates, terms(question), terms(text), terms(c.text), c.passage_index)
        return self.calibrator.probability("span", features)

    def answer(
        self, question: str, passages: list[Passage], threshold: float | None = None, asked: str | None = None
    ) -> Answer:
        """The answer with its citations; or, when the calibrated confidence is below `threshold`,
        an abstention (answer=None) that carries the best candidate as a possible answer when its
        confidence reaches the fitted floor. `passages` come back as read; the Answer's question
        is `asked` (the question as typed) when given, else `question` (the text read)."""
        threshold = self.default_threshold if threshold is None else threshold
        passages = list(passages)
        shown = question if asked is None else asked
        reading = self.best(question, passages)
        if reading.candidate is None or reading.features is None:
            return Answer(shown, None, 0.0, [], passages)
        best = reading.candidate
        passage = passages[best.passage_index]
        confidence = self.calibrator.probability(reading.kind, reading.features)
        text = passage.text[reading.start : reading.end]
        if confidence < threshold:
            possible = None
            if confidence >= min(self.calibrator.floor, threshold):
                possible = PossibleAnswer(text, confidence, Citation(passage, reading.start, reading.end), reading.kind)
            return Answer(shown, None, confidence, [], passages, candidate=possible)
        citations = [Citation(passage, reading.start, reading.end)]
        if reading.kind == "span":
            # Other retrieved articles whose own best span is the same answer are cited too.
            cited = {passage.doc_id}
            for c in sorted(reading.agreeing, key=lambda c: -c.score):
                other = passages[c.passage_index]
                if other.doc_id not in cited and c.margin > 0:
                    citations.append(Citation(other, c.start, c.end))
                    cited.add(other.doc_id)
        # Confident answers of other stories that differ (qa/reader/alternatives.py); for a "latest" question
        # the newest confident answer leads. Each candidate's confidence comes from the calibrator.
        alternatives: list[Alternative] = []
        if reading.kind == "span":
            options = [Alternative(c.text, self.candidate_confidence(question, c, reading.candidates, passages),
                                   Citation(passages[c.passage_index], c.start, c.end)) for c in reading.candidates]
            lead, alternatives = differing_answers(options, Alternative(text, confidence, citations[0]),
                                                   asks_for_latest(question), threshold)
            if lead.citation is not citations[0]:
                text, confidence, citations = lead.text, lead.confidence, supporting(lead, options)
        return Answer(shown, text, confidence, citations, passages, reading.kind, alternatives, band=self.band(confidence))
