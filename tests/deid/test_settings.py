"""The de-identification settings: one block in the one Settings object."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomvault.cli.deid import default_key_file
from dicomvault.config import load_settings
from dicomvault.errors import ConfigurationError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.deid_uid_root == "2.25"
    assert settings.deid_key_file is None
    assert default_key_file(settings) == tmp_path / "keys" / "deid.key"


def test_environment_and_explicit_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMVAULT_DEID_UID_ROOT", "1.2.826.0.1.3680043.10.1291")
    monkeypatch.setenv("DICOMVAULT_DEID_KEY_FILE", str(tmp_path / "k.key"))
    settings = load_settings(data_dir=tmp_path)
    assert settings.deid_uid_root == "1.2.826.0.1.3680043.10.1291"
    assert default_key_file(settings) == tmp_path / "k.key"


@pytest.mark.parametrize("root", ["1.02", "2.25.", "abc", "1." + "2" * 40])
def test_bad_uid_roots_are_refused_at_load(tmp_path: Path, root: str) -> None:
    with pytest.raises(ConfigurationError, match="deid_uid_root"):
        load_settings(data_dir=tmp_path, deid_uid_root=root)
