"""The ledger's tables, declared on the index's shared :data:`metadata`.

One Alembic history covers the index and the ledger, and one database
transaction covers an instance row and its ledger entry (ARCHITECTURE.md,
"Ingest, step by step", step 5).

* ``ledger_head``: one row (``id = 1``), the tree size and root. Appenders lock
  it (``SELECT ... FOR UPDATE`` on PostgreSQL) so appends are serialised.
* ``ledger_leaves``: leaf index, leaf hash (RFC 9162 2.1.1, also the level-0
  node), the canonical event bytes and when the row was written.
* ``ledger_nodes``: the hash of every complete subtree of two or more leaves,
  (level, idx) covering leaves ``[idx * 2**level, (idx + 1) * 2**level)``,
  keyed by :func:`node_id`, written once when it completes, so any root or
  proof needs O(log n) rows.
* ``ledger_subjects``: (subject hash, leaf index) pairs for
  :meth:`~dicomvault.ledger.Ledger.find_events`. Derived data, outside the tree.
* ``ledger_checkpoints``: every checkpoint this node signed.
* ``ledger_witnessed``: partners' checkpoints this node saw as a witness,
  accepted (cosigned) or not (an alarm), with the note text as evidence.
* ``ledger_event_index``: who, when, which door and what type of every
  entry, so the audit views filter and page without decoding every event.
  Derived data outside the tree, like ``ledger_subjects``; both are checked
  against the leaves by :meth:`~dicomvault.ledger.Ledger.check_integrity`.
* ``ledger_partners``: the verifier key of each partner log this node
  witnesses, pinned at first contact (or given by the operator).
* ``ledger_cursors``: how far a consumer of the log (the syslog forwarder
  of audit messages) has got, so it resumes where it stopped.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from dicomvault.index.schema import metadata

_HASH = 32
_HEX_HASH = 64
_ORIGIN = 255
HEAD_ID = 1
_INDEX = BigInteger().with_variant(Integer, "sqlite")

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(_HASH), nullable=False),
)

ledger_leaves = Table(
    "ledger_leaves",
    metadata,
    # INTEGER on SQLite so the leaf index is the rowid: leaves are stored in log order.
    Column("idx", _INDEX, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(_HASH), nullable=False),
    Column("event", LargeBinary, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

#: Bits of ``ledger_nodes.id`` that hold the level (a tree of up to 2**63 leaves).
NODE_LEVEL_BITS = 6

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    # id = idx << NODE_LEVEL_BITS | level (see node_id): one integer key, so a proof's
    # nodes are fetched with one cached "id IN (...)" statement and primary-key lookups.
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(_HASH), nullable=False),
)


def node_id(level: int, index: int) -> int:
    """The ``ledger_nodes.id`` of the subtree at (level, index)."""
    return index << NODE_LEVEL_BITS | level

ledger_subjects = Table(
    "ledger_subjects",
    metadata,
    Column("subject", String(_HEX_HASH), primary_key=True),
    Column("leaf_idx", BigInteger, primary_key=True, autoincrement=False),
)
# The audit view "who accessed this patient's studies" goes from a patient's
# entries to every subject they name, so subjects are also looked up by entry.
Index("ix_ledger_subjects_leaf_idx", ledger_subjects.c.leaf_idx)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(_HASH), nullable=False),
    Column("note", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)
Index("ix_ledger_checkpoints_size", ledger_checkpoints.c.tree_size)

ledger_witnessed = Table(
    "ledger_witnessed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(_ORIGIN), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(_HASH), nullable=False),
    Column("note", Text, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("witnessed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_ledger_witnessed_origin", ledger_witnessed.c.origin, ledger_witnessed.c.tree_size)

_ACTOR = 255
_EVENT_TYPE = 32
_DOOR = 16
_CLIENT = 255

ledger_event_index = Table(
    "ledger_event_index",
    metadata,
    Column("leaf_idx", BigInteger, primary_key=True, autoincrement=False),
    Column("event_type", String(_EVENT_TYPE), nullable=False),
    Column("actor", String(_ACTOR), nullable=False),
    Column("door", String(_DOOR), nullable=False),
    Column("client", String(_CLIENT), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
)
Index("ix_ledger_event_index_event_type", ledger_event_index.c.event_type,
      ledger_event_index.c.leaf_idx)
Index("ix_ledger_event_index_actor", ledger_event_index.c.actor, ledger_event_index.c.leaf_idx)
Index("ix_ledger_event_index_event_time", ledger_event_index.c.event_time)

ledger_partners = Table(
    "ledger_partners",
    metadata,
    Column("url", String(1024), primary_key=True),
    Column("origin", String(_ORIGIN), nullable=False),
    Column("verifier_key", Text, nullable=False),
    Column("pinned_at", DateTime(timezone=True), nullable=False),
)

ledger_cursors = Table(
    "ledger_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_index", BigInteger, nullable=False),
)

LEDGER_TABLES = (
    ledger_head,
    ledger_leaves,
    ledger_nodes,
    ledger_subjects,
    ledger_checkpoints,
    ledger_witnessed,
    ledger_event_index,
    ledger_partners,
    ledger_cursors,
)
