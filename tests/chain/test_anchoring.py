"""The anchoring daemon on a real node: checkpoints and agreements reach the chain once,
and the archive keeps working while the chain is down, the backlog anchored when it returns."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.chain.conftest import Consortium
from tests.chain.nodes import (
    ORIGIN,
    agreement,
    anchorer,
    ledger_of,
    record_share,
    store_real_file,
)
from tests.support.nodes import open_test_node

from dicomvault.archive import Archive
from dicomvault.chain import backlog as backlog_module
from dicomvault.chain.account import create_account, load_account
from dicomvault.chain.anchorer import AnchorDaemon
from dicomvault.chain.backlog import Backlog
from dicomvault.chain.records import AgreementStatus, share_key
from dicomvault.config import load_settings
from dicomvault.errors import ConfigurationError
from dicomvault.ledger import EventType, verify_log
from dicomvault.ledger.checkpoint import verify_checkpoint
from dicomvault.node import background_jobs


def test_checkpoints_and_agreements_are_anchored_once(node: Archive,
                                                      consortium: Consortium) -> None:
    store_real_file(node, 0)
    store_real_file(node, 1)
    note = ledger_of(node).checkpoint()
    checkpoint = verify_checkpoint(note, node.audit.ledger.verifier_key)
    share = agreement("share-0001")
    record_share(node, share)
    record_share(node, agreement("share-0002"), role="grantee")  # B's grant, seen by A

    report = anchorer(node, consortium.member).run()

    assert (report.collected, report.anchored, report.refused, report.unavailable) == (
        2, 2, [], None)
    partner = consortium.partner()
    latest = partner.latest_anchor(ORIGIN)
    assert latest is not None
    assert (latest.tree_size, latest.root_hash) == (checkpoint.size, checkpoint.root_hash)
    assert latest.member == consortium.member.sender
    granted = partner.agreement(share_key("share-0001"))
    assert granted is not None and granted.status is AgreementStatus.GRANTED
    assert partner.agreement(share_key("share-0002")) is None  # the grantee does not anchor

    again = anchorer(node, consortium.member).run()
    assert (again.collected, again.anchored, again.transactions) == (0, 0, [])
    assert partner.anchor_count(ORIGIN) == 1

    record_share(node, share, EventType.SHARE_REVOKED)
    assert anchorer(node, consortium.member).run().anchored == 1
    revoked = partner.agreement(share_key("share-0001"))
    assert revoked is not None and revoked.status is AgreementStatus.REVOKED


def test_the_archive_keeps_working_while_the_chain_is_down(node: Archive,
                                                           consortium: Consortium) -> None:
    job = anchorer(node, consortium.member)
    store_real_file(node, 0)
    ledger_of(node).checkpoint()
    assert job.run().anchored == 1

    with consortium.evm.outage(consortium.member):
        for number in range(1, 4):  # stores, shares and checkpoints go on
            store_real_file(node, number)
            ledger_of(node).checkpoint()
        record_share(node, agreement("share-0003"))
        down = job.run()
        assert down.unavailable is not None and "unreachable" in down.unavailable
        assert down.anchored == 0
        assert Backlog(node.engine, node.audit.ledger).counts()["pending"] == 4
        store_real_file(node, 4)
        last_note = ledger_of(node).checkpoint()

    back = job.run()

    assert back.unavailable is None and back.refused == []
    # the newest checkpoint covers the three older ones; one transaction per log
    assert (back.anchored, back.superseded) == (2, 3)
    last = verify_checkpoint(last_note, node.audit.ledger.verifier_key)
    latest = consortium.partner().latest_anchor(ORIGIN)
    assert latest is not None and (latest.tree_size, latest.root_hash) == (
        last.size, last.root_hash)
    assert consortium.partner().anchor_count(ORIGIN) == 2
    assert "pending" not in Backlog(node.engine, node.audit.ledger).counts()
    shared = consortium.partner().agreement(share_key("share-0003"))
    assert shared is not None and shared.status is AgreementStatus.GRANTED
    with node.engine.connect() as conn:  # and the node's own log is whole
        entries = [entry.data for entry in node.audit.ledger.stream_entries(conn)]
    verify_log(entries, last_note, node.audit.ledger.verifier_key)


def test_backlog_survives_an_outage_on_each_database(archive: Archive, tmp_path: Path,
                                                     consortium: Consortium) -> None:
    """The backlog table on SQLite and PostgreSQL: a restarted node resumes from it."""
    job = anchorer(archive, consortium.member)
    with consortium.evm.outage(consortium.member):
        store_real_file(archive, 0)
        note = ledger_of(archive).checkpoint()
        assert job.run().unavailable is not None
    restarted = anchorer(archive, consortium.member)  # a new process: state from the table
    assert restarted.run().anchored == 1
    checkpoint = verify_checkpoint(note, archive.audit.ledger.verifier_key)
    latest = consortium.partner().latest_anchor(checkpoint.origin)
    assert latest is not None and latest.root_hash == checkpoint.root_hash


def test_a_member_not_yet_admitted_keeps_its_backlog(node: Archive,
                                                     consortium: Consortium) -> None:
    account = consortium.evm.funded_account()
    client = consortium.evm.client(account, consortium.address)
    store_real_file(node, 0)
    ledger_of(node).checkpoint()
    waiting = anchorer(node, client).run()
    assert waiting.unavailable is not None and "not (yet) a member" in waiting.unavailable
    consortium.owner.admit_member(account.address, "Hospital A")
    assert anchorer(node, client).run().anchored == 1


def test_a_checkpoint_sent_before_a_crash_is_not_sent_again(node: Archive,
                                                            consortium: Consortium) -> None:
    store_real_file(node, 0)
    note = ledger_of(node).checkpoint()
    # the transaction went out, then the process died before settling the row
    consortium.member.anchor_checkpoint(verify_checkpoint(note, node.audit.ledger.verifier_key))
    report = anchorer(node, consortium.member).run()
    assert (report.anchored, report.transactions) == (1, [])
    assert consortium.partner().anchor_count(ORIGIN) == 1


def test_serve_runs_the_anchoring_job_when_the_chain_is_enabled(tmp_path: Path,
                                                                consortium: Consortium) -> None:
    key_file = tmp_path / "member.key"
    account = create_account(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    consortium.owner.admit_member(account.address, "Hospital C")
    consortium.evm.fund(account.address)
    url = consortium.evm.rpc_url or "http://127.0.0.1:9"  # in-process: not reachable by URL
    with open_test_node(tmp_path / "c", f"sqlite:///{tmp_path / 'c.sqlite3'}",
                        chain_enabled=True, chain_rpc_url=url,
                        chain_contract_address=consortium.address,
                        chain_account_key_file=key_file) as node:
        jobs = [job for job in background_jobs(node) if isinstance(job, AnchorDaemon)]
        assert len(jobs) == 1 and jobs[0].anchorer.client.sender == account.address
        if consortium.evm.rpc_url is not None:
            store_real_file(node, 0)
            ledger_of(node).checkpoint()
            jobs[0].run_once()
            latest = consortium.partner().latest_anchor(node.audit.ledger.origin)
            assert latest is not None and latest.member == account.address


def test_the_account_key_file_must_be_private(tmp_path: Path) -> None:
    key_file = tmp_path / "member.key"
    account = create_account(key_file)
    assert load_account(key_file).address == account.address
    with pytest.raises(ConfigurationError, match="refusing to replace"):
        create_account(key_file)
    key_file.chmod(0o644)
    with pytest.raises(ConfigurationError, match="must have mode 0600"):
        load_account(key_file)
    with pytest.raises(ConfigurationError, match="chain_enabled needs"):
        load_settings(data_dir=tmp_path, chain_enabled=True, chain_rpc_url="http://x:1")


def test_a_long_log_is_collected_in_slices_each_event_once(node: Archive,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(backlog_module, "SCAN", 3)  # every few entries, a new transaction
    shares = [agreement(f"share-{number:04d}") for number in range(5)]
    for number, share in enumerate(shares):
        store_real_file(node, number)
        record_share(node, share)
    backlog = Backlog(node.engine, node.audit.ledger)
    assert backlog.collect() == 5
    assert backlog.collect() == 0
    assert [item.share_key for item in backlog.pending()] == [
        share_key(f"share-{number:04d}") for number in range(5)]
