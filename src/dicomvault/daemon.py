"""Background jobs of a node: one base for scrub, replication, compression, checkpoints.

Like OpenStack Swift's ``Daemon`` (auditor, replicator, expirer): each job
implements :meth:`Daemon.run_once`, one complete pass that a CLI command can
also run by hand (``dicomvault scrub`` is ``ScrubDaemon.run_once``), and
:class:`DaemonRunner` repeats every job at its interval in a thread of the
server process until the server stops. A pass that fails is logged and
retried at the next interval; it never takes the server down.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Sequence
from typing import ClassVar

log = logging.getLogger(__name__)


class Daemon(abc.ABC):
    """A job repeated in the background; subclasses set :attr:`name` and write ``run_once``."""

    #: Short name used in logs and thread names (``scrub``, ``checkpoint``...).
    name: ClassVar[str]

    def __init__(self, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("a daemon's interval must be positive")
        self.interval_seconds = interval_seconds

    @abc.abstractmethod
    def run_once(self) -> None:
        """Do one complete pass. Must be safe to interrupt and to run again (resumable)."""

    def run_forever(self, stop: threading.Event) -> None:
        """Run a pass, wait the interval, repeat until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("background job %s failed; retrying in %.0f s",
                              self.name, self.interval_seconds)
            stop.wait(self.interval_seconds)


class DaemonRunner:
    """Runs daemons in threads beside the server and stops them with it."""

    def __init__(self, daemons: Sequence[Daemon]) -> None:
        self._daemons = list(daemons)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for daemon in self._daemons:
            thread = threading.Thread(target=daemon.run_forever, args=(self._stop,),
                                      name=f"dicomvault-{daemon.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def __enter__(self) -> DaemonRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
