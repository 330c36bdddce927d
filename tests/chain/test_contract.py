"""The anchor registry contract: shipped bytecode, membership, monotonic roots, agreements."""

from __future__ import annotations

import hashlib

import pytest
from tests.chain.conftest import Consortium

from dicomvault.chain.contract import VYPER_VERSION, compile_registry, load_registry
from dicomvault.chain.records import AgreementStatus
from dicomvault.errors import ChainRefusedError
from dicomvault.ledger import Checkpoint

ORIGIN = "pacs.hospital-a.example/ledger"


def root(n: int) -> bytes:
    return hashlib.sha256(f"root {n}".encode()).digest()


def test_shipped_artefact_is_exactly_what_the_installed_vyper_compiles() -> None:
    shipped, fresh = load_registry(), compile_registry()
    assert fresh.compiler == shipped.compiler == f"vyper {VYPER_VERSION}"
    assert fresh.source_sha256 == shipped.source_sha256, "source edited: regenerate the artefact"
    assert fresh.bytecode == shipped.bytecode
    assert fresh.abi == shipped.abi


def test_only_the_owner_admits_and_only_members_anchor(consortium: Consortium) -> None:
    outsider = consortium.evm.client(consortium.evm.funded_account(), consortium.address)
    with pytest.raises(ChainRefusedError, match="not a consortium member"):
        outsider.anchor_checkpoint(Checkpoint(ORIGIN, 1, root(1), 100))
    with pytest.raises(ChainRefusedError, match="only the owner admits"):
        consortium.member.admit_member(outsider.sender, "Mallory")
    assert consortium.partner().is_member(consortium.member.sender)
    assert consortium.partner().member_name(consortium.member.sender) == "Hospital A"
    assert not consortium.partner().is_member(outsider.sender)

    consortium.owner.remove_member(consortium.member.sender)
    with pytest.raises(ChainRefusedError, match="not a consortium member"):
        consortium.member.anchor_checkpoint(Checkpoint(ORIGIN, 1, root(1), 100))


def test_tree_size_per_origin_only_grows(consortium: Consortium) -> None:
    member = consortium.member
    member.anchor_checkpoint(Checkpoint(ORIGIN, 5, root(5), 100))
    for size in (5, 3):  # the same size again (another root: a fork) or a smaller one
        with pytest.raises(ChainRefusedError, match="tree size must grow"):
            member.anchor_checkpoint(Checkpoint(ORIGIN, size, root(size + 100), 101))
    member.anchor_checkpoint(Checkpoint(ORIGIN, 9, root(9), 102))
    member.anchor_checkpoint(Checkpoint(ORIGIN, 20, root(20), 103))

    reader = consortium.partner()
    assert reader.anchor_count(ORIGIN) == 3
    latest = reader.latest_anchor(ORIGIN)
    assert latest is not None
    assert (latest.tree_size, latest.root_hash, latest.checkpoint_time) == (20, root(20), 103)
    assert latest.member == member.sender
    below, above = reader.anchors_around(ORIGIN, 9)
    assert below is not None and above is not None
    assert (below.tree_size, above.tree_size) == (9, 20)
    below, above = reader.anchors_around(ORIGIN, 4)
    assert below is None and above is not None and above.tree_size == 5
    assert reader.anchors_around("another.example/ledger", 4) == (None, None)


def test_an_origin_belongs_to_the_member_that_anchored_it_first(consortium: Consortium) -> None:
    consortium.member.anchor_checkpoint(Checkpoint(ORIGIN, 5, root(5), 100))
    hospital_b = consortium.admitted("Hospital B")
    with pytest.raises(ChainRefusedError, match="origin belongs to another member"):
        hospital_b.anchor_checkpoint(Checkpoint(ORIGIN, 50, root(50), 100))
    hospital_b.anchor_checkpoint(Checkpoint("pacs.hospital-b.example/ledger", 1, root(1), 100))


def test_agreements_are_granted_once_and_revoked_by_their_grantor(consortium: Consortium
                                                                  ) -> None:
    key, digest = hashlib.sha256(b"share-1").digest(), hashlib.sha256(b"agreement").digest()
    member, reader = consortium.member, consortium.partner()
    member.grant_agreement(key, digest)
    record = reader.agreement(key)
    assert record is not None
    assert (record.status, record.grantor, record.agreement_sha256) == (
        AgreementStatus.GRANTED, member.sender, digest)
    assert reader.agreement_by_digest(digest) == record
    with pytest.raises(ChainRefusedError, match="share already anchored"):
        member.grant_agreement(key, hashlib.sha256(b"another").digest())

    hospital_b = consortium.admitted("Hospital B")
    with pytest.raises(ChainRefusedError, match="only the grantor revokes"):
        hospital_b.revoke_agreement(key, digest)
    with pytest.raises(ChainRefusedError, match="not the granted agreement"):
        member.revoke_agreement(key, hashlib.sha256(b"another").digest())
    member.revoke_agreement(key, digest)
    revoked = reader.agreement(key)
    assert revoked is not None and revoked.status is AgreementStatus.REVOKED
    assert revoked.revoked_at >= revoked.granted_at > 0
    with pytest.raises(ChainRefusedError, match="already revoked"):
        member.revoke_agreement(key, digest)
    assert reader.agreement(hashlib.sha256(b"unknown").digest()) is None
