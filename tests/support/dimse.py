"""A node with its DIMSE door listening, for the DIMSE, interop, audit and security tests."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.nodes import open_test_node
from tests.support.services import require

from dicomvault.archive import Archive
from dicomvault.dimse import DimseServer

AE_TITLE = "DICOMVAULT"


@dataclass
class DimseNode:
    archive: Archive
    port: int
    tls_port: int | None = None
    ae_title: str = AE_TITLE


@contextlib.contextmanager
def dimse_serving(archive: Archive) -> Iterator[DimseNode]:
    """Serve ``archive``'s DIMSE door on a free port in this process."""
    server = DimseServer(archive, port=0)
    server.start()
    try:
        ports = server.ports
        yield DimseNode(archive, ports[0], ports[1] if len(ports) > 1 else None)
    finally:
        server.stop()


@contextlib.contextmanager
def dimse_node(data_dir: Path, **overrides: Any) -> Iterator[DimseNode]:
    """A fresh SQLite node under ``data_dir`` serving DIMSE, with settings ``overrides``."""
    url = f"sqlite:///{(data_dir / 'index.sqlite3').resolve()}"
    overrides.setdefault("dicom_port", 0)
    overrides.setdefault("ae_title", AE_TITLE)
    with open_test_node(data_dir, url, **overrides) as archive, dimse_serving(archive) as node:
        yield node


def dcmtk(tool: str) -> str:
    """Full path of a dcmtk tool (pynetdicom installs same-named scripts in the venv)."""
    path = f"/usr/bin/{tool}"
    require(shutil.which(path) is not None, f"dcmtk's {tool} is not installed "
                                            "(apt-get install dcmtk)")
    return path


#: dcmtk tools leave Nagle on unless told (shared/PEERS.md).
DCMTK_ENV = {"TCP_NODELAY": "1"}
