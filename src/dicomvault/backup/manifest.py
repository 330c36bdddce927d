"""The manifest of a backup generation: every object and its hash, signed by the node.

A manifest is a C2SP signed note whose body is the line
``dicomvault-backup/v1`` followed by one line of JSON (keys sorted)::

    generation, created, origin, schema_revision, database,
    ledger:   {tree_size, root (hex), checkpoint (the signed checkpoint note)}
    snapshot: {blob, blob_sha256, kek_id, wrapped_key (base64), size}
    objects:  [[blob name, SHA-256 of the sealed bytes, size], ...]   (every image blob)
    previous: the generation before, or null

It is signed with the ledger's Ed25519 key under the key name
``<origin>/backup`` (a name of its own, so a manifest signature can never
pass for a checkpoint signature). Restoring trusts a manifest only if it
verifies under the key from the operator's recovery file, and trusts
everything else through the hashes the manifest pins.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from dicomvault.errors import IntegrityError
from dicomvault.ledger.checkpoint import NoteSigner, VerifierKey, sign_note, verify_note
from dicomvault.ledger.keys import LedgerKeys
from dicomvault.ledger.merkle import VerificationError

FORMAT = "dicomvault-backup/v1"


@dataclass(frozen=True, slots=True)
class BackupObject:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """The sealed snapshot of the index and ledger, and what unlocks it."""

    blob: str
    blob_sha256: str
    size: int
    kek_id: str
    wrapped_key: bytes


@dataclass(frozen=True, slots=True)
class Manifest:
    generation: int
    created: str
    origin: str
    schema_revision: str
    database: str
    tree_size: int
    root: bytes
    checkpoint: str
    snapshot: SnapshotRef
    objects: tuple[BackupObject, ...]
    previous: int | None

    def to_json(self) -> str:
        value: dict[str, Any] = {
            "generation": self.generation,
            "created": self.created,
            "origin": self.origin,
            "schema_revision": self.schema_revision,
            "database": self.database,
            "ledger": {"tree_size": self.tree_size, "root": self.root.hex(),
                       "checkpoint": self.checkpoint},
            "snapshot": {"blob": self.snapshot.blob, "blob_sha256": self.snapshot.blob_sha256,
                         "size": self.snapshot.size, "kek_id": self.snapshot.kek_id,
                         "wrapped_key": base64.b64encode(self.snapshot.wrapped_key).decode()},
            "objects": [[o.name, o.sha256, o.size] for o in self.objects],
            "previous": self.previous,
        }
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            value = json.loads(text)
            ledger, snapshot = value["ledger"], value["snapshot"]
            return cls(
                generation=int(value["generation"]),
                created=str(value["created"]),
                origin=str(value["origin"]),
                schema_revision=str(value["schema_revision"]),
                database=str(value["database"]),
                tree_size=int(ledger["tree_size"]),
                root=bytes.fromhex(ledger["root"]),
                checkpoint=str(ledger["checkpoint"]),
                snapshot=SnapshotRef(
                    blob=str(snapshot["blob"]), blob_sha256=str(snapshot["blob_sha256"]),
                    size=int(snapshot["size"]), kek_id=str(snapshot["kek_id"]),
                    wrapped_key=base64.b64decode(snapshot["wrapped_key"], validate=True)),
                objects=tuple(BackupObject(str(n), str(h), int(s)) for n, h, s in value["objects"]),
                previous=None if value["previous"] is None else int(value["previous"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError("a backup manifest is malformed") from exc

    def object_hashes(self) -> dict[str, str]:
        return {o.name: o.sha256 for o in self.objects}


def _signer(origin: str, keys: LedgerKeys) -> NoteSigner:
    return NoteSigner(f"{origin}/backup", keys.signing_key)


def manifest_key(origin: str, keys: LedgerKeys) -> VerifierKey:
    """The public key that verifies this node's manifests."""
    return _signer(origin, keys).verifier_key()


def sign_manifest(manifest: Manifest, keys: LedgerKeys) -> str:
    body = f"{FORMAT}\n{manifest.to_json()}\n".encode()
    return sign_note(body, _signer(manifest.origin, keys))


def open_manifest(note: str, origin: str, keys: LedgerKeys) -> Manifest:
    """Verify a manifest's signature under this node's key and parse it."""
    try:
        body = verify_note(note, manifest_key(origin, keys)).decode("utf-8")
    except VerificationError as exc:
        raise IntegrityError(
            f"backup manifest signature does not verify under this node's key: {exc}"
        ) from exc
    header, _, rest = body.partition("\n")
    if header != FORMAT:
        raise IntegrityError(f"not a {FORMAT} manifest")
    return Manifest.from_json(rest)
