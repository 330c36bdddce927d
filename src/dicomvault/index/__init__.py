"""The index: what is archived, where its blob is, and the one matching engine.

SQLAlchemy Core over SQLite (embedded) or PostgreSQL (scale-out). The Archive
service calls the writer inside its own transaction; QIDO-RS and C-FIND both
answer through :func:`run_query`.
"""

from dicomvault.index.database import (
    create_engine_for,
    current_revision,
    database_reachable,
    flush_log,
    upgrade_database,
    write_transaction,
)
from dicomvault.index.lookup import (
    StoredInstance,
    existing_content_hashes,
    existing_sop_instance_uids,
    get_instance,
    instances_of,
)
from dicomvault.index.query import Query, QueryLevel, count_query, run_query
from dicomvault.index.records import (
    InstanceAttributes,
    InstanceRecord,
    PatientAttributes,
    SeriesAttributes,
    StoredObject,
    StudyAttributes,
)
from dicomvault.index.results import DicomJsonWriter, ResultRow, to_dataset, to_dicom_json
from dicomvault.index.schema import instances, metadata, patients, series, studies
from dicomvault.index.scope import StudyScope, study_in_scope
from dicomvault.index.writer import (
    delete_instances,
    delete_series,
    delete_study,
    insert_instances,
    replace_instance,
)

__all__ = [
    "DicomJsonWriter",
    "InstanceAttributes",
    "InstanceRecord",
    "PatientAttributes",
    "Query",
    "QueryLevel",
    "ResultRow",
    "SeriesAttributes",
    "StoredInstance",
    "StoredObject",
    "StudyAttributes",
    "StudyScope",
    "count_query",
    "create_engine_for",
    "current_revision",
    "database_reachable",
    "delete_instances",
    "delete_series",
    "delete_study",
    "existing_content_hashes",
    "existing_sop_instance_uids",
    "flush_log",
    "get_instance",
    "insert_instances",
    "instances",
    "instances_of",
    "metadata",
    "patients",
    "replace_instance",
    "run_query",
    "series",
    "studies",
    "study_in_scope",
    "to_dataset",
    "to_dicom_json",
    "upgrade_database",
    "write_transaction",
]
