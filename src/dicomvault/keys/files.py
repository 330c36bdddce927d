"""Writing secret files: mode 0600 from the first byte, atomically replaced."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700 if missing; tighten it if present."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def write_secret_file(path: Path, content: bytes) -> None:
    """Atomically write ``content`` to ``path`` with mode 0600, durable before return.

    The temporary file is created 0600 (never world-readable, not even briefly),
    fsynced, renamed over the target, and the directory is fsynced.
    """
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
