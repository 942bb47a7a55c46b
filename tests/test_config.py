"""Config (qa/config.py): every setting is checked when a Config is made, by Config(...) and with_(...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import ConfigError, QAError


def test_defaults_are_valid_and_text_paths_become_paths():
    config = Config(index_dir="somewhere", reader_model_dir="model")
    assert config.index_dir == Path("somewhere") and config.reader_model_dir == Path("model")
    assert config.with_(retriever="bm25", abstain_threshold=None, segment_seconds=0).retriever == "bm25"


@pytest.mark.parametrize(
    "change, named",
    [
        ({"retriever": "telepathy"}, "retriever must be one of dense, bm25, hybrid"),
        ({"chunk_overlap_tokens": 128}, "chunk_overlap_tokens must be smaller than chunk_tokens (128)"),
        ({"chunk_tokens": 0}, "chunk_tokens must be a whole number >= 1"),
        ({"top_k": 51}, "top_k must be from 1 to max_top_k (50)"),
        ({"max_top_k": 0}, "max_top_k must be a whole number >= 1"),
        ({"abstain_threshold": 1.5}, "abstain_threshold must be a number from 0 to 1"),
        ({"recency_margin": -0.1}, "recency_margin must be a number from 0 to 1"),
        ({"confidence_bands": (0.9, 0.5)}, "confidence_bands must be None or two numbers"),
        ({"cpu_dtype": "int4"}, "cpu_dtype must be one of auto, bfloat16, float32"),
        ({"device": "gpu"}, "device must be one of auto, cpu, cuda"),
        ({"batch_size": True}, "batch_size must be a whole number"),
        ({"segment_seconds": float("nan")}, "segment_seconds must be a number >= 0"),
        ({"top_kk": 3}, "Config has no setting top_kk"),
    ],
    ids=lambda c: next(iter(c)) if isinstance(c, dict) else "",
)
def test_a_bad_setting_is_a_one_line_config_error_naming_it(change, named):
    with pytest.raises(ConfigError) as err:
        Config().with_(**change)
    assert named in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, QAError)
    if "top_kk" not in change:
        with pytest.raises(ConfigError):
            Config(**change)
