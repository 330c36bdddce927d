"""``/api/system`` describes the node without PHI."""

from __future__ import annotations

import httpx
from tests.support.auth import admin_headers
from tests.support.live import serving

from dicomvault.archive import Archive
from dicomvault.ledger import VerifierKey


def test_system_names_the_node_and_its_ledger_key(archive: Archive) -> None:
    with serving(archive) as url:
        response = httpx.get(url + "/api/system", headers=admin_headers(archive))
    assert response.status_code == 200
    body = response.json()
    assert body["ae_title"] == archive.settings.ae_title
    assert body["ledger_origin"] == archive.settings.ledger_origin
    assert VerifierKey.parse(body["ledger_public_key"]).name == archive.settings.ledger_origin
