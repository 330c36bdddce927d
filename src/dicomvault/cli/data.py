"""Data commands: ``import``, ``ls``, ``export``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dicomvault.access import Door, system_context
from dicomvault.archive import StoreFailure, StoreOutcome
from dicomvault.cli.common import DataDirOption, app, files_under, open_node, reports_errors
from dicomvault.index import Query, QueryLevel

_CHUNK = 1024 * 1024


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


@app.command("import")
@reports_errors
def import_files(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursive).")],
    data_dir: DataDirOption = None,
) -> None:
    """Store DICOM files from disk; prints a summary and exits non-zero if any failed."""
    files = files_under(paths)
    archive, _ = open_node(data_dir)
    ctx = system_context(Door.CLI, actor="cli")
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    failed_files: list[tuple[Path, str]] = []
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=len(files))
        sources = ((str(path), _chunks(path)) for path in files)
        for label, outcome in archive.store_many(sources, ctx):
            progress.advance(task)
            if isinstance(outcome, StoreFailure):
                counts["failed"] += 1
                reasons[outcome.error.message] += 1
                failed_files.append((Path(label), outcome.error.message))
            elif outcome.outcome in (StoreOutcome.STORED, StoreOutcome.REPLACED):
                counts["stored"] += 1
            else:
                counts["skipped"] += 1
                reasons[f"already archived ({outcome.outcome.value})"] += 1
    typer.echo(
        f"stored {counts['stored']}, skipped {counts['skipped']}, failed {counts['failed']} "
        f"(of {len(files)} files)"
    )
    for reason, count in reasons.most_common():
        typer.echo(f"  {count:6d}  {reason}")
    for path, reason in failed_files[:20]:
        typer.echo(f"  failed: {path}: {reason}", err=True)
    if counts["failed"]:
        raise typer.Exit(code=1)


@app.command("ls")
@reports_errors
def list_studies(data_dir: DataDirOption = None) -> None:
    """One line per study: date, patient ID, modalities, series/instances, Study UID."""
    archive, _ = open_node(data_dir)
    rows = archive.find(Query(level=QueryLevel.STUDY), system_context(Door.CLI, actor="cli"))
    for row in rows:
        values = row.values
        typer.echo(
            f"{values.get('StudyDate') or '-':8}  {values.get('PatientID') or '-':16}  "
            f"{values.get('ModalitiesInStudy') or '-':10}  "
            f"{values.get('NumberOfStudyRelatedSeries', 0):>4} series "
            f"{values.get('NumberOfStudyRelatedInstances', 0):>6} instances  "
            f"{values.get('StudyInstanceUID')}"
        )


@app.command("export")
@reports_errors
def export_study(
    study_uid: Annotated[str, typer.Argument(help="Study Instance UID to export.")],
    directory: Annotated[Path, typer.Argument(help="Target directory (created if missing).")],
    data_dir: DataDirOption = None,
) -> None:
    """Write every instance of a study as Part 10 files: DIR/<series UID>/<SOP UID>.dcm."""
    archive, _ = open_node(data_dir)
    ctx = system_context(Door.CLI, actor="cli")
    locations = archive.locate(ctx, study_uid, record_access=False)
    archive.record_export(ctx, locations, destination="file")
    for location in locations:
        target = directory / location.series_instance_uid / f"{location.sop_instance_uid}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read_instance(location))
    typer.echo(f"exported {len(locations)} instances to {directory}")
