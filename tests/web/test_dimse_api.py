"""``GET /api/dimse``: the DICOM page's read-only view of this node's AE titles and
destinations, for admins only, with no key or certificate file named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.auth import admin_headers, bearer, token_for
from tests.support.live import serving
from tests.support.nodes import open_test_node

from dicomvault.access import Role
from dicomvault.archive import Archive


@pytest.fixture
def dimse_node(tmp_path: Path) -> Iterator[Archive]:
    with open_test_node(
            tmp_path / "node", f"sqlite:///{tmp_path / 'index.sqlite3'}", ae_title="VAULT-A",
            dicom_port=11199,
            dimse_ae_roles={"MODALITY1": ["technologist"], "*": ["service"]},
            dimse_ae_hosts={"MODALITY1": ["10.0.0.5", "10.1.0.0/16"]},
            dimse_destinations={"PACS-B": {"host": "pacs.example.org", "port": 104},
                                "WS-C": {"host": "10.0.0.7", "port": 2762, "tls": True}},
            ) as node:
        yield node


def test_admins_see_the_configured_titles_and_destinations(dimse_node: Archive) -> None:
    with serving(dimse_node) as url, httpx.Client(base_url=url, timeout=60) as client:
        answer = client.get("/api/dimse", headers=admin_headers(dimse_node))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ae_title"] == "VAULT-A" and body["dicom_port"] == 11199
        assert body["tls_enabled"] is False and body["tls_port"] is None
        assert body["ae_roles"] == {"MODALITY1": ["technologist"], "*": ["service"]}
        assert body["ae_hosts"] == {"MODALITY1": ["10.0.0.5/32", "10.1.0.0/16"]}
        assert body["destinations"] == [
            {"ae_title": "PACS-B", "host": "pacs.example.org", "port": 104, "tls": False},
            {"ae_title": "WS-C", "host": "10.0.0.7", "port": 2762, "tls": True}]
        assert body["tls_cert_roles"] == {}
        assert "file" not in answer.text and "passphrase" not in answer.text
        for role in (Role.CLINICIAN, Role.AUDITOR, Role.TECHNOLOGIST, Role.RESEARCHER,
                     Role.SERVICE):
            refused = client.get("/api/dimse", headers=bearer(
                token_for(dimse_node, f"u-{role}", {role})))
            assert refused.status_code == 403, role
        assert client.get("/api/dimse").status_code == 401
