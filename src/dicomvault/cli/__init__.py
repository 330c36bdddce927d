"""The ``dicomvault`` command line: a thin door onto the Archive service.

Each command group lives in its own module and registers itself on :data:`app`.
Every command that works on data accepts ``--data-dir`` (or
``DICOMVAULT_DATA_DIR``) and works whether or not a server runs on that
directory: SQLite in WAL mode and the shared keyring allow both at once.
"""

from __future__ import annotations

from dicomvault.cli import (  # noqa: F401  (each module registers its commands)
    audit,
    backup,
    chain,
    compress,
    config_cmd,
    data,
    deid,
    keys,
    ledger,
    serve,
    sharing,
    stats,
    tokens,
    users,
)
from dicomvault.cli.common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
