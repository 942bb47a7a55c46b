"""The reader's training script end to end on a tiny SQuAD 2.0 file (a smoke test: a few steps)."""

from __future__ import annotations

from pathlib import Path

from qa.config import Config
from qa.documents import ArticleMeta, Chunk, Passage
from qa.reader.neural import NeuralReader
from qa.reader.span_model import load_reader, read_manifest
from qa.training.data import QASet, epoch_items, read_squad
from qa.training.train import main as train_main

TINY = Path(__file__).parent.parent / "data" / "tiny_squad.json"


def test_epoch_items_hold_answers_at_exact_offsets():
    qaset = QASet()
    read_squad(TINY, qaset, "tiny")
    chunks = {cid: [(0, len(text))] for cid, text in qaset.contexts.items()}
    items = epoch_items(qaset, chunks, {}, seed=0, same_context_rate=0.0, retrieved_rate=0.0)
    positives = [i for i in items if i.answer is not None]
    assert len(positives) == sum(1 for e in qaset.examples if e.answers)
    for item in positives:
        s, e = item.answer
        assert item.passage[s:e].strip()
    assert sum(i.kind == "unanswerable" for i in items) == 2


def test_training_smoke_run_writes_a_loadable_reader(tmp_path):
    out = tmp_path / "model"
    code = train_main([
        "--data", str(TINY), "--squad-v2", str(TINY), "--train-articles", "Stoltenberg_visit",
        "--heldout-articles", "Armenia_NATO", "--epochs", "1", "--batch-size", "4", "--max-steps", "3",
        "--work-dir", str(tmp_path / "work"), "--out", str(out), "--log-every", "1",
    ])
    assert code == 0
    manifest = read_manifest(out)
    assert manifest["training"]["steps"] == 3
    assert manifest["training"]["history"][0]["heldout"]["questions"] == 3
    assert (tmp_path / "work" / "train.log").read_text().count("step ") >= 3
    load_reader(out)  # hashes check out
    text = "Relations between Armenia and NATO began in 1992."
    passage = Passage(Chunk("d#0", "d", 0, len(text), text), ArticleMeta("d", "t"), 1.0)
    answer = NeuralReader(Config(reader_model_dir=out)).answer("When did relations begin?", [passage], threshold=0.0)
    assert answer.answer is not None and text[answer.citations[0].answer_start : answer.citations[0].answer_end] == answer.answer


def test_swapped_questions_ask_about_something_the_passage_never_mentions():
    import random

    from qa.training.data import swap_question

    passage = "After Armenia joined the Partnership for Peace program in 1994, the cooperation deepened."
    rng = random.Random(0)
    seen = set()
    for _ in range(20):
        swapped = swap_question("When did Armenia join the Partnership for Peace?", passage, ["Georgia", "Kosovo Force"], rng)
        assert swapped is not None and swapped != "When did Armenia join the Partnership for Peace?"
        seen.add(swapped)
    assert "When did Georgia join the Partnership for Peace?" in seen
    assert all("Kosovo Force" not in s for s in seen)  # a two-word name never replaces a one-word one
    year = swap_question("What happened in 1994?", passage, [], random.Random(1))
    assert year is not None and "1994" not in year and year[-5:-1].isdigit()
    assert swap_question("what happened next?", passage, ["Georgia"], rng) is None
    antonym = swap_question("Which was the first program Armenia joined?", passage + " It was the first.", [], rng)
    assert antonym == "Which was the last program Armenia joined?"
