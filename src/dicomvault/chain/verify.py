"""A partner's checks against the chain, trusting neither the grantor's server nor its database.

:func:`verify_checkpoint_on_chain` takes a signed checkpoint obtained from
anywhere (the grantor's API, an e-mail, a witness) and decides it against
the roots the grantor's account anchored for that origin:

* an anchor of exactly that tree size must carry exactly that root;
* otherwise the nearest anchors below and above must be linked to it by
  RFC 9162 consistency proofs (:func:`~dicomvault.ledger.merkle.verify_consistency`).
  The proofs may come from the grantor's server: they are checked against
  the anchored roots, so a server that rewrote its history cannot forge them.

:func:`verify_agreement_on_chain` hashes an agreement file the way the
ledger does (SHA-256 of RFC 8785 canonical JSON) and reads its status.

Each returns a verdict; a contradiction with the chain raises
:class:`~dicomvault.ledger.VerificationError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dicomvault.chain.records import (
    AgreementStatus,
    AnchoredAgreement,
    AnchoredCheckpoint,
    agreement_digest,
    share_key,
)
from dicomvault.ledger.canonical import JSONValue
from dicomvault.ledger.checkpoint import (
    Checkpoint,
    VerifierKey,
    parse_checkpoint_body,
    split_note,
    verify_checkpoint,
)
from dicomvault.ledger.merkle import VerificationError, verify_consistency

if TYPE_CHECKING:
    from dicomvault.chain.client import ChainClient

#: Gives the consistency proof between two tree sizes of the log (from anywhere: untrusted).
ProofSource = Callable[[int, int], list[bytes]]


@dataclass(frozen=True, slots=True)
class CheckpointVerdict:
    """The checks that passed; ``anchored`` is false when no anchor could decide yet."""

    checkpoint: Checkpoint
    signature_checked: bool
    anchored: bool
    checks: list[str] = field(default_factory=list)


def verify_checkpoint_on_chain(note: str, client: ChainClient, *,
                               key: VerifierKey | str | None = None,
                               proofs: ProofSource | None = None) -> CheckpointVerdict:
    """Check ``note`` against the anchored roots of its origin (see the module docstring)."""
    if key is not None:
        checkpoint = verify_checkpoint(note, key)
        checks = ["checkpoint signature verifies with the given log key"]
    else:
        checkpoint = parse_checkpoint_body(split_note(note)[0])
        checks = ["checkpoint signature NOT checked (no --key given)"]
    below, above = client.anchors_around(checkpoint.origin, checkpoint.size)
    if below is not None and below.tree_size == checkpoint.size:
        if below.root_hash != checkpoint.root_hash:
            raise VerificationError(
                f"tree size {checkpoint.size} of {checkpoint.origin} is anchored with root "
                f"{below.root_hash.hex()} but this checkpoint says "
                f"{checkpoint.root_hash.hex()}: the log's history was rewritten")
        checks.append(_described("root equals the anchored root", below))
        return CheckpointVerdict(checkpoint, key is not None, True, checks)
    if below is None and above is None:
        checks.append(f"no root of {checkpoint.origin} is anchored yet")
        return CheckpointVerdict(checkpoint, key is not None, False, checks)
    if proofs is None:
        raise VerificationError(
            f"tree size {checkpoint.size} is not anchored itself; a consistency proof to the "
            "nearest anchored tree is needed (--proofs-from URL or --proof FILE)")
    if below is not None:
        proof = proofs(below.tree_size, checkpoint.size)
        _consistent(below.tree_size, checkpoint.size, below.root_hash, checkpoint.root_hash,
                    proof, relation="extends")
        checks.append(_described("extends the anchored tree (consistency proof)", below))
    if above is not None:
        proof = proofs(checkpoint.size, above.tree_size)
        _consistent(checkpoint.size, above.tree_size, checkpoint.root_hash, above.root_hash,
                    proof, relation="is a prefix of")
        checks.append(_described("is a prefix of the anchored tree (consistency proof)", above))
    return CheckpointVerdict(checkpoint, key is not None, True, checks)


def _consistent(first: int, second: int, first_root: bytes, second_root: bytes,
                proof: list[bytes], *, relation: str) -> None:
    try:
        verify_consistency(first, second, first_root, second_root, proof)
    except VerificationError as exc:
        raise VerificationError(
            f"tree {first} {relation} the anchored tree {second}? No: {exc}; the log's history "
            "differs from what was anchored (rewritten or forked)") from exc


def _described(what: str, anchor: AnchoredCheckpoint) -> str:
    return (f"{what}: anchor #{anchor.index}, tree size {anchor.tree_size}, "
            f"root {anchor.root_hash.hex()[:16]}..., by {anchor.member}")


@dataclass(frozen=True, slots=True)
class AgreementVerdict:
    """What the chain says of an agreement file."""

    digest: bytes
    anchored: AnchoredAgreement | None

    @property
    def status(self) -> AgreementStatus:
        return AgreementStatus.NONE if self.anchored is None else self.anchored.status


def parse_agreement(text: str) -> JSONValue:
    """The agreement JSON (any JSON object; hashed canonically, so its formatting is free)."""
    try:
        value: JSONValue = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerificationError(f"agreement is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise VerificationError("agreement is not a JSON object")
    return value


def verify_agreement_on_chain(agreement: JSONValue, client: ChainClient, *,
                              share_id: str | None = None,
                              grantor: str | None = None) -> AgreementVerdict:
    """The on-chain record of ``agreement`` (looked up by its digest, or by ``share_id``).

    A record under ``share_id`` with another digest means the file is not the
    agreement that was anchored; a ``grantor`` other than the expected
    account means someone else anchored it. Both raise.
    """
    digest = agreement_digest(agreement)
    if share_id is None and isinstance(agreement, dict):
        found = agreement.get("share_id", agreement.get("id"))
        share_id = found if isinstance(found, str) else None
    record = client.agreement_by_digest(digest)
    if record is None and share_id is not None:
        record = client.agreement(share_key(share_id))
        if record is not None:
            raise VerificationError(
                f"share {share_id} is anchored with digest {record.agreement_sha256.hex()}, "
                f"but this agreement hashes to {digest.hex()}: it is not the agreement that "
                "was granted")
    if record is not None and grantor is not None and record.grantor.lower() != grantor.lower():
        raise VerificationError(f"the agreement was anchored by {record.grantor}, "
                                f"not by the expected grantor {grantor}")
    return AgreementVerdict(digest, record)
