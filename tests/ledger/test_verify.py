"""The standalone verifier: proof bundles about real DICOM files, its command line, its imports."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file
from tests.ledger.conftest import ORIGIN, make_event

from dicomvault.index.database import write_transaction
from dicomvault.ledger import (
    EventType,
    Ledger,
    LedgerKeys,
    VerificationError,
    verify_checkpoint_consistency,
    verify_event_inclusion,
    verify_log,
    verify_proof_bundle,
)
from dicomvault.ledger.verify import main

CT_FILE = Path(str(get_testdata_file("CT_small.dcm")))
MR_FILE = Path(str(get_testdata_file("MR_small.dcm")))


def store_events(engine: sa.Engine, ledger: Ledger) -> int:
    """Ten searches around one instance_stored event for CT_small.dcm; its index."""
    digest = hashlib.sha256(CT_FILE.read_bytes()).hexdigest()
    stored = make_event(5, (ledger.identifiers.subject("sop", "1.3.6.1.4.1.5962.1.1.1.1.1"),),
                        kind=EventType.INSTANCE_STORED, content_sha256=digest)
    with write_transaction(engine) as conn:
        indexes = ledger.append(conn, [*map(make_event, range(5)), stored,
                                       *map(make_event, range(6, 11))])
    return indexes[5]


def test_bundle_proves_a_real_file_was_archived(sqlite_engine: sa.Engine, ledger: Ledger) -> None:
    index = store_events(sqlite_engine, ledger)
    with write_transaction(sqlite_engine) as conn:
        bundle = ledger.export_proof_bundle(conn, index)
    text = json.dumps(bundle)
    result = verify_proof_bundle(text, CT_FILE.read_bytes(),
                                 trusted_key=ledger.verifier_key.encode())
    assert result.file_matches and result.index == index
    assert result.checkpoint.size == 11 and result.checkpoint.origin == ORIGIN
    assert result.event["type"] == "instance_stored"
    assert not verify_proof_bundle(bundle).file_matches

    with pytest.raises(VerificationError, match="SHA-256"):
        verify_proof_bundle(text, MR_FILE.read_bytes())
    with pytest.raises(VerificationError, match="SHA-256"):
        verify_proof_bundle(text, CT_FILE.read_bytes() + b"\x00")
    other = Ledger(LedgerKeys.generate(), ORIGIN)
    with pytest.raises(VerificationError, match="trusted"):
        verify_proof_bundle(text, trusted_key=other.verifier_key.encode())


def test_altered_bundles_are_refused(sqlite_engine: sa.Engine, ledger: Ledger) -> None:
    index = store_events(sqlite_engine, ledger)
    with write_transaction(sqlite_engine) as conn:
        bundle = ledger.export_proof_bundle(conn, index)
        search_bundle = ledger.export_proof_bundle(conn, 0)
    proof = bundle["inclusion_proof"]
    assert isinstance(proof, list)
    alterations: list[dict[str, object]] = [
        {"leaf_index": index + 1},
        {"event": search_bundle["event"]},
        {"inclusion_proof": [proof[1], proof[0], *proof[2:]]},
        {"inclusion_proof": proof[:-1]},
        {"checkpoint": str(bundle["checkpoint"]).replace("\n11\n", "\n12\n")},
        {"format": "something/v0"},
        {"leaf_index": True},
    ]
    for change in alterations:
        with pytest.raises(VerificationError):
            verify_proof_bundle({**bundle, **change})
    with pytest.raises(VerificationError, match="not an instance_stored"):
        verify_proof_bundle(search_bundle, CT_FILE.read_bytes())


def test_export_uses_a_given_or_covering_checkpoint(sqlite_engine: sa.Engine,
                                                    ledger: Ledger) -> None:
    with write_transaction(sqlite_engine) as conn:
        ledger.append(conn, [make_event(0), make_event(1)])
        early = ledger.sign_checkpoint(conn)
        ledger.append(conn, [make_event(2)])
        assert ledger.export_proof_bundle(conn, 1, early)["checkpoint"] == early
        # The latest checkpoint (size 2) does not cover entry 2: a new one is signed.
        late = ledger.export_proof_bundle(conn, 2)["checkpoint"]
        assert late != early and ledger.latest_checkpoint(conn) == late
        assert verify_proof_bundle(ledger.export_proof_bundle(conn, 0)).checkpoint.size == 3


def test_inclusion_and_consistency_between_checkpoints(sqlite_engine: sa.Engine,
                                                       ledger: Ledger) -> None:
    key = ledger.verifier_key.encode()
    with write_transaction(sqlite_engine) as conn:
        ledger.append(conn, [make_event(i) for i in range(6)])
        old = ledger.sign_checkpoint(conn)
        ledger.append(conn, [make_event(i) for i in range(6, 19)])
        new = ledger.sign_checkpoint(conn)
        entries = [e.data for e in ledger.entries(conn, 0, 19)]
        proof = ledger.consistency_proof(conn, 6, 19)
        inclusion = ledger.inclusion_proof(conn, 13, 19)
    assert verify_log(entries, new, key).size == 19
    assert verify_log(entries, old, key).size == 6  # later entries are not covered
    verify_event_inclusion(entries[13], 13, inclusion, new, key)
    verify_checkpoint_consistency(old, new, proof, key)
    with pytest.raises(VerificationError):
        verify_event_inclusion(entries[12], 13, inclusion, new, key)
    with pytest.raises(VerificationError, match="rollback"):
        verify_checkpoint_consistency(new, old, proof, key)


def test_command_line(tmp_path: Path, sqlite_engine: sa.Engine, ledger: Ledger,
                      capsys: pytest.CaptureFixture[str]) -> None:
    index = store_events(sqlite_engine, ledger)
    with write_transaction(sqlite_engine) as conn:
        bundle_path = tmp_path / "bundle.json"
        bundle_path.write_text(json.dumps(ledger.export_proof_bundle(conn, index)))
    key = ledger.verifier_key.encode()
    assert main([str(bundle_path), "--file", str(CT_FILE), "--key", key]) == 0
    assert "OK: event and file verified" in capsys.readouterr().out
    assert main([str(bundle_path), "--file", str(MR_FILE)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_the_verifier_needs_no_server_code() -> None:
    code = (
        "import sys, dicomvault.ledger.verify\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'pydicom', 'dicomvault', 'alembic', 'pydantic'))\n"
        "print(','.join(loaded))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(src)}).stdout.strip().split(",")
    allowed = {"dicomvault", "dicomvault.ledger", "dicomvault.ledger.verify",
               "dicomvault.ledger.merkle", "dicomvault.ledger.checkpoint",
               "dicomvault.ledger.canonical", "dicomvault.ledger.events",
               "dicomvault.ledger.identifiers"}
    assert set(out) <= allowed, set(out) - allowed
