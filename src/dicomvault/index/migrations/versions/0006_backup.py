"""Backup and replication: the asynchronous replication queue.

Mirrors ``dicomvault.backup.schema`` as of this revision, frozen here on
purpose (see 0001).

Revision ID: 0006_backup
Revises: 0005_codecs
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_backup"
down_revision: str | None = "0005_codecs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replication_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("blob_name", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replication_queue"),
    )
    op.create_index("ix_replication_queue_blob", "replication_queue", ["blob_name"])


def downgrade() -> None:
    op.drop_table("replication_queue")
