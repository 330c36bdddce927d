"""``dicomvault compress`` and ``dicomvault stats`` as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.codecs.images import real_file, synthetic


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env["DICOMVAULT_DATA_DIR"] = str(data_dir)
    env["DICOMVAULT_KEYRING_PASSPHRASE"] = "cli test"
    return subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env, text=True,
                          capture_output=True, timeout=180, check=False)


def test_compress_then_stats_then_export_gives_back_the_files(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    originals = {"ct.dcm": real_file("CT_small.dcm"), "mr.dcm": real_file("emri_small.dcm"),
                 "lossy.dcm": real_file("JPEG2000.dcm"),
                 "sc.dcm": synthetic(bits_stored=12, seed=4)}
    for name, data in originals.items():
        (incoming / name).write_bytes(data)
    node = tmp_path / "node"
    assert _run(node, "import", str(incoming)).returncode == 0

    before = json.loads(_run(node, "stats", "--json").stdout)
    assert all(row["ratio"] == 1.0 for row in before)

    first = _run(node, "compress", "--limit", "1")
    assert first.returncode == 0, first.stderr
    assert "1 compressed" in first.stdout
    rest = _run(node, "compress", "--since", "2000-01-01")
    assert rest.returncode == 0, rest.stderr
    assert "looked at 2 of 2 instances" in rest.stdout
    assert "looked at 0 of 0 instances: nothing left" in _run(node, "compress").stdout

    after = json.loads(_run(node, "stats", "--json").stdout)
    by_modality = {row["modality"]: row for row in after}
    assert by_modality["CT"]["transfer_syntax"] == "1.2.840.10008.1.2.4.80"
    assert by_modality["CT"]["ratio"] > 1.5
    assert by_modality["NM"]["ratio"] == 1.0  # JPEG 2000 as received: never re-encoded
    table = _run(node, "stats").stdout
    assert "jpeg-ls-lossless" in table and "total" in table

    for line in _run(node, "ls").stdout.splitlines():
        study = line.split()[-1]
        assert _run(node, "export", study, str(tmp_path / "out")).returncode == 0
    exported = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm"))
    assert exported == sorted(originals.values())


def test_compress_refuses_a_syntax_it_cannot_write_losslessly(tmp_path: Path) -> None:
    result = _run(tmp_path / "node", "compress", "--syntax", "1.2.840.10008.1.2.4.50")
    assert result.returncode == 1
    assert "not a lossless syntax" in result.stderr
