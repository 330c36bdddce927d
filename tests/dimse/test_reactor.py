"""pynetdicom's reactors on our SCP wait on bells, not 1 ms naps (dicomvault.dimse.reactor).

What the hook changes is latency, which benchmarks measure (``bench/dimse.py``);
these tests check what must hold for it to be safe: our acceptors' threads
are the ones hooked and nobody else's, each bell wakes its sleeper, a closed
socket does not turn a nap into a spin, associations leave no descriptor
behind, and pynetdicom still naps the way the hook relies on.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetdicom.association
import pynetdicom.dul
import pytest
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification
from tests.dimse.scu import associated
from tests.dimse.test_query_retrieve import _StorageSCP, move_a_study
from tests.support.dimse import DimseNode

from dicomvault.dimse import reactor

#: Long enough that a bell which did not ring cannot pass for one that did.
LONG_NAP = 60.0


def _acceptors() -> list[Association]:
    return [t for t in threading.enumerate()
            if isinstance(t, Association) and t.is_acceptor and t.is_alive()]


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def napping() -> Iterator[list[threading.Thread]]:
    """Threads a test starts; each must have finished its nap when the test ends."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=LONG_NAP)


def _nap_in_thread(bell: Any, threads: list[threading.Thread]) -> threading.Thread:
    thread = threading.Thread(target=bell.nap, args=(LONG_NAP,), daemon=True)
    thread.start()
    threads.append(thread)
    return thread


def test_our_acceptors_wait_on_bells_and_our_own_scu_does_not(node: DimseNode) -> None:
    with associated(node, [(Verification, ["1.2.840.10008.1.2"])]) as assoc:
        assert assoc.send_c_echo().Status == 0x0000
        naps = pynetdicom.dul.time
        assert isinstance(naps, reactor._Naps)
        assert pynetdicom.association.time is naps
        (acceptor,) = _acceptors()
        assert naps._bells.get(acceptor) is not None
        assert naps._bells.get(acceptor.dul) is not None
        assert isinstance(acceptor.dimse.msg_queue, reactor._WakingQueue)
        # The test's own SCU association (a requestor) naps as pynetdicom wrote it.
        assert naps._bells.get(assoc) is None
        assert naps._bells.get(assoc.dul) is None
        assert assoc.send_c_echo().Status == 0x0000


class _Workstation(_StorageSCP):
    """A C-MOVE destination noting, at each instance, whether the association sending
    it (ours, a requestor, in this same process) waits on bells."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_with_bells: list[bool] = []

    def _store(self, event: Event) -> int:
        naps = pynetdicom.dul.time
        senders = [t for t in threading.enumerate()
                   if isinstance(t, Association) and t.is_requestor and t.is_alive()
                   and t.acceptor.ae_title == "WORKSTATION"]
        self.sent_with_bells.append(bool(senders) and isinstance(naps, reactor._Naps) and all(
            naps._bells.get(t) is not None and naps._bells.get(t.dul) is not None
            for t in senders))
        return super()._store(event)


def test_c_move_sub_associations_wait_on_bells(tmp_path: Path) -> None:
    with _Workstation() as workstation:
        stored, (responses,) = move_a_study(tmp_path, workstation, "WORKSTATION")
    assert int(responses[-1].Status) == 0x0000
    assert set(workstation.received) == {d.SOPInstanceUID for d in stored}
    assert workstation.sent_with_bells == [True] * len(stored)


def test_the_association_bell_wakes_its_sleeper(napping: list[threading.Thread]) -> None:
    bell = reactor._AssociationBell()
    sleeper = _nap_in_thread(bell, napping)
    assert sleeper.is_alive()
    bell.ring()
    sleeper.join(timeout=30)
    assert not sleeper.is_alive(), "the ring did not end the nap"


class _FakeDul:
    """What :class:`reactor._DulBell` reads of a DUL: ``socket.socket``."""

    def __init__(self, peer: socket.socket | None) -> None:
        self.socket = type("Transport", (), {"socket": peer})()


@pytest.mark.parametrize("wake_by", ["peer data", "queued primitive"])
def test_the_dul_bell_wakes_on_its_socket_and_on_its_queue(
        wake_by: str, napping: list[threading.Thread]) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        dul = _FakeDul(ours)
        bell = reactor._DulBell(dul)  # type: ignore[arg-type]
        sleeper = _nap_in_thread(bell, napping)
        if wake_by == "peer data":
            theirs.sendall(b"\x04")
        else:
            reactor._WakingQueue(bell.ring).put("P-DATA")
        sleeper.join(timeout=30)
        assert not sleeper.is_alive(), f"{wake_by} did not end the nap"


def test_a_dul_bell_without_a_usable_socket_naps_instead_of_spinning() -> None:
    closed = socket.socket()
    closed.close()
    for peer in (None, closed):
        bell = reactor._DulBell(_FakeDul(peer))  # type: ignore[arg-type]
        started = time.monotonic()
        bell.nap(0.05)
        assert time.monotonic() - started >= 0.04, f"nap with socket {peer!r} did not nap"


def test_associations_leave_no_descriptor_behind(node: DimseNode) -> None:
    def descriptors() -> int:
        gc.collect()  # a finished association's socket pair closes when its DUL is freed
        return len(os.listdir("/proc/self/fd"))

    def settled() -> bool:
        gc.collect()
        return not _acceptors()

    with associated(node, [(Verification, ["1.2.840.10008.1.2"])]) as assoc:
        assert assoc.send_c_echo().Status == 0x0000  # warm-up: hook installed, pools started
    _wait_until(settled, "the warm-up association to end")
    before = descriptors()
    for _ in range(20):
        with associated(node, [(Verification, ["1.2.840.10008.1.2"])]) as assoc:
            assert assoc.send_c_echo().Status == 0x0000
    _wait_until(settled, "the associations to end")
    _wait_until(lambda: descriptors() <= before + 2,
                f"descriptors back near {before} (now {descriptors()})")


def test_unhookable_pynetdicom_keeps_its_naps(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(pynetdicom.dul, "time", object())
    with caplog.at_level(logging.WARNING, logger="dicomvault.dimse.reactor"):
        assert reactor._installed_naps() is None
    assert "keep polling" in caplog.text


def test_pynetdicom_reactors_still_nap_through_time_sleep() -> None:
    """If pynetdicom stops napping this way, the hook silently stops helping: fail here,
    and revisit dicomvault.dimse.reactor, when upgrading it."""
    dul_loop = inspect.getsource(pynetdicom.dul.DULServiceProvider.run_reactor)
    assoc_loop = inspect.getsource(pynetdicom.association.Association._run_reactor)
    assert "time.sleep(self._run_loop_delay)" in dul_loop
    assert "time.sleep(0.001)" in assoc_loop
    assert "self.to_provider_queue.queue[0]" in inspect.getsource(
        pynetdicom.dul.DULServiceProvider._process_recv_primitive)
