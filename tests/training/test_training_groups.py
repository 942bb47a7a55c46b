"""Reader v3's training groups (qa/training/groups.py) and its shared-normalisation loss (qa/training/train.py)."""

from __future__ import annotations

import math

import pytest
import torch

from qa.reader.span_model import ReaderShape, encode_pairs
from qa.training.data import TrainItem
from qa.training.groups import TrainGroup, _group, carry_span, newsqa_story_split
from qa.training.train import gold_masks, shared_loss


def test_carry_span_follows_the_answer_through_cleaning():
    raw = "Washington (CNN) -- A hearing continues.      After a week, Hinckley spoke.      The end."
    cleaned = "Washington (CNN) -- A hearing continues.\n\nAfter a week, Hinckley spoke.\n\nThe end."
    start = raw.index("Hinckley")
    s, e = carry_span(raw, cleaned, start, start + len("Hinckley spoke"))
    assert cleaned[s:e] == "Hinckley spoke"
    # a sentence dropped by the cleaner: found by its text, nearest the same relative place
    dropped = "Washington (CNN) -- A hearing continues.\n\nAfter a week, Hinckley spoke."
    s, e = carry_span(raw + " Hinckley again.", dropped, start, start + 8)
    assert dropped[s:e] == "Hinckley"
    assert carry_span(raw, "nothing like it", start, start + 8) is None


def test_newsqa_split_is_fixed_and_about_a_third():
    ids = [f"{i:040x}" for i in range(2000)]
    share = sum(newsqa_story_split(i) == "calibration" for i in ids) / len(ids)
    assert 0.25 < share < 0.35
    assert [newsqa_story_split(i) for i in ids[:50]] == [newsqa_story_split(i) for i in ids[:50]]


def test_group_keeps_the_answer_and_drops_passages_that_may_answer():
    contexts = {"a": "Stoltenberg visited Yerevan. He met Pashinyan.", "b": "Yerevan is the capital.", "c": "Paris is nice."}
    spans = ((0, 11),)
    retrieved = [("b", 0, 23), ("c", 0, 14)]  # the retriever missed the answer's passage
    g = _group("Who visited?", retrieved, "a", spans, ("Stoltenberg",), contexts, [(0, 28), (29, 46)], 2, "t")
    assert g is not None and g.passages[-1] == "Stoltenberg visited Yerevan." and g.answers[-1] == ((0, 11),)
    assert g.answers[0] == ()
    # a passage of another context that mentions the answer is left out, not taught as "no answer"
    g = _group("Where?", [("b", 0, 23), ("a", 0, 28)], "a", ((20, 27),), ("Yerevan",), contexts, [(0, 28)], 2, "t")
    assert g is not None and g.passages == ("Stoltenberg visited Yerevan.",)
    unanswerable = _group("Who?", retrieved, "a", (), (), contexts, [], 2, "t")
    assert unanswerable is not None and not any(unanswerable.answers)


def test_shared_loss_is_one_softmax_over_the_group():
    shape = ReaderShape()
    groups = [
        TrainGroup("Who?", ("Stoltenberg came.", "Nobody came."), (((0, 11),), ()), "t"),
        TrainGroup.of_item(TrainItem("When?", "It rained.", None, "unanswerable")),
    ]
    batch = encode_pairs(["Who?", "Who?", "When?"], ["Stoltenberg came.", "Nobody came.", "It rained."], shape)
    gold_start, gold_end = gold_masks(groups, batch)
    stol = [t for t in range(batch.input_ids.shape[1]) if batch.context_mask[0, t]][0]
    assert gold_start[0].nonzero().flatten().tolist() == [stol] and not gold_start[1].any()
    assert gold_start[2].nonzero().flatten().tolist() == [0]  # no answer: [CLS]
    torch.manual_seed(0)
    start, end = torch.randn(batch.input_ids.shape), torch.randn(batch.input_ids.shape)
    loss = float(shared_loss(start, end, batch, groups, gold_start, gold_end))
    allowed = batch.context_mask.clone()
    allowed[:, 0] = True
    # by hand: group 1 normalises over both passages' tokens and both [CLS]; group 2 over its own
    expected = 0.0
    for rows, gs, ge in (([0, 1], gold_start, gold_end), ([2], gold_start, gold_end)):
        for logits, gold in ((start, gs), (end, ge)):
            z = math.log(sum(math.exp(float(logits[r, t])) for r in rows for t in range(logits.shape[1]) if allowed[r, t]))
            g = math.log(sum(math.exp(float(logits[r, t])) for r in rows for t in range(logits.shape[1]) if gold[r, t]))
            expected += z - g
    assert loss == pytest.approx(expected / 4, rel=1e-5)
