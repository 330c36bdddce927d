"""Alembic environment of the index (and, later, ledger) schema.

Normally run through :func:`dicomvault.index.database.upgrade_database`, which
hands over an open connection in ``config.attributes["connection"]``. For
``alembic revision --autogenerate`` by hand, the URL comes from the
``sqlalchemy.url`` option or ``DICOMVAULT_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

import dicomvault.access.schema
import dicomvault.keys.schema  # noqa: F401  (declare their tables on the shared metadata)
from dicomvault.backup import schema as _backup_schema  # noqa: F401  (declares its tables)
from dicomvault.chain import schema as _chain_schema  # noqa: F401  (declares its table)
from dicomvault.index.database import create_engine_for
from dicomvault.index.schema import metadata
from dicomvault.sharing import schema as _sharing_schema  # noqa: F401  (declares its tables)

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DICOMVAULT_DATABASE_URL", ""
    )
    engine = create_engine_for(url)
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


_run_online()
