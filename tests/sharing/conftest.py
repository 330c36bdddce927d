"""Fixtures of the sharing tests: a grantor (SQLite and PostgreSQL), a grantee, real studies.

Studies are pydicom's own test files (CT_small, MR_small) given fresh UIDs and
a patient of our choosing, so that each test knows exactly which identifying
values must not reach the partner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from tests.support.nodes import open_test_node

from dicomvault.access import Door, system_context
from dicomvault.archive import Archive
from dicomvault.index import write_transaction
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.partners import add_partner

CTX = system_context(Door.CLI, actor="tests")


@dataclass(frozen=True)
class SharedStudy:
    """A study as stored at the grantor: its UIDs and the identity it carries."""

    study_uid: str
    series_uid: str
    sop_uids: tuple[str, ...]
    patient_id: str
    patient_name: str
    files: tuple[bytes, ...]


def make_study(*, patient_id: str, patient_name: str, description: str = "CHEST",
               base: str = "CT_small.dcm", count: int = 2) -> SharedStudy:
    """``count`` instances of one new series of one new study, from a pydicom test file."""
    study_uid, series_uid = generate_uid(), generate_uid()
    files, sops = [], []
    for number in range(1, count + 1):
        ds = pydicom.dcmread(get_testdata_file(base))
        sop = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.PatientID, ds.PatientName = patient_id, patient_name
        ds.StudyDescription, ds.InstanceNumber = description, number
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
        sops.append(sop)
    return SharedStudy(study_uid, series_uid, tuple(sops), patient_id, patient_name, tuple(files))


def store(archive: Archive, study: SharedStudy) -> SharedStudy:
    for data in study.files:
        archive.store_bytes(data, CTX)
    return study


@pytest.fixture
def grantor(archive: Archive) -> Archive:
    """The granting hospital (SQLite and PostgreSQL: the index is where scope is decided)."""
    return archive


@pytest.fixture
def grantee(tmp_path: Path) -> Iterator[Archive]:
    """The partner hospital: a node of its own (SQLite) in its own directory."""
    with open_test_node(tmp_path / "grantee",
                        f"sqlite:///{tmp_path / 'grantee.sqlite3'}") as node:
        yield node


def institution_key(archive: Archive) -> InstitutionKey:
    return InstitutionKey.load_or_create(archive.settings.keys_dir)


def introduce(archive: Archive, other: Archive, label: str, url: str | None = None) -> None:
    """Register ``other`` as a partner of ``archive`` (what add-partner does)."""
    with write_transaction(archive.engine) as conn:
        add_partner(conn, institution_key(other).identity, label, url, None)
