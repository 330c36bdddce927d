"""``dicomvault serve``: the HTTP (DICOMweb) server and, beside it, the DIMSE SCP."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from dicomvault.cli.common import DataDirOption, app, open_node, reports_errors
from dicomvault.daemon import DaemonRunner
from dicomvault.node import background_jobs
from dicomvault.server import create_http_app

log = logging.getLogger("dicomvault")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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
    if settings.host not in _LOOPBACK:
        log.warning("serving plain HTTP on %s: use HTTPS outside localhost", settings.host)
    url = f"http://{settings.host}:{settings.http_port}"
    typer.echo(f"dicomvault is serving {url}/  (DICOMweb at {url}/dicom-web/)", err=False)
    config = uvicorn.Config(
        create_http_app(archive),
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
    )
    with DaemonRunner(background_jobs(archive)):
        uvicorn.Server(config).run()
