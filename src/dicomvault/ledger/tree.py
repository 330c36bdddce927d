"""The Merkle tree as stored rows: the head, the node hashes, the append step.

Appending leaf i completes the subtrees ending at i (one per trailing one
bit of ``i + 1``); each is hashed from the *frontier* (the complete subtrees
of the current size, at most log2(n) of them, read in one query) and written
once. An append of k leaves therefore reads O(log n) rows and writes about
2k, and a root or proof of any past size reads O(log n) rows: the tree is
never recomputed from its leaves. The frontier an append leaves behind is
returned, so that the next append of the same process can skip reading it
(:class:`~dicomvault.ledger.Ledger` keeps it, keyed by the head it belongs to).

The statements of the append path are built once (module constants): building
and cache-keying a SQLAlchemy construct costs more than running it on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dicomvault.errors import ConfigurationError, IntegrityError
from dicomvault.ledger.merkle import (
    EMPTY_ROOT,
    Node,
    NodeGetter,
    fold_right,
    node_hash,
    range_nodes,
)
from dicomvault.ledger.schema import HEAD_ID, ledger_head, ledger_leaves, ledger_nodes, node_id


@dataclass(frozen=True, slots=True)
class Head:
    """The tree size and root as of the last append."""

    size: int
    root: bytes


#: The complete subtrees of a tree, left to right, as (level, hash): what an append
#: folds new leaves into (at most log2(n) + 1 entries).
Frontier = list[tuple[int, bytes]]

_READ_HEAD = sa.select(ledger_head.c.tree_size, ledger_head.c.root_hash).where(
    ledger_head.c.id == HEAD_ID
)
_READ_HEAD_FOR_UPDATE = _READ_HEAD.with_for_update()
_WRITE_HEAD = (
    sa.update(ledger_head)
    .where(ledger_head.c.id == HEAD_ID)
    .values(tree_size=sa.bindparam("new_size"), root_hash=sa.bindparam("new_root"))
)
_INSERT_NODES = sa.insert(ledger_nodes)


def read_head(conn: sa.Connection, *, for_update: bool = False) -> Head:
    """The head row; with ``for_update`` it is locked until the transaction ends.

    The row is created on first use (an insert that ignores a concurrent
    twin), so a fresh database needs no seeding step.
    """
    query = _READ_HEAD_FOR_UPDATE if for_update else _READ_HEAD
    row = conn.execute(query).first()
    if row is None:
        if not for_update:
            return Head(0, EMPTY_ROOT)
        _create_head(conn)
        row = conn.execute(query).one()
    return Head(int(row.tree_size), bytes(row.root_hash))


def _create_head(conn: sa.Connection) -> None:
    values = {"id": HEAD_ID, "tree_size": 0, "root_hash": EMPTY_ROOT}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(postgresql.insert(ledger_head).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        conn.execute(sqlite.insert(ledger_head).values(values).on_conflict_do_nothing())
    else:
        raise ConfigurationError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")


def write_head(conn: sa.Connection, head: Head) -> None:
    conn.execute(_WRITE_HEAD, {"new_size": head.size, "new_root": head.root})


def fetch_nodes(conn: sa.Connection, nodes: Iterable[Node]) -> NodeGetter:
    """Read the given nodes (at most two queries) and return a getter over them.

    A node that should exist but does not means the store was damaged: the
    getter raises :class:`~dicomvault.errors.IntegrityError`.
    """
    wanted = set(nodes)
    leaves = sorted(index for level, index in wanted if level == 0)
    inner = sorted(node for node in wanted if node[0] > 0)
    found: dict[Node, bytes] = {}
    if leaves:
        rows = conn.execute(
            sa.select(ledger_leaves.c.idx, ledger_leaves.c.leaf_hash).where(
                ledger_leaves.c.idx.in_(leaves)
            )
        )
        found.update(((0, int(r.idx)), bytes(r.leaf_hash)) for r in rows)
    if inner:
        ids = {node_id(level, index): (level, index) for level, index in inner}
        rows = conn.execute(
            sa.select(ledger_nodes.c.id, ledger_nodes.c.hash).where(ledger_nodes.c.id.in_(ids))
        )
        found.update((ids[int(r.id)], bytes(r.hash)) for r in rows)

    def get(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise IntegrityError(f"ledger node ({level}, {index}) is missing") from None

    return get


def read_frontier(conn: sa.Connection, head: Head) -> Frontier:
    """The frontier of the tree of ``head.size`` leaves, read from the stored nodes."""
    nodes = range_nodes(0, head.size) if head.size else []
    get = fetch_nodes(conn, nodes)
    return [(level, get(level, index)) for level, index in nodes]


def extend(conn: sa.Connection, head: Head, leaf_hashes: Sequence[bytes],
           frontier: Frontier | None = None) -> tuple[Head, Frontier]:
    """Write the nodes completed by appending ``leaf_hashes`` after ``head``; the new
    head and its frontier.

    ``frontier`` is the frontier of ``head`` if the caller knows it (it is read
    from the stored nodes otherwise). The caller holds the head lock and writes
    the leaf rows and the head.
    """
    stack = list(frontier) if frontier is not None else read_frontier(conn, head)
    completed: list[dict[str, object]] = []
    for offset, hashed in enumerate(leaf_hashes):
        size_after = head.size + offset + 1
        level, current = 0, hashed
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
            completed.append({"id": node_id(level, (size_after >> level) - 1), "hash": current})
        stack.append((level, current))
    if completed:
        conn.execute(_INSERT_NODES, completed)
    return Head(head.size + len(leaf_hashes), fold_right([h for _, h in stack])), stack
