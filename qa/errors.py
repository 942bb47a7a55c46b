"""The project's exceptions. Each message names the file or index and says how to fix it."""

from __future__ import annotations

from pathlib import Path


class QAError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class ConfigError(QAError, ValueError):
    """A setting of `qa.config.Config` is out of range; the message names it and the allowed values."""


class BadInputError(QAError):
    """An input file (or question) cannot be used; the index is left untouched."""


class IndexMissingError(QAError):
    """No index exists at the given folder."""


class IndexMismatchError(QAError):
    """The index was built with another model or other chunking settings."""


class IndexCorruptError(QAError):
    """The index's parts disagree with each other or with their recorded hashes."""


class IndexLockedError(QAError):
    """Another writer holds the index lock (or queries kept its catalog busy past the wait)."""


class IndexAccessError(QAError):
    """This user may not read or change the index (permissions, a read-only file system); it is not damaged."""


class ReaderModelError(QAError):
    """The reader's model files are missing, damaged or do not fit the installed base model."""


class ModelGraphError(QAError):
    """An ONNX graph of the encoder or the reader (`qa/model/onnx/`) is missing, damaged or does not fit its weights."""


def rebuild_hint(index_dir: Path) -> str:
    """The fix that ends every message about an index that cannot be used as it is."""
    return f"rebuild it with `qa ingest corpus --rebuild --index {index_dir}` (or your own article folders)"


def empty_question(command: str = "") -> str:
    """What `qa ask ""` and /ask say to an empty question; `command` ("qa ask ") goes before the example."""
    return f'the question is empty; ask something, e.g. {command}"Who visited Armenia?"'
