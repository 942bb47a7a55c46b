"""The calibration set (qa/training/calibration_sets.py), built from ../shared as `python -m qa.training.calibration_sets` builds it."""

from __future__ import annotations

import json

import pytest

from qa.training.calibration_sets import CLEAN_ARTICLES, CLEAN_QUESTIONS, MIX, build_parts
from qa.training.data import DEV_A_CALIBRATION_ARTICLES
from qa.training.groups import SQUAD2_TRAIN_CALIBRATION_ARTICLES
from tests.conftest import REPO

SHARED = REPO.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "train" / "newsqa").is_dir(), reason="needs ../shared (the training data)")


def test_parts_are_built_reproducibly_and_apart_from_training(tmp_path):
    first = build_parts(SHARED, tmp_path / "a", n_not_covered=20)
    again = build_parts(SHARED, tmp_path / "b", n_not_covered=20)
    assert set(first) == set(MIX) and abs(sum(MIX.values()) - 1) < 1e-9
    for part, path in first.items():
        assert path.read_bytes() == again[part].read_bytes(), part
    news = json.loads(first["news"].read_text())["data"][0]["paragraphs"]
    assert 300 < len(news) < 500  # about 30 % of NewsQA's 754 + 579 stories (both pools), none of them trained on
    for p in news:
        assert "      " not in p["context"]  # cleaned as `qa ingest` cleans the CNN layout
        for q in p["qas"]:
            assert not q["is_impossible"] and all(a["text"] in p["context"] for a in q["answers"])
    uncovered = json.loads(first["not-covered"].read_text())["data"][0]["paragraphs"]
    assert [p["context"] for p in uncovered] == [p["context"] for p in news]
    assert sum(len(p["qas"]) for p in uncovered) == 20 and all(q["is_impossible"] for p in uncovered for q in p["qas"])
    traps = json.loads(first["traps"].read_text())["data"]
    assert {a["title"] for a in traps} == set(DEV_A_CALIBRATION_ARTICLES) | set(SQUAD2_TRAIN_CALIBRATION_ARTICLES)
    assert any(q.get("is_impossible") for a in traps for p in a["paragraphs"] for q in p["qas"])
    clean = json.loads(first["clean"].read_text())["data"]
    assert {a["title"] for a in clean} == set(CLEAN_ARTICLES)
    questions = [q for a in clean for p in a["paragraphs"] for q in p["qas"]]
    assert len(questions) == CLEAN_QUESTIONS and not any(q["is_impossible"] for q in questions)


def test_the_clean_articles_are_kept_out_of_reader_training():
    """Reader v4 replays no SQuADShifts file: the clean part's articles are never trained on."""
    from qa.reader.span_model import default_model_dir, read_manifest

    manifest = read_manifest(default_model_dir())
    if manifest["training"].get("settings", {}).get("group_k", 0) < 5:
        pytest.skip("the shipped reader predates v4")
    assert not any("squadshifts" in d["path"] for d in manifest["training"]["data"])
