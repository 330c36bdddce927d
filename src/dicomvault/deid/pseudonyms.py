"""Keyed, consistent replacements: patient pseudonyms, UIDs and per-patient date shifts.

Every replacement is an HMAC-SHA256 under the agreement's pseudonym key, with
a label per kind of value, so that:

* the same patient, UID or date gets the same replacement in every instance,
  every run and every node that holds the key (studies stay studies, a
  Referenced SOP Instance UID still names the remapped instance);
* two agreements (two keys) give unrelated replacements, so partners cannot
  link their data sets by pseudonym or UID;
* without the key nothing can be reversed or guessed from a dictionary of
  names or IDs (unlike a plain hash, PS3.15 E.1.1 note 3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from dicomvault.errors import DeidentificationError

#: Length of a generated pseudonym key (bytes).
KEY_BYTES = 32
#: Shortest key accepted: 128 bits.
MIN_KEY_BYTES = 16
#: Modified dates move back by 1 to this many days (per patient, fixed by the key).
MAX_SHIFT_DAYS = 3652
#: The UID root of the UUID-derived form (PS3.5 B.2: 2.25.<UUID as an integer>).
UUID_ROOT = "2.25"

_UID_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def check_uid_root(root: str) -> str:
    """Refuse a root that cannot prefix a valid UID with room for a hash (<= 40 chars)."""
    if not _UID_ROOT.fullmatch(root) or len(root) > 40:
        raise DeidentificationError(
            "deid UID root must be dotted numeric components without leading zeros, "
            "at most 40 characters (e.g. 2.25 or your organisation's root)")
    return root


class Pseudonymizer:
    """Derives every replacement value from one key and one UID root."""

    def __init__(self, key: bytes, uid_root: str = UUID_ROOT) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise DeidentificationError(
                f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.uid_root = check_uid_root(uid_root)
        self._uids: dict[str, str] = {}

    def _mac(self, label: str, value: str) -> bytes:
        return hmac.new(self._key, f"{label}\x00{value}".encode(), hashlib.sha256).digest()

    def patient(self, identity: str) -> str:
        """The pseudonym of a patient (used as Patient ID and Patient's Name)."""
        digest = self._mac("patient", identity)
        return "DV" + base64.b32encode(digest[:10]).decode("ascii")

    def uid(self, original: str) -> str:
        """The replacement of an instance/series/study/frame-of-reference UID."""
        mapped = self._uids.get(original)
        if mapped is None:
            mapped = self._derive_uid(original)
            self._uids[original] = mapped
        return mapped

    def _derive_uid(self, original: str) -> str:
        digest = self._mac("uid", original)
        if self.uid_root == UUID_ROOT:
            # A version-8 (custom) RFC 9562 UUID made of the MAC, as an integer.
            raw = bytearray(digest[:16])
            raw[6] = (raw[6] & 0x0F) | 0x80
            raw[8] = (raw[8] & 0x3F) | 0x80
            return f"{UUID_ROOT}.{int.from_bytes(raw, 'big')}"
        room = 64 - len(self.uid_root) - 1
        number = str(int.from_bytes(digest, "big"))[:min(room, 39)].lstrip("0") or "1"
        return f"{self.uid_root}.{number}"

    def date_shift_days(self, identity: str) -> int:
        """How many days this patient's dates move back (1..MAX_SHIFT_DAYS)."""
        digest = self._mac("date-shift", identity)
        return 1 + int.from_bytes(digest[:4], "big") % MAX_SHIFT_DAYS


def generate_key() -> bytes:
    """A fresh random pseudonym key."""
    return secrets.token_bytes(KEY_BYTES)


def write_key_file(path: Path, key: bytes | None = None, *, overwrite: bool = False) -> bytes:
    """Create ``path`` (mode 0600) holding a key as one line of hex; returns the key.

    Refuses to replace an existing file unless ``overwrite``: losing a key
    breaks the consistency of every pseudonym made with it.
    """
    key = generate_key() if key is None else key
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise DeidentificationError(
            f"{path} exists; it holds a pseudonym key (use --force to replace it)") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    path.chmod(0o600)
    return key


def read_key_file(path: Path) -> bytes:
    """Read a key written by :func:`write_key_file`."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise DeidentificationError(
            f"pseudonym key file {path} does not exist (create one with "
            "`dicomvault deid-keygen`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeidentificationError(f"cannot read pseudonym key file {path}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise DeidentificationError(f"{path} is not a pseudonym key (hex expected)") from None
    if len(key) < MIN_KEY_BYTES:
        raise DeidentificationError(f"{path}: a pseudonym key needs {MIN_KEY_BYTES}+ bytes")
    return key
