"""Making a proven lossless compressed copy of an archived native file.

:func:`compress_original` is the whole storage-side rule of issue 6 in one
place:

* only native little-endian files are compressed (anything already
  compressed, lossy or not, is kept as received: re-encoding a lossy image
  would lose more, re-encoding a lossless one could not give back its exact
  bytes);
* every frame is encoded in the chosen lossless syntax (PS3.5 A.4: one
  fragment per frame, a Basic Offset Table) into a valid Part 10 file of
  the same instance (same SOP Instance UID: a lossless conversion is the
  same instance, PS3.4);
* the proof: the original file is rebuilt from the kept header, the layout
  and the frames *decoded from the compressed file*, and its SHA-256 must
  equal the one recorded at ingest. Only then is a :class:`CompressedCopy`
  returned; otherwise a :class:`Refusal` says why and the original stays.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from dicomvault.codecs import bitstreams
from dicomvault.codecs.original import (
    NotSplittable,
    OriginalLayout,
    SplitOriginal,
    restore_original,
    split_original,
)
from dicomvault.errors import DicomVaultError

#: Encapsulated Pixel Data with a Basic Offset Table must stay under 4 GiB (PS3.5 A.4).
_MAX_ENCAPSULATED = 2**32 - 2**20


@dataclass(frozen=True, slots=True)
class CompressedCopy:
    """A compressed Part 10 file proven to give back the original, and how to do it."""

    data: bytes
    transfer_syntax: str
    sha256: str
    layout: OriginalLayout

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no compressed copy was made; ``mismatch`` marks a failed proof (to be recorded)."""

    reason: str
    mismatch: bool = False


def compress_original(original: bytes, target: str, *, kept_header: bytes | None = None,
                      original_sha256: str | None = None) -> CompressedCopy | Refusal:
    """A compressed copy of ``original`` in ``target``, or why there is none.

    ``kept_header`` is the header the index holds for the instance; the copy
    is refused unless it is exactly the file's own. ``original_sha256`` is
    the hash recorded at ingest; the rebuilt file must match it (and the
    bytes given must too, or the caller read something else).
    """
    digest = hashlib.sha256(original).hexdigest()
    if original_sha256 is not None and digest != original_sha256:
        return Refusal("the bytes read do not match the hash recorded at ingest", mismatch=True)
    try:
        split = split_original(original)
    except NotSplittable as exc:
        return Refusal(str(exc))
    if kept_header is not None and kept_header != split.header:
        return Refusal("the index does not hold this file's exact header")
    reason = bitstreams.why_not_encodable(target, split.layout.fmt)
    if reason is not None:
        return Refusal(reason)
    try:
        frames = _encode_frames(split, target)
    except ValueError as exc:
        return Refusal(f"not encodable as declared: {exc}")
    if sum(len(f) + 16 for f in frames) > _MAX_ENCAPSULATED:
        return Refusal("compressed pixel data too large for a Basic Offset Table")
    data = _part10(original, split, target, frames)
    rebuilt = hashlib.sha256()
    try:
        for chunk in restore_original(split.header, split.layout, data):
            rebuilt.update(chunk)
    except (DicomVaultError, ValueError) as exc:
        return Refusal(f"the compressed copy does not decode: {exc}", mismatch=True)
    if rebuilt.hexdigest() != digest:
        return Refusal("decoded pixels differ from the original", mismatch=True)
    return CompressedCopy(data=data, transfer_syntax=target,
                          sha256=hashlib.sha256(data).hexdigest(), layout=split.layout)


def _encode_frames(split: SplitOriginal, target: str) -> list[bytes]:
    fmt = split.layout.fmt
    return [bitstreams.encode_frame(target, fmt.frame_array(split.pixels, index), fmt)
            for index in range(fmt.number_of_frames)]


def _parsed(_ds: Dataset, _element: DataElement) -> None:
    """Visiting an element is enough: pydicom parses raw elements when they are accessed."""


def _part10(original: bytes, split: SplitOriginal, target: str, frames: list[bytes]) -> bytes:
    """The same data set with encapsulated Pixel Data, as a Part 10 file in ``target``."""
    ds = pydicom.dcmread(io.BytesIO(original))
    ds.walk(_parsed)  # parse raw (implicit VR) elements while their encoding is known
    fmt = split.layout.fmt
    ds.file_meta.TransferSyntaxUID = UID(target)
    ds.PhotometricInterpretation = bitstreams.encoded_photometric(target, fmt)
    if fmt.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0  # PS3.5 8.2: encapsulated colour frames are interleaved
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.set_original_encoding(is_implicit_vr=False, is_little_endian=True)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
