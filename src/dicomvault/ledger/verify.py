"""The standalone verifier: checks a ledger with nothing but public keys and proofs.

Anyone (an auditor, a partner institution, a patient's lawyer) can run this
without the server: it needs only the standard library, ``cryptography`` and
the pure modules :mod:`~dicomvault.ledger.merkle`,
:mod:`~dicomvault.ledger.checkpoint` and :mod:`~dicomvault.ledger.canonical`.
It must never import SQLAlchemy, pydicom or the rest of dicomvault.

What it checks:

* :func:`verify_log`: a whole exported log (the canonical event bytes, in
  order) against a signed checkpoint; catches any edited, missing, reordered
  or truncated entry (RFC 9162 2.1.1).
* :func:`verify_event_inclusion`: one event against a checkpoint with its
  audit path (RFC 9162 2.1.3.2).
* :func:`verify_checkpoint_consistency`: an older checkpoint against a newer
  one (RFC 9162 2.1.4.2); catches a log that rolled back or forked.
* :func:`verify_proof_bundle`: a self-contained JSON proof bundle, and
  optionally an image file's SHA-256 against the ``instance_stored`` event
  in it: this file is exactly what the archive stored.

Each raises :class:`~dicomvault.ledger.merkle.VerificationError` saying what
failed. ``python -m dicomvault.ledger.verify BUNDLE [--file F] [--key K]``
runs the last one from a shell.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dicomvault.ledger.canonical import JSONValue, parse_canonical_json
from dicomvault.ledger.checkpoint import Checkpoint, VerifierKey, verify_checkpoint
from dicomvault.ledger.merkle import (
    VerificationError,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

BUNDLE_FORMAT = "dicomvault-proof-bundle/v1"
_STORED = "instance_stored"
_CONTENT_HASH = "content_sha256"


def _event_object(data: bytes, where: str) -> dict[str, JSONValue]:
    try:
        value = parse_canonical_json(data)
    except ValueError as exc:
        raise VerificationError(f"{where} is not canonical JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise VerificationError(f"{where} is not a JSON object")
    return value


def verify_log(entries: Iterable[bytes], note: str, key: VerifierKey | str) -> Checkpoint:
    """Check that the first ``size`` entries of an exported log hash to the checkpoint root.

    ``entries`` may be a stream (it is read once, up to the checkpoint's
    size, in O(log n) memory). Entries beyond the checkpoint's size
    (appended later) are allowed and not covered; fewer entries than the
    checkpoint's size is a truncation.
    """
    checkpoint = verify_checkpoint(note, key)
    seen = 0

    def covered() -> Iterator[bytes]:
        nonlocal seen
        for data in entries:
            if seen == checkpoint.size:
                return
            _event_object(data, f"entry {seen}")
            seen += 1
            yield leaf_hash(data)

    _, root = root_from_leaf_hashes(covered())
    if seen < checkpoint.size:
        raise VerificationError(
            f"log has {seen} entries but the checkpoint covers {checkpoint.size} (truncated)"
        )
    if root != checkpoint.root_hash:
        raise VerificationError(
            f"the log's first {checkpoint.size} entries do not hash to the checkpoint root"
            " (an entry was changed, removed, added or reordered)"
        )
    return checkpoint


def verify_event_inclusion(
    event: bytes, index: int, proof: Sequence[bytes], note: str, key: VerifierKey | str
) -> Checkpoint:
    """Check that ``event`` is entry ``index`` of the log the checkpoint commits to."""
    checkpoint = verify_checkpoint(note, key)
    verify_inclusion(index, checkpoint.size, leaf_hash(event), proof, checkpoint.root_hash)
    return checkpoint


def verify_checkpoint_consistency(
    old_note: str, new_note: str, proof: Sequence[bytes], key: VerifierKey | str
) -> tuple[Checkpoint, Checkpoint]:
    """Check that the newer checkpoint's tree extends the older one's (no rollback, no fork)."""
    old = verify_checkpoint(old_note, key)
    new = verify_checkpoint(new_note, key)
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    return old, new


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """What a verified proof bundle established."""

    index: int
    checkpoint: Checkpoint
    event: dict[str, JSONValue]
    #: True when a file was given and its SHA-256 matched the stored event's.
    file_matches: bool


def make_proof_bundle(
    event: bytes, index: int, proof: Sequence[bytes], note: str, verifier_key: str
) -> dict[str, JSONValue]:
    """The JSON proof bundle of one event (bytes as base64: the leaf must stay byte-exact)."""
    return {
        "format": BUNDLE_FORMAT,
        "event": base64.b64encode(event).decode("ascii"),
        "leaf_index": index,
        "inclusion_proof": [base64.b64encode(item).decode("ascii") for item in proof],
        "checkpoint": note,
        "verifier_key": verifier_key,
    }


def _field(bundle: Mapping[str, object], name: str) -> object:
    value = bundle.get(name)
    if value is None or isinstance(value, bool):
        raise VerificationError(f"proof bundle field {name!r} is missing or malformed")
    return value


def _text_field(bundle: Mapping[str, object], name: str) -> str:
    value = _field(bundle, name)
    if not isinstance(value, str):
        raise VerificationError(f"proof bundle field {name!r} must be a string")
    return value


def decode_b64(text: object, where: str = "proof bundle") -> bytes:
    """Canonical base64 text from a JSON document (``where`` names it in errors).

    ``b64decode`` ignores the unused low bits of the last character; without the
    round-trip check a one-bit change of a bundle could decode to the same bytes.
    """
    if not isinstance(text, str):
        raise VerificationError(f"{where} holds a non-string where base64 belongs")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise VerificationError(f"{where} holds invalid base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise VerificationError(f"{where} holds non-canonical base64")
    return data


def verify_proof_bundle(
    bundle: Mapping[str, object] | str | bytes,
    file_bytes: bytes | None = None,
    *,
    trusted_key: VerifierKey | str | None = None,
    file_sha256: str | None = None,
) -> VerifiedEvent:
    """Verify a proof bundle and, if ``file_bytes`` is given, the file against it.

    ``file_sha256`` (hex) may stand for ``file_bytes`` when the caller hashed
    a large file itself, in chunks.

    A bundle carries its log's verifier key for convenience, but a key that
    travels with the proof proves nothing by itself: pass ``trusted_key`` (the
    key obtained out of band, e.g. from the partner agreement) to pin it.
    """
    if isinstance(bundle, str | bytes):
        try:
            bundle = json.loads(bundle)
        except json.JSONDecodeError as exc:
            raise VerificationError("proof bundle is not JSON") from exc
    if not isinstance(bundle, Mapping) or bundle.get("format") != BUNDLE_FORMAT:
        raise VerificationError(f"not a {BUNDLE_FORMAT} proof bundle")
    key = VerifierKey.parse(_text_field(bundle, "verifier_key"))
    if trusted_key is not None:
        pinned = VerifierKey.parse(trusted_key) if isinstance(trusted_key, str) else trusted_key
        if pinned != key:
            raise VerificationError("proof bundle is signed by a key other than the trusted one")
    event = decode_b64(_text_field(bundle, "event"))
    index, proof_items = _field(bundle, "leaf_index"), _field(bundle, "inclusion_proof")
    if not isinstance(index, int) or not isinstance(proof_items, list):
        raise VerificationError("proof bundle leaf_index or inclusion_proof is malformed")
    proof = [decode_b64(item) for item in proof_items]
    note = _text_field(bundle, "checkpoint")
    checkpoint = verify_event_inclusion(event, index, proof, note, key)
    parsed = _event_object(event, "bundled event")
    file_matches = False
    if file_bytes is not None:
        file_sha256 = hashlib.sha256(file_bytes).hexdigest()
    if file_sha256 is not None:
        details = parsed.get("details")
        if parsed.get("type") != _STORED or not isinstance(details, dict):
            raise VerificationError("bundled event is not an instance_stored event")
        if details.get(_CONTENT_HASH) != file_sha256:
            raise VerificationError("file's SHA-256 differs from the archived content hash")
        file_matches = True
    return VerifiedEvent(index, checkpoint, parsed, file_matches)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify a proof bundle (and a file); exit status 0 only if all holds."""
    parser = argparse.ArgumentParser(
        prog="python -m dicomvault.ledger.verify", description=main.__doc__
    )
    parser.add_argument("bundle", type=Path, help="proof bundle JSON file")
    parser.add_argument("--file", type=Path, help="the image file the bundle is about")
    parser.add_argument("--key", help="trusted verifier key of the log (name+id+key)")
    args = parser.parse_args(argv)
    file_bytes = args.file.read_bytes() if args.file else None
    try:
        result = verify_proof_bundle(args.bundle.read_bytes(), file_bytes, trusted_key=args.key)
    except VerificationError as exc:
        print(f"FAILED: {exc}")
        return 1
    what = "event and file verified" if result.file_matches else "event verified"
    print(f"OK: {what}: entry {result.index} of {result.checkpoint.origin}"
          f" (tree size {result.checkpoint.size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
