"""Authentication: passwords -> sessions, and bearer tokens -> principals.

* ``login``: argon2id password check; on success a short-lived access token
  (:mod:`~dicomvault.access.jwt_tokens`) and an opaque refresh token
  (``dvr_<id>_<secret>``, stored hashed, single use: each refresh revokes it and
  issues a new pair; logout revokes it).
* Lock-out: ``login_max_failures`` consecutive failures lock the account for
  ``login_lockout_seconds`` (persisted, so every process sees it); and each
  client address may fail at most ``login_rate_limit`` times a minute (this
  process). Both answer 429 (:class:`~dicomvault.errors.TooManyAttemptsError`).
  Every failure is a ``login_failed`` ledger event; success ``login_succeeded``.
* ``authenticate``: a bearer token is an API token (``dvt_...``), this node's
  access token, or the configured OIDC issuer's token; anything else is 401.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dicomvault.access.jwt_tokens import AccessTokens
from dicomvault.access.oidc import OidcValidator
from dicomvault.access.opaque import digest, matches, new_opaque, parse_opaque
from dicomvault.access.principal import Principal, PrincipalKind
from dicomvault.access.roles import Permission
from dicomvault.access.schema import api_tokens, refresh_tokens, users
from dicomvault.access.users import Account, UserStore, _account, _aware
from dicomvault.errors import AuthenticationError, TooManyAttemptsError
from dicomvault.index.database import write_transaction
from dicomvault.ledger import EventType

API_TOKEN_PREFIX = "dvt"  # noqa: S105 (a prefix, not a secret)
REFRESH_PREFIX = "dvr"
_WINDOW_S = 60.0
#: An API token and its account in one round trip (outer join: a token whose account is
#: gone is still found, and refused as such). Built once: every request runs it.
_API_TOKEN_AND_ACCOUNT = (
    sa.select(api_tokens.c.id, api_tokens.c.secret_sha256, api_tokens.c.permissions,
              api_tokens.c.expires_at, api_tokens.c.revoked_at, *users.c)
    .select_from(api_tokens.outerjoin(users, users.c.name == api_tokens.c.user_name))
    .where(api_tokens.c.id == sa.bindparam("token_id"))
)

#: (actor, client address, event type, details) -> records a ledger event.
Recorder = Callable[[str, str, EventType, dict[str, str | int | bool]], None]


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    account: Account


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures: int
    lockout: timedelta
    per_client_per_minute: int
    refresh_lifetime: timedelta


class _ClientLimiter:
    """Failed attempts per client address in the last minute (this process only)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and now - times[0] > _WINDOW_S:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self._limit

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]


class Authenticator:
    """See the module docstring."""

    def __init__(self, engine: sa.Engine, users_store: UserStore, tokens: AccessTokens, *,
                 oidc: OidcValidator | None, limits: LoginLimits, record: Recorder) -> None:
        self.engine = engine
        self.users = users_store
        self.tokens = tokens
        self.oidc = oidc
        self.limits = limits
        self._record = record
        self._clients = _ClientLimiter(limits.per_client_per_minute)

    # -- passwords -> sessions -------------------------------------------------

    def login(self, username: str, password: str, client: str) -> Session:
        if self._clients.blocked(client):
            self._record(username, client, EventType.LOGIN_FAILED, {"reason": "rate_limited"})
            raise TooManyAttemptsError("too many failed logins from this address; wait a minute")
        now = datetime.now(UTC)
        account = self.users.find(username)
        if account is None:
            self.users.verify_unknown(password)
            return self._fail(username, client, "bad_credentials")
        if account.locked_until is not None and account.locked_until > now:
            self._record(username, client, EventType.LOGIN_FAILED, {"reason": "locked_out"})
            raise TooManyAttemptsError("this account is locked after repeated failed logins")
        if account.disabled or account.kind is not PrincipalKind.USER or \
                not self.users.verify_password(account, password):
            with write_transaction(self.engine) as conn:
                failures = account.failed_logins + 1
                locked = now + self.limits.lockout if failures >= self.limits.max_failures \
                    else None
                conn.execute(users.update().where(users.c.name == username).values(
                    failed_logins=failures, locked_until=locked))
            return self._fail(username, client, "bad_credentials")
        with write_transaction(self.engine) as conn:
            conn.execute(users.update().where(users.c.name == username).values(
                failed_logins=0, locked_until=None))
            self.users.rehash_if_needed(conn, account, password)
            session = self._new_session(conn, account)
        self._record(username, client, EventType.LOGIN_SUCCEEDED, {"method": "password"})
        return session

    def _fail(self, username: str, client: str, reason: str) -> Session:
        self._clients.failed(client)
        self._record(username, client, EventType.LOGIN_FAILED, {"reason": reason})
        raise AuthenticationError("unknown user name or wrong password")

    def _new_session(self, conn: sa.Connection, account: Account) -> Session:
        refresh = new_opaque(REFRESH_PREFIX)
        now = datetime.now(UTC)
        conn.execute(refresh_tokens.insert().values(
            id=refresh.id, user_name=account.name, secret_sha256=digest(refresh.secret),
            created_at=now, expires_at=now + self.limits.refresh_lifetime, revoked_at=None))
        issued = self.tokens.issue(account.name)
        return Session(issued.token, refresh.text, issued.expires_in, account)

    def refresh(self, refresh_token: str, client: str) -> Session:
        """A new session for a valid refresh token, which is revoked (single use)."""
        parsed = parse_opaque(refresh_token, REFRESH_PREFIX)
        if parsed is None:
            raise AuthenticationError("the refresh token is not valid")
        now = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(refresh_tokens).where(
                refresh_tokens.c.id == parsed.id).with_for_update()).first()
            expires = _aware(row.expires_at) if row is not None else None
            if row is None or not matches(parsed.secret, row.secret_sha256) or \
                    row.revoked_at is not None or expires is None or expires <= now:
                raise AuthenticationError("the refresh token is not valid")
            conn.execute(refresh_tokens.update().where(refresh_tokens.c.id == parsed.id)
                         .values(revoked_at=now))
            account = self.users.get(conn, row.user_name)
            if account is None or account.disabled:
                raise AuthenticationError("the refresh token is not valid")
            session = self._new_session(conn, account)
        self._record(account.name, client, EventType.LOGIN_SUCCEEDED, {"method": "refresh"})
        return session

    def logout(self, refresh_token: str) -> None:
        parsed = parse_opaque(refresh_token, REFRESH_PREFIX)
        if parsed is None:
            raise AuthenticationError("the refresh token is not valid")
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(refresh_tokens).where(
                refresh_tokens.c.id == parsed.id)).first()
            if row is None or not matches(parsed.secret, row.secret_sha256):
                raise AuthenticationError("the refresh token is not valid")
            conn.execute(refresh_tokens.update().where(refresh_tokens.c.id == parsed.id)
                         .values(revoked_at=datetime.now(UTC)))

    # -- bearer tokens -> principals ------------------------------------------------

    def authenticate(self, bearer: str) -> Principal:
        """The principal of a bearer token; AuthenticationError (401) otherwise."""
        if bearer.startswith(API_TOKEN_PREFIX + "_"):
            return self._api_token_principal(bearer)
        if self.oidc is not None and not self.tokens.is_ours(bearer) and \
                self.oidc.is_ours(bearer):
            return self.oidc.principal(bearer)
        name = self.tokens.subject(bearer)
        account = self.users.find(name)
        if account is None or account.disabled:
            raise AuthenticationError("the account of this token is no longer active")
        return account.principal()

    def _api_token_principal(self, bearer: str) -> Principal:
        parsed = parse_opaque(bearer, API_TOKEN_PREFIX)
        if parsed is None:
            raise AuthenticationError("the API token is not valid")
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            row = conn.execute(_API_TOKEN_AND_ACCOUNT, {"token_id": parsed.id}).first()
        if row is None or not matches(parsed.secret, row.secret_sha256):
            raise AuthenticationError("the API token is not valid")
        expires = _aware(row.expires_at)
        if row.revoked_at is not None:
            raise AuthenticationError("the API token was revoked")
        if expires is not None and expires <= now:
            raise AuthenticationError("the API token has expired")
        account = None if row.name is None else _account(row)
        if account is None or account.disabled:
            raise AuthenticationError("the account of this token is no longer active")
        restrict = frozenset(Permission(p) for p in row.permissions.split(",") if p) \
            if row.permissions else None
        principal = account.principal()
        return Principal(name=principal.name, kind=principal.kind, roles=principal.roles,
                         scope=principal.scope, restrict_to=restrict, token_id=row.id)
