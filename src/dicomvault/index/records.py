"""Data crossing the boundary between the Archive service and the index."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PatientAttributes:
    PatientID: str = ""
    IssuerOfPatientID: str = ""
    PatientName: str = ""
    PatientBirthDate: str = ""
    PatientSex: str = ""


@dataclass(frozen=True, slots=True)
class StudyAttributes:
    StudyInstanceUID: str
    StudyDate: str = ""
    StudyTime: str = ""
    AccessionNumber: str = ""
    StudyID: str = ""
    StudyDescription: str = ""
    ReferringPhysicianName: str = ""
    InstitutionName: str = ""
    InstitutionalDepartmentName: str = ""
    TimezoneOffsetFromUTC: str = ""
    SpecificCharacterSet: str = ""


@dataclass(frozen=True, slots=True)
class SeriesAttributes:
    SeriesInstanceUID: str
    Modality: str = ""
    SeriesNumber: int | None = None
    SeriesDescription: str = ""
    BodyPartExamined: str = ""
    PerformedProcedureStepStartDate: str = ""
    PerformedProcedureStepStartTime: str = ""
    ScheduledProcedureStepID: str = ""
    RequestedProcedureID: str = ""


@dataclass(frozen=True, slots=True)
class InstanceAttributes:
    SOPInstanceUID: str
    SOPClassUID: str
    TransferSyntaxUID: str
    InstanceNumber: int | None = None
    Rows: int | None = None
    Columns: int | None = None
    BitsAllocated: int | None = None
    NumberOfFrames: int | None = None


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Where an instance's bytes are and what unlocks them."""

    blob_name: str
    size: int
    sha256: str
    kek_id: str
    wrapped_key: bytes
    sealed_header: bytes


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """Everything the index keeps about one stored instance."""

    patient: PatientAttributes
    study: StudyAttributes
    series: SeriesAttributes
    instance: InstanceAttributes
    stored: StoredObject
    stored_at: datetime = field(compare=False, default_factory=lambda: datetime.now().astimezone())
