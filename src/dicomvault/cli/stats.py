"""``dicomvault stats``: what the archive holds, and what compression saves."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.codecs import syntax_label


@app.command("stats")
@reports_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Instances, original bytes, stored bytes and ratio per modality and stored transfer syntax."""
    archive, _ = open_node(data_dir)
    figures = archive.storage_figures()
    if as_json:
        typer.echo(json.dumps([f.public() for f in figures], indent=2))
        return
    typer.echo(f"{'modality':8}  {'stored as':30}  {'instances':>9}  {'original MB':>12}  "
               f"{'stored MB':>10}  {'ratio':>6}")
    for f in figures:
        typer.echo(f"{f.modality or '-':8}  {syntax_label(f.transfer_syntax):30}  "
                   f"{f.instances:9d}  {f.original_bytes / 1e6:12.1f}  "
                   f"{f.stored_bytes / 1e6:10.1f}  {f.ratio:6.2f}")
    original = sum(f.original_bytes for f in figures)
    stored = sum(f.stored_bytes for f in figures)
    count = sum(f.instances for f in figures)
    typer.echo(f"{'total':8}  {'':30}  {count:9d}  {original / 1e6:12.1f}  "
               f"{stored / 1e6:10.1f}  {original / stored if stored else 1.0:6.2f}")
