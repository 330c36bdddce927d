"""Filling an index with many realistic rows quickly, for search benchmarks.

The rows go through the real index writer (so counters, normalised names and
indexes are exactly what ingest produces); only the blob columns are
placeholders, because the benchmark measures searching, not storing.

After the bulk load the tables are analysed, as a DBA does after one and as
PostgreSQL's autovacuum does by itself in production (the test server here
runs with ``autovacuum = off``: without statistics its planner guessed one
row per table and chose a nested loop that made a date-range search with
ModalitiesInStudy take 50-90 ms instead of about 2).
"""

from __future__ import annotations

import random
import secrets
from datetime import date, timedelta
from pathlib import Path

from dicomvault.index import create_engine_for, insert_instances
from dicomvault.index.records import (
    InstanceAttributes,
    InstanceRecord,
    PatientAttributes,
    SeriesAttributes,
    StoredObject,
    StudyAttributes,
)

#: Settings of a node whose index is filled here: its instances have no blobs, so the
#: background compressor would try (and fail, logging a warning for each) every one
#: of them over and over while the searches are timed, taking the CPU they measure.
INDEX_ONLY_ENV = {"DICOMVAULT_STORAGE_COMPRESSION": "keep",
                  "DICOMVAULT_STORAGE_COMPRESSION_RULES": "[]"}

_SURNAMES = ["DOE", "SMITH", "MARTIN", "GARCIA", "MULLER", "ROSSI", "NGUYEN", "KOWALSKI",
             "DUBOIS", "SILVA", "JANSEN", "BERG", "TANAKA", "OKAFOR", "HANSEN", "LEE"]
_GIVEN = ["JOHN", "JANE", "ALEX", "MARIA", "PAT", "SAM", "LEA", "OMAR", "YUKI", "IVAN"]
_PER_SERIES = 50
_SERIES_PER_STUDY = 2


def _uid(prefix: str, *numbers: int) -> str:
    return "1.2.826.0.1.3680043.10.1291.7." + prefix + "." + ".".join(str(n) for n in numbers)


def fill_index(
    data_dir: Path, database_url: str | None, size: int, seed: int = 1
) -> tuple[str, str]:
    """Insert ``size`` instances; returns a patient ID and a study UID that exist."""
    rng = random.Random(seed)
    url = database_url or f"sqlite:///{(data_dir / 'index.sqlite3').resolve()}"
    engine = create_engine_for(url)
    studies = max(1, size // (_PER_SERIES * _SERIES_PER_STUDY))
    first = ("", "")
    placeholder = StoredObject(blob_name="", size=0, sha256="0" * 64, kek_id="bench",
                               wrapped_key=b"\0" * 40, sealed_header=b"\0")
    for study_no in range(studies):
        patient_no = study_no // 2
        patient = PatientAttributes(
            PatientID=f"P{patient_no:07d}",
            PatientName=f"{rng.choice(_SURNAMES)}^{rng.choice(_GIVEN)}",
            PatientBirthDate=f"19{rng.randint(30, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}",
            PatientSex=rng.choice("MF"),
        )
        day = date(2023, 1, 1) + timedelta(days=rng.randint(0, 364))
        study = StudyAttributes(
            StudyInstanceUID=_uid("1", study_no), StudyDate=day.strftime("%Y%m%d"),
            StudyTime=f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}00",
            AccessionNumber=f"ACC{study_no:08d}", StudyDescription="CT CHEST",
            ReferringPhysicianName=f"{rng.choice(_SURNAMES)}^DR",
        )
        records = []
        for series_no in range(_SERIES_PER_STUDY):
            modality = rng.choice(["CT", "CT", "MR", "CR", "US"])
            series = SeriesAttributes(SeriesInstanceUID=_uid("2", study_no, series_no),
                                      Modality=modality, SeriesNumber=series_no + 1)
            for instance_no in range(_PER_SERIES):
                records.append(InstanceRecord(
                    patient=patient, study=study, series=series,
                    instance=InstanceAttributes(
                        SOPInstanceUID=_uid("3", study_no, series_no, instance_no),
                        SOPClassUID="1.2.840.10008.5.1.4.1.1.2",
                        TransferSyntaxUID="1.2.840.10008.1.2.1",
                        InstanceNumber=instance_no + 1, Rows=512, Columns=512,
                        BitsAllocated=16),
                    stored=StoredObject(
                        blob_name=secrets.token_hex(16), size=placeholder.size,
                        sha256=placeholder.sha256, kek_id=placeholder.kek_id,
                        wrapped_key=placeholder.wrapped_key,
                        sealed_header=placeholder.sealed_header),
                ))
        with engine.begin() as conn:
            insert_instances(conn, records)
        if study_no == 0:
            first = (patient.PatientID, study.StudyInstanceUID)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return first
