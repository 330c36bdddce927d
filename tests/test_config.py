"""Settings: precedence of sources, validation, masking of secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dicomvault.config import DuplicatePolicy, load_settings
from dicomvault.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DICOMVAULT_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_node(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'index.sqlite3').resolve()}"
    assert settings.duplicate_policy is DuplicatePolicy.IGNORE_IF_IDENTICAL
    assert settings.host == "127.0.0.1"
    assert settings.fsync is True


def test_sample_file_is_valid_and_read_from_the_data_dir(tmp_path: Path) -> None:
    shutil.copy(REPO / "dicomvault.sample.toml", tmp_path / "dicomvault.toml")
    (tmp_path / "dicomvault.toml").write_text(
        (tmp_path / "dicomvault.toml").read_text().replace("http_port = 8080", "http_port = 9999")
    )
    settings = load_settings(data_dir=tmp_path)
    assert settings.http_port == 9999


def test_environment_beats_file_and_options_beat_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dicomvault.toml").write_text("http_port = 1111\nae_title = 'FROMFILE'\n")
    monkeypatch.setenv("DICOMVAULT_HTTP_PORT", "2222")
    monkeypatch.setenv("DICOMVAULT_AE_TITLE", "FROMENV")
    settings = load_settings(data_dir=tmp_path, ae_title="FROMCLI")
    assert settings.http_port == 2222
    assert settings.ae_title == "FROMCLI"


def test_explicit_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('duplicate_policy = "reject"\n')
    monkeypatch.setenv("DICOMVAULT_CONFIG", str(config))
    assert load_settings(data_dir=tmp_path).duplicate_policy is DuplicatePolicy.REJECT


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("http_port = 70000\n", "http_port"),
        ("unknown_key = 1\n", "unknown_key"),
        ('duplicate_policy = "sometimes"\n', "duplicate_policy"),
        ('ae_title = "THIS-AE-TITLE-IS-FAR-TOO-LONG"\n', "ae_title"),
        ('database_url = "mysql://x"\n', "database_url"),
        ("http_port = [\n", "not valid TOML"),
        ('[dimse_ae_hosts]\nCT1 = ["10.1.2.300"]\n', "dimse_ae_hosts"),
    ],
)
def test_invalid_settings_are_refused_with_the_key_named(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "dicomvault.toml").write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(data_dir=tmp_path)


def test_public_view_masks_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        keyring_passphrase="hunter2-passphrase",
        database_url="postgresql://archive:dbsecret@db.example/dv",
    )
    view = settings.public_view()
    rendered = repr(view)
    assert "hunter2" not in rendered
    assert "dbsecret" not in rendered
    assert view["database_url"] == "postgresql://archive:**********@db.example/dv"
    assert view["keyring_passphrase"] == "**********"
