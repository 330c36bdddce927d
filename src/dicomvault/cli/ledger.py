"""``dicomvault ledger``: checkpoints, verification, proofs of images, witnessing partners.

A thin door onto :class:`~dicomvault.ledger.service.LedgerService` and the
standalone verifier. Exit status: 0 when everything verified, 1 on an error
or a failed check, 3 when ``witness`` raised an alarm (the partner's log is
not an extension of what this node saw before).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pydicom
import typer
from pydicom.errors import InvalidDicomError

from dicomvault.access import Door, RequestContext, system_context
from dicomvault.archive import Archive
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.errors import InvalidInputError
from dicomvault.ledger import VerificationError, verify_proof_bundle
from dicomvault.ledger.service import LedgerService, VerifyRequest, sha256_of_file

ledger_app = typer.Typer(help="The tamper-evident ledger: checkpoints, proofs, verification, "
                              "witnessing.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

ALARM_EXIT = 3
_CHUNK = 1024 * 1024

KeyOption = Annotated[str | None, typer.Option(
    "--key", help="Trusted verifier key of the log (name+id+key, from 'ledger export-key'); "
                  "default: this node's own key.")]


def operator_context() -> RequestContext:
    """Who runs a ledger or audit command: the operating-system user, through the CLI."""
    return system_context(Door.CLI, actor=f"cli:{getpass.getuser()}")


def service_of(archive: Archive) -> LedgerService:
    return LedgerService(archive.engine, archive.audit.ledger)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _read_key(key: str | None) -> str | None:
    """``--key`` is the key itself or a file holding it (``ledger export-key > node.key``)."""
    if key is not None and Path(key).is_file():
        return Path(key).read_text().strip()
    return key


@ledger_app.command("checkpoint")
@reports_errors
def checkpoint(data_dir: DataDirOption = None) -> None:
    """Sign a checkpoint of the ledger now and print it (C2SP signed note)."""
    archive, _ = open_node(data_dir)
    typer.echo(service_of(archive).checkpoint(), nl=False)


@ledger_app.command("export-key")
@reports_errors
def export_key(
    data_dir: DataDirOption = None,
    witness: Annotated[bool, typer.Option(
        "--witness", help="The key of this node's cosignatures instead of its log key.")] = False,
) -> None:
    """Print the public verifier key of this node's log, for auditors and partners."""
    archive, _ = open_node(data_dir)
    keys = service_of(archive).public_keys()
    typer.echo(keys["witness_key"] if witness else keys["log_key"])


@ledger_app.command("verify")
@reports_errors
def verify(
    *,
    data_dir: DataDirOption = None,
    key: KeyOption = None,
    checkpoint_files: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", help="An older checkpoint you kept: must be consistent with the "
                             "latest one (repeatable).")] = None,
    entries: Annotated[list[int] | None, typer.Option(
        "--entry", help="Also prove that entry N is included (repeatable).")] = None,
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", help="Verify this proof bundle offline (no node needed).")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="With --bundle: the image file the bundle is about.")] = None,
) -> None:
    """Verify the whole log against its latest checkpoint, or a proof bundle offline."""
    trusted = _read_key(key)
    if bundle is not None:
        _verify_bundle(bundle, file, trusted)
        return
    if file is not None:
        raise InvalidInputError("--file needs --bundle (make one with 'ledger prove FILE')")
    archive, _ = open_node(data_dir)
    older = [path.read_text() for path in checkpoint_files or []]
    checks = service_of(archive).verify(VerifyRequest(trusted, older, entries or []))
    for check in checks:
        typer.echo(f"{'OK    ' if check.ok else 'FAILED'}  {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise typer.Exit(code=1)


def _verify_bundle(bundle: Path, file: Path | None, trusted: str | None) -> None:
    digest = sha256_of_file(_chunks(file)) if file is not None else None
    try:
        result = verify_proof_bundle(bundle.read_bytes(), trusted_key=trusted,
                                     file_sha256=digest)
    except VerificationError as exc:
        typer.echo(f"FAILED  {exc}")
        raise typer.Exit(code=1) from exc
    what = "the file is exactly what was archived" if result.file_matches else "event included"
    typer.echo(f"OK      {what}: entry {result.index} ({result.event.get('type')}) of "
               f"{result.checkpoint.origin}, tree size {result.checkpoint.size}")
    if trusted is None:
        typer.echo("note: the bundle's own key was used; pass --key to pin the key you trust")


@ledger_app.command("prove")
@reports_errors
def prove(
    file: Annotated[Path, typer.Argument(help="A DICOM file, as archived or as exported.")],
    data_dir: DataDirOption = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the bundle here instead of printing it.")] = None,
) -> None:
    """Print the proof bundle that FILE is exactly an instance this archive stored."""
    try:
        sop_uid = str(pydicom.dcmread(file, stop_before_pixels=True).SOPInstanceUID)
    except (InvalidDicomError, AttributeError, OSError) as exc:
        raise InvalidInputError(f"{file} is not a DICOM file with a SOP Instance UID") from exc
    archive, _ = open_node(data_dir)
    bundle = service_of(archive).proof_bundle_for_file(sop_uid, sha256_of_file(_chunks(file)))
    text = json.dumps(bundle, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"proof bundle written to {output}", err=True)


@ledger_app.command("witness")
@reports_errors
def witness(
    url: Annotated[str, typer.Argument(help="Base URL of the partner node (https://...).")],
    data_dir: DataDirOption = None,
    key: Annotated[str | None, typer.Option(
        "--key", help="The partner's verifier key (or a file holding it); pinned for next "
                      "time. Default: the key pinned at first contact.")] = None,
    audit: Annotated[bool, typer.Option(
        "--audit", help="Also download every entry and check it hashes to the checkpoint "
                        "(catches rows edited in place).")] = False,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="DICOMVAULT_WITNESS_TOKEN", show_default=False,
        help="Bearer token of an account with read_audit on the partner (needed by --audit; "
             "prefer the environment variable to keep it out of shell history).")] = None,
) -> None:
    """Fetch a partner's checkpoint, check it extends what was seen before, cosign it.

    Prints the cosigned checkpoint. On any inconsistency the alarm is recorded in this
    node's ledger (witness_alarm) and the exit status is 3.
    """
    archive, _ = open_node(data_dir)
    outcome = service_of(archive).witness(url, operator_context(), key=_read_key(key),
                                          audit_entries=audit, token=token)
    if not outcome.accepted:
        typer.echo(f"ALARM: {url}: {outcome.reason}", err=True)
        raise typer.Exit(code=ALARM_EXIT)
    checkpoint = outcome.checkpoint
    assert checkpoint is not None and outcome.cosigned_note is not None
    since = "first contact" if outcome.previous_size is None else (
        f"consistent with size {outcome.previous_size}")
    typer.echo(f"witnessed {checkpoint.origin} at tree size {checkpoint.size} ({since})",
               err=True)
    typer.echo(outcome.cosigned_note, nl=False)
