"""The chain subsystem's one table, declared on the index's shared :data:`metadata`.

``chain_backlog``: what this node still has to anchor (and what it did
anchor, with the transaction), one row per signed checkpoint or agreement
event. It lives in the index database so that the archive keeps recording
while the chain is unreachable and the anchoring daemon resumes from the
table when it returns. ``state`` is ``pending``, ``anchored``,
``superseded`` (a newer checkpoint of the same log was anchored instead; it
covers this one through a consistency proof) or ``refused`` (the contract
said no; ``last_error`` says why).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from dicomvault.index.schema import metadata

chain_backlog = Table(
    "chain_backlog",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("origin", String(255)),
    Column("tree_size", BigInteger),
    Column("root_hash", LargeBinary(32)),
    Column("checkpoint_time", BigInteger),
    Column("share_key", LargeBinary(32)),
    Column("agreement_sha256", LargeBinary(32)),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500)),
    Column("tx_hash", String(66)),
    Column("block_number", BigInteger),
    Column("enqueued_at", DateTime(timezone=True), nullable=False),
    Column("anchored_at", DateTime(timezone=True)),
)
Index("ix_chain_backlog_state", chain_backlog.c.state, chain_backlog.c.id)
