"""Ledger benchmark: append throughput and proof cost on a large log.

Builds a log of ``--entries`` events (batched appends), then measures, on
that log:

* appends per second with one event per transaction and with batches of 100
  (each transaction committed with the index's durability settings:
  SQLite WAL, ``synchronous=FULL``);
* inclusion and consistency proof generation (database reads included) and
  verification, per proof.

Every figure is the median of ``--runs`` runs. SQLite in a temporary
directory by default; ``--database-url`` for PostgreSQL (use a scratch
schema: the ledger tables are dropped and recreated).

    PYTHONPATH=src python -m bench.ledger --entries 10000     # quick
    PYTHONPATH=src python -m bench.ledger                     # 1,000,000 entries
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench.common import median, print_command
from dicomvault.index.database import create_engine_for, write_transaction
from dicomvault.index.schema import metadata
from dicomvault.ledger import EventType, Ledger, LedgerEvent, LedgerKeys
from dicomvault.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from dicomvault.ledger.schema import LEDGER_TABLES


def _events(ledger: Ledger, start: int, count: int) -> list[LedgerEvent]:
    """Realistic instance_stored events: three subject hashes and a content hash each."""
    hasher = ledger.identifiers
    result = []
    for number in range(start, start + count):
        uid = f"1.2.826.0.1.3680043.10.1291.9.{number}"
        result.append(LedgerEvent(
            type=EventType.INSTANCE_STORED, actor="modality-ct1", door="DIMSE",
            client="127.0.0.1", time="2025-06-01T08:00:00.000000Z",
            subjects=(hasher.subject("study", uid[:-3]), hasher.subject("series", uid[:-1]),
                      hasher.subject("sop", uid)),
            details={"content_sha256": hashlib.sha256(uid.encode()).hexdigest(),
                     "size": 524_288 + number % 1000, "sop_class": "1.2.840.10008.5.1.4.1.1.2",
                     "transfer_syntax": "1.2.840.10008.1.2.1"},
        ))
    return result


def _per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def build(engine: sa.Engine, ledger: Ledger, entries: int, batch: int) -> float:
    """Append ``entries`` events in transactions of ``batch``; seconds taken."""
    start = time.perf_counter()
    done = 0
    while done < entries:
        count = min(batch, entries - done)
        events = _events(ledger, done, count)
        with write_transaction(engine) as conn:
            ledger.append(conn, events)
        done += count
        if done % (batch * 20) == 0:
            print(f"  built {done:,} entries ({time.perf_counter() - start:.0f} s)", flush=True)
    return time.perf_counter() - start


def measure_appends(engine: sa.Engine, ledger: Ledger, first: int, transactions: int,
                    per_transaction: int) -> float:
    """Events per second over ``transactions`` committed appends of ``per_transaction``."""
    batches = [_events(ledger, first + i * per_transaction, per_transaction)
               for i in range(transactions)]

    def run() -> None:
        for events in batches:
            with write_transaction(engine) as conn:
                ledger.append(conn, events)

    return _per_second(transactions * per_transaction, _timed(run))


def measure_proofs(engine: sa.Engine, ledger: Ledger, size: int, count: int,
                   rng: random.Random) -> dict[str, float]:
    """Median seconds per proof: generation (with DB reads) and verification."""
    timings: dict[str, list[float]] = {k: [] for k in (
        "inclusion proof", "inclusion verify", "consistency proof", "consistency verify")}
    with engine.connect() as conn:
        root = ledger.root(conn, size)
        for _ in range(count):
            index = rng.randrange(size)
            start = time.perf_counter()
            proof = ledger.inclusion_proof(conn, index, size)
            data = ledger.entries(conn, index, index + 1)[0].data
            timings["inclusion proof"].append(time.perf_counter() - start)
            start = time.perf_counter()
            verify_inclusion(index, size, leaf_hash(data), proof, root)
            timings["inclusion verify"].append(time.perf_counter() - start)

            old = rng.randrange(1, size)
            start = time.perf_counter()
            proof = ledger.consistency_proof(conn, old, size)
            old_root = ledger.root(conn, old)
            timings["consistency proof"].append(time.perf_counter() - start)
            start = time.perf_counter()
            verify_consistency(old, size, old_root, root, proof)
            timings["consistency verify"].append(time.perf_counter() - start)
    return {name: median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="log size to build")
    parser.add_argument("--build-batch", type=int, default=10_000, help="events per build txn")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--single", type=int, default=100, help="single-event txns per run")
    parser.add_argument("--batches", type=int, default=10, help="100-event txns per run")
    parser.add_argument("--proofs", type=int, default=200, help="proofs of each kind per run")
    parser.add_argument("--database-url", help="default: SQLite file in a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dv-bench-ledger-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}"
        engine = create_engine_for(url)
        metadata.drop_all(engine, tables=list(LEDGER_TABLES))
        metadata.create_all(engine, tables=list(LEDGER_TABLES))
        ledger = Ledger(LedgerKeys.generate(), "bench.dicomvault.invalid/ledger")
        print(f"backend: {engine.dialect.name}; building {args.entries:,} entries ...")
        seconds = build(engine, ledger, args.entries, args.build_batch)
        print(f"built {args.entries:,} entries in {seconds:.1f} s "
              f"({_per_second(args.entries, seconds):,.0f} events/s in batches of "
              f"{args.build_batch:,})")

        next_event = args.entries
        single, batched = [], []
        for _ in range(args.runs):
            single.append(measure_appends(engine, ledger, next_event, args.single, 1))
            next_event += args.single
            batched.append(measure_appends(engine, ledger, next_event, args.batches, 100))
            next_event += args.batches * 100
        print(f"appends, 1 event per transaction:    {median(single):10,.0f} events/s")
        print(f"appends, 100 events per transaction: {median(batched):10,.0f} events/s")

        rng = random.Random(1)
        with engine.connect() as conn:
            size = ledger.tree_size(conn)
        runs = [measure_proofs(engine, ledger, size, args.proofs, rng) for _ in range(args.runs)]
        print(f"proofs at tree size {size:,} (median per proof, {args.proofs} proofs x "
              f"{args.runs} runs):")
        for name in runs[0]:
            print(f"  {name:20s} {median([run[name] for run in runs]) * 1e6:10.1f} us")
        if engine.dialect.name == "sqlite":
            print(f"database file: {Path(tmp, 'ledger.sqlite3').stat().st_size / 2**20:,.0f} MiB")
        engine.dispose()
    print_command()


if __name__ == "__main__":
    main()
