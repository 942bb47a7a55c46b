"""Training questions grouped with the passages the retriever returns for them.

Reader v3 is trained as it is used: each question is asked of its own collection (the news
stories, the Wikipedia articles of its data set) through the project's retrieval, and the top
passages are read together under one softmax over every span of every passage and the no-answer
option (shared normalisation, Clark & Gardner 2018), so that span scores compare across passages.
When the retriever missed the answer, the answer's own passage takes the last place.

Also here: reading NewsQA (CNN stories, cleaned as `qa ingest` cleans them, answer offsets carried
over) and its fixed split by story into training and calibration stories.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from qa.config import Config
from qa.documents import ArticleMeta, Document
from qa.training.data import (
    QASet,
    TrainItem,
    bm25_rankings,
    chunk_contexts,
    mentions_answer,
    read_squad,
    read_training_file,
)

# NewsQA stories whose id hashes into these buckets (of 10) are kept out of training: their
# questions are the news part of the calibration set (see qa/training/calibration_sets.py).
NEWSQA_CALIBRATION_BUCKETS = (0, 1, 2)
# SQuAD 2.0 train subset: one of its two articles with real unanswerable questions is kept for
# calibration (the in-article traps part), the rest train.
SQUAD2_TRAIN_CALIBRATION_ARTICLES = ("Spectre_(2015_film)",)


@dataclass(frozen=True)
class TrainGroup:
    """One question and the passages read together for it. `answers[i]` holds the answer's
    (start, end) spans inside `passages[i]` (empty: that passage does not answer); a group with
    no answer anywhere teaches the no-answer option."""

    question: str
    passages: tuple[str, ...]
    answers: tuple[tuple[tuple[int, int], ...], ...]
    kind: str

    @staticmethod
    def of_item(item: TrainItem) -> TrainGroup:
        """A single passage read alone (the per-passage training of readers v1 and v2)."""
        return TrainGroup(item.question, (item.passage,), ((item.answer,) if item.answer else (),), item.kind)


def newsqa_story_split(story_id: str) -> str:
    """"calibration" or "train", fixed by the story id's hash (about 30 % calibration)."""
    bucket = int(hashlib.sha256(story_id.encode("utf-8")).hexdigest(), 16) % 10
    return "calibration" if bucket in NEWSQA_CALIBRATION_BUCKETS else "train"


def carry_span(raw: str, cleaned: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of `raw[start:end]` in `cleaned`, where cleaning changed whitespace (and may have
    dropped a boilerplate sentence): mapped through the non-space characters when they agree,
    else the occurrence of the answer text nearest to the same relative place; None if absent."""
    answer = raw[start:end].strip()
    if not answer:
        return None
    raw_ns = [i for i, ch in enumerate(raw) if not ch.isspace()]
    clean_ns = [i for i, ch in enumerate(cleaned) if not ch.isspace()]
    if len(raw_ns) == len(clean_ns) and all(raw[i] == cleaned[j] for i, j in zip(raw_ns, clean_ns)):
        first = bisect.bisect_left(raw_ns, start + (len(raw[start:end]) - len(raw[start:end].lstrip())))
        last = bisect.bisect_right(raw_ns, end - 1) - 1
        if first <= last:
            return clean_ns[first], clean_ns[last] + 1
    found, at = [], cleaned.find(answer)
    while at >= 0:
        found.append(at)
        at = cleaned.find(answer, at + 1)
    if not found:
        return None
    target = start * len(cleaned) / max(len(raw), 1)
    best = min(found, key=lambda s: abs(s - target))
    return best, best + len(answer)


def read_newsqa(path: Path, qaset: QASet, split: str, group: str = "newsqa") -> None:
    """NewsQA stories of one split (`newsqa_story_split`), cleaned by `qa.ingest.clean.clean_article`
    (the CNN dump separates paragraphs by runs of spaces), with their questions."""
    from qa.ingest.clean import clean_article

    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "header" in record or newsqa_story_split(record["id"]) != split:
                continue
            raw = record["context"]
            cleaned = clean_article(raw).text
            for q in record["qas"]:
                spans = [carry_span(raw, cleaned, s, e + 1) for a in q.get("detected_answers", []) for s, e in a["char_spans"]]
                kept = [s for s in spans if s is not None]
                if kept:
                    qaset.add(str(q["qid"]), q["question"], cleaned, group, kept)


# ---------------------------------------------------------------------------------------------
# Grouping: each question with the top passages of its collection.
# ---------------------------------------------------------------------------------------------


def _answers_in(text: str, start: int, end: int, spans: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    return tuple((a0 - start, a1 - start) for a0, a1 in spans if start <= a0 and a1 <= end and text[a0:a1].strip())


def _group(
    question: str, retrieved: list[tuple[str, int, int]], own: str, spans: tuple[tuple[int, int], ...],
    answer_texts: tuple[str, ...], contexts: dict[str, str], own_chunks: list[tuple[int, int]], k: int, kind: str,
) -> TrainGroup | None:
    """`retrieved`: (context id, start, end) best first. Passages of other contexts that mention
    the answer are left out (they may well answer it); the answer's passage replaces the last
    one when the retriever missed it."""
    passages: list[str] = []
    answers: list[tuple[tuple[int, int], ...]] = []
    for cid, s, e in retrieved:
        text = contexts[cid][s:e]
        inside = _answers_in(contexts[cid], s, e, spans) if cid == own else ()
        if not inside and answer_texts and mentions_answer(text, answer_texts):
            continue
        passages.append(text)
        answers.append(inside)
        if len(passages) == k:
            break
    if spans and not any(answers):
        holding = [(s, e) for s, e in own_chunks if _answers_in(contexts[own], s, e, spans)]
        if not holding:
            return None
        s, e = holding[0]
        passages, answers = passages[: k - 1] + [contexts[own][s:e]], answers[: k - 1] + [_answers_in(contexts[own], s, e, spans)]
    if not passages:
        return None
    return TrainGroup(question, tuple(passages), tuple(answers), kind)


def hybrid_groups(
    qaset: QASet, work: Path, name: str, config: Config, k: int, kind: str,
    foreign: list[str] | None = None, progress: bool = True,
) -> list[TrainGroup]:
    """Index the collection's contexts with the product's own ingest (chunking, embedding, BM25)
    in `work/indexes/name`, ask each question through `QA.search` (the configured retriever),
    and group the top `k` passages. `foreign` replaces the collection's own questions with
    questions from elsewhere, which it does not answer."""
    from tqdm import tqdm

    from qa.pipeline import QA, index_documents

    ids = {cid: cid.replace(":", "-") for cid in qaset.contexts}
    back = {v: k for k, v in ids.items()}
    documents = [Document(ArticleMeta(ids[cid], ""), text, cid) for cid, text in qaset.contexts.items()]
    index_config = config.with_(index_dir=work / "indexes" / name)
    index_documents(documents, index_config, progress=progress)
    qa = QA(index_config)
    chunks = chunk_contexts(qaset, config) if foreign is None else {}
    groups = []
    asked: list[tuple[str, str, tuple[tuple[int, int], ...], tuple[str, ...]]] = (
        [(ex.question, ex.context_id, ex.answers, ex.answer_texts) for ex in qaset.examples] if foreign is None
        else [(q, "", (), ()) for q in foreign]
    )
    for question, own, spans, texts in tqdm(asked, desc=f"retrieving {name}", unit="q", disable=not progress, file=sys.stderr):
        found = qa.search(question, k=k + 3)
        retrieved = [(back[p.doc_id], p.chunk.start, p.chunk.end) for p in found]
        group = _group(question, retrieved, own, spans, texts, qaset.contexts, chunks.get(own, []), k, kind)
        if group is not None:
            groups.append(group)
    return groups


def bm25_groups(qaset: QASet, chunks: dict[str, list[tuple[int, int]]], k: int, kind: str, limit: int, seed: int) -> list[TrainGroup]:
    """Like `hybrid_groups` with BM25 alone (no embedding): for the replayed older data sets,
    `limit` questions sampled per data set."""
    rng = random.Random(seed)

    def sample(members: list[int]) -> list[int]:
        return rng.sample(members, min(limit, len(members)))

    groups = []
    for n, ranking in bm25_rankings(qaset, chunks, sample, k + 3):
        ex = qaset.examples[n]
        ranked = [(cid, *chunks[cid][i]) for cid, i in ranking]
        group = _group(ex.question, ranked, ex.context_id, ex.answers, ex.answer_texts, qaset.contexts,
                       chunks[ex.context_id], k, f"{kind}:{ex.group}")
        if group is not None:
            groups.append(group)
    return groups


@dataclass(frozen=True)
class GroupSources:
    """What reader v3 trains on (see `prepare_groups`)."""

    newsqa: tuple[Path, ...] = ()  # NewsQA pools (train, dev): their training stories
    squad2_train: Path | None = None  # SQuAD 2.0 train subset, less SQUAD2_TRAIN_CALIBRATION_ARTICLES
    squad2_dev: Path | None = None  # SQuAD 2.0 dev-a, `dev_articles` only
    dev_articles: tuple[str, ...] = ()
    replay: tuple[Path, ...] = ()  # older data sets, `replay_questions` sampled from each
    replay_questions: int = 0
    not_covered: int = 0  # questions of the replay sets asked of the news stories (no answer there)
    k: int = 4
    squad2_questions: int = 1500


def prepare_groups(sources: GroupSources, work: Path, config: Config, seed: int) -> dict[str, list[TrainGroup]]:
    """Every training group by kind, built once (embedding the collections takes minutes)."""
    rng = random.Random(seed)
    out: dict[str, list[TrainGroup]] = {}
    if sources.newsqa:
        news = QASet()
        for pool_file in sources.newsqa:
            read_newsqa(pool_file, news, "train")
        out["news"] = hybrid_groups(news, work, "newsqa-train", config, sources.k, "news")
    if sources.squad2_train:
        squad2 = QASet()
        titles = tuple(a["title"] for a in json.loads(sources.squad2_train.read_text(encoding="utf-8"))["data"])
        read_squad(sources.squad2_train, squad2, "squad2-train", tuple(t for t in titles if t not in SQUAD2_TRAIN_CALIBRATION_ARTICLES))
        # Every real unanswerable question, and answerable ones up to `squad2_questions` in all.
        answerable = [ex for ex in squad2.examples if ex.answers]
        keep = max(0, sources.squad2_questions - (len(squad2.examples) - len(answerable)))
        dropped = {id(ex) for ex in rng.sample(answerable, max(0, len(answerable) - keep))}
        squad2.examples = [ex for ex in squad2.examples if id(ex) not in dropped]
        out["squad2-train"] = hybrid_groups(squad2, work, "squad2-train", config, sources.k, "squad2-train")
    if sources.squad2_dev and sources.dev_articles:
        dev = QASet()
        read_squad(sources.squad2_dev, dev, "squad2-dev-a", sources.dev_articles)
        out["squad2-dev-a"] = hybrid_groups(dev, work, "squad2-dev-a", config, sources.k, "squad2-dev-a")
    if sources.replay:
        replay = QASet()
        for path in sources.replay:
            read_training_file(path, replay)
        chunks = chunk_contexts(replay, config, progress=True)
        out["replay"] = bm25_groups(replay, chunks, sources.k, "replay", sources.replay_questions, seed)
        if sources.newsqa and sources.not_covered:
            pool = [ex.question for ex in replay.examples]
            foreign = rng.sample(pool, min(sources.not_covered, len(pool)))
            out["not-covered"] = hybrid_groups(news, work, "newsqa-train", config, sources.k, "not-covered", foreign=foreign)
    return out
