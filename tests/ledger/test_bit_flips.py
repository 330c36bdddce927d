"""Any single-bit change to a checkpoint, an entry or a proof bundle is rejected (hypothesis).

The property the whole ledger rests on: a signed note, an event and its
audit path are bound so tightly that flipping one bit anywhere in them makes
verification fail, never silently pass.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ledger.conftest import ORIGIN, make_event

from dicomvault.index.database import write_transaction
from dicomvault.ledger import (
    Checkpoint,
    Ledger,
    LedgerKeys,
    VerificationError,
    verify_log,
    verify_proof_bundle,
)
from dicomvault.ledger.checkpoint import NoteSigner, sign_checkpoint, verify_checkpoint

KEYS = LedgerKeys.generate()
SIGNER = NoteSigner(ORIGIN, KEYS.signing_key)
KEY = SIGNER.verifier_key()


def flip_bit(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def note_of(size: int, root: bytes, timestamp: int) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root, timestamp), SIGNER)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 2**40), root=st.binary(min_size=32, max_size=32),
       timestamp=st.integers(0, 2**33), data=st.data())
def test_any_flipped_bit_of_a_signed_checkpoint_is_rejected(
    size: int, root: bytes, timestamp: int, data: st.DataObject
) -> None:
    note = note_of(size, root, timestamp)
    assert verify_checkpoint(note, KEY) == Checkpoint(ORIGIN, size, root, timestamp)
    raw = note.encode("utf-8")
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    changed = flip_bit(raw, bit)
    try:
        text = changed.decode("utf-8")
    except UnicodeDecodeError:
        return  # not even text: no verifier gets as far as reading it
    with pytest.raises(VerificationError):
        verify_checkpoint(text, KEY)


def test_timestamp_line_is_signed_and_strict() -> None:
    note = note_of(3, bytes(32), 1_700_000_000)
    assert "\nTimestamp: 1700000000\n\n" in note
    assert verify_checkpoint(note, KEY).timestamp == 1_700_000_000
    for forged in ("Timestamp: 1700000001", "Timestamp: 01700000000", "Timestamp:1700000000"):
        with pytest.raises(VerificationError):
            verify_checkpoint(note.replace("Timestamp: 1700000000", forged), KEY)


@pytest.fixture(scope="module")
def bundle_and_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[bytes], str]:
    from dicomvault.index.database import create_engine_for
    from dicomvault.index.schema import metadata
    from dicomvault.ledger.schema import LEDGER_TABLES

    engine = create_engine_for(f"sqlite:///{tmp_path_factory.mktemp('flips') / 'l.sqlite3'}")
    metadata.create_all(engine, tables=list(LEDGER_TABLES))
    ledger = Ledger(KEYS, ORIGIN)
    with write_transaction(engine) as conn:
        ledger.append(conn, [make_event(i) for i in range(13)])
        bundle = json.dumps(ledger.export_proof_bundle(conn, 6))
        entries = [entry.data for entry in ledger.entries(conn, 0, 13)]
        note = ledger.latest_checkpoint(conn)
    engine.dispose()
    assert note is not None
    return bundle, entries, note


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_bit_of_an_entry_breaks_the_log(
    bundle_and_log: tuple[str, list[bytes], str], data: st.DataObject
) -> None:
    _, entries, note = bundle_and_log
    assert verify_log(entries, note, KEY).size == 13
    position = data.draw(st.integers(0, len(entries) - 1))
    bit = data.draw(st.integers(0, len(entries[position]) * 8 - 1))
    changed = [*entries[:position], flip_bit(entries[position], bit), *entries[position + 1:]]
    with pytest.raises(VerificationError):
        verify_log(changed, note, KEY)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_bit_of_a_proof_bundle_is_rejected(
    bundle_and_log: tuple[str, list[bytes], str], data: st.DataObject
) -> None:
    bundle, _, _ = bundle_and_log
    assert verify_proof_bundle(bundle, trusted_key=KEY).index == 6
    raw = bundle.encode()
    changed = flip_bit(raw, data.draw(st.integers(0, len(raw) * 8 - 1)))
    try:
        parsed = json.loads(changed)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # not JSON any more
    if parsed == json.loads(bundle):
        return  # the flip changed only JSON whitespace or escaping, not one value
    with pytest.raises(VerificationError):
        verify_proof_bundle(parsed, trusted_key=KEY)
