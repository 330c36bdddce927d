"""``dicomvault chain`` as operators run it (real subprocesses) against anvil over JSON-RPC:
the consortium owner deploys and admits, hospital A anchors (also across an outage), and a
partner with only the chain's address verifies A's checkpoint and agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.chain.evm import AnvilEvm
from tests.chain.nodes import ORIGIN, agreement, record_share, store_real_file
from tests.support.cli import run_cli
from tests.support.nodes import TEST_PASSPHRASE, open_test_node

from dicomvault.cli.chain import CONTRADICTED_EXIT, NOT_ANCHORED_EXIT, REVOKED_EXIT
from dicomvault.ledger import EventType


@pytest.mark.slow
def test_owner_member_and_partner_through_the_command_line(anvil: AnvilEvm,
                                                           tmp_path: Path) -> None:
    assert anvil.rpc_url is not None
    owner_dir, node_dir, partner_dir = (tmp_path / name for name in ("owner", "a", "partner"))
    owner_key, member_key = tmp_path / "owner.key", tmp_path / "member.key"
    made = [run_cli(owner_dir, "chain", "new-account", str(path)) for path in (owner_key,
                                                                             member_key)]
    assert [done.returncode for done in made] == [0, 0]
    owner, member = (done.stdout.strip() for done in made)
    anvil.fund(owner)
    anvil.fund(member)

    as_owner = {"DICOMVAULT_CHAIN_RPC_URL": anvil.rpc_url,
                "DICOMVAULT_CHAIN_ACCOUNT_KEY_FILE": str(owner_key)}
    deployed = run_cli(owner_dir, "chain", "deploy", env=as_owner)
    assert deployed.returncode == 0, deployed.stderr
    registry = deployed.stdout.strip()
    admitted = run_cli(owner_dir, "chain", "admit", member, "--name", "Hospital A",
                       "--contract", registry, env=as_owner)
    assert admitted.returncode == 0, admitted.stderr

    as_member = {"DICOMVAULT_CHAIN_RPC_URL": anvil.rpc_url,
                 "DICOMVAULT_CHAIN_CONTRACT_ADDRESS": registry,
                 "DICOMVAULT_CHAIN_ACCOUNT_KEY_FILE": str(member_key),
                 "DICOMVAULT_CHAIN_ENABLED": "true",
                 "DICOMVAULT_LEDGER_ORIGIN": ORIGIN,
                 "DICOMVAULT_KEYRING_PASSPHRASE": TEST_PASSPHRASE}
    share = agreement("share-0007")
    with open_test_node(node_dir, f"sqlite:///{node_dir / 'index.sqlite3'}",
                        ledger_origin=ORIGIN) as node:
        store_real_file(node, 0)
        record_share(node, share)
    note = run_cli(node_dir, "ledger", "checkpoint", env=as_member)
    key = run_cli(node_dir, "ledger", "export-key", env=as_member)
    assert note.returncode == key.returncode == 0
    (tmp_path / "a.note").write_text(note.stdout)
    (tmp_path / "a.key").write_text(key.stdout)

    with anvil.outage():  # the chain goes down while A keeps working
        down = run_cli(node_dir, "chain", "anchor-now", env=as_member)
        assert down.returncode == 1
        assert "chain unavailable, backlog kept" in down.stdout
        status = run_cli(node_dir, "chain", "status", env=as_member)
        assert "pending 2" in status.stdout and "unavailable" in status.stdout
    up = run_cli(node_dir, "chain", "anchor-now", env=as_member)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "anchored 2" in up.stdout
    status = run_cli(node_dir, "chain", "status", env=as_member)
    assert "anchored 2" in status.stdout and "member as 'Hospital A'" in status.stdout

    partner = ["--rpc-url", anvil.rpc_url, "--contract", registry]
    checked = run_cli(partner_dir, "chain", "verify-checkpoint", str(tmp_path / "a.note"),
                      "--key", str(tmp_path / "a.key"), *partner)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout and "root equals the anchored root" in checked.stdout

    (tmp_path / "share.json").write_text(json.dumps(share, indent=2))
    granted = run_cli(partner_dir, "chain", "verify-agreement", str(tmp_path / "share.json"),
                      "--grantor", member, *partner)
    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert "granted" in granted.stdout
    (tmp_path / "altered.json").write_text(json.dumps(agreement("share-0007", purpose="sale")))
    altered = run_cli(partner_dir, "chain", "verify-agreement", str(tmp_path / "altered.json"),
                      *partner)
    assert altered.returncode == CONTRADICTED_EXIT, altered.stdout
    (tmp_path / "unknown.json").write_text(json.dumps(agreement("share-0099")))
    unknown = run_cli(partner_dir, "chain", "verify-agreement", str(tmp_path / "unknown.json"),
                      *partner)
    assert unknown.returncode == NOT_ANCHORED_EXIT, unknown.stdout

    with open_test_node(node_dir, f"sqlite:///{node_dir / 'index.sqlite3'}",
                        ledger_origin=ORIGIN) as node:
        record_share(node, share, EventType.SHARE_REVOKED)
    assert run_cli(node_dir, "chain", "anchor-now", env=as_member).returncode == 0
    revoked = run_cli(partner_dir, "chain", "verify-agreement", str(tmp_path / "share.json"),
                      *partner)
    assert revoked.returncode == REVOKED_EXIT and "revoked" in revoked.stdout
