"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint, tlog-cosignature)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dicomvault.ledger.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    VerifierKey,
    add_cosignature,
    key_id,
    parse_checkpoint_body,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
)
from dicomvault.ledger.merkle import VerificationError

# golang.org/x/mod/sumdb/note reference example (the note package documentation).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (b"If you think cryptography is the answer to your problem,\n"
           b"then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT.decode() + (
    "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n")
ORIGIN = "example.org/log"
ROOT = hashlib.sha256(b"root").digest()


def go_signer() -> NoteSigner:
    material = base64.b64decode(GO_SIGNER.split("+", 4)[4])  # base64 may hold "+"
    assert material[0] == 1
    return NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(material[1:]))


def test_go_reference_note_is_reproduced_byte_for_byte_and_verifies() -> None:
    signer = go_signer()
    assert signer.verifier_key().encode() == GO_VERIFIER
    assert sign_note(GO_TEXT, signer) == GO_NOTE
    assert verify_note(GO_NOTE, GO_VERIFIER) == GO_TEXT


def test_verifier_key_id_is_the_c2sp_key_hash() -> None:
    key = VerifierKey.parse(GO_VERIFIER)
    assert key.key_id == hashlib.sha256(b"PeterNeumann\n\x01" + key.public_key).digest()[:4]
    assert key.key_id == key_id("PeterNeumann", key.public_key) == bytes.fromhex("c74f20a3")
    with pytest.raises(VerificationError, match="ID"):
        VerifierKey.parse(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(VerificationError):
        VerifierKey.parse("PeterNeumann+c74f20a3")
    # transparency-dev/formats test key whose base64 contains a '+'.
    plus = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    assert VerifierKey.parse(plus).encode() == plus


def test_checkpoint_note_has_the_tlog_checkpoint_layout() -> None:
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), signer)
    lines = note.split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith(f"\u2014 {ORIGIN} ") and lines[5] == ""
    blob = base64.b64decode(lines[4].split(" ")[2])
    assert blob[:4] == signer.verifier_key().key_id and len(blob) == 68
    assert verify_checkpoint(note, signer.verifier_key().encode()) == Checkpoint(ORIGIN, 42, ROOT)


def test_tampered_or_foreign_checkpoints_are_refused() -> None:
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    key = signer.verifier_key()
    note = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), signer)
    with pytest.raises(VerificationError, match="not signed"):
        verify_checkpoint(note.replace("\n42\n", "\n43\n"), key)
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="not signed"):
        verify_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), other), key)
    impostor = NoteSigner("other.org/log", signer.private_key)
    with pytest.raises(VerificationError, match="origin"):
        verify_checkpoint(sign_checkpoint(Checkpoint("other.org/log", 42, ROOT), impostor), key)
    with pytest.raises(VerificationError, match="signature"):
        verify_checkpoint(note.split("\n\n")[0] + "\n", key)


@pytest.mark.parametrize("body", [
    b"origin\n01\n" + base64.b64encode(ROOT) + b"\n",
    b"origin\n-1\n" + base64.b64encode(ROOT) + b"\n",
    b"origin\n1\n" + base64.b64encode(ROOT[:31]) + b"\n",
    b"origin\n1\n" + base64.b64encode(ROOT) + b"\nextension\n",
    b"\n1\n" + base64.b64encode(ROOT) + b"\n",
])
def test_malformed_checkpoint_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(VerificationError):
        parse_checkpoint_body(body)


def test_cosignature_v1_verifies_and_binds_the_timestamp() -> None:
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witness = NoteSigner("witness.example.net/w1", Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), log)
    cosigned = add_cosignature(note, witness, 1_700_000_000)
    witness_key = witness.verifier_key(ALG_COSIGNATURE_V1)
    assert base64.b64decode(witness_key.encode().split("+", 2)[2])[0] == 0x04
    verify_checkpoint(cosigned, log.verifier_key(), cosigners=(witness_key.encode(),))

    line = cosigned.rstrip("\n").split("\n")[-1]
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4] == witness_key.key_id
    assert int.from_bytes(blob[4:12], "big") == 1_700_000_000
    message = b"cosignature/v1\ntime 1700000000\n" + Checkpoint(ORIGIN, 7, ROOT).body()
    witness.private_key.public_key().verify(blob[12:], message)

    forged = bytearray(blob)
    forged[11] ^= 1  # claim another time
    forged_note = cosigned.replace(line.split(" ")[2], base64.b64encode(bytes(forged)).decode())
    with pytest.raises(VerificationError, match="cosigned"):
        verify_checkpoint(forged_note, log.verifier_key(), cosigners=(witness_key,))
    with pytest.raises(VerificationError, match="cosigned"):
        verify_checkpoint(note, log.verifier_key(), cosigners=(witness_key,))
