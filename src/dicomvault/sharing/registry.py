"""The grantor's agreements in the index database: create, read, revoke, count uses.

Every write here happens in the caller's transaction, beside the ledger event
that records it (the Archive service's rule: the change and its event commit
together or not at all). The per-agreement pseudonym key is 32 random bytes
wrapped by a key of its own in the key provider (``keys/``), so it is never
stored in clear and can be shredded like a study key.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dicomvault.errors import AgreementEndedError, NotFoundError
from dicomvault.keys import KeyProvider, new_data_key
from dicomvault.ledger.canonical import canonical_json
from dicomvault.sharing.agreement import ShareAgreement, ShareScope
from dicomvault.sharing.schema import share_agreements, share_nonces, share_uid_map
from dicomvault.sharing.signing import WINDOW_SECONDS


class ShareStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"


#: What a partner is told when an agreement has ended (no PHI, one line).
END_MESSAGES = {
    ShareStatus.REVOKED: "the share agreement was revoked by the grantor",
    ShareStatus.EXPIRED: "the share agreement has expired",
    ShareStatus.EXHAUSTED: "the share agreement's maximum number of retrievals is reached",
}


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One granted agreement as the grantor holds it."""

    agreement: ShareAgreement
    document: bytes
    signature: bytes
    scope: ShareScope
    scope_salt: bytes
    retrievals_used: int
    revoked_at: datetime | None
    revoke_reason: str | None
    key_ref: str
    wrapped_key: bytes

    def status(self, now: datetime | None = None) -> ShareStatus:
        if self.revoked_at is not None:
            return ShareStatus.REVOKED
        if (now or datetime.now(UTC)) >= self.agreement.expires_at:
            return ShareStatus.EXPIRED
        if self.retrievals_used >= self.agreement.max_retrievals:
            return ShareStatus.EXHAUSTED
        return ShareStatus.ACTIVE

    def ended_error(self, status: ShareStatus) -> AgreementEndedError:
        return AgreementEndedError(END_MESSAGES[status], status.value)

    def describe(self, *, private: bool = False) -> dict[str, object]:
        """The agreement as the admin API and CLI show it (``private``: with the scope)."""
        body: dict[str, object] = {
            **self.agreement.to_dict(), "status": self.status().value,
            "retrievals_used": self.retrievals_used,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "agreement_sha256": self.agreement.sha256(),
        }
        if private:
            body["scope_private"] = self.scope.to_dict()
            body["scope_salt"] = self.scope_salt.hex()
        return body


def _record(row: sa.Row[tuple[object, ...]]) -> ShareRecord:
    document = bytes(row.document)
    return ShareRecord(
        agreement=ShareAgreement.from_canonical(document), document=document,
        signature=bytes(row.signature),
        scope=ShareScope.from_dict(json.loads(row.scope)), scope_salt=bytes(row.scope_salt),
        retrievals_used=int(row.retrievals_used), revoked_at=_aware(row.revoked_at),
        revoke_reason=row.revoke_reason, key_ref=str(row.key_ref),
        wrapped_key=bytes(row.wrapped_key))


def insert_agreement(conn: sa.Connection, agreement: ShareAgreement, *, signature: bytes,
                     scope: ShareScope, salt: bytes, keys: KeyProvider) -> None:
    """Store a new agreement with a fresh pseudonym key (wrapped under its own KEK)."""
    wrapped = keys.wrap(keys.create_key(), new_data_key())
    conn.execute(share_agreements.insert().values(
        share_id=agreement.share_id, document=agreement.canonical(), signature=signature,
        agreement_sha256=agreement.sha256(), grantee=agreement.grantee,
        scope=canonical_json(scope.to_dict()).decode("utf-8"), scope_salt=salt,
        expires_at=agreement.expires_at, max_retrievals=agreement.max_retrievals,
        retrievals_used=0, created_at=datetime.now(UTC), key_ref=wrapped.kek_id,
        wrapped_key=wrapped.wrapped))


def get_agreement(conn: sa.Connection, share_id: str) -> ShareRecord:
    row = conn.execute(sa.select(share_agreements)
                       .where(share_agreements.c.share_id == share_id)).first()
    if row is None:
        raise NotFoundError("no such share agreement")
    return _record(row)


def list_agreements(conn: sa.Connection, grantee: str | None = None) -> list[ShareRecord]:
    query = sa.select(share_agreements).order_by(share_agreements.c.created_at.desc())
    if grantee:
        query = query.where(share_agreements.c.grantee == grantee)
    return [_record(row) for row in conn.execute(query)]


def mark_revoked(conn: sa.Connection, share_id: str, reason: str) -> bool:
    """Revoke; ``False`` if it already was (revoking twice records nothing new)."""
    done = conn.execute(share_agreements.update()
                        .where(share_agreements.c.share_id == share_id,
                               share_agreements.c.revoked_at.is_(None))
                        .values(revoked_at=datetime.now(UTC), revoke_reason=reason[:500]))
    return done.rowcount == 1


def consume_retrieval(conn: sa.Connection, record: ShareRecord) -> None:
    """Count one released instance, atomically against concurrent requests and revocation.

    The conditional UPDATE is the one place the limit is enforced: two partner
    requests racing for the last retrieval cannot both pass.
    """
    status = record.status()
    if status is not ShareStatus.ACTIVE:
        raise record.ended_error(status)
    table = share_agreements
    done = conn.execute(table.update()
                        .where(table.c.share_id == record.agreement.share_id,
                               table.c.revoked_at.is_(None),
                               table.c.retrievals_used < table.c.max_retrievals)
                        .values(retrievals_used=table.c.retrievals_used + 1))
    if done.rowcount != 1:
        fresh = get_agreement(conn, record.agreement.share_id)
        raise fresh.ended_error(fresh.status())


def remember_nonce(conn: sa.Connection, institution: str, nonce: str) -> bool:
    """Remember a request nonce; ``False`` if it was seen already (a replay)."""
    now = datetime.now(UTC)
    conn.execute(share_nonces.delete().where(
        share_nonces.c.seen_at < now - timedelta(seconds=2 * WINDOW_SECONDS)))
    seen = conn.execute(sa.select(share_nonces.c.nonce).where(
        share_nonces.c.institution == institution, share_nonces.c.nonce == nonce)).first()
    if seen is not None:
        return False
    conn.execute(share_nonces.insert().values(institution=institution, nonce=nonce,
                                              seen_at=now))
    return True


def remember_uids(conn: sa.Connection, share_id: str,
                  pairs: set[tuple[str, str, str]]) -> None:
    """Record (level, original, remapped) pairs released under ``share_id`` (idempotent)."""
    if not pairs:
        return
    remapped = [p[2] for p in pairs]
    known = set(conn.execute(sa.select(share_uid_map.c.remapped_uid).where(
        share_uid_map.c.share_id == share_id,
        share_uid_map.c.remapped_uid.in_(remapped))).scalars())
    fresh = [{"share_id": share_id, "level": level, "original_uid": original,
              "remapped_uid": new} for level, original, new in sorted(pairs) if new not in known]
    if fresh:
        conn.execute(share_uid_map.insert(), fresh)


def original_uid(conn: sa.Connection, share_id: str, level: str, remapped: str) -> str:
    """The archive's UID behind a remapped one; NotFoundError for anything not released
    under this agreement (a guessed UID, or another agreement's), so existence never leaks."""
    found = conn.execute(sa.select(share_uid_map.c.original_uid).where(
        share_uid_map.c.share_id == share_id, share_uid_map.c.level == level,
        share_uid_map.c.remapped_uid == remapped)).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no such {level} under this share agreement")
    return str(found)
