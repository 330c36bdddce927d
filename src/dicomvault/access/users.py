"""User and service accounts in the index database; argon2id password hashes.

Passwords are hashed with argon2id (RFC 9106) through argon2-cffi's
``PasswordHasher`` (its defaults are RFC 9106's second recommended option:
t=3, m=64 MiB, p=4). A hash made with older parameters is upgraded at the next
successful login. Service accounts have no password: they authenticate with
API tokens only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dicomvault.access.principal import Principal, PrincipalKind
from dicomvault.access.roles import Role, parse_roles
from dicomvault.access.schema import api_tokens, refresh_tokens, users
from dicomvault.errors import DuplicateInstanceError, InvalidInputError, NotFoundError
from dicomvault.index.scope import StudyScope

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Built once: every request with an access token looks its account up.
_ACCOUNT_BY_NAME = sa.select(users).where(users.c.name == sa.bindparam("account_name"))
MIN_PASSWORD_CHARS = 12


class DuplicateAccountError(DuplicateInstanceError):
    """An account with this name exists (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    kind: PrincipalKind
    roles: frozenset[Role]
    scope: StudyScope = field(default_factory=StudyScope)
    disabled: bool = False
    locked_until: datetime | None = None
    failed_logins: int = 0
    password_hash: str | None = None

    def principal(self) -> Principal:
        return Principal(name=self.name, kind=self.kind, roles=self.roles, scope=self.scope)

    def public(self) -> dict[str, Any]:
        """What the admin API and ``users list`` show (no hash)."""
        return {"name": self.name, "kind": self.kind.value,
                "roles": sorted(r.value for r in self.roles), "scope": self.scope.to_dict(),
                "disabled": self.disabled,
                "locked_until": self.locked_until.isoformat() if self.locked_until else None}


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInputError("account names are 1-64 letters, digits and . _ @ -")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(f"passwords need at least {MIN_PASSWORD_CHARS} characters")
    return password


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
        return value.replace(tzinfo=UTC)
    return value


def _account(row: Any) -> Account:
    return Account(
        name=row.name, kind=PrincipalKind(row.kind),
        roles=parse_roles(r for r in row.roles.split(",") if r),
        scope=StudyScope.from_dict(json.loads(row.scope)), disabled=bool(row.disabled),
        locked_until=_aware(row.locked_until), failed_logins=row.failed_logins,
        password_hash=row.password_hash)


class UserStore:
    """CRUD of accounts and password checks (no permission checks: see AccessService)."""

    def __init__(self, engine: sa.Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()

    def get(self, conn: sa.Connection, name: str) -> Account | None:
        row = conn.execute(_ACCOUNT_BY_NAME, {"account_name": name}).first()
        return None if row is None else _account(row)

    def find(self, name: str) -> Account | None:
        with self.engine.connect() as conn:
            return self.get(conn, name)

    def count(self, conn: sa.Connection) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def list(self) -> list[Account]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [_account(row) for row in rows]

    def create(self, conn: sa.Connection, name: str, *, kind: PrincipalKind,
               roles: frozenset[Role], scope: StudyScope, password: str | None) -> Account:
        check_name(name)
        if kind is PrincipalKind.USER and password is None:
            raise InvalidInputError("a user account needs a password")
        if self.get(conn, name) is not None:
            raise DuplicateAccountError("an account with this name exists")
        conn.execute(users.insert().values(
            name=name, kind=kind.value,
            password_hash=self.hasher.hash(check_password(password)) if password else None,
            roles=",".join(sorted(r.value for r in roles)), scope=json.dumps(scope.to_dict()),
            disabled=False, failed_logins=0, locked_until=None, created_at=datetime.now(UTC)))
        found = self.get(conn, name)
        assert found is not None
        return found

    def update(self, conn: sa.Connection, name: str, *, roles: frozenset[Role] | None = None,
               scope: StudyScope | None = None, password: str | None = None,
               disabled: bool | None = None) -> Account:
        if self.get(conn, name) is None:
            raise NotFoundError("no such account")
        values: dict[str, Any] = {}
        if roles is not None:
            values["roles"] = ",".join(sorted(r.value for r in roles))
        if scope is not None:
            values["scope"] = json.dumps(scope.to_dict())
        if password is not None:
            values.update(password_hash=self.hasher.hash(check_password(password)),
                          failed_logins=0, locked_until=None)
        if disabled is not None:
            values["disabled"] = disabled
        if values:
            conn.execute(users.update().where(users.c.name == name).values(values))
        if password is not None or disabled:
            # A new password or a disabled account ends every session of the account.
            conn.execute(refresh_tokens.update().where(
                refresh_tokens.c.user_name == name, refresh_tokens.c.revoked_at.is_(None)
            ).values(revoked_at=datetime.now(UTC)))
        found = self.get(conn, name)
        assert found is not None
        return found

    def delete(self, conn: sa.Connection, name: str) -> None:
        if self.get(conn, name) is None:
            raise NotFoundError("no such account")
        conn.execute(api_tokens.delete().where(api_tokens.c.user_name == name))
        conn.execute(refresh_tokens.delete().where(refresh_tokens.c.user_name == name))
        conn.execute(users.delete().where(users.c.name == name))

    def verify_password(self, account: Account, password: str) -> bool:
        """Constant work whether or not the account exists or has a password."""
        stored = account.password_hash
        if stored is None:
            self._burn(password)
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _burn(self, password: str) -> None:
        """Spend the time of a verification, so timing does not reveal which names exist."""
        try:
            self.hasher.verify(self._dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return

    def _dummy_hash(self) -> str:
        cached = getattr(self, "_dummy", None)
        if cached is None:
            cached = self.hasher.hash("not a password of anyone")
            self._dummy = cached
        return cached

    def verify_unknown(self, password: str) -> None:
        self._burn(password)

    def rehash_if_needed(self, conn: sa.Connection, account: Account, password: str) -> None:
        if account.password_hash and self.hasher.check_needs_rehash(account.password_hash):
            conn.execute(users.update().where(users.c.name == account.name).values(
                password_hash=self.hasher.hash(password)))
