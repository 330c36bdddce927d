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


def split_related(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related response as (content type with parameters, payload),
    split by the standard library's MIME parser (a reader we did not write)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return [(part.get_content_type()
             + "".join(f"; {key}={value}" for key, value in part.get_params()[1:]),
             part.get_payload(decode=True)) for part in message.iter_parts()]
