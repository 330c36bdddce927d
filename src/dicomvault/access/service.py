"""Access administration and authentication as one service the doors call.

The Archive holds it as ``archive.access``. Administration (accounts, API
tokens) is checked against the same :class:`~dicomvault.access.AccessPolicy`
as every image operation (``manage_users``); login, refresh and logout are
open (they are how one gets a principal), everything they do is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dicomvault.access.authn import API_TOKEN_PREFIX, Authenticator, LoginLimits, Session
from dicomvault.access.context import RequestContext
from dicomvault.access.jwt_tokens import AccessTokens
from dicomvault.access.oidc import OidcValidator
from dicomvault.access.opaque import digest, new_opaque
from dicomvault.access.policy import AccessPolicy
from dicomvault.access.principal import Principal, PrincipalKind
from dicomvault.access.roles import Permission, Role
from dicomvault.access.schema import api_tokens
from dicomvault.access.users import Account, UserStore, _aware
from dicomvault.errors import InvalidInputError, NotFoundError
from dicomvault.index.database import write_transaction
from dicomvault.index.scope import StudyScope

INITIAL_ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiTokenInfo:
    id: str
    user: str
    label: str
    permissions: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "label": self.label,
                "permissions": self.permissions, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "revoked": self.revoked}


def _info(row: Any) -> ApiTokenInfo:
    created = _aware(row.created_at)
    assert created is not None
    return ApiTokenInfo(
        id=row.id, user=row.user_name, label=row.label,
        permissions=row.permissions.split(",") if row.permissions else None,
        created_at=created, expires_at=_aware(row.expires_at),
        revoked=row.revoked_at is not None)


class AccessService:
    """See the module docstring."""

    def __init__(self, engine: sa.Engine, policy: AccessPolicy, tokens: AccessTokens, *,
                 oidc: OidcValidator | None, limits: LoginLimits,
                 record: Callable[[str, str, Any, dict[str, str | int | bool]], None]) -> None:
        self.engine = engine
        self.policy = policy
        self.users = UserStore(engine)
        self.authenticator = Authenticator(engine, self.users, tokens, oidc=oidc, limits=limits,
                                           record=record)

    # -- authentication (open doors) ---------------------------------------------

    def login(self, username: str, password: str, client: str) -> Session:
        return self.authenticator.login(username, password, client)

    def refresh(self, refresh_token: str, client: str) -> Session:
        return self.authenticator.refresh(refresh_token, client)

    def logout(self, refresh_token: str) -> None:
        self.authenticator.logout(refresh_token)

    def authenticate(self, bearer: str) -> Principal:
        return self.authenticator.authenticate(bearer)

    def issue_access_token(self, name: str) -> str:
        """An access token for an existing account, without a password (tests, local tools)."""
        if self.users.find(name) is None:
            raise NotFoundError("no such account")
        return self.authenticator.tokens.issue(name).token

    @staticmethod
    def describe(principal: Principal) -> dict[str, Any]:
        """``GET /api/auth/me``: who the caller is, and what it may do where."""
        return {"name": principal.name, "kind": principal.kind.value,
                "roles": sorted(r.value for r in principal.roles),
                "permissions": sorted(p.value for p in principal.permissions),
                "scope": principal.scope.to_dict()}

    # -- accounts ---------------------------------------------------------------------

    def ensure_initial_admin(self) -> str | None:
        """Create ``admin`` with a generated password if no account exists; return it once."""
        with write_transaction(self.engine) as conn:
            if self.users.count(conn):
                return None
            password = secrets.token_urlsafe(18)
            self.users.create(conn, INITIAL_ADMIN, kind=PrincipalKind.USER,
                              roles=frozenset({Role.ADMIN}), scope=StudyScope(),
                              password=password)
        return password

    def create_user(self, ctx: RequestContext, name: str, *, roles: frozenset[Role],
                    scope: StudyScope, password: str | None,
                    kind: PrincipalKind = PrincipalKind.USER) -> Account:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        if kind not in (PrincipalKind.USER, PrincipalKind.SERVICE):
            raise InvalidInputError("accounts are users or service accounts")
        if kind is PrincipalKind.SERVICE and password is not None:
            raise InvalidInputError("service accounts have no password: give them API tokens")
        with write_transaction(self.engine) as conn:
            return self.users.create(conn, name, kind=kind, roles=roles, scope=scope,
                                     password=password)

    def list_users(self, ctx: RequestContext) -> list[Account]:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        return self.users.list()

    def update_user(self, ctx: RequestContext, name: str, **changes: Any) -> Account:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        with write_transaction(self.engine) as conn:
            return self.users.update(conn, name, **changes)

    def delete_user(self, ctx: RequestContext, name: str) -> None:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        with write_transaction(self.engine) as conn:
            self.users.delete(conn, name)

    # -- API tokens ---------------------------------------------------------------------

    def create_token(self, ctx: RequestContext, user: str, *, label: str = "",
                     permissions: Iterable[Permission] | None = None,
                     expires_at: datetime | None = None) -> tuple[ApiTokenInfo, str]:
        """A new API token for ``user``: its description and its text (shown once)."""
        self.policy.require(ctx, Permission.MANAGE_USERS)
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise InvalidInputError("the expiry of a token must be in the future")
        wanted = sorted({p.value for p in permissions}) if permissions is not None else None
        token = new_opaque(API_TOKEN_PREFIX)
        with write_transaction(self.engine) as conn:
            if self.users.get(conn, user) is None:
                raise NotFoundError("no such account")
            conn.execute(api_tokens.insert().values(
                id=token.id, user_name=user, secret_sha256=digest(token.secret),
                label=label[:128], permissions=",".join(wanted) if wanted else None,
                created_at=datetime.now(UTC), expires_at=expires_at, revoked_at=None))
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token.id)).one()
        return _info(row), token.text

    def list_tokens(self, ctx: RequestContext, user: str | None = None) -> list[ApiTokenInfo]:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        statement = sa.select(api_tokens).order_by(api_tokens.c.created_at)
        if user is not None:
            statement = statement.where(api_tokens.c.user_name == user)
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(statement)]

    def revoke_token(self, ctx: RequestContext, token_id: str) -> None:
        self.policy.require(ctx, Permission.MANAGE_USERS)
        with write_transaction(self.engine) as conn:
            result = conn.execute(api_tokens.update().where(
                api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)
            ).values(revoked_at=datetime.now(UTC)))
            if result.rowcount == 0:
                raise NotFoundError("no such active API token")
