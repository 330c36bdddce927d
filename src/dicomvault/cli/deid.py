"""De-identification commands: ``deid`` (files or an archived study) and ``deid-keygen``."""

from __future__ import annotations

import io
import json
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pydicom
import typer
from pydicom.errors import InvalidDicomError

from dicomvault.access import Door, system_context
from dicomvault.cli.common import (
    DataDirOption,
    app,
    files_under,
    open_node,
    reports_errors,
    settings_for,
)
from dicomvault.config import Settings
from dicomvault.deid import (
    AttributeChange,
    Deidentifier,
    DeidProfile,
    part10_bytes,
    read_key_file,
    write_key_file,
)
from dicomvault.errors import InvalidInputError

REPORT_JSON = "deid-report.json"
REPORT_TEXT = "deid-report.txt"


def default_key_file(settings: Settings) -> Path:
    """``deid_key_file`` if set, else ``<data_dir>/keys/deid.key``."""
    return settings.deid_key_file or settings.keys_dir / "deid.key"


@dataclass
class _InstanceReport:
    source: str
    output: str | None = None
    held_back: str | None = None
    failed: str | None = None
    changes: list[AttributeChange] = field(default_factory=list)


def _from_files(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    for path in files_under(paths):
        yield str(path), path.read_bytes()


def _from_archive(data_dir: Path | None, study_uid: str) -> Iterator[tuple[str, bytes]]:
    """The study's instances, read through the Archive service as the CLI operator.

    The study is located (or refused) at once; the release is recorded
    (ledger ``exported`` events, destination ``deid``) before any byte
    leaves, like ``export``. Labels number the instances: the report names
    no original UID.
    """
    archive, _ = open_node(data_dir)
    ctx = system_context(Door.CLI, actor="cli")
    locations = archive.locate(ctx, study_uid, record_access=False)
    archive.record_export(ctx, locations, destination="deid")
    return ((f"archive instance {number}", archive.read_instance(location))
            for number, location in enumerate(locations, start=1))


def _read_instance(data: bytes) -> pydicom.Dataset | None:
    """A composite instance from Part 10 bytes, or None (not DICOM, DICOMDIR, fragment).

    Files written without the Part 10 header (no preamble, no ``DICM``) are
    accepted when what they hold is an instance: older modalities wrote them.
    """
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        try:
            dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        except (InvalidDicomError, ValueError, EOFError, KeyError, IndexError, OSError,
                NotImplementedError, struct.error):  # what pydicom raises on arbitrary bytes
            return None
    if "SOPClassUID" not in dataset or "SOPInstanceUID" not in dataset:
        return None
    return dataset


def _write(output: Path, dataset: pydicom.Dataset) -> str:
    relative = (Path(str(dataset.get("StudyInstanceUID", "study")))
                / str(dataset.get("SeriesInstanceUID", "series"))
                / f"{dataset.get('SOPInstanceUID', 'instance')}.dcm")
    target = output / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(part10_bytes(dataset))
    return str(relative)


def _text_report(profile: DeidProfile, reports: list[_InstanceReport]) -> str:
    lines = [f"profile: basic{''.join(', ' + name for name in profile.names())}"
             f"{' (burned-in allowed)' if profile.allow_burned_in else ''}", ""]
    for report in reports:
        status = (f"-> {report.output}" if report.output
                  else f"HELD BACK: {report.held_back}" if report.held_back
                  else f"FAILED: {report.failed}")
        lines.append(f"{report.source}  {status}")
        for change in report.changes:
            where = change.path + (change.keyword or "(private)")
            lines.append(f"    {change.tag}  {change.action.value}  {where:<48}  {change.became}")
        lines.append("")
    return "\n".join(lines)


def _json_report(profile: DeidProfile, uid_root: str,
                 reports: list[_InstanceReport]) -> dict[str, Any]:
    return {
        "profile": {"options": profile.names(), "allow_burned_in": profile.allow_burned_in},
        "uid_root": uid_root,
        "instances": [
            {"source": report.source, "output": report.output,
             "held_back": report.held_back, "failed": report.failed,
             "changes": [{**asdict(change), "action": change.action.value}
                         for change in report.changes]}
            for report in reports
        ],
    }


@app.command("deid")
@reports_errors
def deidentify(
    *,
    output: Annotated[Path, typer.Option("--output", "-o",
                                         help="Directory for the files and the report.")],
    sources: Annotated[list[Path] | None, typer.Argument(
        help="DICOM files or directories (recursive).", show_default=False)] = None,
    study: Annotated[str | None, typer.Option(
        "--study", help="De-identify this archived study (Study Instance UID) instead.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="PS3.15 option, repeatable: retain-longitudinal-full-dates, "
        "retain-longitudinal-modified-dates, retain-patient-characteristics, "
        "retain-device-identity, retain-uids, retain-safe-private, clean-descriptors.")] = None,
    allow_burned_in: Annotated[bool, typer.Option(
        "--allow-burned-in", help="Also release instances that may show identity in pixels.")
    ] = False,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="Pseudonym key (default: deid_key_file setting).")] = None,
    uid_root: Annotated[str | None, typer.Option(
        "--uid-root", help="Root of new UIDs (default: deid_uid_root setting).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """De-identify DICOM files or an archived study (PS3.15 Annex E); write files and a report.

    Output: OUTPUT/<study>/<series>/<instance>.dcm under the new UIDs, plus
    deid-report.json and deid-report.txt saying what each attribute became
    (never its original value) and which instances were held back and why.
    """
    if bool(sources) == bool(study):
        raise InvalidInputError("give either files/directories or --study, not both")
    settings = settings_for(data_dir, deid_uid_root=uid_root)
    key = read_key_file(key_file or default_key_file(settings))
    profile = DeidProfile.from_names(option or [], allow_burned_in=allow_burned_in)
    deidentifier = Deidentifier(key, profile, settings.deid_uid_root)
    inputs = _from_archive(data_dir, study) if study else _from_files(sources or [])
    output.mkdir(parents=True, exist_ok=True)
    reports: list[_InstanceReport] = []
    counts: Counter[str] = Counter()
    for label, data in inputs:
        report = _InstanceReport(source=label)
        reports.append(report)
        dataset = _read_instance(data)
        if dataset is None:
            report.failed = "not a DICOM composite instance (no SOP Class/Instance UID)"
            counts["failed"] += 1
            continue
        outcome = deidentifier.deidentify(dataset)
        report.changes = outcome.report
        if outcome.dataset is None:
            report.held_back = outcome.held_back_reason
            counts[f"held back: {outcome.held_back_reason}"] += 1
            continue
        try:
            report.output = _write(output, outcome.dataset)
        except (ValueError, TypeError, OverflowError) as exc:
            report.failed = f"cannot be encoded after de-identification ({type(exc).__name__})"
            counts["failed"] += 1
            continue
        counts["de-identified"] += 1
    (output / REPORT_JSON).write_text(
        json.dumps(_json_report(profile, deidentifier.uid_root, reports), indent=2) + "\n",
        encoding="utf-8")
    (output / REPORT_TEXT).write_text(_text_report(profile, reports), encoding="utf-8")
    typer.echo(f"de-identified {counts['de-identified']} of {len(reports)} instances "
               f"into {output} (report: {output / REPORT_TEXT})")
    for reason, count in counts.most_common():
        if reason != "de-identified":
            typer.echo(f"  {count:6d}  {reason}")
    if counts["failed"]:
        raise typer.Exit(code=1)


@app.command("deid-keygen")
@reports_errors
def deid_keygen(
    path: Annotated[Path | None, typer.Argument(
        help="Key file to create (default: deid_key_file setting).", show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing key (breaks consistency with earlier output).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create a random pseudonym key file (mode 0600) for `dicomvault deid`."""
    target = path or default_key_file(settings_for(data_dir))
    write_key_file(target, overwrite=force)
    typer.echo(f"wrote a new pseudonym key to {target} (mode 0600); keep it secret and "
               "backed up: the same key gives the same pseudonyms")
