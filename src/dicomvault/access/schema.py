"""Index tables of access control: users, API tokens, refresh tokens, break-the-glass log.

Declared on the index's shared metadata (Alembic revision ``0003_security``).
No secret is stored in the clear: passwords as argon2id hashes, API and refresh
tokens as SHA-256 of their 256-bit random secret (a slow hash adds nothing to
a secret that cannot be guessed, and every request checks one).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, Text

from dicomvault.index.schema import metadata

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("roles", String(255), nullable=False),
    Column("scope", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("permissions", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# The reason a clinician gave is free text and may name a patient, so it stays here
# (readable by auditors) and only its SHA-256 enters the published ledger.
break_glass_log = Table(
    "break_glass_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(128), nullable=False),
    Column("door", String(16), nullable=False),
    Column("client", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("study_subject", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
