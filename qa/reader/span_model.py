"""The reader's network in PyTorch (training, and the reference the ONNX graph is checked
against): the MiniLM encoder with a start/end span head, and the artifact it is saved to and
loaded from. The torch-free parts (the manifest and its checks, input encoding, span decoding)
live in `qa/reader/span_io.py` and are re-exported here under their old names.

The no-answer score of a passage is the score of the [CLS] "span" (start and end on token 0),
as in SQuAD 2.0 readers. The artifact stores every trained parameter except the word-embedding
matrix, which stays frozen during training and is read from the installed base-model package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qa.checksums import sha256_file
from qa.errors import ReaderModelError
from qa.model.bert import BertEncoder, load_base_encoder

# Re-exported for the training code, which imports them from here.
from qa.reader.span_io import (
    ARTIFACT_FORMAT as ARTIFACT_FORMAT,
)
from qa.reader.span_io import (
    FROZEN as FROZEN,
)
from qa.reader.span_io import (
    MANIFEST_FILE as MANIFEST_FILE,
)
from qa.reader.span_io import (
    WEIGHTS_FILE as WEIGHTS_FILE,
)
from qa.reader.span_io import (
    ReaderShape as ReaderShape,
)
from qa.reader.span_io import (
    SpanScore as SpanScore,
)
from qa.reader.span_io import (
    array_sha256 as array_sha256,
)
from qa.reader.span_io import best_spans as best_spans_arrays
from qa.reader.span_io import (
    default_model_dir as default_model_dir,
)
from qa.reader.span_io import (
    encode_pair_arrays as encode_pair_arrays,
)
from qa.reader.span_io import (
    read_manifest as read_manifest,
)
from qa.reader.span_io import (
    reader_weights as reader_weights,
)
from qa.reader.span_io import (
    truncate_question as truncate_question,
)


class SpanReader(nn.Module):
    """Encoder + linear head: per-token start and end logits."""

    def __init__(self, encoder: BertEncoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.shape.hidden_size, 2)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)
        start, end = self.head(hidden).float().unbind(-1)
        return start, end

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if k.removeprefix("encoder.") not in FROZEN}


def new_span_reader(dropout: float = 0.1) -> SpanReader:
    """A reader initialised from the packaged MiniLM, its word embeddings frozen."""
    model = SpanReader(load_base_encoder(dropout=dropout))
    model.encoder.word_embeddings.weight.requires_grad_(False)
    return model


# ---------------------------------------------------------------------------------------------
# Inputs: [CLS] question [SEP] passage [SEP], with character offsets of the passage tokens.
# ---------------------------------------------------------------------------------------------


@dataclass
class EncodedBatch:
    input_ids: torch.Tensor  # (batch, tokens)
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    context_mask: torch.Tensor  # True on passage tokens
    offsets: list[list[tuple[int, int]]]  # per row, per token: char span in the passage
    line_ids: torch.Tensor  # per token: which line of the passage it is on (an answer stays on one)


def encode_pairs(questions: list[str], passages: list[str], shape: ReaderShape, pad_to: int = 32) -> EncodedBatch:
    """`qa.reader.span_io.encode_pair_arrays` as torch tensors."""
    e = encode_pair_arrays(questions, passages, shape, pad_to)
    return EncodedBatch(
        torch.from_numpy(e.input_ids), torch.from_numpy(e.attention_mask), torch.from_numpy(e.token_type_ids),
        torch.from_numpy(e.context_mask), e.offsets, torch.from_numpy(e.line_ids),
    )


def best_spans(
    start: torch.Tensor,
    end: torch.Tensor,
    context_mask: torch.Tensor,
    max_answer_tokens: int,
    line_ids: torch.Tensor | None = None,
) -> list[SpanScore | None]:
    """`qa.reader.span_io.best_spans` of torch logits (on the CPU)."""
    return best_spans_arrays(
        start.detach().float().cpu().numpy(), end.detach().float().cpu().numpy(), context_mask.cpu().numpy(),
        max_answer_tokens, None if line_ids is None else line_ids.cpu().numpy(),
    )


# ---------------------------------------------------------------------------------------------
# The artifact: weights (fp16 safetensors) + manifest with hashes and provenance.
# ---------------------------------------------------------------------------------------------


def tensor_sha256(tensor: torch.Tensor) -> str:
    return array_sha256(tensor.detach().float().contiguous().numpy())


def save_reader(model: SpanReader, shape: ReaderShape, folder: Path, provenance: Mapping[str, object]) -> Path:
    """Write the trained parameters (fp16) and the manifest into `folder`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_FILE
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.trainable_state().items()}
    save_file(state, str(weights))
    manifest = {
        "format": ARTIFACT_FORMAT,
        "weights": WEIGHTS_FILE,
        "weights_sha256": sha256_file(weights),
        "base_word_embeddings_sha256": tensor_sha256(model.encoder.word_embeddings.weight),
        "shape": shape.__dict__,
        **provenance,
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return weights


def load_reader(folder: Path | None = None) -> tuple[SpanReader, ReaderShape, dict[str, Any]]:
    """The trained reader (eval mode), after checking the weights' sha256 against the manifest
    and the installed base model's word embeddings against the ones it was trained with
    (`qa.reader.span_io.reader_weights`)."""
    folder = Path(folder or default_model_dir())
    weights, shape, manifest = reader_weights(folder)
    model = new_span_reader(dropout=0.0)
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or missing:
        file = folder / str(manifest.get("weights", WEIGHTS_FILE))
        raise ReaderModelError(f"{file}: parameters do not fit the reader ({len(missing)} missing, {len(unexpected)} unexpected)")
    return model.eval(), shape, manifest
