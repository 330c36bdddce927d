"""What the chain holds, as Python values, and the digests that key it.

Pure (standard library and the ledger's canonical JSON): a partner's
verifier uses these without web3 types leaking out of :mod:`.client`.

* An agreement is anchored under ``share_key = SHA-256(share_id)`` (the
  share id itself stays off-chain) with ``agreement_sha256 = SHA-256(RFC 8785
  canonical JSON of the agreement)``, the digest the sharing subsystem
  records in its ``shared`` / ``share_revoked`` ledger events.
* A checkpoint is anchored as (origin, tree size, root hash, timestamp) of a
  signed ledger checkpoint (:class:`~dicomvault.ledger.Checkpoint`).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from dicomvault.ledger.canonical import JSONValue, canonical_json

#: Longest origin the contract stores (``String[255]``, counted in UTF-8 bytes).
MAX_ORIGIN_BYTES = 255


class AgreementStatus(enum.IntEnum):
    """The contract's status codes of an agreement."""

    NONE = 0
    GRANTED = 1
    REVOKED = 2


def share_key(share_id: str) -> bytes:
    """The key an agreement is anchored under: SHA-256 of its share id (UTF-8)."""
    return hashlib.sha256(share_id.encode("utf-8")).digest()


def agreement_digest(agreement: JSONValue) -> bytes:
    """SHA-256 of the agreement's RFC 8785 canonical JSON (what the ledger events carry)."""
    return hashlib.sha256(canonical_json(agreement)).digest()


@dataclass(frozen=True, slots=True)
class AnchoredCheckpoint:
    """One checkpoint root as the contract holds it."""

    origin: str
    index: int
    tree_size: int
    root_hash: bytes
    checkpoint_time: int
    anchored_at: int
    member: str


@dataclass(frozen=True, slots=True)
class AnchoredAgreement:
    """An agreement digest as the contract holds it."""

    share_key: bytes
    agreement_sha256: bytes
    grantor: str
    status: AgreementStatus
    granted_at: int
    revoked_at: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction: its hash and block."""

    tx_hash: str
    block_number: int
