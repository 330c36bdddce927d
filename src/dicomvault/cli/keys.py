"""``dicomvault keys``: key status, rotation, and export for disaster recovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dicomvault.cli.backup import read_passphrase, report_export
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.cli.users import CLI
from dicomvault.keys import RotationProgress
from dicomvault.keys.recovery import write_recovery_file

keys_app = typer.Typer(help="Key-encryption keys: status, rotation, recovery export.",
                       no_args_is_help=True)
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


@keys_app.command("export")
@reports_errors
def export_keys(
    to: Annotated[Path, typer.Option("--to", help="Recovery file to write (mode 0600).")],
    passphrase_stdin: Annotated[bool, typer.Option(
        "--passphrase-stdin", help="Read the recovery passphrase from standard input.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write the keyring, every study KEK and the ledger keys, sealed under a recovery
    passphrase.

    Keep the file apart from the backups (see docs/backup.md). It opens the backups made
    before it, not later ones (each snapshot and each new study has a KEK of its own):
    export after every backup (``backup run --keys-to`` does it) and keep only the newest
    file, so that deleted studies also leave the older recovery files' reach.
    """
    passphrase = read_passphrase(passphrase_stdin)
    archive, _ = open_node(data_dir)
    report_export(to, write_recovery_file(to, archive.settings, archive.keys, passphrase))

