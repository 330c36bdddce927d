"""The package's exported names: each resolves, and nothing else is promised."""

from __future__ import annotations

import pytest

import dicomvault.ledger as ledger_package


def test_every_exported_name_resolves() -> None:
    for name in ledger_package.__all__:
        assert getattr(ledger_package, name) is not None, name
    assert ledger_package.Ledger.__module__ == "dicomvault.ledger.log"
    assert len(ledger_package.LEDGER_TABLES) == 9


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = ledger_package.NoSuchThing
