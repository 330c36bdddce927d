"""What every command shares: the Typer app, option types, error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from dicomvault.archive import Archive
from dicomvault.config import Settings, load_settings
from dicomvault.errors import DicomVaultError, InvalidInputError
from dicomvault.node import NodeNotices, open_archive

app = typer.Typer(
    name="dicomvault",
    help="dicomvault: a secure, verifiable DICOM archive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="DICOMVAULT_DATA_DIR",
        help="Data directory of the node (default ./dicomvault-data).",
        show_default=False,
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a DicomVaultError into a one-line message and exit code 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DicomVaultError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(code=1) from exc

    return wrapper


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    return load_settings(data_dir=data_dir, **overrides)


def open_node(data_dir: Path | None, **overrides: Any) -> tuple[Archive, NodeNotices]:
    archive, notices = open_archive(settings_for(data_dir, **overrides))
    if notices.initial_admin_password is not None:
        # Printed once, whichever command opened the node first; only its hash is kept.
        typer.echo(f"created the first account: user 'admin', password "
                   f"{notices.initial_admin_password}  (shown only this once; change it "
                   "with: dicomvault users update admin --password-stdin)", err=True)
    return archive, notices


def files_under(paths: list[Path]) -> list[Path]:
    """The files named, and every file below the directories named (sorted, recursive)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInputError(f"{path} does not exist")
    return found


def is_interactive() -> bool:
    return sys.stderr.isatty()
