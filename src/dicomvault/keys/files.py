"""Writing secret files: mode 0600 from the first byte, durable, never seen half-written."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700 if missing; tighten it if present."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def _write_private_temp(path: Path, content: bytes) -> Path:
    """A fsynced 0600 temporary file beside ``path`` (never world-readable, not even briefly)."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_secret_file(path: Path, content: bytes) -> None:
    """Atomically write (or replace) ``path`` with mode 0600, durable before return."""
    tmp = _write_private_temp(path, content)
    tmp.replace(path)
    _fsync_dir(path.parent)


def create_secret_file_once(path: Path, content: bytes) -> None:
    """Write ``path`` with mode 0600 unless it exists; if two processes race, the first wins.

    Used for keys generated on first start: a key that exists is never replaced.
    """
    if path.exists():
        return
    tmp = _write_private_temp(path, content)
    try:
        with contextlib.suppress(FileExistsError):  # another process won: keep its key
            os.link(tmp, path)
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
