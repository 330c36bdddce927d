"""A populated archive for the key tests: three synthetic studies, stored as a client would."""

from __future__ import annotations

import io

import pydicom
import pytest

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.dicom.synthetic import generate_study_files

CTX = system_context(Door.CLI, actor="tests")


@pytest.fixture
def studies(archive: Archive) -> dict[str, dict[str, bytes]]:
    """Study UID -> {SOP Instance UID: the stored file's bytes}."""
    stored: dict[str, dict[str, bytes]] = {}
    for seed in (1, 2, 3):
        files = generate_study_files(series=2, per_series=3, rows=16, columns=16, seed=seed)
        for data in files:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            archive.store_bytes(data, CTX)
            stored.setdefault(ds.StudyInstanceUID, {})[ds.SOPInstanceUID] = data
    return stored


def read_back(archive: Archive, study_uid: str) -> dict[str, bytes]:
    return {loc.sop_instance_uid: archive.read_instance(loc)
            for loc in archive.locate(CTX, study_uid, record_access=False)}
