"""A consistent, portable snapshot of the index and the ledger, sealed like a blob.

Consistency while ingest runs:

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies the
  database in one step into a private temporary file; in WAL mode writers
  carry on meanwhile, and the copy is one committed state. Rows are then
  read from the copy.
* PostgreSQL: every table is read inside one ``REPEATABLE READ READ ONLY``
  transaction, so all reads see the same committed state.

Portable form: JSON lines, restorable on either database. A table is a
header line ``{"table": name, "columns": [...]}`` followed by one JSON array
per row; bytes are ``{"$b": base64}`` and timestamps ``{"$t": ISO 8601 UTC}``;
the last line is ``{"end": {table: row count}}``. Tables are written in
foreign-key order and node-local tables (the replication queue) are left out.
The stream is zlib-compressed and sealed with the blob envelope under a fresh
data key that the node's key provider wraps, so the snapshot (which holds
patient names in the index) is never stored in the clear.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dicomvault.backup.schema import NODE_LOCAL_TABLES
from dicomvault.errors import IntegrityError
from dicomvault.keys.files import ensure_private_dir
from dicomvault.ledger.merkle import EMPTY_ROOT, leaf_hash

_INSERT_BATCH = 1000
_LINE_END = b"\n"


@dataclass(frozen=True, slots=True)
class BlobEnvelope:
    """What unlocks and checks one image blob (from its index row)."""

    kek_id: str
    wrapped_key: bytes
    sha256: str
    size: int


@dataclass(slots=True)
class SnapshotSummary:
    """What a snapshot holds, gathered while it is written or read."""

    rows: dict[str, int] = field(default_factory=dict)
    blob_names: list[str] = field(default_factory=list)
    #: Blob name -> its envelope, so a backup can check each blob before copying it.
    envelopes: dict[str, BlobEnvelope] = field(default_factory=dict)
    tree_size: int = 0
    root: bytes = EMPTY_ROOT
    #: Leaf hashes of the ledger in index order (checked dense while reading).
    leaf_hashes: list[bytes] = field(default_factory=list)

    @property
    def instances(self) -> int:
        return self.rows.get("instances", 0)

    def observe(self, table: str, columns: list[str], row: list[Any]) -> None:
        """Keep what later checks need from ``row`` of ``table``."""
        if table == "instances":
            name = row[columns.index("blob_name")]
            self.blob_names.append(name)
            self.envelopes[name] = BlobEnvelope(
                kek_id=row[columns.index("kek_id")],
                wrapped_key=bytes(row[columns.index("wrapped_key")]),
                sha256=row[columns.index("sha256")], size=int(row[columns.index("size")]))
        elif table == "ledger_head":
            self.tree_size = int(row[columns.index("tree_size")])
            self.root = bytes(row[columns.index("root_hash")])
        elif table == "ledger_leaves":
            if int(row[columns.index("idx")]) != len(self.leaf_hashes):
                raise IntegrityError("the snapshot's ledger entries are not dense and ordered")
            self.leaf_hashes.append(leaf_hash(bytes(row[columns.index("event")])))


# -- value encoding --------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # dicomvault writes UTC
        return {"$t": aware.astimezone(UTC).isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"], validate=True)
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
        raise IntegrityError("the snapshot holds an unknown value type")
    return value


# -- dump ------------------------------------------------------------------------


def _tables(conn: sa.Connection) -> list[sa.Table]:
    reflected = sa.MetaData()
    reflected.reflect(conn)
    return [t for t in reflected.sorted_tables if t.name not in NODE_LOCAL_TABLES]


def _dump_tables(conn: sa.Connection, emit: Callable[[bytes], None]) -> SnapshotSummary:
    summary = SnapshotSummary()
    for table in _tables(conn):
        columns = [c.name for c in table.columns]
        emit(json.dumps({"table": table.name, "columns": columns}).encode() + _LINE_END)
        order = list(table.primary_key.columns) or list(table.columns)
        count = 0
        for row in conn.execute(sa.select(table).order_by(*order)).yield_per(_INSERT_BATCH):
            values = list(row)
            summary.observe(table.name, columns, values)
            emit(json.dumps([_encode(v) for v in values]).encode() + _LINE_END)
            count += 1
        summary.rows[table.name] = count
    emit(json.dumps({"end": summary.rows}).encode() + _LINE_END)
    return summary


@contextlib.contextmanager
def consistent_view(engine: sa.Engine, tmp_dir: Path) -> Iterator[sa.Connection]:
    """A connection that reads one committed state of the database (module docstring)."""
    if engine.dialect.name == "sqlite":
        ensure_private_dir(tmp_dir)
        copy = tmp_dir / f"snapshot-{secrets.token_hex(8)}.sqlite3"
        raw = engine.raw_connection()
        try:
            target = sqlite3.connect(copy)
            try:
                raw.driver_connection.backup(target)  # type: ignore[union-attr]
            finally:
                target.close()
        finally:
            raw.close()
        copy.chmod(0o600)
        reader = sa.create_engine(f"sqlite:///{copy}")
        try:
            with reader.connect() as conn:
                yield conn
        finally:
            reader.dispose()
            copy.unlink(missing_ok=True)
        return
    with engine.connect() as plain:
        conn = plain.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


def dump_database(engine: sa.Engine, tmp_dir: Path, emit: Callable[[bytes], None]
                  ) -> SnapshotSummary:
    """Write a consistent snapshot as JSON lines to ``emit``; what it holds."""
    with consistent_view(engine, tmp_dir) as conn:
        return _dump_tables(conn, emit)


class CompressingSink:
    """zlib-compresses what is written and passes it on (to a sealing writer)."""

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self._sink = sink
        self._compressor = zlib.compressobj(6)

    def write(self, data: bytes) -> None:
        if out := self._compressor.compress(data):
            self._sink(out)

    def close(self) -> None:
        self._sink(self._compressor.flush())


# -- read back -------------------------------------------------------------------


def snapshot_lines(plaintext: Iterable[bytes]) -> Iterator[Any]:
    """The JSON values of a snapshot, from its decrypted (still compressed) chunks."""
    decompressor = zlib.decompressobj()
    pending = b""
    try:
        for chunk in plaintext:
            pending += decompressor.decompress(chunk)
            *lines, pending = pending.split(_LINE_END)
            for line in lines:
                yield json.loads(line)
        pending += decompressor.flush()
    except (zlib.error, ValueError) as exc:
        raise IntegrityError("the backup snapshot is not readable") from exc
    if pending.strip() or not decompressor.eof:
        raise IntegrityError("the backup snapshot is truncated")


def read_snapshot(values: Iterable[Any],
                  on_table: Callable[[str, list[str]], None] | None = None,
                  on_row: Callable[[list[Any]], None] | None = None) -> SnapshotSummary:
    """Walk a snapshot's values, checking its structure; call back per table and row."""
    summary = SnapshotSummary()
    table: str | None = None
    columns: list[str] = []
    count = 0
    ended = False
    for value in values:
        if ended:
            raise IntegrityError("the backup snapshot has data after its end")
        if isinstance(value, dict) and "table" in value:
            if table is not None:
                summary.rows[table] = count
            table, columns, count = str(value["table"]), list(value["columns"]), 0
            if on_table is not None:
                on_table(table, columns)
        elif isinstance(value, dict) and "end" in value:
            if table is not None:
                summary.rows[table] = count
            if value["end"] != summary.rows:
                raise IntegrityError("the backup snapshot's row counts do not match its end")
            ended = True
        elif isinstance(value, list) and table is not None and len(value) == len(columns):
            decoded = [_decode(v) for v in value]
            summary.observe(table, columns, decoded)
            count += 1
            if on_row is not None:
                on_row(decoded)
        else:
            raise IntegrityError("the backup snapshot is malformed")
    if not ended:
        raise IntegrityError("the backup snapshot is truncated (no end record)")
    return summary


def load_snapshot(conn: sa.Connection, values: Iterable[Any]) -> SnapshotSummary:
    """Replace the rows of the (new, migrated) database of ``conn`` by a snapshot's.

    The caller's transaction makes the load all or nothing. On PostgreSQL the
    sequences behind autoincrement keys are moved past the restored keys.
    """
    tables = _tables(conn)
    # Opening the new node already wrote a little (its first ledger event, its first
    # admin account): the snapshot's rows replace all of it.
    for table in reversed(tables):
        conn.execute(table.delete())
    targets = {t.name: t for t in tables}
    naive = conn.dialect.name == "sqlite"
    state: dict[str, Any] = {"table": None, "batch": []}

    def flush() -> None:
        if state["batch"]:
            conn.execute(sa.insert(state["table"]), state["batch"])
            state["batch"] = []

    def on_table(name: str, columns: list[str]) -> None:
        flush()
        table = targets.get(name)
        if table is None or set(columns) != {c.name for c in table.columns}:
            raise IntegrityError(f"the snapshot's table {name} does not match this schema")
        state["table"], state["columns"] = table, columns

    def on_row(row: list[Any]) -> None:
        values = [v.replace(tzinfo=None) if naive and isinstance(v, datetime) else v
                  for v in row]
        state["batch"].append(dict(zip(state["columns"], values, strict=True)))
        if len(state["batch"]) >= _INSERT_BATCH:
            flush()

    summary = read_snapshot(values, on_table, on_row)
    flush()
    if conn.dialect.name == "postgresql":
        _advance_sequences(conn, [targets[name] for name in summary.rows])
    return summary


def _advance_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            continue
        column = keys[0]
        sequence = conn.execute(
            sa.select(sa.func.pg_get_serial_sequence(quote(table.name), column.name))
        ).scalar()
        if sequence is None:
            continue
        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(column), 0))).scalar_one()
        conn.execute(sa.select(sa.func.setval(sequence, int(top) + 1, False)))
