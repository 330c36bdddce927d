"""The ``/api`` mount: the route list of every resource family of the admin API."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from dicomvault.api import audit, ledger, system


def routes() -> list[BaseRoute]:
    return [
        Mount("/api", routes=[
            *system.routes(),
            *ledger.routes(),
            *audit.routes(),
        ]),
    ]
