"""Studies of named institutions, departments and referring physicians, with PHI to look for."""

from __future__ import annotations

import io

import pydicom
from pydicom.filebase import DicomBytesIO

from dicomvault.dicom.synthetic import generate_study_files


def study_files(seed: int, *, institution: str, department: str = "",
                referring: str = "REFERRER^RITA", patient: str = "DOE^JANE",
                patient_id: str = "PHI-12345") -> list[bytes]:
    """A small synthetic study re-labelled with the given attributes."""
    out = []
    for data in generate_study_files(series=1, per_series=2, rows=16, columns=16, seed=seed):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.InstitutionName = institution
        ds.InstitutionalDepartmentName = department
        ds.ReferringPhysicianName = referring
        ds.PatientName = patient
        ds.PatientID = patient_id
        buffer = DicomBytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def uids(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
