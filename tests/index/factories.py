"""Realistic, deterministic InstanceRecords for index tests and benchmarks.

``make_records(seed=...)`` returns the same records for the same arguments:
several patients, each with studies of several series of different
modalities, with the SOP classes and transfer syntaxes those modalities use.
UIDs are derived from the seed (pydicom's ``generate_uid`` with fixed entropy)
so two seeds never collide. ``record_from_dataset`` turns a real DICOM file
into a record, the way ingest does, without going through the storage layer.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

from dicomvault.index.records import (
    InstanceAttributes,
    InstanceRecord,
    PatientAttributes,
    SeriesAttributes,
    StoredObject,
    StudyAttributes,
)

SURNAMES = ("DOE", "SMITH", "O'BRIEN", "MÜLLER", "GARCIA", "NGUYEN", "VAN DER BERG", "ADAMS")
GIVEN_NAMES = ("JOHN", "JANE", "MARIA", "ÉLODIE", "OMAR", "YUKI", "PAT", "ADAM")
MODALITIES = {
    "CT": (CTImageStorage, "CHEST", 512),
    "MR": (MRImageStorage, "HEAD", 256),
    "US": (UltrasoundImageStorage, "ABDOMEN", 480),
    "DX": (DigitalXRayImageStorageForPresentation, "CHEST", 2048),
}
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def uid(seed: int, *parts: object) -> str:
    """A deterministic UID under pydicom's root, unique per (seed, parts)."""
    # One joined source: pydicom concatenates several without a separator ("1","23" == "12","3").
    return str(generate_uid(entropy_srcs=["/".join(str(p) for p in (seed, *parts))]))


def stored_object(seed: int, sop_uid: str) -> StoredObject:
    """Plausible blob columns: random-looking object name, hash, wrapped key."""
    digest = hashlib.sha256(f"{seed}:{sop_uid}".encode()).hexdigest()
    return StoredObject(
        blob_name=digest[:32],
        size=100_000 + int(digest[:4], 16),
        sha256=digest,
        kek_id="kek-2024-01",
        wrapped_key=bytes.fromhex(digest[:80]),
        sealed_header=b"sealed:" + digest[:16].encode(),
    )


def make_records(
    seed: int = 0,
    *,
    patients: int = 3,
    studies_per_patient: int = 2,
    series_per_study: int = 3,
    instances_per_series: int = 4,
) -> list[InstanceRecord]:
    """Instances of ``patients`` patients, in ingest order (series by series)."""
    rng = random.Random(seed)
    records: list[InstanceRecord] = []
    for p in range(patients):
        patient = PatientAttributes(
            PatientID=f"PID{seed:03d}{p:05d}",
            IssuerOfPatientID="HOSP-A" if p % 2 else "",
            PatientName=f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN_NAMES)}",
            PatientBirthDate=f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}",
            PatientSex=rng.choice("MFO"),
        )
        for s in range(studies_per_patient):
            day = _EPOCH + timedelta(days=rng.randint(0, 364))
            study = StudyAttributes(
                StudyInstanceUID=uid(seed, "study", p, s),
                StudyDate=day.strftime("%Y%m%d"),
                StudyTime=f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}"
                f"{rng.randint(0, 59):02d}",
                AccessionNumber=f"A{seed:02d}{p:04d}{s:02d}",
                StudyID=str(s + 1),
                StudyDescription=rng.choice(("ROUTINE", "FOLLOW UP", "TRAUMA")),
                ReferringPhysicianName=f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN_NAMES)}^^DR",
                InstitutionName="GENERAL HOSPITAL",
                SpecificCharacterSet="ISO_IR 100",
            )
            modalities = rng.sample(sorted(MODALITIES), k=min(series_per_study, len(MODALITIES)))
            for n in range(series_per_study):
                modality = modalities[n % len(modalities)]
                sop_class, body_part, size = MODALITIES[modality]
                series = SeriesAttributes(
                    SeriesInstanceUID=uid(seed, "series", p, s, n),
                    Modality=modality,
                    SeriesNumber=n + 1,
                    SeriesDescription=f"{modality} {body_part}",
                    BodyPartExamined=body_part,
                    PerformedProcedureStepStartDate=study.StudyDate,
                    PerformedProcedureStepStartTime=study.StudyTime,
                    ScheduledProcedureStepID=f"SPS{p}{s}",
                    RequestedProcedureID=f"RP{p}{s}",
                )
                for i in range(instances_per_series):
                    sop_uid = uid(seed, "instance", p, s, n, i)
                    records.append(
                        InstanceRecord(
                            patient=patient,
                            study=study,
                            series=series,
                            instance=InstanceAttributes(
                                SOPInstanceUID=sop_uid,
                                SOPClassUID=str(sop_class),
                                TransferSyntaxUID=str(
                                    JPEG2000Lossless if i % 2 else ExplicitVRLittleEndian
                                ),
                                InstanceNumber=i + 1,
                                Rows=size,
                                Columns=size,
                                BitsAllocated=16,
                                NumberOfFrames=1,
                            ),
                            stored=stored_object(seed, sop_uid),
                            stored_at=day + timedelta(seconds=i),
                        )
                    )
    return records


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def _number(dataset: Dataset, keyword: str) -> int | None:
    value = dataset.get(keyword)
    return None if value in (None, "") else int(value)


def record_from_dataset(dataset: Dataset, seed: int = 0) -> InstanceRecord:
    """The record ingest would index for ``dataset`` (blob columns made up from ``seed``)."""
    sop_uid = _text(dataset, "SOPInstanceUID")
    return InstanceRecord(
        patient=PatientAttributes(
            **{
                k: _text(dataset, k)
                for k in (
                    "PatientID",
                    "IssuerOfPatientID",
                    "PatientName",
                    "PatientBirthDate",
                    "PatientSex",
                )
            }
        ),
        study=StudyAttributes(
            **{
                k: _text(dataset, k)
                for k in (
                    "StudyInstanceUID",
                    "StudyDate",
                    "StudyTime",
                    "AccessionNumber",
                    "StudyID",
                    "StudyDescription",
                    "ReferringPhysicianName",
                    "InstitutionName",
                    "TimezoneOffsetFromUTC",
                    "SpecificCharacterSet",
                )
            }
        ),
        series=SeriesAttributes(
            SeriesNumber=_number(dataset, "SeriesNumber"),
            **{
                k: _text(dataset, k)
                for k in (
                    "SeriesInstanceUID",
                    "Modality",
                    "SeriesDescription",
                    "BodyPartExamined",
                    "PerformedProcedureStepStartDate",
                    "PerformedProcedureStepStartTime",
                )
            },
        ),
        instance=InstanceAttributes(
            SOPInstanceUID=sop_uid,
            SOPClassUID=_text(dataset, "SOPClassUID"),
            TransferSyntaxUID=str(dataset.file_meta.TransferSyntaxUID),
            **{
                k: _number(dataset, k)
                for k in ("InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames")
            },
        ),
        stored=stored_object(seed, sop_uid),
    )


def with_instance_uid(record: InstanceRecord, sop_uid: str, seed: int = 0) -> InstanceRecord:
    """A copy of ``record`` as another instance (new SOP Instance UID and blob)."""
    return replace(
        record,
        instance=replace(record.instance, SOPInstanceUID=sop_uid),
        stored=stored_object(seed, sop_uid),
    )
