"""Ledger: the event index of the audit views, pinned partner keys, consumer cursors.

Mirrors ``dicomvault.ledger.schema`` as of this revision, frozen here on
purpose (see 0001). ``ledger_event_index`` is derived from the leaves, so it
is filled here from the entries already in the log.

Revision ID: 0004_ledger
Revises: 0003_security
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dicomvault.ledger.derived import event_time

revision: str = "0004_ledger"
down_revision: str | None = "0003_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    op.create_index("ix_ledger_subjects_leaf_idx", "ledger_subjects", ["leaf_idx"])
    index = op.create_table(
        "ledger_event_index",
        sa.Column("leaf_idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("leaf_idx", name="pk_ledger_event_index"),
    )
    op.create_index("ix_ledger_event_index_event_type", "ledger_event_index",
                    ["event_type", "leaf_idx"])
    op.create_index("ix_ledger_event_index_actor", "ledger_event_index", ["actor", "leaf_idx"])
    op.create_index("ix_ledger_event_index_event_time", "ledger_event_index", ["event_time"])
    op.create_table(
        "ledger_partners",
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_ledger_partners"),
    )
    op.create_table(
        "ledger_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ledger_cursors"),
    )
    _fill_event_index(index)


def _fill_event_index(index: sa.Table) -> None:
    conn = op.get_bind()
    leaves = sa.table("ledger_leaves", sa.column("idx", sa.BigInteger()),
                      sa.column("event", sa.LargeBinary()))
    position = 0
    while True:
        rows = conn.execute(sa.select(leaves.c.idx, leaves.c.event)
                            .where(leaves.c.idx >= position).order_by(leaves.c.idx)
                            .limit(_BATCH)).all()
        if not rows:
            return
        values = []
        for idx, data in rows:
            event = json.loads(bytes(data))
            values.append({"leaf_idx": idx, "event_type": event["type"],
                           "actor": event["actor"][:255], "door": event["door"],
                           "client": event["client"][:255],
                           "event_time": event_time(event["time"])})
        conn.execute(sa.insert(index), values)
        position = rows[-1][0] + 1


def downgrade() -> None:
    for table in ("ledger_cursors", "ledger_partners", "ledger_event_index"):
        op.drop_table(table)
    op.drop_index("ix_ledger_subjects_leaf_idx", "ledger_subjects")
