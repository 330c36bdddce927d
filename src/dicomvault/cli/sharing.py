"""``dicomvault institution | share | partner``: identities, agreements, federation.

* ``institution keygen/show/add-partner/partners``: this node's Ed25519
  identity (key file mode 0600) and the partner institutions it knows;
* ``share create/list/show/revoke``: agreements this node grants (the grantor);
* ``partner accept/search/retrieve/witness``: agreements granted to this node
  (the grantee), and witnessing partners' ledger checkpoints.

A thin door onto :mod:`dicomvault.sharing`; see docs/sharing.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from dicomvault.api.shares import resolve_grantee
from dicomvault.api.tokens import parse_expiry
from dicomvault.archive import Archive
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.cli.ledger import ALARM_EXIT, operator_context, service_of
from dicomvault.errors import InvalidInputError
from dicomvault.index import write_transaction
from dicomvault.sharing.agreement import ScopeKind, ShareScope
from dicomvault.sharing.grantee import ShareReceiver
from dicomvault.sharing.grants import GrantRequest, ShareGrants
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.partners import add_partner, list_partners

institution_app = typer.Typer(help="This institution's key and its partner institutions.",
                              no_args_is_help=True)
share_app = typer.Typer(help="Share agreements this node grants to partner institutions.",
                        no_args_is_help=True)
partner_app = typer.Typer(help="Agreements granted to this node: accept, search, retrieve; "
                               "witness partners' ledgers.", no_args_is_help=True)
app.add_typer(institution_app, name="institution")
app.add_typer(share_app, name="share")
app.add_typer(partner_app, name="partner")


def _key(archive: Archive) -> InstitutionKey:
    return InstitutionKey.load_or_create(archive.settings.keys_dir)


def _echo_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


# -- institution --------------------------------------------------------------------------


@institution_app.command("keygen")
@reports_errors
def keygen(data_dir: DataDirOption = None) -> None:
    """Create this node's institution key if it has none (never replaces one); print it."""
    archive, _ = open_node(data_dir)
    identity = _key(archive).identity
    typer.echo(f"institution id {identity.institution_id}", err=True)
    typer.echo(identity.text)


@institution_app.command("show")
@reports_errors
def show_institution(data_dir: DataDirOption = None) -> None:
    """Print this node's institution id, public key, federation URL and ledger key:
    what a partner needs for 'institution add-partner'."""
    archive, _ = open_node(data_dir)
    identity = _key(archive).identity
    _echo_json({"institution_id": identity.institution_id, "public_key": identity.text,
                "url": ShareGrants(archive, _key(archive)).federation_url(),
                "ledger_key": service_of(archive).public_keys()["log_key"]})


@institution_app.command("add-partner")
@reports_errors
def add_partner_command(
    label: Annotated[str, typer.Argument(help="A name for the partner (unique here).")],
    key: Annotated[str, typer.Option("--key", help="The partner's public key (base64).")],
    url: Annotated[str | None, typer.Option(
        "--url", help="The partner node's base URL (its federation and ledger API).")] = None,
    ledger_key: Annotated[str | None, typer.Option(
        "--ledger-key", help="The partner's ledger verifier key, pinned for witnessing.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Register (or update) a partner institution from what it handed over."""
    archive, _ = open_node(data_dir)
    with write_transaction(archive.engine) as conn:
        partner = add_partner(conn, PublicIdentity.parse(key), label, url, ledger_key)
    _echo_json(partner.describe())


@institution_app.command("partners")
@reports_errors
def partners(data_dir: DataDirOption = None) -> None:
    """List the partner institutions this node knows."""
    archive, _ = open_node(data_dir)
    with archive.engine.connect() as conn:
        _echo_json([partner.describe() for partner in list_partners(conn)])


# -- share (grantor) ----------------------------------------------------------------------


def _scope(patients: list[str] | None, studies: list[str] | None, series: list[str] | None,
           query: list[str] | None) -> ShareScope:
    given = [(kind, values) for kind, values in ((ScopeKind.PATIENT, patients),
                                                 (ScopeKind.STUDY, studies),
                                                 (ScopeKind.SERIES, series),
                                                 (ScopeKind.QUERY, query)) if values]
    if len(given) != 1:
        raise InvalidInputError("give exactly one scope: --patient, --study, --series or --query")
    kind, values = given[0]
    if kind is not ScopeKind.QUERY:
        return ShareScope(kind, tuple(values))
    pairs = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError("--query takes Keyword=value (e.g. ModalitiesInStudy=MR)")
        pairs[name.strip()] = value
    return ShareScope(ScopeKind.QUERY, query=pairs)


@share_app.command("create")
@reports_errors
def create(
    *,
    grantee: Annotated[str, typer.Option(
        "--grantee", help="Partner label, institution id, or base64 public key.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why (kept hashed in the ledger).")],
    max_retrievals: Annotated[int, typer.Option(
        "--max-retrievals", help="How many instances may leave under this agreement.")],
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="De-identification option (repeatable), e.g. "
                          "retain-longitudinal-modified-dates.")] = None,
    patient: Annotated[list[str] | None, typer.Option("--patient", help="Patient ID.")] = None,
    study: Annotated[list[str] | None, typer.Option("--study", help="Study UID.")] = None,
    series: Annotated[list[str] | None, typer.Option("--series", help="Series UID.")] = None,
    query: Annotated[list[str] | None, typer.Option(
        "--query", help="Saved-query scope, Keyword=value (repeatable), e.g. "
                        "ModalitiesInStudy=MR --query 'StudyDescription=*BRAIN*'.")] = None,
    expires: Annotated[str | None, typer.Option(
        "--expires", help="Expiry, ISO 8601 (default: --days).")] = None,
    days: Annotated[float, typer.Option("--days", help="Days until expiry.")] = 30.0,
    door: Annotated[list[str] | None, typer.Option(
        "--door", help="qido and/or wado (default both).")] = None,
    allow_burned_in: Annotated[bool, typer.Option(
        "--allow-burned-in", help="Also release instances likely to carry burned-in "
                                  "identity.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Grant an agreement; prints it (with its id and agreement_sha256)."""
    archive, _ = open_node(data_dir)
    until = parse_expiry(expires, None) or datetime.now(UTC) + timedelta(days=days)
    wanted = GrantRequest(
        grantee=resolve_grantee(archive, grantee), scope=_scope(patient, study, series, query),
        purpose=purpose, expires=until, max_retrievals=max_retrievals,
        deid_profile=profile or [], allow_burned_in=allow_burned_in,
        doors=door or ["qido", "wado"])
    record = ShareGrants(archive, _key(archive)).create(operator_context(), wanted)
    _echo_json(record.describe())


@share_app.command("list")
@reports_errors
def list_shares(
    grantee: Annotated[str | None, typer.Option("--grantee", help="Institution id.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the agreements this node granted, with their state."""
    archive, _ = open_node(data_dir)
    for record in ShareGrants(archive, _key(archive)).list(operator_context(), grantee):
        agreement = record.agreement
        typer.echo(f"{agreement.share_id}  {record.status().value:9}  "
                   f"{record.retrievals_used}/{agreement.max_retrievals}  "
                   f"until {agreement.expires}  to {agreement.grantee[:16]}...  "
                   f"{agreement.scope_kind.value}")


@share_app.command("show")
@reports_errors
def show(share_id: str, data_dir: DataDirOption = None) -> None:
    """Show one agreement, with its private scope."""
    archive, _ = open_node(data_dir)
    _echo_json(ShareGrants(archive, _key(archive)).show(operator_context(), share_id)
               .describe(private=True))


@share_app.command("revoke")
@reports_errors
def revoke(
    share_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Kept here, not in the ledger.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Revoke an agreement now: the partner's next request is refused (410)."""
    archive, _ = open_node(data_dir)
    record = ShareGrants(archive, _key(archive)).revoke(operator_context(), share_id, reason)
    typer.echo(f"{share_id} {record.status().value}")


# -- partner (grantee) --------------------------------------------------------------------


@partner_app.command("accept")
@reports_errors
def accept(
    share_id: str,
    grantor: Annotated[str, typer.Option("--grantor", help="The grantor's partner label.")],
    data_dir: DataDirOption = None,
) -> None:
    """Fetch an agreement from its grantor, verify its signature, record it."""
    archive, _ = open_node(data_dir)
    agreement = ShareReceiver(archive, _key(archive)).accept(operator_context(), grantor,
                                                             share_id)
    _echo_json({**agreement.to_dict(), "agreement_sha256": agreement.sha256()})


@partner_app.command("list")
@reports_errors
def list_received(data_dir: DataDirOption = None) -> None:
    """The agreements granted to this node, and how they ended (revoked, expired...)."""
    archive, _ = open_node(data_dir)
    for item in ShareReceiver(archive, _key(archive)).list_received(operator_context()):
        typer.echo(f"{item['share_id']}  {item['ended'] or 'active':9}  until {item['expires']}"
                   f"  from {str(item['grantor'])[:16]}...  {item['purpose']}")


@partner_app.command("search")
@reports_errors
def search(
    share_id: str,
    study: Annotated[str | None, typer.Option(
        "--study", help="A (remapped) study UID: list its instances.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """QIDO-RS at the grantor under an agreement (DICOM JSON, de-identified)."""
    archive, _ = open_node(data_dir)
    receiver = ShareReceiver(archive, _key(archive))
    level = "studies" if study is None else "instances"
    _echo_json(receiver.search(operator_context(), share_id, study, level=level))


@partner_app.command("retrieve")
@reports_errors
def retrieve(share_id: str, data_dir: DataDirOption = None) -> None:
    """Retrieve everything the agreement shows and import it into this node.

    Exit status 0 when all came; 4 when the grantor ended the agreement on the way
    (revoked, expired, limit reached): what came before stays imported.
    """
    archive, _ = open_node(data_dir)
    report = ShareReceiver(archive, _key(archive)).retrieve(operator_context(), share_id)
    typer.echo(f"imported {len(report.imported)} instance(s) under {share_id}")
    if report.ended is not None:
        typer.echo(f"stopped: {report.reason} ({report.ended})", err=True)
        raise typer.Exit(code=4)


@partner_app.command("witness")
@reports_errors
def witness(data_dir: DataDirOption = None) -> None:
    """Witness (cosign) the latest ledger checkpoint of every partner with a URL, against
    its pinned ledger key ('ledger witness' for each). Exit status 3 on any alarm."""
    archive, _ = open_node(data_dir)
    ledger = service_of(archive)
    with archive.engine.connect() as conn:
        known = [p for p in list_partners(conn) if p.url]
    alarms = 0
    for partner in known:
        assert partner.url is not None
        outcome = ledger.witness(partner.url, operator_context(), key=partner.ledger_key)
        if outcome.accepted and outcome.checkpoint is not None:
            typer.echo(f"witnessed {partner.label}: tree size {outcome.checkpoint.size}")
        else:
            alarms += 1
            typer.echo(f"ALARM: {partner.label}: {outcome.reason}", err=True)
    if alarms:
        raise typer.Exit(code=ALARM_EXIT)
