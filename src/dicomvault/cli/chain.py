"""``dicomvault chain``: the consortium chain: accounts, the registry, anchoring, verification.

A thin door onto :mod:`dicomvault.chain` (web3 is imported by the commands
that talk to the chain, not at start, so the rest of the CLI stays fast and
works without the ``chain`` extra). The two ``verify-*`` commands are what a
partner institution runs: they need only a chain endpoint and the
registry's address (``--rpc-url``, ``--contract`` or the settings), never
the grantor's database. Exit status of ``verify-checkpoint`` and
``verify-agreement``: 0 verified (and granted), 1 an error, 2 nothing
anchored yet to decide with, 3 the chain contradicts the file (history
rewritten, or not the agreement that was anchored), 4 the agreement was
revoked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dicomvault.chain.backlog import Backlog
from dicomvault.chain.records import AgreementStatus
from dicomvault.chain.verify import (
    ProofSource,
    parse_agreement,
    verify_agreement_on_chain,
    verify_checkpoint_on_chain,
)
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors, settings_for
from dicomvault.cli.ledger import KeyOption, _read_key
from dicomvault.errors import ChainUnavailableError
from dicomvault.ledger import VerificationError
from dicomvault.ledger.remote import PartnerLog

if TYPE_CHECKING:
    from dicomvault.chain.anchorer import AnchorReport
    from dicomvault.chain.client import ChainClient

chain_app = typer.Typer(help="The consortium chain: anchor checkpoint roots and agreement "
                             "digests, verify them as a partner.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")

NOT_ANCHORED_EXIT = 2
CONTRADICTED_EXIT = 3
REVOKED_EXIT = 4

RpcOption = Annotated[str | None, typer.Option(
    "--rpc-url", help="JSON-RPC endpoint of a chain node (default: chain_rpc_url).")]
ContractOption = Annotated[str | None, typer.Option(
    "--contract", help="Address of the anchor registry (default: chain_contract_address).")]


@chain_app.command("new-account")
@reports_errors
def new_account(
    out: Annotated[Path, typer.Argument(help="Key file to create (mode 0600; never replaced).")],
) -> None:
    """Create this member's Ethereum account; print its address for the consortium owner."""
    from dicomvault.chain.account import create_account

    typer.echo(create_account(out).address)


@chain_app.command("deploy")
@reports_errors
def deploy(data_dir: DataDirOption = None, rpc_url: RpcOption = None) -> None:
    """Deploy a new anchor registry owned by this node's account; print its address."""
    from dicomvault.chain.service import client_for

    client = client_for(settings_for(data_dir), rpc_url=rpc_url)
    address = client.deploy()
    typer.echo(address)
    typer.echo(f"set chain_contract_address = \"{address}\" on every member", err=True)


@chain_app.command("admit")
@reports_errors
def admit(
    member: Annotated[str, typer.Argument(help="The new member's account address.")],
    name: Annotated[str, typer.Option("--name", help="The institution's name.")],
    data_dir: DataDirOption = None, rpc_url: RpcOption = None, contract: ContractOption = None,
) -> None:
    """Admit an institution's account to the consortium (the registry owner only)."""
    from dicomvault.chain.service import client_for

    client = client_for(settings_for(data_dir), rpc_url=rpc_url, address=contract)
    receipt = client.admit_member(member, name[:64])
    typer.echo(f"admitted {member} as {name!r} in block {receipt.block_number}")


@chain_app.command("anchor-now")
@reports_errors
def anchor_now(data_dir: DataDirOption = None) -> None:
    """Queue new checkpoints and agreement events and anchor the backlog now."""
    from dicomvault.chain.service import anchorer_for

    archive, _ = open_node(data_dir)
    report = anchorer_for(archive).run()
    _print_report(report)
    if report.unavailable is not None:
        raise typer.Exit(code=1)


def _print_report(report: AnchorReport) -> None:
    typer.echo(f"queued {report.collected}, anchored {report.anchored}, "
               f"superseded {report.superseded}, refused {len(report.refused)}")
    for tx in report.transactions:
        typer.echo(f"  transaction {tx}")
    for reason in report.refused:
        typer.echo(f"  refused: {reason}")
    if report.unavailable is not None:
        typer.echo(f"chain unavailable, backlog kept for the next pass: {report.unavailable}")


@chain_app.command("status")
@reports_errors
def status(data_dir: DataDirOption = None) -> None:
    """This node's anchoring: backlog, latest anchored root, membership."""
    from dicomvault.chain.service import client_for

    archive, _ = open_node(data_dir)
    settings = archive.settings
    backlog = Backlog(archive.engine, archive.audit.ledger)
    typer.echo(f"enabled:  {settings.chain_enabled}")
    typer.echo(f"endpoint: {settings.chain_rpc_url or '-'}")
    typer.echo(f"registry: {settings.chain_contract_address or '-'}")
    typer.echo("backlog:  " + (", ".join(f"{state} {count}" for state, count
                                         in sorted(backlog.counts().items())) or "empty"))
    for item in backlog.recent(5):
        what = (f"tree size {item.tree_size}" if item.tree_size is not None
                else f"agreement {(item.agreement_sha256 or b'').hex()[:16]}...")
        typer.echo(f"  #{item.id} {item.kind.value} {what}: {item.state.value}"
                   + (f" ({item.last_error})" if item.last_error else ""))
    if settings.chain_rpc_url is None or settings.chain_contract_address is None:
        return
    try:
        _chain_status(client_for(settings), archive.audit.ledger.origin)
    except ChainUnavailableError as exc:
        typer.echo(f"chain:    unavailable ({exc.message})")


def _chain_status(client: ChainClient, origin: str) -> None:
    member = client.sender
    typer.echo(f"chain:    block {client.block_number()}, account {member} "
               + (f"member as {client.member_name(member)!r}" if client.is_member(member)
                  else "NOT a member"))
    latest = client.latest_anchor(origin)
    typer.echo("anchored: " + ("nothing yet" if latest is None else
                               f"{client.anchor_count(origin)} roots, latest tree size "
                               f"{latest.tree_size} root {latest.root_hash.hex()[:16]}..."))


@chain_app.command("verify-checkpoint")
@reports_errors
def verify_checkpoint(
    note_file: Annotated[Path, typer.Argument(help="A signed checkpoint (C2SP note), "
                                                   "obtained from anywhere.")],
    *,
    key: KeyOption = None,
    proofs_from: Annotated[str | None, typer.Option(
        "--proofs-from", help="URL of the log's node to fetch consistency proofs from "
                              "(untrusted: they are checked against the anchored roots).")] = None,
    data_dir: DataDirOption = None, rpc_url: RpcOption = None, contract: ContractOption = None,
) -> None:
    """Check a checkpoint against the roots its log anchored on the chain."""
    from dicomvault.chain.service import client_for

    client = client_for(settings_for(data_dir), read_only=True, rpc_url=rpc_url,
                        address=contract)
    proofs: ProofSource | None = None
    if proofs_from is not None:
        proofs = PartnerLog(proofs_from).consistency_proof
    try:
        verdict = verify_checkpoint_on_chain(note_file.read_text(encoding="utf-8"), client,
                                             key=_read_key(key), proofs=proofs)
    except VerificationError as exc:
        typer.echo(f"FAILED  {exc}")
        raise typer.Exit(code=CONTRADICTED_EXIT) from exc
    for check in verdict.checks:
        typer.echo(f"{'OK    ' if verdict.anchored else 'NOTE  '}  {check}")
    if not verdict.anchored:
        raise typer.Exit(code=NOT_ANCHORED_EXIT)


@chain_app.command("verify-agreement")
@reports_errors
def verify_agreement(
    agreement_file: Annotated[Path, typer.Argument(help="The agreement as JSON.")],
    *,
    share_id: Annotated[str | None, typer.Option(
        "--share-id", help="The share id (default: the file's share_id or id member).")] = None,
    grantor: Annotated[str | None, typer.Option(
        "--grantor", help="Require that this account anchored it.")] = None,
    data_dir: DataDirOption = None, rpc_url: RpcOption = None, contract: ContractOption = None,
) -> None:
    """Check an agreement's digest and status on the chain (granted, revoked)."""
    from dicomvault.chain.service import client_for

    client = client_for(settings_for(data_dir), read_only=True, rpc_url=rpc_url,
                        address=contract)
    try:
        agreement = parse_agreement(agreement_file.read_text(encoding="utf-8"))
        verdict = verify_agreement_on_chain(agreement, client, share_id=share_id,
                                            grantor=grantor)
    except VerificationError as exc:
        typer.echo(f"FAILED  {exc}")
        raise typer.Exit(code=CONTRADICTED_EXIT) from exc
    typer.echo(f"digest   {verdict.digest.hex()}")
    record = verdict.anchored
    if record is None:
        typer.echo("NOTE    this agreement is not anchored on the chain")
        raise typer.Exit(code=NOT_ANCHORED_EXIT)
    typer.echo(f"OK      anchored by {record.grantor}: {record.status.name.lower()}")
    if record.status is AgreementStatus.REVOKED:
        raise typer.Exit(code=REVOKED_EXIT)
