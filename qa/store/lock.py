"""The index folder's writer lock: one writer at a time, the others refused with a message; and
the writer's guard against links: nothing outside the index folder is ever written or deleted."""

from __future__ import annotations

import errno
from pathlib import Path

from qa.errors import BadInputError, IndexAccessError, IndexLockedError

# What a writer writes or deletes in place under the index folder, by name: none of them may be a
# symbolic link (it would be followed), and the files may have no other name (a hard link: a write
# in place would change that file too). Segment files and uploads are new files, renamed into place.
_WRITTEN_IN_PLACE = ("catalog.sqlite", "catalog.sqlite-journal", "catalog.sqlite-wal", "catalog.sqlite-shm", ".lock")
_FOLDERS = ("segments", "uploads")
_ACCESS = (errno.EACCES, errno.EPERM, errno.EROFS)


def checked_index_folder(index_dir: Path) -> None:
    """BadInputError when `index_dir`, or a folder above it, is a file: an index is a folder."""
    for path in (index_dir, *index_dir.parents):
        if path.exists() and not path.is_dir():
            raise BadInputError(f"{path} is a file, not a folder: the index is a folder; give --index a folder "
                                "(a new one is created), e.g. --index index")
        if path.exists():
            return


def access_error(path: Path, e: OSError, doing: str = "change the index") -> IndexAccessError:
    """The one-line error for a permission problem (or a read-only file system) met at `path`."""
    if e.errno == errno.EROFS:
        return IndexAccessError(f"{path}: on a read-only file system: qa cannot {doing} there (the index is not damaged)")
    return IndexAccessError(f"{path}: this user may not {doing} ({e.strerror or e}): the index is not damaged; run qa "
                            "as the index's owner, or give this user write access to the index folder")


def refuse_links(index_dir: Path) -> None:
    """IndexLockedError naming the first entry under `index_dir` that a write would follow out of it."""
    for name in (*_WRITTEN_IN_PLACE, *_FOLDERS):
        path = index_dir / name
        if path.is_symlink():
            raise IndexLockedError(f"{path} is a symbolic link: qa never writes or deletes through a link under the "
                                   "index; remove the link (qa makes a plain file or folder there) and try again")
        if name in _WRITTEN_IN_PLACE and path.is_file() and path.stat().st_nlink > 1:
            raise IndexLockedError(f"{path} has another name (a hard link): qa writes it in place, which would change "
                                   "that file too; replace it by a copy (`cp`) and try again")
        if name in _FOLDERS and path.exists() and not path.is_dir():
            raise IndexLockedError(f"{path} is not a folder; remove it (qa makes the folder there) and try again")


class WriterLock:
    """An exclusive, non-blocking lock on the index folder; the OS drops it if the process dies.
    Taking it also checks that no entry a writer touches is a link out of the folder."""

    def __init__(self, index_dir: Path):
        from filelock import FileLock

        checked_index_folder(index_dir)
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            if e.errno in _ACCESS:
                raise access_error(index_dir, e, "create the index folder") from None
            raise
        self.index_dir = index_dir
        self._lock = FileLock(str(index_dir / ".lock"))

    def __enter__(self) -> WriterLock:
        from filelock import Timeout

        lock = self.index_dir / ".lock"
        if lock.is_symlink() or (lock.exists() and not lock.is_file()):  # never open (and truncate) through a link
            raise IndexLockedError(f"{lock}: the index's lock is a symbolic link or not a file; remove it (qa makes "
                                   "a plain file there) and try again")
        refuse_links(self.index_dir)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise IndexLockedError(
                f"{self.index_dir}: another qa process is writing this index (lock {self.index_dir / '.lock'}); "
                "wait for it to finish and try again"
            ) from None
        except OSError as e:
            if e.errno in _ACCESS:  # a read-only index: nothing is wrong with the lock itself
                raise access_error(self.index_dir, e) from None
            raise IndexLockedError(f"{lock}: cannot be opened as the index's lock ({e.strerror or e}); "
                                   "remove it and try again") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
