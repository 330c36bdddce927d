"""``dicomvault audit``: the auditor's views over the ledger, exports, and syslog forwarding.

Same views as ``/api/audit`` (:mod:`dicomvault.audit.views`), printed as a
table, JSON, CSV, FHIR R4 AuditEvents or DICOM audit messages (ATNA XML).
``audit patient`` asks for the Patient ID at a prompt (not on the command
line, where shell history would keep it) and looks it up by its keyed hash.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from dicomvault.archive import Archive
from dicomvault.audit.atna import to_atna_xml
from dicomvault.audit.fhir import to_fhir_bundle
from dicomvault.audit.forwarder import forwarder_for
from dicomvault.audit.views import AuditFilter, AuditPage, AuditViews, Page, page_csv, page_json
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.cli.ledger import operator_context, service_of
from dicomvault.errors import ConfigurationError, InvalidInputError
from dicomvault.ledger.identifiers import PATIENT

audit_app = typer.Typer(help="Audit views over the ledger (auditors) and audit exports.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")

_FORMATS = ("table", "json", "csv", "fhir", "atna")

TypeOption = Annotated[list[str] | None, typer.Option(
    "--type", help="Only these event types (repeatable).")]
ActorOption = Annotated[str | None, typer.Option("--actor", help="Only this user.")]
DoorOption = Annotated[str | None, typer.Option(
    "--door", help="Only through this door (DICOMweb, DIMSE, CLI, UI, API).")]
SinceOption = Annotated[datetime | None, typer.Option("--since", help="From this time (UTC).")]
UntilOption = Annotated[datetime | None, typer.Option("--until", help="Until this time (UTC).")]
OffsetOption = Annotated[int, typer.Option("--offset", min=0, help="Events to skip.")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=1000, help="Events to show.")]
FormatOption = Annotated[str, typer.Option(
    "--format", help=f"Output: {', '.join(_FORMATS)}.")]


def _filters(types: list[str] | None, actor: str | None, door: str | None,
             since: datetime | None, until: datetime | None) -> AuditFilter:
    params = {"type": ",".join(types or []), "actor": actor or "", "door": door or "",
              "since": since.isoformat() if since else "",
              "until": until.isoformat() if until else ""}
    return AuditFilter.from_params(params)


def _views(archive: Archive) -> AuditViews:
    return AuditViews(archive.engine, archive.audit.ledger)


def _show(archive: Archive, page: AuditPage, output: str) -> None:
    origin = archive.audit.ledger.origin
    if output == "json":
        typer.echo(json.dumps(page_json(page), indent=2))
    elif output == "csv":
        typer.echo(page_csv(page), nl=False)
    elif output == "fhir":
        bundle = to_fhir_bundle([(r.index, r.event) for r in page.records], origin=origin)
        typer.echo(json.dumps(bundle, indent=2))
    elif output == "atna":
        for record in page.records:
            typer.echo(to_atna_xml(record.event, index=record.index, origin=origin).decode())
    else:
        for record in page.records:
            event = record.event
            details = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
            typer.echo(f"{record.index:>8}  {event.time[:19]}Z  {event.type.value:20} "
                       f"{event.actor:16} {event.door:8} {event.client:15} {details}")
        shown = f"{page.offset + 1}-{page.offset + len(page.records)}" if page.records else "0"
        typer.echo(f"({shown} of {page.total} events, newest first)", err=True)


def _check_format(output: str) -> None:
    if output not in _FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(_FORMATS)}")


@audit_app.command("events")
@reports_errors
def events(*, data_dir: DataDirOption = None, types: TypeOption = None, actor: ActorOption = None,
           door: DoorOption = None, since: SinceOption = None, until: UntilOption = None,
           offset: OffsetOption = 0, limit: LimitOption = 50,
           output: FormatOption = "table") -> None:
    """Every event matching the filters, newest first."""
    _check_format(output)
    archive, _ = open_node(data_dir)
    page = _views(archive).events(operator_context(), _filters(types, actor, door, since, until),
                                  Page(offset, limit))
    _show(archive, page, output)


@audit_app.command("patient")
@reports_errors
def patient(
    *,
    patient_id: Annotated[str, typer.Option(
        "--patient-id", prompt="Patient ID", hide_input=True,
        help="Asked at a prompt when not given (keeps it out of shell history).")],
    data_dir: DataDirOption = None, types: TypeOption = None, actor: ActorOption = None,
    door: DoorOption = None, since: SinceOption = None, until: UntilOption = None,
    offset: OffsetOption = 0, limit: LimitOption = 50, output: FormatOption = "table",
) -> None:
    """Who accessed a patient's studies (found by the keyed hash of the Patient ID)."""
    _check_format(output)
    archive, _ = open_node(data_dir)
    subject = archive.audit.ledger.identifiers.subject(PATIENT, patient_id.strip())
    page = _views(archive).patient_access(operator_context(), subject,
                                          _filters(types, actor, door, since, until),
                                          Page(offset, limit))
    _show(archive, page, output)


@audit_app.command("user")
@reports_errors
def user(*, user_name: Annotated[str, typer.Argument(help="The user (event actor).")],
         data_dir: DataDirOption = None, types: TypeOption = None, door: DoorOption = None,
         since: SinceOption = None, until: UntilOption = None, offset: OffsetOption = 0,
         limit: LimitOption = 50, output: FormatOption = "table") -> None:
    """What one user did."""
    _check_format(output)
    archive, _ = open_node(data_dir)
    page = _views(archive).user_activity(operator_context(), user_name,
                                         _filters(types, None, door, since, until),
                                         Page(offset, limit))
    _show(archive, page, output)


@audit_app.command("failed-logins")
@reports_errors
def failed_logins(*, data_dir: DataDirOption = None, actor: ActorOption = None,
                  since: SinceOption = None, until: UntilOption = None,
                  offset: OffsetOption = 0, limit: LimitOption = 50,
                  output: FormatOption = "table") -> None:
    """Failed logins (the user name tried is the actor)."""
    _check_format(output)
    archive, _ = open_node(data_dir)
    page = _views(archive).failed_logins(operator_context(),
                                         _filters(None, actor, None, since, until),
                                         Page(offset, limit))
    _show(archive, page, output)


@audit_app.command("exports")
@reports_errors
def exports(*, data_dir: DataDirOption = None, actor: ActorOption = None,
            since: SinceOption = None, until: UntilOption = None, offset: OffsetOption = 0,
            limit: LimitOption = 50, output: FormatOption = "table") -> None:
    """Instances exported from the archive."""
    _check_format(output)
    archive, _ = open_node(data_dir)
    page = _views(archive).exports(operator_context(), _filters(None, actor, None, since, until),
                                   Page(offset, limit))
    _show(archive, page, output)


@audit_app.command("send")
@reports_errors
def send(data_dir: DataDirOption = None) -> None:
    """Forward ledger events not sent yet to the audit collector (audit_syslog_url), once."""
    archive, _ = open_node(data_dir)
    forwarder = forwarder_for(archive.settings, service_of(archive))
    if forwarder is None:
        raise ConfigurationError("audit_syslog_url is not set: no collector to send to")
    typer.echo(f"sent {forwarder.forward()} audit messages")

