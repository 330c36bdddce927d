"""``dicomvault config show``: the settings in force, secrets masked."""

from __future__ import annotations

import json

import typer

from dicomvault.cli.common import DataDirOption, app, reports_errors, settings_for

config_app = typer.Typer(help="Inspect the settings in force.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@reports_errors
def show(data_dir: DataDirOption = None) -> None:
    """Print every setting (from defaults, the TOML file and DICOMVAULT_* variables)."""
    typer.echo(json.dumps(settings_for(data_dir).public_view(), indent=2, sort_keys=True))
