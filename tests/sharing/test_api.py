"""``/api/shares`` over real HTTP: create, list, show, revoke, and who may."""

from __future__ import annotations

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.support.auth import admin_headers, bearer, ledger_events, token_for
from tests.support.live import serving

from dicomvault.access import Role
from dicomvault.archive import Archive
from dicomvault.ledger import EventType
from dicomvault.sharing.institution import InstitutionKey

PARTNER = InstitutionKey(Ed25519PrivateKey.generate()).identity


def _body(**changes: object) -> dict[str, object]:
    return {"grantee": PARTNER.text, "purpose": "tumour board second opinion",
            "scope": {"kind": "query", "query": {"ModalitiesInStudy": "MR",
                                                 "StudyDescription": "*BRAIN*"}},
            "expires_in_days": 30, "max_retrievals": 20,
            "deid_profile": ["retain-longitudinal-modified-dates", "clean-descriptors"],
            **changes}


def test_create_list_show_revoke(archive: Archive) -> None:
    with serving(archive) as url:
        api = httpx.Client(base_url=f"{url}/api", headers=admin_headers(archive), timeout=60)
        created = api.post("/shares", json=_body())
        assert created.status_code == 201, created.text
        share = created.json()
        share_id = share["share_id"]
        assert share["status"] == "active" and share["grantee"] == PARTNER.institution_id
        assert share["scope"]["kind"] == "query" and "BRAIN" not in str(share["scope"])
        assert [s["share_id"] for s in api.get("/shares").json()] == [share_id]
        shown = api.get(f"/shares/{share_id}").json()
        assert shown["scope_private"]["query"]["StudyDescription"] == "*BRAIN*"
        revoked = api.post(f"/shares/{share_id}/revoke", json={"reason": "study closed"})
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        me = api.get("/institution").json()
        assert me["institution_id"] == share["grantor"]
        assert api.get("/shares/sh-000000000000000000000000").status_code == 404
    [granted] = ledger_events(archive, EventType.SHARED)
    [ended] = ledger_events(archive, EventType.SHARE_REVOKED)
    assert granted.details["agreement_sha256"] == ended.details["agreement_sha256"] == (
        share["agreement_sha256"])


def test_bad_requests_and_permissions(archive: Archive) -> None:
    with serving(archive) as url:
        admin = httpx.Client(base_url=f"{url}/api", headers=admin_headers(archive), timeout=60)
        bad = admin.post("/shares", json=_body(deid_profile=["keep-names"]))
        assert bad.status_code == 400 and "keep-names" in bad.json()["reason"]
        assert admin.post("/shares", json=_body(expires_in_days=None)).status_code == 400
        assert admin.post("/shares", json=_body(grantee="nobody")).status_code == 400
        researcher = bearer(token_for(archive, "res", {Role.RESEARCHER}))
        assert httpx.post(f"{url}/api/shares", json=_body(), headers=researcher,
                          timeout=60).status_code == 403
        assert httpx.get(f"{url}/api/shares", timeout=60).status_code == 401
        clinician = bearer(token_for(archive, "doc", {Role.CLINICIAN}))
        assert httpx.post(f"{url}/api/shares", json=_body(), headers=clinician,
                          timeout=60).status_code == 201
    assert len(ledger_events(archive, EventType.SHARED)) == 1
