"""``dicomvault tokens``: API tokens for machines (create prints the token once)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from dicomvault.api.tokens import parse_expiry, parse_permissions
from dicomvault.cli.common import DataDirOption, app, reports_errors
from dicomvault.cli.users import CLI, open_access

tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
@reports_errors
def create(
    user: Annotated[str, typer.Option("--user", help="Account the token acts as.")],
    expires: Annotated[str | None, typer.Option(
        "--expires", help="Expiry: a number of days (30, 90d) or an ISO 8601 date-time.")] = None,
    permission: Annotated[list[str] | None, typer.Option(
        "--permission", help="Narrow to these permissions (repeatable).")] = None,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Create a token and print it once on standard output (only its hash is kept)."""
    days: float | None = None
    moment: str | None = None
    if expires is not None:
        text = expires.removesuffix("d")
        if text.replace(".", "", 1).isdigit():
            days = float(text)
        else:
            moment = expires
    info, token = open_access(data_dir).create_token(
        CLI, user, label=label, permissions=parse_permissions(permission),
        expires_at=parse_expiry(moment, days))
    typer.echo(token)
    expiry = info.expires_at.isoformat() if info.expires_at else "never"
    typer.echo(f"token {info.id} for {info.user}, expires {expiry}; "
               "it is shown only this once", err=True)


@tokens_app.command("list")
@reports_errors
def list_tokens(
    user: Annotated[str | None, typer.Option("--user")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Every token (never its secret) as JSON."""
    infos = open_access(data_dir).list_tokens(CLI, user)
    typer.echo(json.dumps([info.public() for info in infos], indent=2))


@tokens_app.command("revoke")
@reports_errors
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")],
           data_dir: DataDirOption = None) -> None:
    """Revoke a token at once (every process checks it on each request)."""
    open_access(data_dir).revoke_token(CLI, token_id)
    typer.echo(f"revoked {token_id}")
