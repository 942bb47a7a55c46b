"""Files uploaded in the app, copied into <index>/uploads/: their stable source, so uploading a
file of the same name again updates its articles.

A copy never writes through a link: it is written to a new file beside its name and renamed over
it, so a symbolic link there is refused and a hard link (a file with another name outside) is
replaced, never written into. Every copy keeps what it replaced, so a failed ingest (or a file
that gives no article) leaves the uploads folder as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qa.documents import SkippedFile, split_source
from qa.errors import BadInputError
from qa.ingest.formats import SUPPORTED_SUFFIXES

UPLOAD_SUFFIXES = sorted(SUPPORTED_SUFFIXES)


@dataclass(frozen=True)
class StagedFile:
    """One upload copied into the uploads folder."""

    path: Path  # the copy in uploads/
    backup: bytes | None  # what the copy replaced; None when nothing was there
    shown: str  # the name the user knows it by: "report.txt" or "report.txt (kept as report-2.txt)"


@dataclass(frozen=True)
class StagedUploads:
    files: tuple[StagedFile, ...]  # copied, in the order given
    refused: tuple[SkippedFile, ...]  # left out before ingest: type, a link in the way, unreadable


def stage(paths: Iterable[Path], upload_dir: Path) -> StagedUploads:
    """Copy each of `paths` into `upload_dir` under its own name; a second file of the same name in
    this upload is kept as "name-2.txt". A file of another type, one whose copy would write through
    a link or over a folder, and one that cannot be read are refused (and nothing of them written).
    BadInputError, with nothing written, when `upload_dir` is itself a symbolic link."""
    if upload_dir.is_symlink():  # never write through a link under the index
        raise BadInputError(f"{upload_dir} is a symbolic link; uploads are written only into a real folder there "
                            "(remove the link)")
    upload_dir.mkdir(parents=True, exist_ok=True)
    folder = upload_dir.resolve()
    files: list[StagedFile] = []
    refused: list[SkippedFile] = []
    taken: set[str] = set()
    for p in paths:
        if p.suffix.lower() not in SUPPORTED_SUFFIXES:
            refused.append(SkippedFile(p.name, f"unsupported file type; use {', '.join(UPLOAD_SUFFIXES)}"))
            continue
        name = free_name(p.name, taken)
        taken.add(name)
        target = folder / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            refused.append(SkippedFile(p.name, f"{target} is a symbolic link or not a file; uploads never "
                                       "write through it (remove it and upload again)"))
            continue
        try:
            backup = target.read_bytes() if target.exists() else None
            copy_nofollow(p, target)
        except OSError as e:
            refused.append(SkippedFile(p.name, f"cannot be read ({e.strerror or e})"))
            continue
        files.append(StagedFile(target, backup, p.name if name == p.name else f"{p.name} (kept as {name})"))
    return StagedUploads(tuple(files), tuple(refused))


def restore(files: Iterable[StagedFile]) -> None:
    """Put back what the copies replaced (or delete a copy that replaced nothing); best effort."""
    for staged in files:
        try:
            if staged.backup is None:
                staged.path.unlink(missing_ok=True)
            else:
                write_nofollow(staged.path, staged.backup)
        except OSError:
            pass


def unused(files: Iterable[StagedFile], sources: Iterable[str]) -> list[StagedFile]:
    """The staged files that none of `sources` came from (a document's source is its file, or
    "file#N" for a record of a JSON file)."""
    used = {split_source(source)[0] for source in sources}
    return [f for f in files if str(f.path) not in used]


def _replace(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Make `target` a new file holding what `write` writes: written beside it (a hidden name, never
    through a link), fsynced, then renamed over it, so a link or another name of the old file is
    never written into. Nothing is left behind when `write` fails."""
    tmp = target.with_name(f".tmp-upload-{os.getpid()}-{target.name}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_nofollow(target: Path, data: bytes) -> None:
    """Replace `target` by a new file holding `data` (never written through a link there)."""
    _replace(target, lambda out: out.write(data))


def copy_nofollow(source: Path, target: Path) -> None:
    """Replace `target` by a copy of `source` (never written through a link there); nothing is
    created when `source` cannot be read."""
    with open(source, "rb") as f:
        _replace(target, lambda out: shutil.copyfileobj(f, out))


def free_name(name: str, taken: set[str]) -> str:
    """`name`, or "name-2.txt", "name-3.txt", ... when this upload already has a file of that name."""
    stem, suffix, n = Path(name).stem, Path(name).suffix, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{suffix}"
    return name
