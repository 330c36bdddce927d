"""`dicomvault deid-keygen` and `dicomvault deid` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import io
import json
import shutil
import stat
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from tests.support.auth import ledger_events
from tests.support.cli import run_cli

from dicomvault.config import load_settings
from dicomvault.deid import Deidentifier, DeidProfile, read_key_file
from dicomvault.dicom.synthetic import generate_study_files
from dicomvault.ledger.events import EventType
from dicomvault.node import open_archive


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret" / "deid.key"
    result = run_cli(tmp_path / "node", "deid-keygen", str(path))
    assert result.returncode == 0, result.stderr
    return path


def test_keygen_writes_a_private_key_once(tmp_path: Path, key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_key_file(key_file)
    assert len(key) == 32
    again = run_cli(tmp_path / "node", "deid-keygen", str(key_file))
    assert again.returncode == 1
    assert "exists" in again.stderr
    assert read_key_file(key_file) == key
    forced = run_cli(tmp_path / "node", "deid-keygen", str(key_file), "--force")
    assert forced.returncode == 0
    assert read_key_file(key_file) != key


def test_keygen_default_location_is_the_setting(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    assert run_cli(data_dir, "deid-keygen").returncode == 0
    assert (data_dir / "keys" / "deid.key").is_file()
    custom = tmp_path / "elsewhere.key"
    assert run_cli(data_dir, "deid-keygen",
                   env={"DICOMVAULT_DEID_KEY_FILE": str(custom)}).returncode == 0
    assert custom.is_file()


def test_deid_of_a_directory_writes_files_and_reports(tmp_path: Path, key_file: Path) -> None:
    source = tmp_path / "in" / "nested"
    source.mkdir(parents=True)
    for name in ("CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm"):
        shutil.copy(str(get_testdata_file(name)), source / name)
    out = tmp_path / "out"
    result = run_cli(tmp_path / "node", "deid", str(tmp_path / "in"), "-o", str(out),
                     "--key-file", str(key_file), "--option", "retain-uids",
                     "--option", "retain-patient-characteristics")
    assert result.returncode == 0, result.stderr
    assert "de-identified 2 of 3 instances" in result.stdout
    assert "ultrasound" in result.stdout

    written = sorted(out.rglob("*.dcm"))
    assert len(written) == 2
    originals = {str(pydicom.dcmread(get_testdata_file(n)).SOPInstanceUID): n
                 for n in ("CT_small.dcm", "MR_small.dcm")}
    expected = Deidentifier(read_key_file(key_file),
                            DeidProfile.from_names(["retain-uids",
                                                    "retain-patient-characteristics"]))
    for path in written:
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.SOPInstanceUID) in originals  # retain-uids
        source_ds = pydicom.dcmread(get_testdata_file(originals[str(ds.SOPInstanceUID)]))
        assert ds.PatientID == expected.patient_pseudonym(source_ds)  # same key, same pseudonym
        assert path.relative_to(out).parts[:2] == (ds.StudyInstanceUID, ds.SeriesInstanceUID)

    report = json.loads((out / "deid-report.json").read_text())
    assert report["profile"]["options"] == ["retain-patient-characteristics", "retain-uids"]
    by_source = {Path(item["source"]).name: item for item in report["instances"]}
    assert by_source["US1_UNCR.dcm"]["held_back"].startswith("ultrasound")
    ct = by_source["CT_small.dcm"]
    actions = {change["keyword"]: change["action"] for change in ct["changes"]}
    assert actions["PatientBirthDate"] == "Z"
    assert actions["PatientWeight"] == "K"  # retain-patient-characteristics
    assert actions["OtherPatientIDsSequence"] == "X"
    ct_source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    report_text = (out / "deid-report.json").read_text() + (out / "deid-report.txt").read_text()
    for secret in (str(ct_source.PatientName), str(ct_source.PatientID),
                   str(ct_source.InstitutionName)):
        assert secret and secret not in report_text  # what values became, never the values
    table = (out / "deid-report.txt").read_text()
    assert "HELD BACK: ultrasound" in table
    assert "PatientBirthDate" in table


def test_deid_fails_clearly_without_a_key_or_with_a_bad_option(tmp_path: Path,
                                                               key_file: Path) -> None:
    source = Path(str(get_testdata_file("CT_small.dcm")))
    no_key = run_cli(tmp_path / "node", "deid", str(source), "-o", str(tmp_path / "o"))
    assert no_key.returncode == 1
    assert "deid-keygen" in no_key.stderr
    bad = run_cli(tmp_path / "node", "deid", str(source), "-o", str(tmp_path / "o"),
                  "--key-file", str(key_file), "--option", "retain-names")
    assert bad.returncode == 1
    assert "unknown de-identification option" in bad.stderr
    both = run_cli(tmp_path / "node", "deid", str(source), "-o", str(tmp_path / "o"),
                   "--key-file", str(key_file), "--study", "1.2.3")
    assert both.returncode == 1


def test_non_instances_are_reported_and_fail_the_exit_code(tmp_path: Path,
                                                              key_file: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(str(get_testdata_file("CT_small.dcm")), source / "ct.dcm")
    shutil.copy(str(get_testdata_file("rtstruct.dcm")), source / "no-preamble.dcm")
    shutil.copy(str(get_testdata_file("DICOMDIR")), source / "DICOMDIR")
    (source / "notes.txt").write_text("not an image")
    result = run_cli(tmp_path / "node", "deid", str(source), "-o", str(tmp_path / "out"),
                     "--key-file", str(key_file))
    assert result.returncode == 1
    assert "de-identified 2 of 4" in result.stdout  # CT and the header-less RTSTRUCT
    assert "not a DICOM composite instance" in (tmp_path / "out" / "deid-report.txt").read_text()


def test_deid_of_an_archived_study_goes_through_the_archive_and_the_ledger(
        tmp_path: Path, key_file: Path) -> None:
    data_dir = tmp_path / "node"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = generate_study_files(series=2, per_series=2, rows=16, columns=16, seed=21)
    for index, data in enumerate(files):
        (incoming / f"IM{index}").write_bytes(data)
    assert run_cli(data_dir, "import", str(incoming)).returncode == 0
    study_uid = str(pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID)

    out = tmp_path / "out"
    result = run_cli(data_dir, "deid", "--study", study_uid, "-o", str(out),
                     "--key-file", str(key_file), "--uid-root", "1.2.826.0.1.3680043.10.1291.7")
    assert result.returncode == 0, result.stderr
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == len(files)
    datasets = [pydicom.dcmread(path) for path in written]
    assert {str(ds.StudyInstanceUID) for ds in datasets} != {study_uid}
    assert len({str(ds.StudyInstanceUID) for ds in datasets}) == 1
    assert all(str(ds.SOPInstanceUID).startswith("1.2.826.0.1.3680043.10.1291.7.")
               for ds in datasets)
    assert study_uid not in (out / "deid-report.json").read_text()

    archive, _ = open_archive(load_settings(data_dir=data_dir))
    try:
        exported = ledger_events(archive, EventType.EXPORTED)
    finally:
        archive.close()
    assert len(exported) == len(files)
    assert {event.details["destination"] for event in exported} == {"deid"}


def test_deid_of_an_unknown_study_is_a_clear_error(tmp_path: Path, key_file: Path) -> None:
    result = run_cli(tmp_path / "node", "deid", "--study", "1.2.3.4", "-o", str(tmp_path / "o"),
                     "--key-file", str(key_file))
    assert result.returncode == 1
    assert "error: no such study" in result.stderr
    assert not (tmp_path / "o").exists()
