"""The background job that bounds how long an unflushed access record stays unflushed.

Searches and retrieves record their ledger events with ``flush=False``
(:func:`dicomvault.index.database.write_transaction`); this job flushes the
database log every second so that a power loss can lose at most about a
second of access records.
"""

from __future__ import annotations

import sqlalchemy as sa

from dicomvault.daemon import Daemon
from dicomvault.index.database import flush_log

FLUSH_INTERVAL_SECONDS = 1.0


class LogFlusher(Daemon):
    """Flushes the index database's log at a fixed interval."""

    name = "log-flush"

    def __init__(self, engine: sa.Engine, interval_seconds: float = FLUSH_INTERVAL_SECONDS) -> None:
        super().__init__(interval_seconds)
        self._engine = engine

    def run_once(self) -> None:
        flush_log(self._engine)
