"""pynetdicom's reactors, woken by what they wait for instead of napping 1 ms.

Each association runs two pynetdicom threads that poll: the DUL thread
(socket in, PDUs out) and the association thread (DIMSE messages in) each
sleep 1 ms whenever a loop iteration found nothing to do. A C-STORE request
thus waits up to a millisecond before the DUL reads it, up to another before
the association thread serves it, and its response up to a third before it
leaves: on a quiet machine that was half of a bare pynetdicom SCP's time per
0.5 MB instance (362 instances/s against 683 with 0.1 ms naps, `storescu`
over one association). Shorter naps would burn CPU on every idle
association; instead, on our SCP's associations, each nap becomes a wait for
the very thing the thread is polling for, bounded by the same nap:

* the DUL thread waits (``select``) until its socket is readable or a
  primitive is queued for it to send (a byte on a private socket pair);
* the association thread waits (an Event) until a DIMSE message or an
  A-RELEASE/A-ABORT indication is queued for it.

The associations our C-MOVE opens to its destinations get bells too, once
accepted (a sub-operation's request and response each waited up to a nap:
C-MOVE of 100 instances to dcmtk's ``storescp`` 192 -> 225 instances/s).
Nothing waits longer than pynetdicom's own nap, so its timers (ARTIM,
network timeout) and state checks run as often as before; a thread we did
not register (pynetdicom used as an SCU in tests, the storage commitment
report's association) sleeps exactly as before. The hook is the
``time`` name of pynetdicom's ``dul`` and ``association`` modules, replaced
by :class:`_Naps` (every other attribute is the real module's); pynetdicom
is held to 3.x in ``pyproject.toml`` and ``tests/dimse/test_reactor.py`` fails if
its reactors stop calling ``time.sleep`` the way this relies on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import threading
import time
import weakref
from typing import Any

import pynetdicom.association
import pynetdicom.dul
from pynetdicom.association import Association
from pynetdicom.events import Event

log = logging.getLogger(__name__)


class _WakingQueue(queue.Queue[Any]):
    """A queue that rings its consumer's bell after every put."""

    def __init__(self, ring: Any) -> None:
        super().__init__()
        self._ring = ring

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._ring()


class _DulBell:
    """Wakes the DUL thread: a byte on a private socket pair it selects on
    together with the association's socket."""

    def __init__(self, dul: pynetdicom.dul.DULServiceProvider) -> None:
        self._dul = weakref.ref(dul)  # the DUL's lifetime ends the pair's (finalizer below)
        self._receiver, self._sender = socket.socketpair()
        self._receiver.setblocking(False)
        self._sender.setblocking(False)
        weakref.finalize(dul, self._receiver.close)
        weakref.finalize(dul, self._sender.close)

    def ring(self) -> None:
        with contextlib.suppress(OSError):  # full (already ringing) or closed
            self._sender.send(b"\0")

    def nap(self, seconds: float) -> None:
        transport = getattr(self._dul(), "socket", None)
        peer = getattr(transport, "socket", None)
        if peer is None:
            time.sleep(seconds)
            return
        if isinstance(peer, ssl.SSLSocket) and peer.pending():
            return  # decrypted bytes already buffered: select would not see them
        try:
            select.select([peer, self._receiver], [], [], seconds)
            self._receiver.recv(4096)
        except BlockingIOError:  # woken by the peer, not the bell
            pass
        except (OSError, ValueError):  # a socket closed under us: nap as pynetdicom would
            time.sleep(seconds)


class _AssociationBell:
    """Wakes the association thread when a message or an indication is queued."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        self._event.set()

    def nap(self, seconds: float) -> None:
        self._event.wait(seconds)
        self._event.clear()


class _Naps:
    """Stands in for ``time`` inside pynetdicom's reactor modules: ``sleep`` on a
    registered reactor thread is that thread's bell's nap."""

    def __init__(self) -> None:
        self._bells: weakref.WeakKeyDictionary[threading.Thread, Any] = (
            weakref.WeakKeyDictionary())

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        bell = self._bells.get(threading.current_thread())
        if bell is None:
            time.sleep(seconds)
        else:
            bell.nap(seconds)

    def register(self, thread: threading.Thread, bell: Any) -> None:
        self._bells[thread] = bell


def _installed_naps() -> _Naps | None:
    """The one :class:`_Naps` of this process, put in place on first use (None if
    pynetdicom's modules no longer nap through ``time``: then they nap as they like)."""
    current = getattr(pynetdicom.dul, "time", None)
    if isinstance(current, _Naps):
        return current
    if current is not time or getattr(pynetdicom.association, "time", None) is not time:
        log.warning("pynetdicom's reactors cannot be hooked: they keep polling every 1 ms")
        return None
    naps = _Naps()
    setattr(pynetdicom.dul, "time", naps)  # noqa: B010 (a module attribute, on purpose)
    setattr(pynetdicom.association, "time", naps)  # noqa: B010
    return naps


def on_connection_open(event: Event) -> None:
    """``EVT_CONN_OPEN`` of the SCP: an acceptor's reactors get their bells before its
    threads start."""
    wake_on_events(event.assoc)


def on_accepted(event: Event) -> None:
    """``EVT_ACCEPTED`` of an association we request to a C-MOVE destination: between
    the peer's A-ASSOCIATE-AC and our first request nothing is in flight, so its queues
    can be replaced."""
    wake_on_events(event.assoc)


def wake_on_events(assoc: Association) -> None:
    """Give an association's two reactors bells, at a moment when none of the queues
    replaced here holds anything (see the two callers)."""
    queues = (assoc.dul.to_provider_queue, assoc.dul.to_user_queue, assoc.dimse.msg_queue)
    if any(isinstance(q, _WakingQueue) or q.qsize() for q in queues):
        log.debug("association already has bells, or traffic in flight: left as it is")
        return
    naps = _installed_naps()
    if naps is None:
        return
    dul_bell = _DulBell(assoc.dul)
    assoc_bell = _AssociationBell()
    assoc.dul.to_provider_queue = _WakingQueue(dul_bell.ring)
    assoc.dul.to_user_queue = _WakingQueue(assoc_bell.ring)
    assoc.dimse.msg_queue = _WakingQueue(assoc_bell.ring)
    naps.register(assoc.dul, dul_bell)
    naps.register(assoc, assoc_bell)
