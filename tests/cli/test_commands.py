"""The command line as an operator uses it: real subprocesses on a data directory."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomvault.dicom.synthetic import generate_study_files


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    env["DICOMVAULT_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=env, text=True,
                          capture_output=True, input=stdin, timeout=180, check=False)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A folder tree as a CD or a modality export would give: nested, mixed content."""
    root = tmp_path / "incoming"
    (root / "a" / "b").mkdir(parents=True)
    for index, data in enumerate(generate_study_files(series=2, per_series=3, rows=32,
                                                      columns=32, seed=5)):
        (root / "a" / f"IM{index:04d}").write_bytes(data)
    for name in ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]:
        shutil.copy(str(get_testdata_file(name)), root / "a" / "b" / name)
    return root


def test_import_ls_export_round_trip(tmp_path: Path, source: Path) -> None:
    data_dir = tmp_path / "node"
    result = _run(data_dir, "import", str(source))
    assert result.returncode == 0, result.stderr
    assert "stored 9, skipped 0, failed 0" in result.stdout

    listing = _run(data_dir, "ls")
    assert listing.returncode == 0
    lines = [line for line in listing.stdout.splitlines() if line.strip()]
    assert len(lines) == 4  # the synthetic study and three pydicom studies
    study_uid = pydicom.dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID
    assert any(line.endswith(study_uid) for line in lines)

    out = tmp_path / "export"
    exported = _run(data_dir, "export", study_uid, str(out))
    assert exported.returncode == 0, exported.stderr
    [written] = list(out.rglob("*.dcm"))
    assert written.read_bytes() == Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()


def test_reimport_is_skipped_and_bad_files_fail_the_exit_code(tmp_path: Path,
                                                              source: Path) -> None:
    data_dir = tmp_path / "node"
    assert _run(data_dir, "import", str(source)).returncode == 0
    (source / "notes.txt").write_text("not an image")
    data = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    (source / "truncated.dcm").write_bytes(data[:-500])
    again = _run(data_dir, "import", str(source))
    assert again.returncode == 1
    assert "stored 0, skipped 9, failed 2" in again.stdout
    assert "not a DICOM PS3.10 file" in again.stdout + again.stderr
    assert "truncated" in again.stdout + again.stderr


def test_import_of_a_missing_path_is_an_error(tmp_path: Path) -> None:
    result = _run(tmp_path / "node", "import", str(tmp_path / "nope"))
    assert result.returncode != 0
    assert "does not exist" in result.stderr


def test_export_of_an_unknown_study_is_a_clear_error(tmp_path: Path) -> None:
    result = _run(tmp_path / "node", "export", "1.2.3.4", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "no such study" in result.stderr


def test_config_show_masks_the_passphrase(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    (data_dir / "dicomvault.toml").write_text('keyring_passphrase = "topsecret-value"\n')
    result = _run(data_dir, "config", "show")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["keyring_passphrase"] == "**********"
    assert "topsecret" not in result.stdout
    assert shown["data_dir"] == str(data_dir)


def test_invalid_configuration_is_reported_without_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    (data_dir / "dicomvault.toml").write_text("http_port = 'eighty'\n")
    result = _run(data_dir, "ls")
    assert result.returncode == 1
    assert "http_port" in result.stderr
    assert "Traceback" not in result.stderr


def test_exported_files_parse(tmp_path: Path, source: Path) -> None:
    data_dir = tmp_path / "node"
    _run(data_dir, "import", str(source / "a"))
    first = sorted((source / "a").glob("IM*"))[0]
    study_uid = pydicom.dcmread(first).StudyInstanceUID
    out = tmp_path / "export"
    assert _run(data_dir, "export", study_uid, str(out)).returncode == 0
    files = list(out.rglob("*.dcm"))
    assert len(files) == 6
    assert all(pydicom.dcmread(io.BytesIO(f.read_bytes())).StudyInstanceUID == study_uid
               for f in files)
