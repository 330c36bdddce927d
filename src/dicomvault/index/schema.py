"""SQLAlchemy Core schema of the index: patient / study / series / instance.

Columns hold exactly the attributes that QIDO-RS (PS3.18 Table 10.6.1-5,
return keys of 10.6.3-3/-4/-5) and C-FIND (PS3.4 C.6.1.1 / C.6.2.1) match
on or must return, plus the computed ones (NumberOf*Related*,
ModalitiesInStudy) maintained on every store and delete.

``*_norm`` columns hold the case-folded value of person names so that PN
matching is case-insensitive (the Orthanc ``CaseSensitivePN=false`` and
dcm4chee default), while every other attribute matches case-sensitively as
PS3.4 C.2.2.2 says.

Everything else of an instance's header lives in ``instances.sealed_header``:
DICOM JSON without bulk data, compressed and sealed under the instance's own
data key, so that WADO-RS metadata needs no blob read and shredding the data
key makes the header as unrecoverable as the pixels.

The ledger's tables are declared on the same :data:`metadata` (``ledger/``)
so one Alembic history covers the whole database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Lengths follow the VR maxima of PS3.5 Table 6.2-1 (PN: 64 chars per component group,
# kept generous because of multi-group names and multi-byte character sets).
_UI = 64
_PN = 324
_LO = 64
_SH = 16
_DA = 8
_TM = 16
_CS = 16

patients = Table(
    "patients",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("PatientID", String(_LO), nullable=False, default=""),
    Column("IssuerOfPatientID", String(_LO), nullable=False, default=""),
    Column("PatientName", String(_PN), nullable=False, default=""),
    Column("PatientName_norm", String(_PN), nullable=False, default=""),
    Column("PatientBirthDate", String(_DA), nullable=False, default=""),
    Column("PatientSex", String(_CS), nullable=False, default=""),
    Column("NumberOfPatientRelatedStudies", Integer, nullable=False, default=0),
    Column("NumberOfPatientRelatedSeries", Integer, nullable=False, default=0),
    Column("NumberOfPatientRelatedInstances", Integer, nullable=False, default=0),
    UniqueConstraint("PatientID", "IssuerOfPatientID"),
)
Index("ix_patients_name_norm", patients.c.PatientName_norm)

studies = Table(
    "studies",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("patient_pk", Integer, ForeignKey("patients.pk"), nullable=False),
    Column("StudyInstanceUID", String(_UI), nullable=False, unique=True),
    Column("StudyDate", String(_DA), nullable=False, default=""),
    Column("StudyTime", String(_TM), nullable=False, default=""),
    Column("AccessionNumber", String(_SH), nullable=False, default=""),
    Column("StudyID", String(_SH), nullable=False, default=""),
    Column("StudyDescription", String(_LO), nullable=False, default=""),
    Column("ReferringPhysicianName", String(_PN), nullable=False, default=""),
    Column("ReferringPhysicianName_norm", String(_PN), nullable=False, default=""),
    Column("InstitutionName", String(_LO), nullable=False, default=""),
    # Not a QIDO/C-FIND key: kept for per-study access scope (access/, index/scope.py).
    Column("InstitutionalDepartmentName", String(_LO), nullable=False, default=""),
    Column("TimezoneOffsetFromUTC", String(_SH), nullable=False, default=""),
    Column("SpecificCharacterSet", String(_LO * 4), nullable=False, default=""),
    Column("ModalitiesInStudy", String(_CS * 8), nullable=False, default=""),
    Column("NumberOfStudyRelatedSeries", Integer, nullable=False, default=0),
    Column("NumberOfStudyRelatedInstances", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_studies_patient", studies.c.patient_pk)
Index("ix_studies_date", studies.c.StudyDate, studies.c.StudyTime)
Index("ix_studies_accession", studies.c.AccessionNumber)
Index("ix_studies_referring_norm", studies.c.ReferringPhysicianName_norm)

series = Table(
    "series",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("study_pk", Integer, ForeignKey("studies.pk"), nullable=False),
    Column("SeriesInstanceUID", String(_UI), nullable=False, unique=True),
    Column("Modality", String(_CS), nullable=False, default=""),
    Column("SeriesNumber", Integer, nullable=True),
    Column("SeriesDescription", String(_LO), nullable=False, default=""),
    Column("BodyPartExamined", String(_CS), nullable=False, default=""),
    Column("PerformedProcedureStepStartDate", String(_DA), nullable=False, default=""),
    Column("PerformedProcedureStepStartTime", String(_TM), nullable=False, default=""),
    Column("ScheduledProcedureStepID", String(_SH), nullable=False, default=""),
    Column("RequestedProcedureID", String(_SH), nullable=False, default=""),
    Column("NumberOfSeriesRelatedInstances", Integer, nullable=False, default=0),
)
Index("ix_series_study", series.c.study_pk)
Index("ix_series_modality", series.c.Modality)

instances = Table(
    "instances",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("series_pk", Integer, ForeignKey("series.pk"), nullable=False),
    Column("SOPInstanceUID", String(_UI), nullable=False, unique=True),
    Column("SOPClassUID", String(_UI), nullable=False),
    Column("InstanceNumber", Integer, nullable=True),
    Column("Rows", Integer, nullable=True),
    Column("Columns", Integer, nullable=True),
    Column("BitsAllocated", Integer, nullable=True),
    Column("NumberOfFrames", Integer, nullable=True),
    Column("TransferSyntaxUID", String(_UI), nullable=False),
    # Storage: the blob, its plaintext hash and the envelope that unlocks it.
    Column("blob_name", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("kek_id", String(64), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("sealed_header", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    # -- codecs (0003): how the blob holds the instance when it is not the file as received.
    # TransferSyntaxUID, size and sha256 above stay those of the acknowledged file; a
    # compressed blob is described here and sealed_layout rebuilds the original from it.
    Column("stored_transfer_syntax", String(_UI), nullable=True),
    Column("stored_size", BigInteger, nullable=True),
    Column("stored_sha256", String(64), nullable=True),
    Column("sealed_layout", LargeBinary, nullable=True),
    Column("codec_state", String(16), nullable=True),
)
Index("ix_instances_series", instances.c.series_pk)
Index("ix_instances_stored_at", instances.c.stored_at)
Index("ix_instances_sop_class", instances.c.SOPClassUID)
Index("ix_instances_kek", instances.c.kek_id)
