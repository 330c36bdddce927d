"""Sharing: agreements, UID maps, request nonces, partners, agreements received.

Mirrors ``dicomvault.sharing.schema`` as of this revision, frozen here on
purpose (see 0001).

Revision ID: 0007_sharing
Revises: 0006_backup
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_sharing"
down_revision: str | None = "0006_backup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "share_agreements",
        sa.Column("share_id", sa.String(32), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("agreement_sha256", sa.String(64), nullable=False),
        sa.Column("grantee", sa.String(64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("scope_salt", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_retrievals", sa.Integer(), nullable=False),
        sa.Column("retrievals_used", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(500), nullable=True),
        sa.Column("key_ref", sa.String(80), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("share_id", name="pk_share_agreements"),
    )
    op.create_index("ix_share_agreements_grantee", "share_agreements", ["grantee"])
    op.create_table(
        "share_uid_map",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("share_id", sa.String(32), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("original_uid", sa.String(64), nullable=False),
        sa.Column("remapped_uid", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_share_uid_map"),
        sa.UniqueConstraint("share_id", "remapped_uid", name="uq_share_uid_map_remapped"),
    )
    op.create_index("ix_share_uid_map_original", "share_uid_map", ["share_id", "original_uid"])
    op.create_table(
        "share_nonces",
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("institution", "nonce", name="pk_share_nonces"),
    )
    op.create_table(
        "share_partners",
        sa.Column("institution_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("url", sa.String(512), nullable=True),
        sa.Column("ledger_key", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("institution_id", name="pk_share_partners"),
    )
    op.create_table(
        "shares_received",
        sa.Column("share_id", sa.String(32), nullable=False),
        sa.Column("grantor", sa.String(64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("agreement_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("share_id", name="pk_shares_received"),
    )


def downgrade() -> None:
    for table in ("shares_received", "share_partners", "share_nonces", "share_uid_map",
                  "share_agreements"):
        op.drop_table(table)
