"""A file's sha256, read in blocks, and its check against a manifest: how the index's segments,
the reader's weights and the ONNX graphs are checked."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at `path`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_mismatch(path: Path, expected: object, manifest: str) -> str | None:
    """None when the file at `path` has the sha256 `expected` (as `manifest` records it); else the
    message's start: "<path>: sha256 1a2b… does not match <manifest> (3c4d…): the file is damaged or
    was replaced" (the caller adds the fix)."""
    digest = sha256_file(path)
    if digest == expected:
        return None
    return (f"{path}: sha256 {digest[:12]}… does not match {manifest} ({str(expected)[:12]}…): "
            "the file is damaged or was replaced")
