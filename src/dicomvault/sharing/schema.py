"""The sharing subsystem's tables, declared on the index's shared :data:`metadata`.

Grantor side:

* ``share_agreements``: each agreement granted, its signed document, its
  private scope (with the salt of the commitment), the use counter, the
  revocation, and the per-agreement pseudonym key wrapped by the key provider;
* ``share_uid_map``: original <-> remapped UIDs released under an agreement,
  so that a partner's request in remapped UIDs is mapped back (and anything
  not released under that agreement is simply not found);
* ``share_nonces``: nonces of signed partner requests seen inside the date
  window (replay protection).

Both sides: ``share_partners`` (institutions this node knows: public key,
federation URL, ledger verifier key for witnessing). Grantee side:
``shares_received`` (agreements granted to this node, as signed by the grantor).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dicomvault.index.schema import metadata

share_agreements = Table(
    "share_agreements",
    metadata,
    Column("share_id", String(32), primary_key=True),
    Column("document", LargeBinary, nullable=False),  # canonical JSON (ShareAgreement)
    Column("signature", LargeBinary, nullable=False),  # grantor's Ed25519 over document
    Column("agreement_sha256", String(64), nullable=False),
    Column("grantee", String(64), nullable=False),
    Column("scope", Text, nullable=False),  # canonical JSON of ShareScope (private)
    Column("scope_salt", LargeBinary, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("max_retrievals", Integer, nullable=False),
    Column("retrievals_used", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoke_reason", String(500), nullable=True),
    Column("key_ref", String(80), nullable=False),  # pseudonym key, wrapped
    Column("wrapped_key", LargeBinary, nullable=False),
)
Index("ix_share_agreements_grantee", share_agreements.c.grantee)

share_uid_map = Table(
    "share_uid_map",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("share_id", String(32), nullable=False),
    Column("level", String(8), nullable=False),  # study | series | sop
    Column("original_uid", String(64), nullable=False),
    Column("remapped_uid", String(64), nullable=False),
    UniqueConstraint("share_id", "remapped_uid", name="uq_share_uid_map_remapped"),
)
Index("ix_share_uid_map_original", share_uid_map.c.share_id, share_uid_map.c.original_uid)

share_nonces = Table(
    "share_nonces",
    metadata,
    Column("institution", String(64), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("institution", "nonce", name="pk_share_nonces"),
)

share_partners = Table(
    "share_partners",
    metadata,
    Column("institution_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("label", String(128), nullable=False),
    Column("url", String(512), nullable=True),
    Column("ledger_key", Text, nullable=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

shares_received = Table(
    "shares_received",
    metadata,
    Column("share_id", String(32), primary_key=True),
    Column("grantor", String(64), nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("agreement_sha256", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("ended_reason", String(32), nullable=True),
)
