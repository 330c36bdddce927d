"""Institutions this node knows: their public key, federation URL and ledger verifier key.

Registered by an admin (``dicomvault institution add-partner``) from what the
partner handed over out of band (``dicomvault institution show`` on its
side). The grantor uses it to name a grantee; the grantee to pin the
grantor's key and URL; both to witness each other's ledger checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dicomvault.errors import InvalidInputError, NotFoundError
from dicomvault.sharing.institution import PublicIdentity
from dicomvault.sharing.schema import share_partners


@dataclass(frozen=True, slots=True)
class Partner:
    identity: PublicIdentity
    label: str
    url: str | None
    ledger_key: str | None

    @property
    def institution_id(self) -> str:
        return self.identity.institution_id

    def describe(self) -> dict[str, object]:
        return {"institution_id": self.institution_id, "public_key": self.identity.text,
                "label": self.label, "url": self.url, "ledger_key": self.ledger_key}


def _partner(row: sa.Row[tuple[object, ...]]) -> Partner:
    return Partner(PublicIdentity.parse(str(row.public_key)), str(row.label),
                   None if row.url is None else str(row.url),
                   None if row.ledger_key is None else str(row.ledger_key))


def add_partner(conn: sa.Connection, identity: PublicIdentity, label: str, url: str | None,
                ledger_key: str | None) -> Partner:
    """Register (or update) a partner; labels are unique, ids are the key's fingerprint."""
    label = label.strip()
    if not label or len(label) > 128:
        raise InvalidInputError("a partner label is 1-128 characters")
    clash = conn.execute(sa.select(share_partners.c.institution_id).where(
        share_partners.c.label == label,
        share_partners.c.institution_id != identity.institution_id)).first()
    if clash is not None:
        raise InvalidInputError(f"another partner is already called {label!r}")
    conn.execute(share_partners.delete().where(
        share_partners.c.institution_id == identity.institution_id))
    conn.execute(share_partners.insert().values(
        institution_id=identity.institution_id, public_key=identity.text, label=label,
        url=url.rstrip("/") if url else None, ledger_key=ledger_key,
        added_at=datetime.now(UTC)))
    return find_partner(conn, identity.institution_id)


def find_partner(conn: sa.Connection, name: str) -> Partner:
    """A partner by label, institution id, or public key."""
    table = share_partners
    row = conn.execute(sa.select(table).where(sa.or_(
        table.c.label == name, table.c.institution_id == name,
        table.c.public_key == name))).first()
    if row is None:
        raise NotFoundError("no partner institution by that label, id or key "
                            "(register it with 'dicomvault institution add-partner')")
    return _partner(row)


def list_partners(conn: sa.Connection) -> list[Partner]:
    rows = conn.execute(sa.select(share_partners).order_by(share_partners.c.label))
    return [_partner(row) for row in rows]
