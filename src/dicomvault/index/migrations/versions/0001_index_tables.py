"""Index tables: patients, studies, series, instances.

Mirrors ``dicomvault.index.schema`` as of this revision, frozen here on
purpose: later schema changes get their own revision instead of editing this
one. Constraint and index names follow the naming convention of
``schema.metadata`` so that later batch (SQLite) and ALTER (PostgreSQL)
migrations can address them by name.

Revision ID: 0001_index_tables
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_index_tables"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=False)


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        _text("PatientID", 64),
        _text("IssuerOfPatientID", 64),
        _text("PatientName", 324),
        _text("PatientName_norm", 324),
        _text("PatientBirthDate", 8),
        _text("PatientSex", 16),
        _count("NumberOfPatientRelatedStudies"),
        _count("NumberOfPatientRelatedSeries"),
        _count("NumberOfPatientRelatedInstances"),
        sa.PrimaryKeyConstraint("pk", name="pk_patients"),
        sa.UniqueConstraint(
            "PatientID", "IssuerOfPatientID", name="uq_patients_PatientID_IssuerOfPatientID"
        ),
    )
    op.create_index("ix_patients_name_norm", "patients", ["PatientName_norm"])

    op.create_table(
        "studies",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        _text("StudyInstanceUID", 64),
        _text("StudyDate", 8),
        _text("StudyTime", 16),
        _text("AccessionNumber", 16),
        _text("StudyID", 16),
        _text("StudyDescription", 64),
        _text("ReferringPhysicianName", 324),
        _text("ReferringPhysicianName_norm", 324),
        _text("InstitutionName", 64),
        _text("TimezoneOffsetFromUTC", 16),
        _text("SpecificCharacterSet", 256),
        _text("ModalitiesInStudy", 128),
        _count("NumberOfStudyRelatedSeries"),
        _count("NumberOfStudyRelatedInstances"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_studies"),
        sa.ForeignKeyConstraint(
            ["patient_pk"], ["patients.pk"], name="fk_studies_patient_pk_patients"
        ),
        sa.UniqueConstraint("StudyInstanceUID", name="uq_studies_StudyInstanceUID"),
    )
    op.create_index("ix_studies_patient", "studies", ["patient_pk"])
    op.create_index("ix_studies_date", "studies", ["StudyDate", "StudyTime"])
    op.create_index("ix_studies_accession", "studies", ["AccessionNumber"])
    op.create_index("ix_studies_referring_norm", "studies", ["ReferringPhysicianName_norm"])

    op.create_table(
        "series",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_pk", sa.Integer(), nullable=False),
        _text("SeriesInstanceUID", 64),
        _text("Modality", 16),
        sa.Column("SeriesNumber", sa.Integer(), nullable=True),
        _text("SeriesDescription", 64),
        _text("BodyPartExamined", 16),
        _text("PerformedProcedureStepStartDate", 8),
        _text("PerformedProcedureStepStartTime", 16),
        _text("ScheduledProcedureStepID", 16),
        _text("RequestedProcedureID", 16),
        _count("NumberOfSeriesRelatedInstances"),
        sa.PrimaryKeyConstraint("pk", name="pk_series"),
        sa.ForeignKeyConstraint(["study_pk"], ["studies.pk"], name="fk_series_study_pk_studies"),
        sa.UniqueConstraint("SeriesInstanceUID", name="uq_series_SeriesInstanceUID"),
    )
    op.create_index("ix_series_study", "series", ["study_pk"])
    op.create_index("ix_series_modality", "series", ["Modality"])

    op.create_table(
        "instances",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("series_pk", sa.Integer(), nullable=False),
        _text("SOPInstanceUID", 64),
        _text("SOPClassUID", 64),
        sa.Column("InstanceNumber", sa.Integer(), nullable=True),
        sa.Column("Rows", sa.Integer(), nullable=True),
        sa.Column("Columns", sa.Integer(), nullable=True),
        sa.Column("BitsAllocated", sa.Integer(), nullable=True),
        sa.Column("NumberOfFrames", sa.Integer(), nullable=True),
        _text("TransferSyntaxUID", 64),
        _text("blob_name", 64),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _text("sha256", 64),
        _text("kek_id", 64),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_header", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_instances"),
        sa.ForeignKeyConstraint(["series_pk"], ["series.pk"], name="fk_instances_series_pk_series"),
        sa.UniqueConstraint("SOPInstanceUID", name="uq_instances_SOPInstanceUID"),
        sa.UniqueConstraint("blob_name", name="uq_instances_blob_name"),
    )
    op.create_index("ix_instances_series", "instances", ["series_pk"])
    op.create_index("ix_instances_sop_class", "instances", ["SOPClassUID"])
    op.create_index("ix_instances_kek", "instances", ["kek_id"])


def downgrade() -> None:
    for table in ("instances", "series", "studies", "patients"):
        op.drop_table(table)
