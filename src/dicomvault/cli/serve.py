"""``dicomvault serve``: the HTTP (DICOMweb) server and, beside it, the DIMSE SCP."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import typer
import uvicorn
from starlette.applications import Starlette

from dicomvault.access.transport import transport_for
from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.daemon import DaemonRunner
from dicomvault.dimse import DimseServer
from dicomvault.node import background_jobs
from dicomvault.server import create_http_app

log = logging.getLogger("dicomvault")


@app.command("serve")
@reports_errors
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[
        str | None, typer.Option(envvar="DICOMVAULT_HOST", help="Address to listen on.")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(envvar="DICOMVAULT_HTTP_PORT", help="HTTP port (DICOMweb).")
    ] = None,
    dicom_port: Annotated[
        int | None, typer.Option(envvar="DICOMVAULT_DICOM_PORT", help="DIMSE port.")
    ] = None,
    no_dimse: Annotated[
        bool, typer.Option("--no-dimse", help="Do not start the DIMSE (DICOM network) SCP.")
    ] = False,
) -> None:
    """Start the archive; prints the URL it serves."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    archive, notices = open_node(data_dir, host=host, http_port=http_port, dicom_port=dicom_port)
    settings = archive.settings
    if notices.generated_passphrase:
        log.warning(
            "the keyring is protected by a generated passphrase stored beside it in %s; "
            "production should set DICOMVAULT_KEYRING_PASSPHRASE or use a KMS",
            settings.keys_dir,
        )
    transport = transport_for(settings)
    for warning in transport.warnings:
        log.warning("%s", warning)
    url = f"{transport.scheme}://{settings.host}:{settings.http_port}"
    typer.echo(f"dicomvault is serving {url}/  (DICOMweb at {url}/dicom-web/)", err=False)
    dimse = None if no_dimse else DimseServer(archive)
    daemons = DaemonRunner(background_jobs(archive))
    stopped = threading.Event()

    def stop_node() -> None:
        """Close the DIMSE door, end the background jobs, wait for every blob in flight and
        close the database; once, whether at uvicorn's shutdown or on the way out."""
        if stopped.is_set():
            return
        stopped.set()
        if dimse is not None:
            dimse.stop()
        daemons.stop()
        archive.close()
        log.info("stopped: DIMSE door closed, background jobs ended, blobs durable")

    @contextlib.asynccontextmanager
    async def stop_with_the_server(_app: Starlette) -> AsyncIterator[None]:
        # uvicorn re-raises SIGTERM/SIGINT once its shutdown is done, which ends the
        # process there: the node must stop here, inside that shutdown.
        yield
        await anyio.to_thread.run_sync(stop_node)

    config = uvicorn.Config(
        create_http_app(archive, lifespan=stop_with_the_server),
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        **transport.uvicorn_options,
    )
    if dimse is not None:
        dimse.start()
        typer.echo(f"DIMSE SCP {settings.ae_title} on port(s) "
                   f"{', '.join(str(port) for port in dimse.ports)}")
    daemons.start()
    try:
        uvicorn.Server(config).run()
    finally:
        stop_node()  # when uvicorn returns without a signal (it could not listen, say)
