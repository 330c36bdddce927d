"""The backup subsystem's one table, declared on the index's shared :data:`metadata`.

``replication_queue``: objects (by blob name) waiting to be copied to, or
deleted from, the replica in asynchronous replication. It lives in the index
database so that queued work survives a restart and commits durably before a
store is acknowledged. It is node-local state: backups do not carry it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from dicomvault.index.schema import metadata

replication_queue = Table(
    "replication_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("blob_name", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("enqueued_at", DateTime(timezone=True), nullable=False),
)
Index("ix_replication_queue_blob", replication_queue.c.blob_name)

#: Tables a backup snapshot leaves out (node-local, rebuilt by the restored node).
NODE_LOCAL_TABLES = frozenset({"replication_queue", "alembic_version"})
