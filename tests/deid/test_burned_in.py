"""Instances likely to show identity in their pixels are held back unless allowed."""

from __future__ import annotations

import pytest
from tests.deid.corpus import KEY_A, real_dataset

from dicomvault.deid import Deidentifier, DeidProfile

HELD = Deidentifier(KEY_A, DeidProfile())
ALLOWED = Deidentifier(KEY_A, DeidProfile(allow_burned_in=True))


def test_burned_in_annotation_yes_is_held_back_without_phi_in_the_reason() -> None:
    ds = real_dataset("CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    outcome = HELD.deidentify(ds)
    assert outcome.dataset is None
    assert not outcome.released
    assert outcome.held_back_reason is not None
    assert "burned-in" in outcome.held_back_reason
    for value in (ds.PatientName, ds.PatientID, ds.SOPInstanceUID):
        assert str(value) not in outcome.held_back_reason
    assert outcome.report == []


@pytest.mark.parametrize(("name", "reason"), [
    ("SC_rgb.dcm", "secondary capture"),
    ("US1_UNCR.dcm", "ultrasound"),
])
def test_secondary_capture_and_ultrasound_are_held_back(name: str, reason: str) -> None:
    outcome = HELD.deidentify(real_dataset(name))
    assert outcome.dataset is None
    assert outcome.held_back_reason is not None and reason in outcome.held_back_reason


def test_ultrasound_that_declares_no_burned_in_annotation_is_released() -> None:
    ds = real_dataset("US1_UNCR.dcm")
    ds.BurnedInAnnotation = "NO"
    assert HELD.deidentify(ds).released


def test_secondary_capture_stays_held_back_even_when_it_says_no() -> None:
    ds = real_dataset("SC_rgb.dcm")
    ds.BurnedInAnnotation = "NO"
    assert not HELD.deidentify(ds).released


@pytest.mark.parametrize("name", ["SC_rgb.dcm", "US1_UNCR.dcm"])
def test_an_agreement_that_allows_burned_in_releases_them(name: str) -> None:
    outcome = ALLOWED.deidentify(real_dataset(name))
    assert outcome.released and outcome.held_back_reason is None
    assert outcome.dataset is not None and outcome.dataset.PatientIdentityRemoved == "YES"


def test_an_ordinary_ct_is_released() -> None:
    assert HELD.deidentify(real_dataset("CT_small.dcm")).released
