"""Filling a test archive with synthetic studies and reading everything back."""

from __future__ import annotations

import pydicom

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive, InstanceLocation
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.index.lookup import stored_instances_select, to_stored_instance

CTX = system_context(Door.CLI, actor="test")


def sop_uid(data: bytes) -> str:
    return str(pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), stop_before_pixels=True)
               .SOPInstanceUID)


def study_files(seed: int, count: int = 6) -> dict[str, bytes]:
    """``count`` small synthetic instances (one study), by SOP Instance UID."""
    files = generate_study_files(series=2, per_series=(count + 1) // 2, rows=32, columns=32,
                                 seed=seed)[:count]
    return {sop_uid(data): data for data in files}


def populate(archive: Archive, seed: int, count: int = 6) -> dict[str, bytes]:
    """Store ``count`` new instances; returns them by SOP Instance UID."""
    files = study_files(seed, count)
    for data in files.values():
        archive.store_bytes(data, CTX)
    return files


def all_locations(archive: Archive) -> list[InstanceLocation]:
    with archive.engine.connect() as conn:
        rows = conn.execute(stored_instances_select()).mappings().all()
    return [InstanceLocation.from_row(to_stored_instance(row)) for row in rows]


def contents(archive: Archive) -> dict[str, bytes]:
    """Every archived instance's verified bytes, by SOP Instance UID."""
    return {loc.sop_instance_uid: archive.read_instance(loc) for loc in all_locations(archive)}
