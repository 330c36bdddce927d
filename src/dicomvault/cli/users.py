"""``dicomvault users``: accounts from scripts (create, list, update, delete).

The CLI acts as the local operator (whoever can run it can read the data
directory), so it needs no login. Passwords come from standard input
(``--password-stdin``), never from the command line, where ``ps`` and shell
history would show them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dicomvault.access import Door, PrincipalKind, Role, Scope, system_context
from dicomvault.access.roles import parse_roles
from dicomvault.access.service import AccessService
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.errors import ConfigurationError, InvalidInputError

users_app = typer.Typer(help="Manage accounts (people and service accounts).",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")

RoleOption = Annotated[list[str], typer.Option("--role", help="Role (repeatable): admin, "
                                               "clinician, technologist, researcher, auditor, "
                                               "service.")]
InstitutionOption = Annotated[list[str] | None, typer.Option(
    "--institution", help="Limit to studies of this InstitutionName (repeatable).")]
DepartmentOption = Annotated[list[str] | None, typer.Option(
    "--department", help="Limit to this InstitutionalDepartmentName (repeatable).")]
ReferringOption = Annotated[list[str] | None, typer.Option(
    "--referring-physician", help="Limit to this ReferringPhysicianName (repeatable).")]


def open_access(data_dir: Path | None) -> AccessService:
    archive, _ = open_node(data_dir)
    if archive.access is None:  # pragma: no cover - open_archive always sets it
        raise ConfigurationError("this node has no access service")
    return archive.access


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInputError("no password on standard input")
    return password


def _roles(names: list[str]) -> frozenset[Role]:
    try:
        return parse_roles(names)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


CLI = system_context(Door.CLI, actor="cli")


@users_app.command("create")
@reports_errors
def create(  # noqa: PLR0917 (typer options)
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: RoleOption,
    institution: InstitutionOption = None,
    department: DepartmentOption = None,
    referring_physician: ReferringOption = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    service: Annotated[bool, typer.Option(
        "--service", help="A service account (API tokens only, no password).")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create an account. People need --password-stdin; --service accounts use tokens."""
    if service == password_stdin:
        raise InvalidInputError("give --password-stdin for a person, or --service")
    access = open_access(data_dir)
    scope = Scope.of(institution or (), department or (), referring_physician or ())
    account = access.create_user(
        CLI, name, roles=_roles(role), scope=scope,
        password=_password_from_stdin() if password_stdin else None,
        kind=PrincipalKind.SERVICE if service else PrincipalKind.USER)
    typer.echo(f"created {account.kind.value} {account.name} "
               f"({', '.join(sorted(r.value for r in account.roles))})")


@users_app.command("list")
@reports_errors
def list_accounts(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """One line per account: name, kind, roles, scope, state."""
    accounts = open_access(data_dir).list_users(CLI)
    if as_json:
        typer.echo(json.dumps([a.public() for a in accounts], indent=2))
        return
    for account in accounts:
        view = account.public()
        scope = {k: v for k, v in view["scope"].items() if v}
        state = "disabled" if account.disabled else "active"
        typer.echo(f"{account.name:24} {account.kind.value:8} {','.join(view['roles']):28} "
                   f"{state:8} {json.dumps(scope) if scope else 'all studies'}")


@users_app.command("update")
@reports_errors
def update(  # noqa: PLR0917 (typer options)
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[list[str] | None, typer.Option("--role", help="Replace the roles.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    disable: Annotated[bool, typer.Option("--disable")] = False,
    enable: Annotated[bool, typer.Option("--enable")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Change roles, set a new password (ends its sessions), disable or enable."""
    changes: dict[str, object] = {}
    if role:
        changes["roles"] = _roles(role)
    if password_stdin:
        changes["password"] = _password_from_stdin()
    if disable or enable:
        changes["disabled"] = disable
    open_access(data_dir).update_user(CLI, name, **changes)
    typer.echo(f"updated {name}")


@users_app.command("delete")
@reports_errors
def delete(name: Annotated[str, typer.Argument(help="Account name.")],
           data_dir: DataDirOption = None) -> None:
    """Delete an account and all its tokens."""
    open_access(data_dir).delete_user(CLI, name)
    typer.echo(f"deleted {name}")
