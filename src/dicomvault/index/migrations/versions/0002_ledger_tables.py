"""Ledger tables: the Merkle log, its checkpoints and the partners' checkpoints we witnessed.

Mirrors ``dicomvault.ledger.schema`` as of this revision, frozen here on
purpose (see 0001). The ledger lives in the index database so that an
instance row and its ledger entry commit in one transaction.

Revision ID: 0002_ledger_tables
Revises: 0001_index_tables
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ledger_tables"
down_revision: str | None = "0001_index_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_head"),
    )
    op.create_table(
        "ledger_leaves",
        sa.Column("idx", _LEAF_INDEX, autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_ledger_leaves"),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_nodes"),
    )
    op.create_table(
        "ledger_subjects",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("leaf_idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject", "leaf_idx", name="pk_ledger_subjects"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_checkpoints"),
    )
    op.create_index("ix_ledger_checkpoints_size", "ledger_checkpoints", ["tree_size"])
    op.create_table(
        "ledger_witnessed",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_witnessed"),
    )
    op.create_index(
        "ix_ledger_witnessed_origin", "ledger_witnessed", ["origin", "tree_size"]
    )


def downgrade() -> None:
    for table in ("ledger_witnessed", "ledger_checkpoints", "ledger_subjects",
                  "ledger_nodes", "ledger_leaves", "ledger_head"):
        op.drop_table(table)
