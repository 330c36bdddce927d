"""Getting credentials in tests: accounts with given roles, bearer headers.

Tokens are issued directly by the node's access service (no password round
trip), for accounts created here; ``admin_headers`` is what most door tests
need now that every endpoint but ``/healthz`` and the login requires a token.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from dicomvault.access import Door, PrincipalKind, Role, Scope, system_context
from dicomvault.access.service import AccessService
from dicomvault.archive import Archive
from dicomvault.ledger import EventType, LedgerEvent
from dicomvault.ledger.schema import ledger_leaves

TEST_PASSWORD = "correct horse battery staple"
_CLI = system_context(Door.CLI, actor="tests")


def access(archive: Archive) -> AccessService:
    assert archive.access is not None
    return archive.access


def ensure_user(archive: Archive, name: str, roles: frozenset[Role] | set[Role], *,
                scope: Scope | None = None, service: bool = False) -> str:
    """Create ``name`` (password :data:`TEST_PASSWORD` unless a service account) if missing."""
    service_access = access(archive)
    if service_access.users.find(name) is None:
        service_access.create_user(
            _CLI, name, roles=frozenset(roles), scope=scope or Scope(),
            password=None if service else TEST_PASSWORD,
            kind=PrincipalKind.SERVICE if service else PrincipalKind.USER)
    return name


def token_for(archive: Archive, name: str, roles: frozenset[Role] | set[Role], *,
              scope: Scope | None = None) -> str:
    """An access token of a user with ``roles`` (created if missing)."""
    ensure_user(archive, name, roles, scope=scope)
    return access(archive).issue_access_token(name)


def admin_token(archive: Archive) -> str:
    return token_for(archive, "test-admin", {Role.ADMIN})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(archive: Archive) -> dict[str, str]:
    return bearer(admin_token(archive))


def ledger_events(archive: Archive, kind: EventType) -> list[LedgerEvent]:
    """Every ledger event of one type, in log order (to check what was audited)."""
    with archive.engine.connect() as conn:
        rows = conn.execute(sa.select(ledger_leaves.c.event)
                            .where(ledger_leaves.c.event_type == kind.value)
                            .order_by(ledger_leaves.c.idx)).scalars()
        return [LedgerEvent.from_json(bytes(row)) for row in rows]


def cli_service_token(data_dir: Path, passphrase: str, name: str = "test-service",
                      role: Role = Role.SERVICE) -> str:
    """An API token for a new service account, made with the real CLI (``users create``,
    ``tokens create``) on the node in ``data_dir``: for tests of a server subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(DICOMVAULT_DATA_DIR=str(data_dir), DICOMVAULT_KEYRING_PASSPHRASE=passphrase)

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env,
                              text=True, capture_output=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("users", "create", name, "--role", role.value, "--service")
    return run("tokens", "create", "--user", name).strip()
