"""Realistic synthetic studies: for tests, benchmarks and trying a fresh node.

Real patient data cannot ship with the project, and pydicom's bundled files
are single small images. This module makes complete, valid CT and MR series
with the attributes a modality sends (patient, study, series, frame of
reference, image plane and pixel modules; PS3.3 A.3 CT Image IOD), and pixel
content that compresses like real anatomy does: a body outline, organs,
bone rings and noise in Hounsfield units stored with a rescale intercept,
not constant arrays that any codec squeezes to nothing.

Everything is deterministic for a given seed, so benchmarks compare like
with like.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

_ROOT = "1.2.826.0.1.3680043.10.1291."  # dicomvault's synthetic-data UID root


def synthetic_uid(rng: np.random.Generator) -> UID:
    """A valid UID under our synthetic root (random, deterministic per generator)."""
    return UID(_ROOT + ".".join(str(int(x)) for x in rng.integers(1, 2**31, size=3)))


@dataclass(frozen=True)
class PatientSpec:
    PatientName: str = "SYNTHETIC^PATIENT"
    PatientID: str = "SYN0001"
    PatientBirthDate: str = "19700101"
    PatientSex: str = "O"


@dataclass(frozen=True)
class StudySpec:
    patient: PatientSpec = field(default_factory=PatientSpec)
    StudyDate: str = "20240115"
    StudyTime: str = "101500"
    AccessionNumber: str = "ACC0001"
    StudyDescription: str = "CT CHEST ABDOMEN"
    ReferringPhysicianName: str = "REFERRER^RITA"
    InstitutionName: str = "SYNTHETIC GENERAL HOSPITAL"


def _phantom(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """A CT slice in HU: air, body ellipse (soft tissue), lungs, spine, noise."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2, cols / 2
    image = np.full((rows, cols), -1000.0, dtype=np.float32)
    body = ((x - cx) / (cols * 0.42)) ** 2 + ((y - cy) / (rows * 0.32)) ** 2 <= 1
    image[body] = 40
    for side in (-1, 1):
        lung = ((x - cx - side * cols * 0.18) / (cols * 0.13)) ** 2 + (
            (y - cy + rows * 0.02) / (rows * (0.18 + 0.03 * np.sin(z / 20)))
        ) ** 2 <= 1
        image[lung] = -850
    spine_r = np.hypot(x - cx, y - (cy + rows * 0.2))
    image[spine_r < rows * 0.05] = 700
    image[(spine_r >= rows * 0.05) & (spine_r < rows * 0.065)] = 1200
    organ = (((x - cx + cols * 0.1) / (cols * 0.12)) ** 2
             + ((y - cy - rows * 0.05) / (rows * 0.1)) ** 2)
    image[(organ <= 1) & body] = 60 + 10 * np.cos(z / 7)
    image += rng.normal(0, 12, size=image.shape).astype(np.float32)
    return np.clip(image, -1024, 3071).astype(np.int16)


def _mr_slice(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.hypot((x - cols / 2) / (cols * 0.4), (y - rows / 2) / (rows * 0.45))
    image = np.where(r < 1, 600 + 300 * np.cos(r * 6 + z / 5), 0).astype(np.float32)
    image += np.abs(rng.normal(0, 15, size=image.shape)).astype(np.float32)
    return np.clip(image, 0, 4095).astype(np.uint16)


def _base(study: StudySpec, study_uid: UID, series_uid: UID, frame_uid: UID,
          *, sop_class: UID, sop_uid: UID) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = study.patient.PatientName
    ds.PatientID = study.patient.PatientID
    ds.PatientBirthDate = study.patient.PatientBirthDate
    ds.PatientSex = study.patient.PatientSex
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = study.StudyDate
    ds.StudyTime = study.StudyTime
    ds.AccessionNumber = study.AccessionNumber
    ds.StudyDescription = study.StudyDescription
    ds.ReferringPhysicianName = study.ReferringPhysicianName
    ds.StudyID = "1"
    ds.InstitutionName = study.InstitutionName
    ds.Manufacturer = "dicomvault synthetic"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.ContentDate = study.StudyDate
    ds.ContentTime = study.StudyTime
    return ds


def generate_series(
    *,
    count: int = 10,
    modality: str = "CT",
    rows: int = 512,
    columns: int = 512,
    study: StudySpec | None = None,
    study_uid: str | None = None,
    series_number: int = 1,
    seed: int = 0,
) -> Iterator[Dataset]:
    """Yield ``count`` slices of one CT or MR series (datasets with file meta)."""
    rng = np.random.default_rng(seed)
    study = study or StudySpec()
    study_uid_value = UID(study_uid) if study_uid else synthetic_uid(rng)
    series_uid = synthetic_uid(rng)
    frame_uid = synthetic_uid(rng)
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    for index in range(count):
        ds = _base(study, study_uid_value, series_uid, frame_uid,
                   sop_class=sop_class, sop_uid=synthetic_uid(rng))
        ds.Modality = modality
        ds.SeriesNumber = series_number
        ds.SeriesDescription = f"{modality} AXIAL {series_number}"
        ds.BodyPartExamined = "CHEST" if modality == "CT" else "HEAD"
        ds.InstanceNumber = index + 1
        ds.AcquisitionNumber = 1
        ds.PatientPosition = "HFS"
        z = -200.0 + index * 2.5
        ds.ImagePositionPatient = [-250.0, -250.0, z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = z
        ds.SliceThickness = 2.5
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = columns
        ds.BitsAllocated = 16
        ds.BitsStored = 16 if modality == "CT" else 12
        ds.HighBit = ds.BitsStored - 1
        if modality == "CT":
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.PixelRepresentation = 1
            ds.RescaleIntercept = 0
            ds.RescaleSlope = 1
            ds.RescaleType = "HU"
            ds.KVP = 120
            ds.WindowCenter = 40
            ds.WindowWidth = 400
            pixels = _phantom(rows, columns, z, rng)
        else:
            ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
            ds.PixelRepresentation = 0
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.EchoTime = 20
            ds.RepetitionTime = 500
            ds.EchoTrainLength = 1
            ds.WindowCenter = 600
            ds.WindowWidth = 1200
            pixels = _mr_slice(rows, columns, z, rng)
        ds.PixelData = pixels.tobytes()
        yield ds


def to_part10(ds: Dataset) -> bytes:
    """Encode a generated dataset as a Part 10 file."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def generate_study_files(
    *, series: int = 2, per_series: int = 5, rows: int = 128, columns: int = 128,
    study: StudySpec | None = None, seed: int = 0,
) -> list[bytes]:
    """A multi-series study (CT then MR alternating) as Part 10 files."""
    rng = np.random.default_rng(seed)
    study_uid = str(synthetic_uid(rng))
    files: list[bytes] = []
    for number in range(1, series + 1):
        modality = "CT" if number % 2 else "MR"
        for ds in generate_series(count=per_series, modality=modality, rows=rows, columns=columns,
                                  study=study, study_uid=study_uid, series_number=number,
                                  seed=seed * 1000 + number):
            files.append(to_part10(ds))
    return files
