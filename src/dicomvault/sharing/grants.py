"""Granting and revoking agreements (the admin's side), each with its ledger event.

Who may: the ``share`` permission (admins and clinicians, docs/security.md),
checked by the one access policy. Every grant and revocation commits with
its ``shared`` / ``share_revoked`` event, whose ``agreement_sha256`` is the
SHA-256 of the agreement's canonical JSON: what the partner records on its
side and what the consortium chain anchors.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dicomvault.access import Permission, RequestContext
from dicomvault.archive import Archive
from dicomvault.deid import DeidProfile
from dicomvault.errors import InvalidInputError
from dicomvault.index import write_transaction
from dicomvault.ledger import EventType
from dicomvault.sharing import registry
from dicomvault.sharing.agreement import (
    ShareAgreement,
    ShareScope,
    new_share_id,
    parse_doors,
    rfc3339,
)
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.registry import ShareRecord
from dicomvault.sharing.scope import validate_scope


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """What an admin asks for (``grantee`` already resolved to a public key)."""

    grantee: PublicIdentity
    scope: ShareScope
    purpose: str
    expires: datetime
    max_retrievals: int
    deid_profile: Sequence[str]
    allow_burned_in: bool = False
    doors: Sequence[str] = ("qido", "wado")


def check_profile(names: Sequence[str], allow_burned_in: bool) -> None:
    """Refuse profile option names the de-identifier does not know, before granting."""
    DeidProfile.from_names(list(names), allow_burned_in=allow_burned_in)  # DeidentificationError


def event_details(record: ShareRecord | ShareAgreement, role: str) -> dict[str, str | int | bool]:
    """The ledger details both sides write for every event of an agreement."""
    agreement = record.agreement if isinstance(record, ShareRecord) else record
    return {"share_id": agreement.share_id, "grantee": agreement.grantee,
            "grantor": agreement.grantor, "role": role,
            "agreement_sha256": agreement.sha256()}


def grant_details(agreement: ShareAgreement, role: str) -> dict[str, str | int | bool]:
    """The details of a ``shared`` event (no PHI: the purpose, free text an admin typed,
    is hashed; the scope appears only as its kind)."""
    return {**event_details(agreement, role), "expires": agreement.expires,
            "purpose_sha256": hashlib.sha256(agreement.purpose.encode("utf-8")).hexdigest(),
            "max_retrievals": agreement.max_retrievals,
            "scope_kind": agreement.scope_kind.value}


class ShareGrants:
    """Create, list, show and revoke the agreements this node grants."""

    def __init__(self, archive: Archive, key: InstitutionKey) -> None:
        self.archive = archive
        self.key = key

    def federation_url(self) -> str:
        settings = self.archive.settings
        return (settings.public_base_url or f"http://{settings.host}:{settings.http_port}"
                ).rstrip("/")

    def create(self, ctx: RequestContext, request: GrantRequest) -> ShareRecord:
        self.archive.policy.require(ctx, Permission.SHARE)
        if request.grantee.institution_id == self.key.institution_id:
            raise InvalidInputError("an institution does not share with itself")
        validate_scope(request.scope)
        check_profile(request.deid_profile, request.allow_burned_in)
        now = datetime.now(UTC)
        if request.expires <= now:
            raise InvalidInputError("the expiry must be in the future")
        salt = secrets.token_bytes(32)
        me = self.key.identity
        agreement = ShareAgreement(
            share_id=new_share_id(), grantor=me.institution_id, grantor_key=me.text,
            grantor_url=self.federation_url(), grantee=request.grantee.institution_id,
            grantee_key=request.grantee.text, scope_kind=request.scope.kind,
            scope_commitment=request.scope.commitment(salt), purpose=request.purpose.strip(),
            created=rfc3339(now), expires=rfc3339(request.expires),
            max_retrievals=request.max_retrievals,
            deid_profile=tuple(request.deid_profile), allow_burned_in=request.allow_burned_in,
            doors=parse_doors(request.doors))
        signature = self.key.sign(agreement.canonical())
        with write_transaction(self.archive.engine) as conn:
            registry.insert_agreement(conn, agreement, signature=signature,
                                      scope=request.scope, salt=salt, keys=self.archive.keys)
            self.archive.audit.record(conn, ctx, EventType.SHARED,
                                      details=grant_details(agreement, "grantor"))
            return registry.get_agreement(conn, agreement.share_id)

    def list(self, ctx: RequestContext, grantee: str | None = None) -> list[ShareRecord]:
        self.archive.policy.require(ctx, Permission.SHARE)
        with self.archive.engine.connect() as conn:
            return registry.list_agreements(conn, grantee)

    def show(self, ctx: RequestContext, share_id: str) -> ShareRecord:
        self.archive.policy.require(ctx, Permission.SHARE)
        with self.archive.engine.connect() as conn:
            return registry.get_agreement(conn, share_id)

    def revoke(self, ctx: RequestContext, share_id: str, reason: str = "") -> ShareRecord:
        """Revoke at once: the partner's next request (even mid-transfer) is refused.

        The reason stays in this node's database (it is free text); the ledger
        event carries only identifiers and hashes.
        """
        self.archive.policy.require(ctx, Permission.SHARE)
        with write_transaction(self.archive.engine) as conn:
            record = registry.get_agreement(conn, share_id)
            if registry.mark_revoked(conn, share_id, reason):
                self.archive.audit.record(conn, ctx, EventType.SHARE_REVOKED,
                                          details=event_details(record, "grantor"))
            return registry.get_agreement(conn, share_id)


def pseudonym_key(archive: Archive, record: ShareRecord) -> bytes:
    """The agreement's pseudonym key, unwrapped by the key provider for this request."""
    return archive.keys.unwrap(record.key_ref, record.wrapped_key)
