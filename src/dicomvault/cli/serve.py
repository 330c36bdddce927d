"""``dicomvault serve``: the HTTP (DICOMweb) server and, beside it, the DIMSE SCP."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

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
    config = uvicorn.Config(
        create_http_app(archive),
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        **transport.uvicorn_options,
    )
    dimse = None if no_dimse else DimseServer(archive)
    if dimse is not None:
        dimse.start()
        typer.echo(f"DIMSE SCP {settings.ae_title} on port(s) "
                   f"{', '.join(str(port) for port in dimse.ports)}")
    try:
        with DaemonRunner(background_jobs(archive)):
            uvicorn.Server(config).run()
    finally:
        if dimse is not None:
            dimse.stop()
