"""Fault injection helpers: a tiny tmpfs we can fill or make read-only, STOW-RS calls."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
from tests.support.multipart import stow_body
from tests.support.services import require


def _can_mount() -> bool:
    return os.geteuid() == 0 and Path("/bin/mount").exists()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (needs root; skipped, or failed under CI, without)."""
    require(_can_mount(), "mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                             str(path)], capture_output=True, text=True, check=False)
    require(result.returncode == 0, f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, mode: str) -> None:
    """Remount the tmpfs at ``path`` read-only (``ro``) or read-write (``rw``)."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(path: Path) -> Path:
    """Fill the filesystem at ``path`` to the last byte; returns the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def stow(base_url: str, files: list[bytes], auth: dict[str, str]) -> httpx.Response:
    """STOW-RS ``files`` with the credentials in ``auth`` (an Authorization header)."""
    body, content_type = stow_body(files)
    return httpx.post(f"{base_url}/dicom-web/studies", content=body,
                      headers={**auth, "Content-Type": content_type,
                               "Accept": "application/dicom+json"},
                      timeout=120)
