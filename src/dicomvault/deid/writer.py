"""Encoding a de-identified data set as a DICOM Part 10 file."""

from __future__ import annotations

import io

import pydicom
from pydicom.dataset import Dataset


def part10_bytes(dataset: Dataset) -> bytes:
    """The Part 10 encoding of a data set made by :class:`~dicomvault.deid.Deidentifier`.

    Written in the transfer syntax of its File Meta Information (the
    original's), with the zeroed preamble the de-identifier set.
    """
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
