"""The grantee's side: accept an agreement, search and retrieve under it, record everything.

The grantee keeps its own account of every agreement in its own ledger, so
that both institutions can later show what happened without trusting each
other: ``shared`` (role grantee) when it fetches and verifies the signed
agreement (same ``agreement_sha256`` as the grantor's event), ``share_used``
for each search and each instance received (with ``released_sha256``, the
SHA-256 of the bytes received, which the grantor records as it sends them),
and ``share_revoked`` / ``share_used`` with ``outcome: refused`` when the
grantor answers that the agreement is revoked, expired or used up.

Received instances are imported into this node's archive like any store
(de-identified already: they carry the remapped UIDs and pseudonyms).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dicomvault.access import Permission, RequestContext
from dicomvault.archive import Archive
from dicomvault.errors import (
    AgreementEndedError,
    AuthenticationError,
    DicomVaultError,
    InvalidInputError,
    NotFoundError,
)
from dicomvault.index import write_transaction
from dicomvault.ledger import EventType
from dicomvault.sharing.agreement import ShareAgreement, check_share_id
from dicomvault.sharing.client import FederationClient
from dicomvault.sharing.grants import event_details, grant_details
from dicomvault.sharing.institution import InstitutionKey
from dicomvault.sharing.partners import Partner, find_partner
from dicomvault.sharing.schema import shares_received

_STUDY_UID, _SERIES_UID, _SOP_UID = "0020000D", "0020000E", "00080018"


def _uid(result: dict[str, Any], tag: str) -> str:
    try:
        return str(result[tag]["Value"][0])
    except (KeyError, IndexError, TypeError) as exc:
        raise InvalidInputError(f"a search result of the grantor lacks {tag}") from exc


@dataclass
class RetrieveReport:
    """What a ``partner retrieve`` did: instances imported, and why it stopped early."""

    share_id: str
    imported: list[str] = field(default_factory=list)  # remapped SOP Instance UIDs
    ended: str | None = None  # revoked | expired | exhausted, when the grantor refused
    reason: str | None = None


class ShareReceiver:
    """Agreements granted to this node (see the module docstring)."""

    def __init__(self, archive: Archive, key: InstitutionKey) -> None:
        self.archive = archive
        self.key = key

    # -- the agreement ----------------------------------------------------------------

    def accept(self, ctx: RequestContext, grantor: str, share_id: str) -> ShareAgreement:
        """Fetch the agreement from the grantor, check it is signed by the grantor and
        names this node, record it (once) with its ``shared`` event."""
        self.archive.policy.require(ctx, Permission.STORE)
        check_share_id(share_id)
        with self.archive.engine.connect() as conn:
            partner = find_partner(conn, grantor)
        client = self._client(partner, share_id)
        document, signature, _ = client.agreement()
        if not partner.identity.verify(signature, document):
            raise AuthenticationError("the agreement is not signed by the grantor's key")
        agreement = ShareAgreement.from_canonical(document)
        if (agreement.share_id != share_id or agreement.grantee != self.key.institution_id
                or agreement.grantor != partner.institution_id):
            raise InvalidInputError("the agreement does not grant this share to this node")
        with write_transaction(self.archive.engine) as conn:
            known = conn.execute(sa.select(shares_received.c.share_id).where(
                shares_received.c.share_id == share_id)).first()
            if known is None:
                conn.execute(shares_received.insert().values(
                    share_id=share_id, grantor=partner.institution_id, document=document,
                    signature=signature, agreement_sha256=agreement.sha256(),
                    received_at=datetime.now(UTC)))
                self.archive.audit.record(conn, ctx, EventType.SHARED,
                                          details=grant_details(agreement, "grantee"))
        return agreement

    def received(self, share_id: str) -> tuple[ShareAgreement, Partner]:
        with self.archive.engine.connect() as conn:
            row = conn.execute(sa.select(shares_received).where(
                shares_received.c.share_id == share_id)).first()
            if row is None:
                raise NotFoundError("no such agreement received (run 'dicomvault partner "
                                    "accept' first)")
            return (ShareAgreement.from_canonical(bytes(row.document)),
                    find_partner(conn, str(row.grantor)))

    def list_received(self, ctx: RequestContext) -> list[dict[str, object]]:
        """Agreements granted to this node, with how they ended (as the grantor said)."""
        self.archive.policy.require(ctx, Permission.SEARCH)
        with self.archive.engine.connect() as conn:
            rows = conn.execute(sa.select(shares_received)
                                .order_by(shares_received.c.received_at)).all()
        return [{**ShareAgreement.from_canonical(bytes(row.document)).to_dict(),
                 "agreement_sha256": row.agreement_sha256,
                 "ended": row.ended_reason} for row in rows]

    def _client(self, partner: Partner, share_id: str) -> FederationClient:
        if not partner.url:
            raise InvalidInputError("the partner has no federation URL registered")
        return FederationClient(self.key, partner.identity, partner.url, share_id)

    # -- using it ---------------------------------------------------------------------

    def _record(self, ctx: RequestContext, agreement: ShareAgreement, kind: EventType,
                **details: str | int | bool) -> None:
        self.archive.record_event(ctx, kind, details={**event_details(agreement, "grantee"),
                                                      **details})

    def _refused(self, ctx: RequestContext, agreement: ShareAgreement, operation: str,
                 error: DicomVaultError) -> None:
        """Write the grantor's refusal into this node's ledger (and remember an end)."""
        if isinstance(error, AgreementEndedError):
            with write_transaction(self.archive.engine) as conn:
                conn.execute(shares_received.update().where(
                    shares_received.c.share_id == agreement.share_id,
                    shares_received.c.ended_at.is_(None)).values(
                    ended_at=datetime.now(UTC), ended_reason=error.reason[:32]))
            if error.reason == "revoked":
                self._record(ctx, agreement, EventType.SHARE_REVOKED)
                return
        reason = error.reason if isinstance(error, AgreementEndedError) else (
            "not-found" if isinstance(error, NotFoundError) else type(error).__name__)
        self._record(ctx, agreement, EventType.SHARE_USED, operation=operation,
                     outcome="refused", reason=reason)

    def search(self, ctx: RequestContext, share_id: str, study: str | None = None,
               level: str = "studies") -> list[dict[str, Any]]:
        self.archive.policy.require(ctx, Permission.SEARCH)
        agreement, partner = self.received(share_id)
        try:
            results = self._client(partner, share_id).search(study, level=level)
        except (AgreementEndedError, NotFoundError) as exc:
            self._refused(ctx, agreement, "search", exc)
            raise
        self._record(ctx, agreement, EventType.SHARE_USED, operation="search",
                     outcome="received", matches=len(results))
        return results

    def retrieve_instance(self, ctx: RequestContext, share_id: str, study: str, series: str,
                          sop: str) -> str:
        """Fetch one instance (remapped UIDs) and import it; returns its SHA-256."""
        self.archive.policy.require(ctx, Permission.STORE)
        agreement, partner = self.received(share_id)
        try:
            data = self._client(partner, share_id).retrieve(study, series, sop)
        except (AgreementEndedError, NotFoundError) as exc:
            self._refused(ctx, agreement, "retrieve", exc)
            raise
        self.archive.store_bytes(data, ctx)
        digest = hashlib.sha256(data).hexdigest()
        self._record(ctx, agreement, EventType.SHARE_USED, operation="retrieve",
                     outcome="received", released_sha256=digest)
        return digest

    def retrieve(self, ctx: RequestContext, share_id: str, *,
                 on_instance: Callable[[str], None] | None = None) -> RetrieveReport:
        """Everything the agreement shows, instance by instance, until it is all here or
        the grantor says the agreement has ended (then the report says why)."""
        report = RetrieveReport(share_id)
        try:
            for study in self.search(ctx, share_id):
                study_uid = _uid(study, _STUDY_UID)
                for instance in self.search(ctx, share_id, study_uid, level="instances"):
                    sop = _uid(instance, _SOP_UID)
                    self.retrieve_instance(ctx, share_id, study_uid,
                                           _uid(instance, _SERIES_UID), sop)
                    report.imported.append(sop)
                    if on_instance is not None:
                        on_instance(sop)
        except AgreementEndedError as exc:
            report.ended, report.reason = exc.reason, exc.message
        return report
