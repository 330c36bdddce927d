"""Witnessing a partner's checkpoints: cosign growth, raise the alarm on rollback or fork."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.ledger.conftest import make_event

from dicomvault.errors import InvalidInputError
from dicomvault.index.database import create_engine_for, write_transaction
from dicomvault.index.schema import metadata
from dicomvault.ledger import EventType, Ledger, LedgerKeys
from dicomvault.ledger.checkpoint import verify_checkpoint
from dicomvault.ledger.schema import LEDGER_TABLES, ledger_witnessed

PARTNER = "pacs.partner-hospital.example/ledger"


class Partner:
    """A partner node's ledger in its own SQLite file."""

    def __init__(self, path: Path, keys: LedgerKeys, first_event: int = 0) -> None:
        self.engine = create_engine_for(f"sqlite:///{path}")
        metadata.create_all(self.engine, tables=list(LEDGER_TABLES))
        self.ledger = Ledger(keys, PARTNER)
        self.next_event = first_event

    def grow(self, count: int) -> str:
        with write_transaction(self.engine) as conn:
            self.ledger.append(conn, [make_event(self.next_event + i) for i in range(count)])
        self.next_event += count
        with write_transaction(self.engine) as conn:
            return self.ledger.sign_checkpoint(conn)

    def proof(self, old: int) -> list[bytes]:
        with self.engine.connect() as conn:
            return self.ledger.consistency_proof(conn, old)


def witness(engine: sa.Engine, ledger: Ledger, note: str, key: str, proof: list[bytes]
            ) -> tuple[bool, str | None, str]:
    with write_transaction(engine) as conn:
        result = ledger.witness(conn, note, key, proof)
    return result.accepted, result.cosigned_note, result.reason


def test_growth_is_cosigned_and_forks_and_rollbacks_raise_alarms(
    engine: sa.Engine, ledger: Ledger, tmp_path: Path
) -> None:
    partner_keys = LedgerKeys.generate()
    partner = Partner(tmp_path / "partner.sqlite3", partner_keys)
    key = partner.ledger.verifier_key.encode()

    accepted, cosigned, _ = witness(engine, ledger, partner.grow(5), key, [])
    assert accepted and cosigned is not None
    verify_checkpoint(cosigned, key, cosigners=(ledger.witness_verifier_key,))

    twelve = partner.grow(7)
    accepted, cosigned, _ = witness(engine, ledger, twelve, key, partner.proof(5))
    assert accepted and cosigned is not None and cosigned.startswith(twelve)

    # The partner rewrites its history with the same key: a fork at size 12 ...
    forked = Partner(tmp_path / "forked.sqlite3", partner_keys, first_event=500)
    fork_note = forked.grow(12)
    accepted, cosigned, reason = witness(engine, ledger, fork_note, key, [])
    assert not accepted and cosigned is None and "fork" in reason
    # ... a fork that grew past what was seen, with its own (valid-looking) proof ...
    accepted, _, reason = witness(engine, ledger, forked.grow(4), key, forked.proof(12))
    assert not accepted and "prefix" in reason
    # ... and a rollback to a smaller tree.
    accepted, _, reason = witness(engine, ledger, partner_rollback(tmp_path, partner_keys), key, [])
    assert not accepted and "rollback" in reason

    # Honest growth from the last accepted size is still accepted.
    accepted, _, _ = witness(engine, ledger, partner.grow(1), key, partner.proof(12))
    assert accepted

    with engine.connect() as conn:
        seen = conn.execute(sa.select(ledger_witnessed.c.tree_size, ledger_witnessed.c.accepted)
                            .order_by(ledger_witnessed.c.id)).all()
        kinds = [entry.event.type for entry in ledger.entries(conn, 0, 100)]
        alarm = ledger.entries(conn, 2, 3)[0].event
    assert [tuple(row) for row in seen] == [(5, True), (12, True), (12, False), (16, False),
                                            (3, False), (13, True)]
    assert kinds == [EventType.CHECKPOINT_WITNESSED] * 2 + [EventType.WITNESS_ALARM] * 3 + [
        EventType.CHECKPOINT_WITNESSED]
    assert alarm.details["origin"] == PARTNER and alarm.details["previous_size"] == 12


def partner_rollback(tmp_path: Path, keys: LedgerKeys) -> str:
    return Partner(tmp_path / "rolled-back.sqlite3", keys).grow(3)


def test_notes_not_signed_by_the_partner_are_refused_unrecorded(
    engine: sa.Engine, ledger: Ledger, tmp_path: Path
) -> None:
    partner = Partner(tmp_path / "partner.sqlite3", LedgerKeys.generate())
    impostor = Partner(tmp_path / "impostor.sqlite3", LedgerKeys.generate())
    with write_transaction(engine) as conn, pytest.raises(InvalidInputError):
        ledger.witness(conn, impostor.grow(3), partner.ledger.verifier_key, [])
    with engine.connect() as conn:
        assert ledger.tree_size(conn) == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(ledger_witnessed)
                            ).scalar_one() == 0
