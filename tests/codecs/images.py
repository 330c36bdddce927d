"""Test images for the codecs: real files (pydicom, pydicom-data) and synthetic pixel formats.

Real files come by name through ``pydicom.data.get_testdata_file`` (pydicom's
bundled test files and the ``pydicom-data`` package, which pydicom finds by
itself). Synthetic files cover the pixel formats a codec can get wrong:
12-bit and 16-bit signed and unsigned grayscale, 8-bit RGB interleaved and
planar, 8-bit YBR_FULL, multi-frame, with content that has structure and
noise (a gradient, rings and random noise: nothing a codec squeezes to zero,
and extreme values at the corners).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

#: Real native files: (name, what it stands for).
REAL_NATIVE = [
    ("CT_small.dcm", "CT 16-bit signed"),
    ("MR_small.dcm", "MR 16-bit signed"),
    ("MR_small_implicit.dcm", "MR implicit VR"),
    ("emri_small.dcm", "MR multi-frame 12-bit (10 frames)"),
    ("eCT_Supplemental.dcm", "enhanced CT multi-frame (2 frames)"),
    ("US1_UNCR.dcm", "US RGB 8-bit"),
    ("SC_rgb_2frame.dcm", "RGB multi-frame"),
    ("SC_rgb_16bit.dcm", "RGB 16-bit"),
    ("SC_ybr_full_uncompressed.dcm", "YBR_FULL 8-bit"),
    ("OBXXXX1A.dcm", "US palette colour"),
    ("vlut_04.dcm", "8-bit grayscale"),
]
#: The large real files of pydicom-data (1024x1024 MR, 1955x1841 and 1760x1760 CR).
REAL_LARGE = ["MR2_UNCR.dcm", "RG1_UNCR.dcm", "RG3_UNCR.dcm"]


def real_file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, f"{name} is missing: install pydicom-data (pyproject test extra)"
    return Path(str(path)).read_bytes()


def _content(rows: int, columns: int, frames: int, low: int, high: int,
             seed: int) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    out = []
    for frame in range(frames):
        ring = np.cos(np.hypot(x - columns / 2, y - rows / 2) / (3 + frame))
        base = low + (high - low) * (0.5 + 0.35 * ring + 0.1 * x / columns)
        noisy = base + rng.normal(0, (high - low) / 50, size=base.shape)
        image = np.clip(np.rint(noisy), low, high).astype(np.int64)
        image[0, 0], image[-1, -1] = low, high  # the extremes of the declared range
        out.append(image)
    return np.stack(out)


def synthetic(*, bits_stored: int, signed: bool = False, samples: int = 1,
              photometric: str = "MONOCHROME2", planar: int = 0, frames: int = 1,
              rows: int = 96, columns: int = 80, implicit: bool = False, seed: int = 0) -> bytes:
    """A valid Secondary Capture Part 10 file with native pixels in the format asked for."""
    allocated = 8 if bits_stored <= 8 else 16
    low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed \
        else (0, 2**bits_stored - 1)
    values = _content(rows, columns, frames * samples, low, high, seed)
    values = values.reshape(frames, samples, rows, columns)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    if samples == 1 or planar == 1:
        pixels = values.astype(dtype)  # frames x planes x rows x columns
    else:
        pixels = values.transpose(0, 2, 3, 1).astype(dtype)  # interleaved samples
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(seed), "sop"])
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[str(seed), "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(seed), "series"])
    ds.PatientID = "CODEC-TEST"
    ds.PatientName = "CODEC^TEST"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = planar
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


#: Synthetic formats: (id, keyword arguments of :func:`synthetic`).
SYNTHETIC = [
    ("12-bit unsigned", {"bits_stored": 12}),
    ("12-bit signed", {"bits_stored": 12, "signed": True}),
    ("16-bit unsigned", {"bits_stored": 16}),
    ("16-bit signed", {"bits_stored": 16, "signed": True}),
    ("8-bit gray", {"bits_stored": 8}),
    ("8-bit RGB", {"bits_stored": 8, "samples": 3, "photometric": "RGB"}),
    ("8-bit RGB planar", {"bits_stored": 8, "samples": 3, "photometric": "RGB", "planar": 1}),
    ("8-bit YBR_FULL", {"bits_stored": 8, "samples": 3, "photometric": "YBR_FULL"}),
    ("12-bit 3 frames implicit", {"bits_stored": 12, "frames": 3, "implicit": True}),
]


def pixel_array(data: bytes) -> npt.NDArray[np.generic]:
    """All frames decoded by pydicom's own decoders (an independent path from ours)."""
    return pydicom.dcmread(io.BytesIO(data)).pixel_array
