"""What backup, restore and scrub ask of the ledger: checkpoints of a snapshot, content hashes.

* A generation's checkpoint is a C2SP checkpoint of the *snapshot's* tree
  (its size and root), signed with the node's log key, so that anyone with
  the log's public key can check the snapshot's ledger against it.
* Between generations the newer tree must extend the older (RFC 9162
  2.1.4): the older root must be the root of the newer tree's prefix. A
  backup refuses to write a generation that would contradict the previous
  one (the ledger was rolled back or forked since).
* Every instance's content SHA-256 is in its ``instance_stored`` event;
  restore and scrub check blobs against it, not only against the index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from dicomvault.errors import IntegrityError
from dicomvault.ledger import Checkpoint, EventType, Ledger, LedgerKeys, VerifierKey
from dicomvault.ledger.checkpoint import NoteSigner, sign_checkpoint, verify_checkpoint
from dicomvault.ledger.events import CONTENT_HASH
from dicomvault.ledger.merkle import VerificationError, root_from_leaf_hashes


def prefix_root(leaf_hashes: Sequence[bytes], size: int) -> bytes:
    """The Merkle root of the first ``size`` leaves."""
    if size > len(leaf_hashes):
        raise IntegrityError(f"the ledger holds {len(leaf_hashes)} entries, fewer than {size}")
    return root_from_leaf_hashes(leaf_hashes[:size])[1]


def sign_tree(origin: str, keys: LedgerKeys, size: int, root: bytes) -> str:
    """A signed checkpoint of a tree of ``size`` leaves with ``root`` (this node's log key)."""
    return sign_checkpoint(Checkpoint(origin, size, root), NoteSigner(origin, keys.signing_key))


def check_checkpoint(note: str, key: VerifierKey, leaf_hashes: Sequence[bytes],
                     cosigners: tuple[VerifierKey | str, ...] = ()) -> Checkpoint:
    """Verify ``note`` (and cosignatures) and that ``leaf_hashes`` extend the tree it names."""
    try:
        checkpoint = verify_checkpoint(note, key, cosigners)
    except VerificationError as exc:
        raise IntegrityError(f"ledger checkpoint does not verify: {exc}") from exc
    if prefix_root(leaf_hashes, checkpoint.size) != checkpoint.root_hash:
        raise IntegrityError(
            f"the ledger's first {checkpoint.size} entries do not hash to the checkpoint root"
        )
    return checkpoint


def content_hash(ledger: Ledger, conn: sa.Connection, sop_instance_uid: str) -> str | None:
    """The content SHA-256 the ledger recorded when this instance was last stored."""
    subject = ledger.identifiers.hash("sop", sop_instance_uid)
    for entry in reversed(ledger.find_events(conn, subject)):
        event = entry.event
        if event.type is EventType.INSTANCE_STORED:
            value = event.details.get(CONTENT_HASH)
            return value if isinstance(value, str) else None
    return None
