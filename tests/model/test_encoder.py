"""The plain-PyTorch MiniLM (qa/model/bert.py) against the reference transformers implementation."""

from __future__ import annotations

import torch

from qa.model.base import base_model_dir, load_wordpiece_tokenizer
from qa.model.bert import autocast, load_base_encoder


def _batch(pairs):
    tok = load_wordpiece_tokenizer()
    enc = tok.encode_batch(pairs)
    n = max(len(e.ids) for e in enc)

    def pad(rows):
        return torch.tensor([r + [0] * (n - len(r)) for r in rows])

    return pad([e.ids for e in enc]), pad([e.attention_mask for e in enc]), pad([e.type_ids for e in enc])


def test_encoder_matches_transformers_bert():
    from transformers import BertModel


    ids, mask, types = _batch([("Who visited Armenia?", "NATO Secretary General Jens Stoltenberg visited Armenia."), ("hi", "x")])
    ours = load_base_encoder()
    reference = BertModel.from_pretrained(str(base_model_dir()), local_files_only=True).eval()
    with torch.no_grad():
        a = ours(ids, mask, types)
        b = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    keep = mask.bool()
    assert torch.allclose(a[keep], b[keep], atol=1e-4)


def test_bf16_autocast_stays_close_to_fp32():
    ids, mask, types = _batch([("When did Armenia join the Partnership for Peace?", "After Armenia joined the Partnership for Peace program in 1994, the cooperation deepened.")])
    model = load_base_encoder()
    with torch.no_grad():
        fp32 = model(ids, mask, types)
        with autocast("cpu", "bfloat16"):
            low = model(ids, mask, types).float()
    cosine = torch.nn.functional.cosine_similarity(fp32[0], low[0], dim=-1)
    assert float(cosine.min()) > 0.98
