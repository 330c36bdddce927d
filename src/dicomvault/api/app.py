"""The ``/api`` mount: the route list of every resource family of the admin API."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from dicomvault.api import audit, auth, keys, ledger, operations, shares, system, tokens, users


def routes() -> list[BaseRoute]:
    return [
        Mount("/api", routes=[
            *system.routes(),
            *auth.routes(),
            *users.routes(),
            *tokens.routes(),
            *keys.routes(),
            *ledger.routes(),
            *audit.routes(),
            *shares.routes(),
            *operations.routes(),
        ]),
    ]
