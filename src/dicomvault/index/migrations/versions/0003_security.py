"""Security: accounts, API and refresh tokens, break-the-glass log, the key hierarchy.

Mirrors ``dicomvault.access.schema`` and ``dicomvault.keys.schema`` as of this
revision (frozen here on purpose, see 0001), and adds
``studies.InstitutionalDepartmentName`` for per-study access scope.

Revision ID: 0003_security
Revises: 0002_ledger_tables
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_security"
down_revision: str | None = "0002_ledger_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("InstitutionalDepartmentName", sa.String(64),
                                   nullable=False, server_default=""))
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("roles", sa.String(255), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("permissions", sa.String(255), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_user_name", "api_tokens", ["user_name"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_user_name", "refresh_tokens", ["user_name"])
    op.create_table(
        "break_glass_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("study_subject", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_break_glass_log"),
    )
    op.create_table(
        "study_keys",
        sa.Column("StudyInstanceUID", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("rotation_id", sa.Integer(), nullable=True),
        sa.Column("rotation_done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("StudyInstanceUID", name="pk_study_keys"),
        sa.UniqueConstraint("key_name", name="uq_study_keys_key_name"),
    )
    op.create_table(
        "shred_queue",
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("queued_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key_name", name="pk_shred_queue"),
    )
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("keys_total", sa.Integer(), nullable=False),
        sa.Column("keys_done", sa.Integer(), nullable=False),
        sa.Column("instances_rewrapped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_key_rotations"),
    )


def downgrade() -> None:
    for table in ("key_rotations", "shred_queue", "study_keys", "break_glass_log",
                  "refresh_tokens", "api_tokens", "users"):
        op.drop_table(table)
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("InstitutionalDepartmentName")
