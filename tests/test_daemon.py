"""The background-job base: passes repeat until stopped, a failing pass does not end the job."""

from __future__ import annotations

import threading

import pytest

from dicomvault.daemon import Daemon, DaemonRunner


class _Counting(Daemon):
    name = "counting"

    def __init__(self, fail_first: bool = False) -> None:
        super().__init__(interval_seconds=0.01)
        self.passes = 0
        self.fail_first = fail_first
        self.reached_three = threading.Event()

    def run_once(self) -> None:
        self.passes += 1
        if self.passes >= 3:
            self.reached_three.set()
        if self.fail_first and self.passes == 1:
            raise RuntimeError("first pass fails")


def test_runner_repeats_passes_until_stopped() -> None:
    job = _Counting()
    with DaemonRunner([job]):
        assert job.reached_three.wait(5)
    after_stop = job.passes
    threading.Event().wait(0.05)
    assert job.passes == after_stop  # no pass runs once the runner has stopped


def test_a_failing_pass_is_logged_and_the_job_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    job = _Counting(fail_first=True)
    with DaemonRunner([job]):
        assert job.reached_three.wait(5)
    assert "background job counting failed" in caplog.text


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Daemon.__init__(_Counting(), 0)
