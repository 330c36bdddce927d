"""``dicomvault compress``: apply the storage policy to what is archived, resumably."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dicomvault.access import Door, system_context
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.codecs import syntax_label
from dicomvault.codecs.compressor import Outcome, compress_pending
from dicomvault.codecs.original import SPLITTABLE
from dicomvault.codecs.policy import storage_target
from dicomvault.errors import InvalidInputError


def _since(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 date-time (UTC when no offset is given)."""
    if text is None:
        return None
    try:
        moment = (datetime.fromisoformat(text) if "T" in text or " " in text
                  else datetime.combine(date.fromisoformat(text), time()))
    except ValueError as exc:
        raise InvalidInputError("--since must be a date (2024-01-31) or a date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("compress")
@reports_errors
def compress(
    since: Annotated[str | None, typer.Option(
        help="Only instances stored at or after this date / date-time (UTC).")] = None,
    syntax: Annotated[str | None, typer.Option(
        help="Compress to this lossless syntax instead of what the storage policy says "
             "(jpeg-ls-lossless, jpeg2000-lossless, htj2k-lossless, htj2k-lossless-rpcl, rle).",
    )] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Stop after compressing this many instances.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Compress archived native instances losslessly (proven bit-exact), as the policy says.

    Resumable: an interrupted run continues where it stopped. Each original
    stays reconstructible byte for byte and is what "as stored" retrieval returns.
    """
    archive, _ = open_node(data_dir)
    target = storage_target(syntax, "--syntax") if syntax is not None else None
    if syntax is not None and target is None:
        raise InvalidInputError("--syntax must name a lossless syntax to compress to")
    moment = _since(since)
    ctx = system_context(Door.CLI, actor="cli")
    total = archive.count_compression_candidates(sorted(SPLITTABLE), since=moment)
    counts: Counter[Outcome] = Counter()
    with Progress(TextColumn("compressing"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[saved]}"), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("compress", total=total, saved="")
        sizes = [0, 0]

        def progress(outcome: Outcome, original: int, stored: int) -> None:
            counts[outcome] += 1
            sizes[0] += original
            sizes[1] += stored
            bar.update(task, advance=1,
                       saved=f"{sizes[0] / 1e6:.0f} MB -> {sizes[1] / 1e6:.0f} MB")

        report = compress_pending(archive, ctx, since=moment, syntax=target, limit=limit,
                                  progress=progress)
    if not report.looked_at:
        typer.echo(f"looked at 0 of {total} instances: nothing left to compress")
        return
    ratio = report.original_bytes / report.stored_bytes if report.stored_bytes else 1.0
    typer.echo(f"looked at {report.looked_at} of {total} instances in {report.seconds:.1f} s: "
               + ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])
               + f"; {report.original_bytes / 1e6:.2f} MB now held in "
               f"{report.stored_bytes / 1e6:.2f} MB (ratio {ratio:.2f})"
               + (f"; target {syntax_label(target)}" if target else ""))
    if counts[Outcome.FAILED]:
        raise typer.Exit(code=1)
