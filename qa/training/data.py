"""Training data for the reader: real extractive QA sets read into one shape, cut into the
passages the reader will see at run time, with unanswerable and retrieved negative passages.

Formats (see shared/train/README.md): SQuAD 1.1/2.0 JSON, MRQA JSONL (gzip or not; inclusive
character ends), SubjQA CSV (`ANSWERNOTFOUND` marks an unanswerable question).
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.config import Config
from qa.documents import ArticleMeta, Document
from qa.reader.calibration import norm_text

# The SQuAD 2.0 dev-a articles: the reader trains on four (with their unanswerable questions);
# of the four held out, two fit the confidence calibrator and two are only ever reported on.
DEV_A_TRAIN_ARTICLES = ("Normans", "1973_oil_crisis", "Yuan_dynasty", "Imperialism")
DEV_A_CALIBRATION_ARTICLES = ("Huguenot", "Scottish_Parliament")
DEV_A_REPORT_ARTICLES = ("Packet_switching", "French_and_Indian_War")


@dataclass(frozen=True)
class QAExample:
    """One question about one context; `answers` are (start, end) character spans in the
    context, empty when the context does not answer it."""

    qid: str
    question: str
    context_id: str
    group: str  # the data set it came from: negatives are mined within a group
    answers: tuple[tuple[int, int], ...]
    answer_texts: tuple[str, ...]


@dataclass(frozen=True)
class TrainItem:
    """What the model reads: a question, one passage, and the answer's span in that passage
    (None: the passage does not answer the question)."""

    question: str
    passage: str
    answer: tuple[int, int] | None
    kind: str  # "positive" | "unanswerable" | "same-context" | "retrieved"


class QASet:
    """Questions plus the contexts they refer to (one copy of each context)."""

    def __init__(self) -> None:
        self.contexts: dict[str, str] = {}  # context id -> text
        self.examples: list[QAExample] = []
        self._ids: dict[str, str] = {}  # text -> context id

    def add(self, qid: str, question: str, context: str, group: str, spans: list[tuple[int, int]]) -> None:
        question = " ".join(question.split())
        if not question or not context.strip():
            return
        context_id = self._ids.get(context)
        if context_id is None:
            context_id = self._ids[context] = f"{group}:{len(self.contexts)}"
            self.contexts[context_id] = context
        spans = sorted({(s, e) for s, e in spans if 0 <= s < e <= len(context) and context[s:e].strip()})
        texts = tuple(dict.fromkeys(context[s:e] for s, e in spans))
        self.examples.append(QAExample(qid, question, context_id, group, tuple(spans), texts))


def read_squad(path: Path, qaset: QASet, group: str, articles: tuple[str, ...] | None = None) -> None:
    """SQuAD 1.1 or 2.0 JSON; `articles` keeps only those titles."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    for article in data:
        if articles is not None and article["title"] not in articles:
            continue
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for q in paragraph["qas"]:
                spans = [] if q.get("is_impossible") else [
                    (a["answer_start"], a["answer_start"] + len(a["text"])) for a in q["answers"]
                ]
                spans = [(s, e) for s, e in spans if context[s:e].strip()]
                if spans or q.get("is_impossible"):
                    qaset.add(str(q["id"]), q["question"], context, group, spans)


def read_mrqa(path: Path, qaset: QASet, group: str) -> None:
    """MRQA 2019 JSONL (optionally gzipped): a header line, then one context per line."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "header" in record:
                continue
            context = record["context"]
            for q in record["qas"]:
                spans = [(s, e + 1) for a in q.get("detected_answers", []) for s, e in a["char_spans"]]
                if spans:
                    qaset.add(str(q.get("qid") or q.get("id")), q["question"], context, group, spans)


_SPAN = re.compile(r"\((\d+),\s*(\d+)\)")


def read_subjqa(path: Path, qaset: QASet, group: str) -> None:
    """SubjQA CSV: the review carries a trailing ` ANSWERNOTFOUND`, which is cut off."""
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            review = row["review"]
            context = review.removesuffix("ANSWERNOTFOUND").rstrip()
            if row["human_ans_spans"] == "ANSWERNOTFOUND":
                qaset.add(f"{path.stem}-{n}", row["question"], context, group, [])
                continue
            m = _SPAN.fullmatch(row["human_ans_indices"].strip())
            if m and review[int(m[1]) : int(m[2])] == row["human_ans_spans"]:
                qaset.add(f"{path.stem}-{n}", row["question"], context, group, [(int(m[1]), int(m[2]))])


def training_files(paths: list[Path]) -> list[Path]:
    """The data files named, or found under the folders named (SQuAD .json, MRQA .jsonl[.gz],
    SubjQA .csv), in a stable order."""
    found: list[Path] = []
    for path in map(Path, paths):
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        found += [p for p in candidates if p.is_file() and p.name.endswith((".json", ".jsonl", ".jsonl.gz", ".csv"))]
    return found


def read_training_file(path: Path, qaset: QASet, articles: tuple[str, ...] | None = None) -> None:
    """Read one file by its format; the group is the file's name without suffixes."""
    group = path.name.split(".")[0]
    if path.name.endswith(".csv"):
        read_subjqa(path, qaset, group)
    elif path.name.endswith((".jsonl", ".jsonl.gz")):
        read_mrqa(path, qaset, group)
    else:
        read_squad(path, qaset, group, articles)


@dataclass
class Prepared:
    """Everything read and mined once per data set (cached by the training script)."""

    train: QASet
    chunks: dict[str, list[tuple[int, int]]]  # context id -> passage (start, end)s
    negatives: dict[int, list[tuple[str, int]]]  # example index -> retrieved (context id, passage n)
    heldout: QASet
    heldout_chunks: dict[str, list[tuple[int, int]]]
    files: list[dict[str, object]]
    groups: dict[str, list[Any]] | None = None  # reader v3: TrainGroups by kind (qa/training/groups.py)


# ---------------------------------------------------------------------------------------------
# Passages: contexts cut by the project's own chunker, as at run time.
# ---------------------------------------------------------------------------------------------


def chunk_contexts(qaset: QASet, config: Config, progress: bool = False) -> dict[str, list[tuple[int, int]]]:
    """(start, end) of each context's chunks, as the index would cut them."""
    from tqdm import tqdm

    from qa.ingest.chunk import chunk_document

    out = {}
    for cid, text in tqdm(qaset.contexts.items(), desc="chunking", unit="context", disable=not progress):
        doc = Document(ArticleMeta(cid, ""), text, "")
        out[cid] = [(c.start, c.end) for c in chunk_document(doc, config)]
    return out


def mentions_answer(passage: str, answer_texts: tuple[str, ...]) -> bool:
    """Whether a passage contains any of the answers' words in order (a possible false negative)."""
    padded = f" {norm_text(passage)} "
    return any(f" {norm_text(a)} " in padded for a in answer_texts if norm_text(a))


def bm25_rankings(
    qaset: QASet, chunks: dict[str, list[tuple[int, int]]], pick: Callable[[list[int]], list[int]], depth: int,
) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """Per data set (`QAExample.group`, in order of first appearance): the passages of its contexts
    in memory, ranked by the index's own BM25 (qa/store/lexical.py over qa/terms.py's words: one
    lexical ranking in the project) for each question `pick` chooses among the set's example
    indexes; yields (example index, its best `depth` passages as (context id, chunk number))."""
    from qa.store.lexical import LexicalPart, bm25_top, build_postings
    from qa.terms import terms

    by_group: dict[str, list[int]] = {}
    for n, ex in enumerate(qaset.examples):
        by_group.setdefault(ex.group, []).append(n)
    for members in by_group.values():
        asked = pick(members)  # before anything is skipped: `pick` may draw from a seeded generator
        keys = [(cid, i) for cid in dict.fromkeys(qaset.examples[n].context_id for n in members) for i in range(len(chunks[cid]))]
        if not asked or not keys:
            continue
        part = LexicalPart.of(build_postings([qaset.contexts[cid][slice(*chunks[cid][i])] for cid, i in keys]), None)
        for n in asked:
            yield n, [keys[row] for _, row, _ in bm25_top([part], terms(qaset.examples[n].question), min(depth, len(keys)))]


def mine_retrieved_negatives(
    qaset: QASet, chunks: dict[str, list[tuple[int, int]]], per_question: int = 3
) -> dict[int, list[tuple[str, int]]]:
    """For each answerable question: passages of *other* contexts of its set that BM25 ranks
    high for it and that do not mention its answer, as (context id, chunk number)."""
    negatives: dict[int, list[tuple[str, int]]] = {}
    def answerable(members: list[int]) -> list[int]:
        return [n for n in members if qaset.examples[n].answers]

    for n, ranked in bm25_rankings(qaset, chunks, answerable, per_question + 5):
        ex = qaset.examples[n]
        picked = [
            (cid, i)
            for cid, i in ranked
            if cid != ex.context_id and not mentions_answer(qaset.contexts[cid][slice(*chunks[cid][i])], ex.answer_texts)
        ][:per_question]
        if picked:
            negatives[n] = picked
    return negatives


# ---------------------------------------------------------------------------------------------
# Made-up unanswerable questions: a name or number of an answerable question swapped for one
# its passage never mentions (SQuAD 2.0's "entity swap" kind), asked of the same passage.
# ---------------------------------------------------------------------------------------------

_NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_NOT_NAMES = frozenset(
    "a an the this that these those there then when where what which who how why for from in on at by "
    "after before but and or if as it its he she they we you i my our his her their some many most".split()
)


def _names(text: str) -> list[tuple[int, int]]:
    """Spans of capitalised word runs that are not sentence-initial and do not start with a
    function word ("For", "The")."""
    out = []
    for m in _NAME_RUN.finditer(text):
        before = text[: m.start()].rstrip()
        if not before or before[-1] in ".!?\"“:\n" or m.group().split()[0].lower() in _NOT_NAMES:
            continue
        out.append((m.start(), m.end()))
    return out
_NUMBER = re.compile(r"\b\d[\d,]*\b")


def name_pool(qaset: QASet, per_group: int = 2000, seed: int = 0) -> dict[str, list[str]]:
    """Capitalised word runs (names) found in each group's contexts, a sample per group."""
    rng = random.Random(seed)
    pool: dict[str, set[str]] = {}
    for cid, text in qaset.contexts.items():
        group = cid.rsplit(":", 1)[0]
        names = pool.setdefault(group, set())
        if len(names) < per_group:
            names.update(text[s:e] for s, e in _names(text))
    return {g: rng.sample(sorted(v), len(v)) for g, v in pool.items()}


# Word pairs for SQuAD 2.0's "antonym" kind: "the first X" asked as "the last X".
_ANTONYM_PAIRS = """first last, largest smallest, biggest smallest, highest lowest, most least, before after,
increase decrease, increased decreased, north south, east west, earliest latest, early late, oldest youngest,
older younger, longest shortest, maximum minimum, more fewer, above below, won lost, win lose, start end,
began ended, rise fall, rose fell, best worst, major minor, strongest weakest, larger smaller, higher lower,
richest poorest, inside outside, ancient modern, accepted rejected, allowed banned, supported opposed,
victory defeat, success failure, founded dissolved, entered left, internal external, northern southern,
eastern western, upper lower, private public, male female, positive negative, gained lost, import export""".split(",")
_ANTONYMS = {a: b for pair in _ANTONYM_PAIRS for a, b in [pair.split()]} | {b: a for pair in _ANTONYM_PAIRS for a, b in [pair.split()]}
_WORD = re.compile(r"[A-Za-z]+")


def swap_question(question: str, passage: str, names: list[str], rng: random.Random) -> str | None:
    """`question` with one of its names, numbers or antonym-paired words ("first", "largest")
    that the passage mentions replaced by one the passage does not mention; None when there is
    nothing to swap."""
    low = passage.lower()
    passage_words = set(_WORD.findall(low))
    spots = [(s, e) for s, e in _names(question) if question[s:e].lower() in low]
    spots += [m.span() for m in _NUMBER.finditer(question) if m.group() in passage]
    spots += [
        m.span() for m in _WORD.finditer(question)
        if m.group().lower() in _ANTONYMS and m.group().lower() in passage_words and _ANTONYMS[m.group().lower()] not in passage_words
    ]
    rng.shuffle(spots)
    for start, end in spots:
        new = _replacement(question[start:end], passage, low, names, rng)
        if new is not None:
            return question[:start] + new + question[end:]
    return None


def _replacement(old: str, passage: str, low: str, names: list[str], rng: random.Random) -> str | None:
    if old.lower() in _ANTONYMS and old[0].islower():
        return _ANTONYMS[old.lower()]
    if old[0].isdigit():
        digits = old.replace(",", "")
        for _ in range(10):
            new = str(int(digits) + rng.choice([-1, 1]) * rng.randint(1, 30 if len(digits) == 4 else max(2, int(digits) // 2)))
            if new not in passage and not new.startswith("-"):
                return new
        return None
    width = len(old.split())
    choices = [n for n in names if len(n.split()) == width and n.lower() not in low and n.lower() != old.lower()]
    return rng.choice(choices) if choices else None


def epoch_items(
    qaset: QASet,
    chunks: dict[str, list[tuple[int, int]]],
    negatives: dict[int, list[tuple[str, int]]],
    seed: int,
    same_context_rate: float,
    retrieved_rate: float,
    limit: int | None = None,
    swap_rate: float = 0.0,
    names: dict[str, list[str]] | None = None,
    oversample: dict[str, int] | None = None,
) -> list[TrainItem]:
    """One epoch's passages, in a seeded random order: for each answerable question one passage
    holding an answer (chosen at random among those that do), and with the given rates one
    passage of the same context without it, one retrieved from another context, and the
    answer's passage asked with a name or number swapped (`swap_question`); for each
    unanswerable question one passage of its context. A group in `oversample` has its questions
    read that many times (the few real SQuAD 2.0 unanswerable questions are worth more)."""
    rng = random.Random(seed)
    items: list[TrainItem] = []
    order = list(range(len(qaset.examples)))
    rng.shuffle(order)
    order = order[:limit] if limit else order
    order += [n for n in order for _ in range((oversample or {}).get(qaset.examples[n].group, 1) - 1)]
    for n in order:
        ex = qaset.examples[n]
        text = qaset.contexts[ex.context_id]
        spans = chunks[ex.context_id]
        if not spans:
            continue
        if not ex.answers:
            s, e = rng.choice(spans)
            items.append(TrainItem(ex.question, text[s:e], None, "unanswerable"))
            continue
        holding = [(s, e, a) for s, e in spans for a in ex.answers if s <= a[0] and a[1] <= e]
        if holding:
            s, e, (a0, a1) = rng.choice(holding)
            items.append(TrainItem(ex.question, text[s:e], (a0 - s, a1 - s), "positive"))
            if swap_rate and rng.random() < swap_rate:
                swapped = swap_question(ex.question, text[s:e], (names or {}).get(ex.group, []), rng)
                if swapped:
                    items.append(TrainItem(swapped, text[s:e], None, "swapped"))
        free = [
            (s, e) for s, e in spans
            if not any(s < a1 and a0 < e for a0, a1 in ex.answers) and not mentions_answer(text[s:e], ex.answer_texts)
        ]
        if free and rng.random() < same_context_rate:
            s, e = rng.choice(free)
            items.append(TrainItem(ex.question, text[s:e], None, "same-context"))
        if n in negatives and rng.random() < retrieved_rate:
            cid, i = rng.choice(negatives[n])
            s, e = chunks[cid][i]
            items.append(TrainItem(ex.question, qaset.contexts[cid][s:e], None, "retrieved"))
    return items
