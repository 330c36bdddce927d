"""``dicomvault keys``: key status and rotation (``keys export`` is the backup's)."""

from __future__ import annotations

import json

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.cli.users import CLI
from dicomvault.keys import RotationProgress

keys_app = typer.Typer(help="Key-encryption keys: status and rotation.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("status")
@reports_errors
def status(data_dir: DataDirOption = None) -> None:
    """What holds the keys, how many, the last rotation (JSON)."""
    archive, _ = open_node(data_dir)
    typer.echo(json.dumps(archive.key_status(CLI), indent=2))


@keys_app.command("rotate")
@reports_errors
def rotate(data_dir: DataDirOption = None) -> None:
    """New versions of every KEK; every data key re-wrapped; old versions retired.

    Blobs are not rewritten. Interrupted (Ctrl-C), run it again: it resumes.
    """
    archive, _ = open_node(data_dir)
    with Progress(TextColumn("re-wrapping data keys"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("rotate", total=None)

        def show(progress: RotationProgress) -> None:
            bar.update(task, total=progress.instances_total,
                       completed=progress.instances_rewrapped)

        result = archive.rotate_keys(CLI, on_progress=show)
    typer.echo(f"rotation {result.rotation_id}{' (resumed)' if result.resumed else ''}: "
               f"{result.keys_done} keys, {result.instances_rewrapped} data keys re-wrapped, "
               "old key versions retired")
