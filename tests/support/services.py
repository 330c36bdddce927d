"""Skipping tests whose service or tool is absent, except under CI=true (then: fail)."""

from __future__ import annotations

import os

import pytest


def require(available: bool, reason: str) -> None:
    """Skip with ``reason`` when not ``available``; under CI=true fail instead."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)
