"""Crash-safe private file writes: a temp file born 0600 in the same directory, fsync, rename, fsync dir.

The file never exists with wider permissions than ``mode`` (the temp file is created with it, so the umask can
only narrow it, and ``fchmod`` then sets it exactly), and a reader sees either the old or the new content.
These functions block; call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_TMP_SUFFIX = ".tmp"


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) with mode 0700 if missing; an existing directory is left alone."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _fsync_dir(directory: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``data``; the new file has exactly ``mode`` (0600 by default)."""
    directory = path.parent
    ensure_private_dir(directory)
    tmp = directory / f"{_tmp_prefix(path)}{secrets.token_hex(8)}{_TMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def remove_stale_temps(path: Path) -> int:
    """Delete temp files a killed writer left next to ``path``. Call only while holding the write lock."""
    removed = 0
    prefix = _tmp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(prefix) and name.endswith(_TMP_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)
                removed += 1
    return removed
