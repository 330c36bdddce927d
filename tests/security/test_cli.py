"""Administration from scripts: users create/list, tokens create (printed once)/revoke,
keys status/rotate, and the first admin's password printed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from tests.support.auth import bearer
from tests.support.live import serving
from tests.support.nodes import TEST_PASSPHRASE

from dicomvault.config import load_settings
from dicomvault.node import open_archive


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env.update(DICOMVAULT_DATA_DIR=str(data_dir), DICOMVAULT_KEYRING_PASSPHRASE=TEST_PASSPHRASE)
    return subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env, text=True,
                          capture_output=True, input=stdin, timeout=180, check=False)


def test_script_administration(tmp_path: Path) -> None:
    node = tmp_path / "node"
    first = _run(node, "users", "list")
    assert first.returncode == 0, first.stderr
    assert "user 'admin', password" in first.stderr and "shown only this once" in first.stderr
    again = _run(node, "users", "list")
    assert "password" not in again.stderr  # printed once only
    assert again.stdout.split()[0] == "admin"

    made = _run(node, "users", "create", "grey", "--role", "clinician", "--institution",
                "North Hospital", "--password-stdin", stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    assert _run(node, "users", "create", "x", "--role", "wizard", "--password-stdin",
                stdin="a long enough password\n").returncode == 1
    assert _run(node, "users", "create", "short", "--role", "auditor", "--password-stdin",
                stdin="short\n").returncode == 1
    listed = json.loads(_run(node, "users", "list", "--json").stdout)
    grey = next(u for u in listed if u["name"] == "grey")
    assert grey["roles"] == ["clinician"] and grey["scope"]["institutions"] == ["North Hospital"]
    assert "password" not in json.dumps(listed)

    assert _run(node, "users", "create", "pacs-router", "--role", "service",
                "--service").returncode == 0
    created = _run(node, "tokens", "create", "--user", "pacs-router", "--expires", "30")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("dvt_") and "shown only this once" in created.stderr
    token_id = token.split("_")[1]
    assert token not in _run(node, "tokens", "list").stdout

    archive, _ = open_archive(load_settings(data_dir=node, keyring_passphrase=TEST_PASSPHRASE))
    try:
        with serving(archive) as url:
            assert httpx.get(url + "/dicom-web/studies", headers=bearer(token)).status_code == 200
            assert _run(node, "tokens", "revoke", token_id).returncode == 0
            assert httpx.get(url + "/dicom-web/studies", headers=bearer(token)).status_code == 401
    finally:
        archive.engine.dispose()

    status = json.loads(_run(node, "keys", "status").stdout)
    assert status["provider"]["kind"] == "local" and status["last_rotation"] is None
    rotated = _run(node, "keys", "rotate")
    assert rotated.returncode == 0 and "rotation 1" in rotated.stdout
