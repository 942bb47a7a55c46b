"""The calibration set: four parts, built reproducibly from ../shared, each a SQuAD 2.0 file that
`qa eval` and `python -m qa.training.fit_calibrator` read like any other.

  (a) news.json        answerable news questions over their stories' archive: the NewsQA stories
                       of both pools (train and dev) kept out of training
                       (`qa.training.groups.newsqa_story_split`), cleaned as `qa ingest` cleans
                       them, one paragraph per story;
  (b) not-covered.json questions the archive does not cover: SQuAD 1.1 dev questions (Wikipedia)
                       asked of the same news stories; none of them is answered there;
  (c) traps.json       in-article unanswerable questions: SQuAD 2.0 dev-a's calibration articles
                       and the SQuAD 2.0 train subset's held-out article, open-domain over their
                       paragraphs (their answerable questions come along, as in the product);
  (d) clean.json       clean, well-formed articles: SQuADShifts' new Wikipedia articles
                       (`CLEAN_ARTICLES`, kept out of reader v4's training), open-domain over
                       their paragraphs, `CLEAN_QUESTIONS` questions sampled with a fixed seed.

`python -m qa.training.calibration_sets --shared ../shared --out runs/calibration` writes the four files.
The default threshold maximises overall F1 on the mix `MIX` of these parts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path
from typing import Any

from qa.training.data import DEV_A_CALIBRATION_ARTICLES
from qa.training.groups import SQUAD2_TRAIN_CALIBRATION_ARTICLES, newsqa_story_split

# What a news archive is asked, by kind of question (the mix the default threshold is fitted
# to): mostly questions its articles answer, then questions it does not cover at all, then the
# rarest kind, questions that look answerable from an article that is about the same thing.
# Clean articles are the fourth kind: what a tidy archive (the bundled articles) looks like.
MIX = {"news": 0.50, "not-covered": 0.25, "traps": 0.10, "clean": 0.15}
PARTS = tuple(MIX)
NOT_COVERED_QUESTIONS = 300
CLEAN_QUESTIONS = 600
SEED = 0

NEWSQA = (Path("train/newsqa/NewsQA.train-pool.jsonl.gz"), Path("train/newsqa/NewsQA.dev-pool.jsonl.gz"))
SQUADSHIFTS_WIKI = Path("train/squadshifts/new_wiki_v1.0.json")
# Eight of SQuADShifts' 48 new Wikipedia articles, chosen by title before any model was run on them.
CLEAN_ARTICLES = ("Acronym", "Andes", "Baltic_Sea", "Cardiovascular_disease", "Drum_and_bass", "Latin",
                  "Rotterdam", "Saxophone")
SQUAD11 = Path("train/mrqa_squad/SQuAD11-dev.minus-evals.jsonl.gz")
SQUAD2_TRAIN = Path("train/squad2_train/train-v2.0.first10.json")
DEV_A = Path("eval/squad-v2.0-dev-a.json")


def news_stories(shared: Path) -> list[dict[str, Any]]:
    """The calibration stories as SQuAD paragraphs: cleaned text and their questions' answers."""
    from qa.ingest.clean import clean_article

    paragraphs = []
    for pool in NEWSQA:
        with gzip.open(shared / pool, "rt", encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        for record in records:
            if "header" in record or newsqa_story_split(record["id"]) != "calibration":
                continue
            text = clean_article(record["context"]).text
            qas = []
            for q in record["qas"]:
                spans = [_answer_in(text, a["text"]) for a in q.get("detected_answers", [])]
                answers = [{"text": t, "answer_start": max(text.find(t), 0)} for t in spans if t]
                if answers:
                    qas.append({"id": str(q["qid"]), "question": " ".join(q["question"].split()), "answers": answers,
                                "is_impossible": False})
            paragraphs.append({"context": text, "qas": qas, "story": record["id"]})
    return paragraphs


def _answer_in(text: str, answer: str) -> str:
    """The answer as it reads in the cleaned story: trimmed of edge punctuation, and of a quote mark
    that cleaning took off the start of a line (SQuAD scoring drops punctuation, so scores are unchanged)."""
    trimmed = answer.strip(" ,.;:")
    return trimmed if trimmed in text else trimmed.strip("\"'")


def not_covered_questions(shared: Path, n: int, seed: int) -> list[str]:
    """`n` SQuAD 1.1 dev questions (Wikipedia), sampled with a fixed seed."""
    questions = []
    with gzip.open(shared / SQUAD11, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "header" not in record:
                questions += [" ".join(q["question"].split()) for q in record["qas"]]
    return random.Random(seed).sample(sorted(set(questions)), n)


def clean_articles(shared: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """`CLEAN_ARTICLES` of SQuADShifts' Wikipedia file with `n` of their questions (fixed seed)."""
    articles = [a for a in json.loads((shared / SQUADSHIFTS_WIKI).read_text(encoding="utf-8"))["data"]
                if a["title"] in CLEAN_ARTICLES]
    ids = sorted(q["id"] for a in articles for p in a["paragraphs"] for q in p["qas"])
    keep = set(random.Random(seed).sample(ids, min(n, len(ids))))
    return [{"title": a["title"], "paragraphs": [
        {"context": p["context"], "qas": [{**q, "is_impossible": False} for q in p["qas"] if q["id"] in keep]}
        for p in a["paragraphs"]]} for a in articles]


def build_parts(shared: Path, out: Path, n_not_covered: int = NOT_COVERED_QUESTIONS, seed: int = SEED,
                n_clean: int = CLEAN_QUESTIONS) -> dict[str, Path]:
    """Write news.json, not-covered.json, traps.json and clean.json into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    stories = news_stories(shared)
    news = {"version": "v2.0", "data": [{"title": "CNN", "paragraphs": stories}]}
    # The same archive, with the questions it does not cover spread over its stories (a question's
    # paragraph only names it; retrieval is scored on answerable questions alone).
    foreign = not_covered_questions(shared, n_not_covered, seed)
    uncovered = [{"context": p["context"], "qas": [], "story": p["story"]} for p in stories]
    for i, question in enumerate(foreign):
        uncovered[i % len(uncovered)]["qas"].append(
            {"id": f"not-covered-{i}", "question": question, "answers": [], "is_impossible": True})
    not_covered = {"version": "v2.0", "data": [{"title": "CNN", "paragraphs": uncovered}]}
    dev = json.loads((shared / DEV_A).read_text(encoding="utf-8"))["data"]
    squad2 = json.loads((shared / SQUAD2_TRAIN).read_text(encoding="utf-8"))["data"]
    traps = {"version": "v2.0", "data": [a for a in dev if a["title"] in DEV_A_CALIBRATION_ARTICLES]
             + [a for a in squad2 if a["title"] in SQUAD2_TRAIN_CALIBRATION_ARTICLES]}
    clean = {"version": "v2.0", "data": clean_articles(shared, n_clean, seed)}
    paths = {}
    for name, data in (("news", news), ("not-covered", not_covered), ("traps", traps), ("clean", clean)):
        paths[name] = out / f"{name}.json"
        paths[name].write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.calibration_sets", description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"), help="the shared data folder (train/, eval/)")
    parser.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = parser.parse_args(argv)
    for name, path in build_parts(args.shared, args.out).items():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        qs = [q for a in data for p in a["paragraphs"] for q in p["qas"]]
        print(f"{path}: part {name}, {sum(len(a['paragraphs']) for a in data)} paragraphs, {len(qs)} questions "
              f"({sum(1 for q in qs if q.get('is_impossible'))} unanswerable)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
