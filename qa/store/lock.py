"""The index folder's writer lock: one writer at a time, the others refused with a message."""

from __future__ import annotations

from pathlib import Path

from qa.errors import IndexLockedError


class WriterLock:
    """An exclusive, non-blocking lock on the index folder; the OS drops it if the process dies."""

    def __init__(self, index_dir: Path):
        from filelock import FileLock

        index_dir.mkdir(parents=True, exist_ok=True)
        self.index_dir = index_dir
        self._lock = FileLock(str(index_dir / ".lock"))

    def __enter__(self) -> WriterLock:
        from filelock import Timeout

        lock = self.index_dir / ".lock"
        if lock.is_symlink() or (lock.exists() and not lock.is_file()):  # never open (and truncate) through a link
            raise IndexLockedError(f"{lock}: the index's lock is a symbolic link or not a file; remove it (qa makes "
                                   "a plain file there) and try again")
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise IndexLockedError(
                f"{self.index_dir}: another qa process is writing this index (lock {self.index_dir / '.lock'}); "
                "wait for it to finish and try again"
            ) from None
        except OSError as e:
            raise IndexLockedError(f"{lock}: cannot be opened as the index's lock ({e.strerror or e}); "
                                   "remove it and try again") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
