"""The ledger as a service for doors: each call in a transaction of its own.

:class:`~dicomvault.ledger.Ledger` works inside a caller's transaction (so
that an archive operation and its event commit together). Doors (the admin
API, the CLI) and background jobs need whole operations instead: sign a
checkpoint, prove an entry, find the proof of an image, verify the log,
witness a partner. This class is that surface; doors never hold a database
connection themselves.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.access import RequestContext
from dicomvault.errors import DicomVaultError, InvalidInputError, NotFoundError
from dicomvault.index.database import write_transaction
from dicomvault.ledger import witness as witnessing
from dicomvault.ledger.canonical import JSONValue
from dicomvault.ledger.checkpoint import Checkpoint, VerifierKey, verify_checkpoint
from dicomvault.ledger.events import CONTENT_HASH, EventType
from dicomvault.ledger.identifiers import SOP
from dicomvault.ledger.log import Ledger, LedgerEntry
from dicomvault.ledger.merkle import VerificationError
from dicomvault.ledger.remote import PartnerLog
from dicomvault.ledger.schema import ledger_checkpoints, ledger_cursors, ledger_partners
from dicomvault.ledger.verify import (
    verify_checkpoint_consistency,
    verify_event_inclusion,
    verify_log,
)

#: Most entries one call returns.
MAX_ENTRIES = 1000


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step and its outcome, as ``ledger verify`` prints it."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What witnessing a partner found (``cosigned_note`` only when accepted)."""

    url: str
    accepted: bool
    checkpoint: Checkpoint | None
    previous_size: int | None
    reason: str = ""
    cosigned_note: str | None = None
    pinned_key: str = ""


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """What ``ledger verify`` checks beyond the whole log against the latest checkpoint."""

    trusted_key: str | None = None
    older_checkpoints: Sequence[str] = ()
    entries: Sequence[int] = field(default_factory=tuple)


class LedgerService:
    """Whole ledger operations over ``engine`` (see the module docstring)."""

    def __init__(self, engine: sa.Engine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    # -- checkpoints and keys ------------------------------------------------------

    def public_keys(self) -> dict[str, str]:
        """The log's verifier key (for verifiers) and its witness key (for partners)."""
        return {
            "origin": self.ledger.origin,
            "log_key": self.ledger.verifier_key.encode(),
            "witness_key": self.ledger.witness_verifier_key.encode(),
        }

    def checkpoint(self) -> str:
        """Sign a checkpoint of the committed tree now (on demand)."""
        with write_transaction(self.engine) as conn:
            return self.ledger.sign_checkpoint(conn)

    def checkpoint_if_grown(self) -> str | None:
        """Sign a checkpoint unless the latest one already covers the whole tree."""
        with write_transaction(self.engine) as conn:
            latest = self.ledger.latest_checkpoint(conn)
            size = self.ledger.tree_size(conn)
            if latest is not None and self._own(latest).size >= size:
                return None
            return self.ledger.sign_checkpoint(conn)

    def latest_checkpoint(self) -> str:
        with self.engine.connect() as conn:
            note = self.ledger.latest_checkpoint(conn)
        if note is None:
            raise NotFoundError("no checkpoint has been signed yet")
        return note

    def stored_checkpoints(self) -> list[str]:
        """Every checkpoint this node signed, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(ledger_checkpoints.c.note)
                                     .order_by(ledger_checkpoints.c.id)).scalars())

    def _own(self, note: str) -> Checkpoint:
        return verify_checkpoint(note, self.ledger.verifier_key)

    # -- entries and proofs -----------------------------------------------------------

    def tree_size(self) -> int:
        with self.engine.connect() as conn:
            return self.ledger.tree_size(conn)

    def entries(self, start: int, limit: int) -> list[LedgerEntry]:
        if start < 0 or not 1 <= limit <= MAX_ENTRIES:
            raise InvalidInputError(f"start must be >= 0 and limit 1..{MAX_ENTRIES}")
        with self.engine.connect() as conn:
            return self.ledger.entries(conn, start, start + limit)

    def entry(self, index: int) -> LedgerEntry:
        found = self.entries(index, 1) if index >= 0 else []
        if not found:
            raise NotFoundError(f"entry {index} is not in the ledger")
        return found[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        """(tree size, audit path) of entry ``index`` (RFC 9162 2.1.3.1)."""
        with self.engine.connect() as conn:
            size = self.ledger.tree_size(conn) if size is None else size
            return size, self.ledger.inclusion_proof(conn, index, size)

    def consistency_proof(self, first: int, second: int | None = None
                          ) -> tuple[int, list[bytes]]:
        """(second size, proof) that tree ``first`` is a prefix of tree ``second``."""
        with self.engine.connect() as conn:
            second = self.ledger.tree_size(conn) if second is None else second
            return second, self.ledger.consistency_proof(conn, first, second)

    def proof_bundle(self, index: int) -> dict[str, JSONValue]:
        """The offline proof bundle of entry ``index`` (signing a covering checkpoint if needed)."""
        with write_transaction(self.engine) as conn:
            return self.ledger.export_proof_bundle(conn, index)

    def stored_event_for(self, sop_subject: str, content_sha256: str) -> int:
        """The entry recording that the instance ``sop_subject`` was stored with these bytes."""
        with self.engine.connect() as conn:
            found = [entry.index for entry in self.ledger.find_events(conn, sop_subject)
                     if entry.event.type is EventType.INSTANCE_STORED
                     and entry.event.details.get(CONTENT_HASH) == content_sha256]
        if not found:
            raise NotFoundError("no instance_stored event of this instance has this content "
                                "hash: the file is not byte-identical to what was archived")
        return found[-1]

    def proof_bundle_for_file(self, sop_instance_uid: str, data_sha256: str
                              ) -> dict[str, JSONValue]:
        """The proof bundle that a file (SOP UID, SHA-256) is exactly what was archived."""
        subject = self.ledger.identifiers.subject(SOP, sop_instance_uid)
        return self.proof_bundle(self.stored_event_for(subject, data_sha256))

    # -- consumers of the log ---------------------------------------------------------

    def cursor(self, name: str) -> int:
        """Where the consumer ``name`` (e.g. the syslog forwarder) resumes: an entry index."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(ledger_cursors.c.next_index)
                                 .where(ledger_cursors.c.name == name)).scalar_one_or_none()
        return 0 if value is None else int(value)

    def advance_cursor(self, name: str, next_index: int) -> None:
        """Record that consumer ``name`` has handled every entry before ``next_index``."""
        with write_transaction(self.engine) as conn:
            conn.execute(sa.delete(ledger_cursors).where(ledger_cursors.c.name == name))
            conn.execute(sa.insert(ledger_cursors).values(name=name, next_index=next_index))

    # -- verification -------------------------------------------------------------------

    def verify(self, request: VerifyRequest) -> list[Check]:
        """Every check of ``ledger verify`` (see docs/ledger.md), in order; never raises on
        a failed check, so the operator sees all of them."""
        key: VerifierKey | str = request.trusted_key or self.ledger.verifier_key
        checks: list[Check] = []
        with self.engine.connect() as conn:
            latest = self.ledger.latest_checkpoint(conn)
            if latest is None:
                return [Check("latest checkpoint", False, "no checkpoint signed yet: run "
                              "'dicomvault ledger checkpoint' first")]
            checks.append(_attempt("latest checkpoint signature",
                                   lambda: _describe(verify_checkpoint(latest, key))))
            entries = (entry.data for entry in self.ledger.stream_entries(conn))
            checks.append(_attempt("log against latest checkpoint",
                                   lambda: "entries hash to the signed root: "
                                   + _describe(verify_log(entries, latest, key))))
            checks.append(_attempt("stored tree and indexes", lambda: (
                f"{self.ledger.check_integrity(conn)} entries re-hashed and cross-checked")))
            for name, notes in (("stored checkpoint", self.stored_checkpoints()),
                                ("older checkpoint", list(request.older_checkpoints))):
                checks.extend(_attempt(f"{name} consistent with latest",
                                       functools.partial(self._consistent, conn, note, latest, key))
                              for note in notes)
            checks.extend(_attempt(f"entry {index} included in latest checkpoint",
                                   functools.partial(self._included, conn, index, latest, key))
                          for index in request.entries)
        return checks

    def _consistent(self, conn: sa.Connection, old: str, new: str, key: VerifierKey | str
                    ) -> str:
        old_size, new_size = (verify_checkpoint(note, key).size for note in (old, new))
        proof = (self.ledger.consistency_proof(conn, old_size, new_size)
                 if old_size <= new_size else [])
        first, second = verify_checkpoint_consistency(old, new, proof, key)
        return f"tree {first.size} is a prefix of tree {second.size}"

    def _included(self, conn: sa.Connection, index: int, note: str, key: VerifierKey | str
                  ) -> str:
        size = verify_checkpoint(note, key).size
        found = self.ledger.entries(conn, index, index + 1)
        if not found:
            raise VerificationError(f"entry {index} is not in the ledger")
        proof = self.ledger.inclusion_proof(conn, index, size)
        verify_event_inclusion(found[0].data, index, proof, note, key)
        return f"{found[0].event.type.value} event, audit path of {len(proof)} hashes"

    # -- witnessing ------------------------------------------------------------------------

    def witness(self, url: str, ctx: RequestContext, *, key: str | None = None,
                audit_entries: bool = False, token: str | None = None) -> WitnessOutcome:
        """Fetch the partner's checkpoint at ``url``, check it, cosign it or raise the alarm.

        The partner's verifier key is ``key`` if given (and pinned), else the
        key pinned at first contact, else fetched and pinned now (trust on
        first use). With ``audit_entries`` every entry the checkpoint covers is
        downloaded and hashed, as a monitor does: that also catches entries
        edited in place, which leave the partner's tree hashes untouched; reading
        the entries needs ``token``, a bearer token of an account on the partner
        with the read_audit permission.
        """
        partner = PartnerLog(url, token)
        note = partner.checkpoint()
        pinned = self._pinned_key(url, key, partner)
        who = {"actor": ctx.actor, "door": ctx.door.value, "client": ctx.client_address}
        try:
            checkpoint = verify_checkpoint(note, pinned)
        except VerificationError as exc:
            reason = f"checkpoint not signed by the partner's pinned key: {exc}"
            with write_transaction(self.engine) as conn:
                self.ledger.record_witness_alarm(conn, VerifierKey.parse(pinned).name, note,
                                                 reason, **who)
            return WitnessOutcome(url, False, None, None, reason, pinned_key=pinned)
        with self.engine.connect() as conn:
            previous = witnessing.latest_accepted(conn, checkpoint.origin)
        proof: list[bytes] = []
        if previous is not None and 0 < previous.size < checkpoint.size:
            proof = partner.consistency_proof(previous.size, checkpoint.size)
        audit_failure = None
        if audit_entries:
            try:
                verify_log(partner.entries(checkpoint.size), note, pinned)
            except VerificationError as exc:
                audit_failure = f"partner's entries do not match its checkpoint: {exc}"
        with write_transaction(self.engine) as conn:
            result = self.ledger.witness(conn, note, pinned, proof, audit_failure=audit_failure,
                                         **who)
        return WitnessOutcome(url, result.accepted, result.checkpoint, result.previous_size,
                              result.reason, result.cosigned_note, pinned)

    def _pinned_key(self, url: str, given: str | None, partner: PartnerLog) -> str:
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(ledger_partners.c.verifier_key)
                               .where(ledger_partners.c.url == url)).scalar_one_or_none()
            if given is None and row is not None:
                return str(row)
            text = given if given is not None else partner.verifier_key()
            try:
                origin = VerifierKey.parse(text).name
            except VerificationError as exc:
                raise InvalidInputError(f"partner verifier key refused: {exc}") from exc
            conn.execute(sa.delete(ledger_partners).where(ledger_partners.c.url == url))
            conn.execute(sa.insert(ledger_partners).values(
                url=url, origin=origin, verifier_key=text, pinned_at=datetime.now(UTC)))
            return text


def _describe(checkpoint: Checkpoint) -> str:
    when = ("" if checkpoint.timestamp is None else
            f", signed {datetime.fromtimestamp(checkpoint.timestamp, UTC):%Y-%m-%d %H:%M:%SZ}")
    return (f"{checkpoint.origin}, tree size {checkpoint.size}, root "
            f"{checkpoint.root_hash.hex()[:16]}...{when}")


def _attempt(name: str, action: Callable[[], str]) -> Check:
    try:
        return Check(name, True, action())
    except (VerificationError, DicomVaultError, ValueError) as exc:
        return Check(name, False, str(exc))


def sha256_of_file(chunks: Iterator[bytes]) -> str:
    """SHA-256 hex of a file read in chunks (``ledger prove`` never holds it whole)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
