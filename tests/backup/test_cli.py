"""The recovery commands as an operator runs them: backup, keys export, restore on a new
machine, scrub and fsck, each a real ``dicomvault`` subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.archive_data import study_files
from tests.support.cli import run_cli

from dicomvault.storage import FilesystemBlobStore

RECOVERY = "a long recovery passphrase\n"
NODE_ENV = {"DICOMVAULT_KEYRING_PASSPHRASE": "first node passphrase"}


def _ok(result: object) -> str:
    assert getattr(result, "returncode", 1) == 0, getattr(result, "stderr", "")
    return str(getattr(result, "stdout", ""))


def test_backup_export_keys_destroy_restore_scrub_fsck(tmp_path: Path) -> None:
    node, backup = tmp_path / "node", tmp_path / "backup"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = study_files(seed=51, count=6)
    for index, data in enumerate(files.values()):
        (incoming / f"IM{index}").write_bytes(data)
    _ok(run_cli(node, "import", str(incoming), env=NODE_ENV))
    out = _ok(run_cli(node, "backup", "run", "--to", str(backup), env=NODE_ENV))
    assert "generation 1: 6 instances, 6 of 6 blobs copied" in out
    stale = tmp_path / "before-generation-2.keys"
    _ok(run_cli(node, "keys", "export", "--to", str(stale), "--passphrase-stdin",
                stdin=RECOVERY, env=NODE_ENV))
    keys = tmp_path / "recovery.keys"
    out = _ok(run_cli(node, "backup", "run", "--to", str(backup), "--keys-to", str(keys),
                      "--passphrase-stdin", stdin=RECOVERY, env=NODE_ENV))
    assert "generation 2: 6 instances, 0 of 6 blobs copied" in out
    assert f"study KEKs and the ledger keys to {keys}" in out
    listing = _ok(run_cli(node, "backup", "list", "--target", str(backup), env=NODE_ENV))
    assert [line.split()[0] for line in listing.splitlines()] == ["1", "2"]
    assert "backup verified" in _ok(run_cli(node, "backup", "verify", "--target", str(backup),
                                            env=NODE_ENV))
    refused = run_cli(node, "keys", "export", "--to", str(tmp_path / "k"), env=NODE_ENV)
    assert refused.returncode == 1 and "--passphrase-stdin" in refused.stderr
    assert keys.stat().st_mode & 0o777 == 0o600
    assert b"kek-" not in keys.read_bytes()  # key ids and keys are inside the sealed part

    shutil.rmtree(node)
    new = tmp_path / "new-node"
    wrong = run_cli(new, "restore", "--from", str(backup), "--keys", str(keys),
                    "--passphrase-stdin", stdin="not it\n")
    assert wrong.returncode == 1 and "passphrase is wrong" in wrong.stderr
    too_old = run_cli(new, "restore", "--from", str(backup), "--keys", str(stale),
                      "--passphrase-stdin", stdin=RECOVERY)
    assert too_old.returncode == 1 and "older than backup generation 2" in too_old.stderr
    out = _ok(run_cli(new, "restore", "--from", str(backup), "--keys", str(keys),
                      "--passphrase-stdin", stdin=RECOVERY))
    assert "restored generation 2: 6 instances verified against the ledger" in out
    assert len(_ok(run_cli(new, "ls")).splitlines()) == 1
    again = run_cli(new, "restore", "--from", str(backup))
    assert again.returncode == 1 and "empty node" in again.stderr

    blobs = FilesystemBlobStore(new / "blobs")
    victim = next(iter(blobs.names()))
    path = blobs.path_of(victim)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    damaged = run_cli(new, "scrub", "--no-repair")
    assert damaged.returncode == 1 and f"primary {victim}: unreadable, NOT repaired" in (
        damaged.stdout)
    repaired = _ok(run_cli(new, "scrub", "--backup", str(backup)))
    assert f"primary {victim}: unreadable, repaired from backup generation 2" in repaired
    assert "0 damaged copies" in _ok(run_cli(new, "scrub"))

    path.unlink()
    lost = run_cli(new, "fsck", "--grace-seconds", "0", "--no-repair")
    assert lost.returncode == 1 and f"LOST: blob {victim}" in lost.stderr
    out = _ok(run_cli(new, "fsck", "--grace-seconds", "0",
                      env={"DICOMVAULT_BACKUP_TARGET": str(backup)}))
    assert "missing blobs: 1, restored: 1" in out
