"""Codecs: how an instance's blob holds it once the storage policy compressed it.

Adds to ``instances`` (all nullable: NULL means the blob is the file as
received, which every existing row is):

* ``stored_transfer_syntax``, ``stored_size``, ``stored_sha256``: the
  compressed Part 10 file in the blob (``TransferSyntaxUID``, ``size`` and
  ``sha256`` keep describing the acknowledged original, whose hash is in
  the ledger);
* ``sealed_layout``: what rebuilds the original from the kept header and
  the decoded frames (sealed under the instance's data key);
* ``codec_state``: ``compressed``, or why the compressor left the original
  (``kept``, ``mismatch``), so that the background worker does not retry;
* an index on ``stored_at`` (``compress --since``, the worker's idle test).

Revision ID: 0005_codecs
Revises: 0004_ledger
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_codecs"
down_revision: str | None = "0004_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("stored_transfer_syntax", sa.String(64), nullable=True))
        batch.add_column(sa.Column("stored_size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("stored_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sealed_layout", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("codec_state", sa.String(16), nullable=True))
    op.create_index("ix_instances_stored_at", "instances", ["stored_at"])


def downgrade() -> None:
    op.drop_index("ix_instances_stored_at", table_name="instances")
    with op.batch_alter_table("instances") as batch:
        for column in ("codec_state", "sealed_layout", "stored_sha256", "stored_size",
                       "stored_transfer_syntax"):
            batch.drop_column(column)
