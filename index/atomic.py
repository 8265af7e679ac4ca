"""Atomic writes: a file, or a whole folder, replaced so a reader sees the old one or the new one.

A file is written to a temporary sibling, synced and renamed over the old one. A folder is
written complete beside the old one and swapped in with renames (old -> backup, new -> final,
drop backup); a crash leaves either the old folder, the new one, or a backup that
:func:`recover_folder` moves back into place. This module imports nothing from ``matcher``; the
rest of the project writes its files atomically through it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


def write_text_atomic(path: Path | str, text: str, durable: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename,
    so a reader sees the old file or the new one, never a half-written one.

    ``durable`` syncs the temporary file to disk before the rename, so the new text also
    survives a power cut.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rename_path(src: Path, dst: Path) -> None:
    """Every rename of a folder swap or a recovery goes through here (tests inject a crash between two)."""
    os.replace(src, dst)


def fsync_dir(path: Path) -> None:
    """Sync a folder's entries to disk (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backup_of(final: Path) -> Path:
    return final.with_name(f".{final.name}.bak")


@contextlib.contextmanager
def file_lock(path: Path, required: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file ``path`` (created with its folder if missing),
    serialising the processes that take it. With ``required=False`` a file that cannot be made
    or locked (an unwritable folder) lets the caller go on without the lock."""
    fh = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    except OSError:
        if fh is not None:
            fh.close()
            fh = None
        if required:
            raise
    try:
        yield
    finally:
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


def _folder_lock(final: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise writers of the same folder across processes (POSIX advisory lock)."""
    return file_lock(final.with_name(f".{final.name}.lock"))


def recover_folder(final: Path) -> bool:
    """Move a leftover backup into place when a crash left no final folder. True if it did."""
    backup = _backup_of(final)
    if not final.exists() and backup.is_dir():
        rename_path(backup, final)
        fsync_dir(final.parent)
        return True
    return False


def replace_folder(final: Path, fill: Callable[[Path], None]) -> None:
    """Replace the folder ``final`` by one whose files ``fill(tmp)`` writes into an empty sibling.

    The files are synced before the swap; the old folder stays readable until then, and a
    failure while filling leaves it untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(final):
        for leftover in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        recover_folder(final)
        tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:12]}")
        tmp.mkdir()
        try:
            fill(tmp)
            for p in tmp.iterdir():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
            fsync_dir(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        backup = _backup_of(final)
        if backup.exists():
            shutil.rmtree(backup)
        if final.exists():
            rename_path(final, backup)
        rename_path(tmp, final)
        fsync_dir(final.parent)
        shutil.rmtree(backup, ignore_errors=True)
