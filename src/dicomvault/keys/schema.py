"""Index tables of the key hierarchy: which KEK belongs to which study, what to shred.

Declared on the index's :data:`~dicomvault.index.schema.metadata` so that one
Alembic history covers them (revision ``0003_security``). They hold key
*names* only; the keys themselves are the provider's.

* ``study_keys``: the KEK of each study (one row per study, created before
  the first instance of the study is wrapped) and the last rotation it took
  part in (``rotation_id``; ``rotation_done`` once its old versions are retired).
* ``shred_queue``: KEKs of deleted studies still to be destroyed at the
  provider. The row is written in the delete's own transaction, so a crash
  or an unreachable KMS after the commit never forgets a key to destroy.
* ``key_rotations``: one row per ``keys rotate`` run, so that an interrupted
  run is resumed instead of started again.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table

from dicomvault.index.schema import metadata

study_keys = Table(
    "study_keys",
    metadata,
    Column("StudyInstanceUID", String(64), primary_key=True),
    Column("key_name", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rotation_id", Integer, nullable=True),
    Column("rotation_done", Boolean, nullable=False, default=True),
)

shred_queue = Table(
    "shred_queue",
    metadata,
    Column("key_name", String(64), primary_key=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
)

key_rotations = Table(
    "key_rotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("keys_total", Integer, nullable=False, default=0),
    Column("keys_done", Integer, nullable=False, default=0),
    Column("instances_rewrapped", Integer, nullable=False, default=0),
)
