"""Backup and recovery commands: ``backup run|list|verify``, ``restore``, ``scrub``, ``fsck``.

A thin door: each command opens the node, calls :mod:`dicomvault.backup`
and prints its report. Exit status 1 when something is wrong (a failed
verification, damage left unrepaired, a blob lost).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dicomvault.backup import (
    WitnessedCheckpoint,
    fsck,
    open_target,
    restore,
    run_backup,
    verify_backup,
)
from dicomvault.backup.common import manifests
from dicomvault.backup.scrub import Scrubber
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors, settings_for
from dicomvault.errors import InvalidInputError
from dicomvault.keys.recovery import RecoveryContents, open_recovery, write_recovery_file

backup_app = typer.Typer(help="Back up the node to a directory or an S3 bucket.",
                         no_args_is_help=True)
app.add_typer(backup_app, name="backup")

TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="Directory or s3://bucket/prefix (default: backup_target)."),
]
_MB = 1024 * 1024


def read_passphrase(from_stdin: bool) -> str:
    """The passphrase given on standard input (never as an argument: it would show in ps)."""
    if not from_stdin:
        raise InvalidInputError("give the passphrase on standard input with --passphrase-stdin")
    return sys.stdin.readline()


def report_export(to: Path, contents: RecoveryContents) -> None:
    """Say what a recovery file holds (counts only, never key material)."""
    kms = " (KEKs in the external KMS stay there)" if contents.active_kek is None else ""
    typer.echo(f"wrote the keyring, {len(contents.study_keks)} study KEKs and the ledger keys "
               f"to {to}{kms}")


@backup_app.command("run")
@reports_errors
def backup_run(
    to: Annotated[str | None, typer.Option("--to", help="Directory or s3://bucket/prefix.")
                  ] = None,
    keep: Annotated[int | None, typer.Option(help="Generations to keep.", min=1)] = None,
    keys_to: Annotated[Path | None, typer.Option(
        "--keys-to", help="Also write the recovery key file that opens this backup (0600)."
    )] = None,
    passphrase_stdin: Annotated[bool, typer.Option(
        "--passphrase-stdin", help="Read the recovery passphrase (for --keys-to) from stdin."
    )] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write a new backup generation (incremental: only new blobs are copied).

    With ``--keys-to``, the recovery key file is written after the backup, so it holds
    the KEK of this generation's snapshot and of every study in it.
    """
    passphrase = read_passphrase(passphrase_stdin) if keys_to else None
    archive, _ = open_node(data_dir)
    target = open_target(to, archive.settings)
    report = run_backup(archive, target, keep=keep or archive.settings.backup_keep_generations)
    rate = report.bytes_copied / _MB / report.seconds if report.seconds else 0.0
    typer.echo(
        f"generation {report.generation}: {report.instances} instances, "
        f"{report.copied} of {report.objects} blobs copied ({report.bytes_copied / _MB:.1f} MB, "
        f"{rate:.1f} MB/s), snapshot {report.snapshot_bytes / _MB:.1f} MB, "
        f"ledger size {report.tree_size}, {report.seconds:.1f} s")
    if report.pruned_generations:
        typer.echo(f"retention: removed generations {list(report.pruned_generations)} and "
                   f"{report.pruned_objects} objects")
    if keys_to is not None and passphrase is not None:
        report_export(keys_to, write_recovery_file(keys_to, archive.settings, archive.keys,
                                                   passphrase))


@backup_app.command("list")
@reports_errors
def backup_list(target: TargetOption = None, data_dir: DataDirOption = None) -> None:
    """One line per generation: number, time, instances, ledger size, size."""
    archive, _ = open_node(data_dir)
    for manifest in manifests(open_target(target, archive.settings), archive,
                              newest_first=False):
        size = sum(o.size for o in manifest.objects) + manifest.snapshot.size
        typer.echo(f"{manifest.generation:6d}  {manifest.created}  "
                   f"{len(manifest.objects):8d} blobs  ledger {manifest.tree_size:8d}  "
                   f"{size / _MB:10.1f} MB")


@backup_app.command("verify")
@reports_errors
def backup_verify(target: TargetOption = None, data_dir: DataDirOption = None) -> None:
    """Re-read every object of every generation; check hashes, snapshots and the ledger."""
    archive, _ = open_node(data_dir)
    report = verify_backup(archive, open_target(target, archive.settings))
    typer.echo(f"{len(report.generations)} generations, {report.objects_checked} objects, "
               f"{report.bytes_checked / _MB:.1f} MB checked")
    for problem in report.problems:
        typer.echo(f"  PROBLEM: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(code=1)
    typer.echo("backup verified")


@app.command("restore")
@reports_errors
def restore_command(  # noqa: PLR0917  (typer passes options by name)
    source: Annotated[str, typer.Option("--from", help="Directory or s3://bucket/prefix.")],
    generation: Annotated[int | None, typer.Option(help="Generation (default: newest).")
                          ] = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", help="Recovery file from `keys export` (passphrase on stdin).")] = None,
    passphrase_stdin: Annotated[bool, typer.Option("--passphrase-stdin")] = False,
    witness_checkpoint: Annotated[Path | None, typer.Option(
        help="The last checkpoint of this node a witness cosigned (signed note file).")
    ] = None,
    witness_key: Annotated[str | None, typer.Option(
        help="The witness's cosignature verifier key, to check its cosignature.")] = None,
    allow_ledger_rollback: Annotated[bool, typer.Option(
        help="Restore even if the backup is older than what the witness saw.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Rebuild an empty node from a backup; every instance is verified."""
    settings = settings_for(data_dir)
    recovered = None
    if keys is not None:
        recovered = open_recovery(keys.read_bytes(), read_passphrase(passphrase_stdin))
    witnessed = None
    if witness_checkpoint is not None:
        witnessed = WitnessedCheckpoint(witness_checkpoint.read_text(encoding="utf-8"),
                                        witness_key)
    report = restore(settings, open_target(source, settings), generation=generation,
                     keys=recovered, witnessed=witnessed,
                     allow_ledger_rollback=allow_ledger_rollback)
    rate = report.bytes_restored / _MB / report.seconds if report.seconds else 0.0
    typer.echo(f"restored generation {report.generation}: {report.instances} instances "
               f"verified against the ledger, {report.bytes_restored / _MB:.1f} MB "
               f"({rate:.1f} MB/s), ledger size {report.tree_size}")
    if report.witnessed_size is not None:
        typer.echo(f"the restored ledger extends the witnessed checkpoint "
                   f"(size {report.witnessed_size})")


@app.command("scrub")
@reports_errors
def scrub_command(
    repair: Annotated[bool, typer.Option(help="Repair from replica or backup.")] = True,
    backup: Annotated[str | None, typer.Option(
        help="Backup to repair from (default: backup_target).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Re-read and verify every blob; report and repair damaged ones."""
    archive, _ = open_node(data_dir)
    location = backup or archive.settings.backup_target
    target = open_target(location, archive.settings) if location else None
    report = Scrubber(archive, backup=target, repair=repair).run()
    typer.echo(f"{report.checked} instances checked ({report.bytes_read / _MB:.1f} MB): "
               f"{report.damaged} damaged copies, {report.repaired} repaired, "
               f"{len(report.orphans)} unindexed blobs (fsck removes them)")
    for finding in report.findings:
        outcome = f"repaired from {finding.repaired_from}" if finding.repaired_from else (
            "NOT repaired")
        typer.echo(f"  {finding.copy} {finding.blob_name}: {finding.problem.value}, {outcome}")
    if report.unrepaired:
        raise typer.Exit(code=1)


@app.command("fsck")
@reports_errors
def fsck_command(
    grace_seconds: Annotated[float, typer.Option(
        help="Leave objects younger than this (a store in flight); 0 with the server stopped."
    )] = 3600.0,
    repair: Annotated[bool, typer.Option(help="Restore missing blobs from replica/backup.")
                      ] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Clean what interrupted writes left: staged objects, orphan blobs; find lost blobs."""
    archive, _ = open_node(data_dir)
    location = archive.settings.backup_target
    target = open_target(location, archive.settings) if location else None
    report = fsck(archive, grace_seconds=grace_seconds, repair=repair, backup=target)
    typer.echo(f"staged objects discarded: {report.staged_discarded}; orphan blobs removed: "
               f"{report.orphans_removed} (replica: {report.replica_orphans_removed}); "
               f"missing blobs: {len(report.missing)}, restored: {len(report.restored)}")
    for name in report.lost:
        typer.echo(f"  LOST: blob {name} (its instance is indexed but no copy is left)",
                   err=True)
    if not report.clean:
        raise typer.Exit(code=1)
