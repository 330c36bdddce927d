"""Building STOW-RS request bodies the way clients do (and the ways they get it wrong)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence


def stow_body(files: Sequence[bytes], part_type: str = "application/dicom",
              boundary: str | None = None) -> tuple[bytes, str]:
    boundary = boundary or uuid.uuid4().hex
    chunks: list[bytes] = []
    for data in files:
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'
