"""A partner verifies hospital A's checkpoints and agreements against the chain alone,
and detects a history that A rewrote after anchoring it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.chain.conftest import Consortium
from tests.chain.nodes import (
    ORIGIN,
    agreement,
    anchorer,
    ledger_of,
    record_share,
    store_real_file,
)
from tests.support.live import serving

from dicomvault.archive import Archive
from dicomvault.chain.anchorer import Anchorer
from dicomvault.chain.backlog import Backlog
from dicomvault.chain.records import AgreementStatus, agreement_digest
from dicomvault.chain.schema import chain_backlog
from dicomvault.chain.verify import (
    ProofSource,
    parse_agreement,
    verify_agreement_on_chain,
    verify_checkpoint_on_chain,
)
from dicomvault.index.database import create_engine_for, write_transaction
from dicomvault.index.schema import metadata
from dicomvault.ledger import (
    EventType,
    Ledger,
    LedgerEvent,
    LedgerKeys,
    VerificationError,
    utc_now,
)
from dicomvault.ledger.remote import PartnerLog
from dicomvault.ledger.schema import LEDGER_TABLES
from dicomvault.node import ledger_keys_dir


def proofs_from(archive: Archive) -> ProofSource:
    """Consistency proofs as A's server would hand them out (untrusted by the partner)."""
    return lambda first, second: ledger_of(archive).consistency_proof(first, second)[1]


def test_partner_checks_checkpoints_against_the_anchored_roots(node: Archive,
                                                               consortium: Consortium) -> None:
    key = node.audit.ledger.verifier_key.encode()  # what A published once
    partner = consortium.partner()
    store_real_file(node, 0)
    first = ledger_of(node).checkpoint()
    verdict = verify_checkpoint_on_chain(first, partner, key=key)
    assert not verdict.anchored  # nothing anchored yet: nothing to decide with

    anchorer(node, consortium.member).run()
    verdict = verify_checkpoint_on_chain(first, partner, key=key)
    assert verdict.anchored and verdict.signature_checked
    assert "root equals the anchored root" in verdict.checks[-1]

    store_real_file(node, 1)
    middle = ledger_of(node).checkpoint()
    store_real_file(node, 2)
    ledger_of(node).checkpoint()
    anchorer(node, consortium.member).run()  # anchors the last; the middle one is superseded
    store_real_file(node, 3)
    newest = ledger_of(node).checkpoint()  # not anchored yet

    with pytest.raises(VerificationError, match="consistency proof to the nearest anchored"):
        verify_checkpoint_on_chain(middle, partner, key=key)
    verdict = verify_checkpoint_on_chain(middle, partner, key=key, proofs=proofs_from(node))
    assert verdict.anchored
    assert [check.split(":")[0] for check in verdict.checks[1:]] == [
        "extends the anchored tree (consistency proof)",
        "is a prefix of the anchored tree (consistency proof)"]
    assert verify_checkpoint_on_chain(newest, partner, key=key,
                                      proofs=proofs_from(node)).anchored

    other = LedgerKeys.generate()
    stranger = Ledger(other, ORIGIN).verifier_key.encode()
    with pytest.raises(VerificationError, match="not signed by the given log key"):
        verify_checkpoint_on_chain(newest, partner, key=stranger)


def test_proofs_from_the_grantors_live_server_are_checked_not_trusted(
        node: Archive, consortium: Consortium) -> None:
    """The partner fetches consistency proofs over HTTP from A's public ledger API."""
    key = node.audit.ledger.verifier_key.encode()
    store_real_file(node, 0)
    ledger_of(node).checkpoint()
    anchorer(node, consortium.member).run()
    store_real_file(node, 1)
    newer = ledger_of(node).checkpoint()  # signed after the anchor, not anchored itself
    with serving(node) as url:
        verdict = verify_checkpoint_on_chain(newer, consortium.partner(), key=key,
                                             proofs=PartnerLog(url).consistency_proof)
        assert verdict.anchored
        assert "extends the anchored tree" in verdict.checks[-1]

        def lying(first: int, second: int) -> list[bytes]:  # a server that forges proofs
            return [bytes(32 - len(h)) + h[::-1] for h in
                    PartnerLog(url).consistency_proof(first, second)]

        with pytest.raises(VerificationError, match="differs from what was anchored"):
            verify_checkpoint_on_chain(newer, consortium.partner(), key=key, proofs=lying)


def _rewrite(node: Archive, tmp_path: Path, index: int) -> tuple[sa.Engine, Ledger]:
    """An insider holding A's signing key rebuilds A's log with entry ``index`` changed."""
    with node.engine.connect() as conn:
        events = [entry.event for entry in node.audit.ledger.stream_entries(conn)]
    events[index] = replace(events[index], actor="someone-else", client="10.0.0.66")
    engine = create_engine_for(f"sqlite:///{tmp_path / 'rewritten.sqlite3'}")
    metadata.create_all(engine, tables=[*LEDGER_TABLES, chain_backlog])
    ledger = Ledger(LedgerKeys.load_or_create(ledger_keys_dir(node.settings)), ORIGIN)
    with write_transaction(engine) as conn:
        ledger.append(conn, events)
    return engine, ledger


def test_partner_detects_a_history_rewritten_after_anchoring(node: Archive, tmp_path: Path,
                                                             consortium: Consortium) -> None:
    key = node.audit.ledger.verifier_key.encode()
    for number in range(3):
        store_real_file(node, number)
    anchored_note = ledger_of(node).checkpoint()
    anchorer(node, consortium.member).run()
    partner = consortium.partner()
    assert verify_checkpoint_on_chain(anchored_note, partner, key=key).anchored

    engine, rewritten = _rewrite(node, tmp_path, index=2)
    with write_transaction(engine) as conn:  # same size, validly signed by A's own key
        same_size = rewritten.sign_checkpoint(conn)
    with pytest.raises(VerificationError, match="history was rewritten"):
        verify_checkpoint_on_chain(same_size, partner, key=key)

    # Anchoring the rewritten root from the rewritten database is refused too, and the
    # refusal is an alarm in that node's ledger.
    alarms: list[dict[str, str | int | bool]] = []
    job = Anchorer(Backlog(engine, rewritten), consortium.member,
                   lambda kind, details: alarms.append({"type": kind.value, **details}))
    report = job.run()
    assert len(report.refused) == 1 and "another root" in report.refused[0]
    assert [alarm["type"] for alarm in alarms] == ["witness_alarm"]

    # The insider grows the rewritten log and signs a larger checkpoint: no consistency
    # proof from its server can link it to the anchored root.
    with write_transaction(engine) as conn:
        rewritten.append(conn, [LedgerEvent(type=EventType.SEARCHED, actor="x", door="API",
                                            time=utc_now()) for _ in range(3)])
        grown = rewritten.sign_checkpoint(conn)

    def rewritten_proofs(first: int, second: int) -> list[bytes]:
        with engine.connect() as conn:
            return rewritten.consistency_proof(conn, first, second)

    with pytest.raises(VerificationError, match="differs from what was anchored"):
        verify_checkpoint_on_chain(grown, partner, key=key, proofs=rewritten_proofs)
    # while A's true history still verifies
    assert verify_checkpoint_on_chain(anchored_note, partner, key=key).anchored


def test_partner_checks_an_agreement_file_and_its_revocation(node: Archive, tmp_path: Path,
                                                             consortium: Consortium) -> None:
    share = agreement("share-0042")
    record_share(node, share)
    anchorer(node, consortium.member).run()
    # the partner received the agreement as a file, formatted its own way
    received = tmp_path / "agreement.json"
    received.write_text(json.dumps(share, indent=4, sort_keys=False))
    partner = consortium.partner()

    verdict = verify_agreement_on_chain(parse_agreement(received.read_text()), partner,
                                        grantor=consortium.member.sender)
    assert verdict.digest == agreement_digest(share)
    assert verdict.status is AgreementStatus.GRANTED
    assert verdict.anchored is not None and verdict.anchored.grantor == consortium.member.sender

    altered = agreement("share-0042", max_retrievals=1000)  # a grantor's server that lies
    with pytest.raises(VerificationError, match="not the agreement that was granted"):
        verify_agreement_on_chain(altered, partner)
    with pytest.raises(VerificationError, match="not by the expected grantor"):
        verify_agreement_on_chain(share, partner, grantor=consortium.owner.sender)
    assert verify_agreement_on_chain(agreement("share-9999"), partner).anchored is None

    record_share(node, share, EventType.SHARE_REVOKED)
    anchorer(node, consortium.member).run()
    assert verify_agreement_on_chain(share, partner).status is AgreementStatus.REVOKED
