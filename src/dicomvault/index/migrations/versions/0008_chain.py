"""Consortium chain: the anchoring backlog.

Mirrors ``dicomvault.chain.schema`` as of this revision, frozen here on
purpose (see 0001).

Revision ID: 0008_chain
Revises: 0007_sharing
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_chain"
down_revision: str | None = "0007_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_backlog",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(255), nullable=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=True),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("checkpoint_time", sa.BigInteger(), nullable=True),
        sa.Column("share_key", sa.LargeBinary(32), nullable=True),
        sa.Column("agreement_sha256", sa.LargeBinary(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_backlog"),
    )
    op.create_index("ix_chain_backlog_state", "chain_backlog", ["state", "id"])


def downgrade() -> None:
    op.drop_table("chain_backlog")
