"""Every role against every endpoint: allowed or refused, and refusals leak no PHI.

The matrix is a table (:data:`ROWS`): one row per operation of a door, with
the permission it needs (``None``: any authenticated principal). DIMSE rows
(C-FIND, C-MOVE, C-GET, C-STORE) are added the same way when the DIMSE door
lands: a row only needs a ``call`` that performs the operation as a principal
and returns the outcome (allowed / refused / unauthenticated) and the text of
a refusal.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.security.studies import study_files, uids
from tests.support.auth import bearer, token_for
from tests.support.multipart import stow_body

from dicomvault.access import Door, Permission, RequestContext, Role
from dicomvault.access.roles import ROLE_PERMISSIONS
from dicomvault.archive import Archive


class Outcome(enum.Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"  # 403
    UNAUTHENTICATED = "unauthenticated"  # 401


@dataclass(frozen=True)
class Target:
    """What the calls act on: one stored study with PHI in it, and a file to store."""

    study: str
    series: str
    sop: str
    file: bytes


@dataclass(frozen=True)
class Row:
    name: str
    door: str
    needs: Permission | None
    call: Callable[[httpx.Client, dict[str, str], Target], httpx.Response]


def _http(method: str, path: str, **kwargs: Any) -> Callable[
        [httpx.Client, dict[str, str], Target], httpx.Response]:
    def call(client: httpx.Client, headers: dict[str, str], t: Target) -> httpx.Response:
        extra = kwargs.get("headers", {})
        body = kwargs.get("json")
        return client.request(method, path.format(t=t), headers={**headers, **extra},
                              json=body(t) if callable(body) else body)
    return call


def _stow(client: httpx.Client, headers: dict[str, str], t: Target) -> httpx.Response:
    body, content_type = stow_body([t.file])
    return client.post("/dicom-web/studies", content=body,
                       headers={**headers, "Content-Type": content_type})


_ANY = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
_INSTANCE = "/dicom-web/studies/{t.study}/series/{t.series}/instances/{t.sop}"
ROWS: list[Row] = [
    Row("QIDO studies", "DICOMweb", Permission.SEARCH, _http("GET", "/dicom-web/studies")),
    Row("QIDO series", "DICOMweb", Permission.SEARCH,
        _http("GET", "/dicom-web/studies/{t.study}/series")),
    Row("QIDO instances", "DICOMweb", Permission.SEARCH, _http("GET", "/dicom-web/instances")),
    Row("WADO study", "DICOMweb", Permission.RETRIEVE,
        _http("GET", "/dicom-web/studies/{t.study}", headers=_ANY)),
    Row("WADO metadata", "DICOMweb", Permission.RETRIEVE,
        _http("GET", "/dicom-web/studies/{t.study}/metadata")),
    Row("WADO frames", "DICOMweb", Permission.RETRIEVE, _http(
        "GET", _INSTANCE + "/frames/1",
        headers={"Accept": 'multipart/related; type="application/octet-stream"'})),
    Row("WADO rendered", "DICOMweb", Permission.RETRIEVE, _http("GET", _INSTANCE + "/rendered")),
    Row("WADO thumbnail", "DICOMweb", Permission.RETRIEVE,
        _http("GET", "/dicom-web/studies/{t.study}/thumbnail")),
    Row("STOW", "DICOMweb", Permission.STORE, _stow),
    Row("DELETE (unknown study)", "DICOMweb", Permission.DELETE,
        _http("DELETE", "/dicom-web/studies/1.2.3.4.5.6.7.8.9")),
    Row("users list", "API", Permission.MANAGE_USERS, _http("GET", "/api/users")),
    Row("users create", "API", Permission.MANAGE_USERS, _http(
        "POST", "/api/users", json={"name": "made-by-matrix", "roles": ["auditor"],
                                    "password": "a long enough password"})),
    Row("users update", "API", Permission.MANAGE_USERS,
        _http("PATCH", "/api/users/test-admin", json={"disabled": False})),
    Row("users delete (unknown)", "API", Permission.MANAGE_USERS,
        _http("DELETE", "/api/users/nobody-here")),
    Row("tokens list", "API", Permission.MANAGE_USERS, _http("GET", "/api/tokens")),
    Row("tokens create", "API", Permission.MANAGE_USERS,
        _http("POST", "/api/tokens", json={"user": "test-admin"})),
    Row("tokens revoke (unknown)", "API", Permission.MANAGE_USERS,
        _http("DELETE", "/api/tokens/0000000000000000")),
    Row("keys status", "API", Permission.MANAGE_KEYS, _http("GET", "/api/keys")),
    Row("keys rotate", "API", Permission.MANAGE_KEYS, _http("POST", "/api/keys/rotate")),
    Row("who am I", "API", None, _http("GET", "/api/auth/me")),
    Row("system", "API", None, _http("GET", "/api/system")),
    Row("OpenAPI", "HTTP", None, _http("GET", "/openapi.json")),
]
PRINCIPALS: list[Role | None] = [*Role, None]  # None: no credentials at all
PHI = ("DOE", "JANE", "PHI-12345")


def _outcome(response: httpx.Response) -> Outcome:
    if response.status_code == 401:
        return Outcome.UNAUTHENTICATED
    if response.status_code == 403:
        return Outcome.REFUSED
    assert response.status_code < 500, response.text
    return Outcome.ALLOWED


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_permission_matrix(archive: Archive, anonymous: httpx.Client) -> None:
    [first, second] = study_files(11, institution="Matrix Hospital")
    archive.store_bytes(first, RequestContext(actor="loader", door=Door.CLI))
    study, series, sop = uids(first)
    target = Target(study, series, sop, second)
    headers = {role: bearer(token_for(archive, f"matrix-{role.value}", {role}))
               for role in Role}
    token_for(archive, "test-admin", {Role.ADMIN})
    failures = []
    seen: set[Outcome] = set()
    for row, role in itertools.product(ROWS, PRINCIPALS):
        response = row.call(anonymous, headers[role] if role else {}, target)
        got = _outcome(response)
        seen.add(got)
        if role is None:
            expected = Outcome.UNAUTHENTICATED
        elif row.needs is None or row.needs in ROLE_PERMISSIONS[role]:
            expected = Outcome.ALLOWED
        else:
            expected = Outcome.REFUSED
        if got is not expected:
            failures.append(f"{row.name} as {role}: {got.value} ({response.status_code}), "
                            f"expected {expected.value}")
        if got is not Outcome.ALLOWED:
            body = response.json()
            assert set(body) == {"error", "reason"}, (row.name, role)
            leaked = [p for p in (*PHI, study, sop) if p in response.text]
            assert not leaked, f"{row.name} as {role} leaks {leaked}"
    assert failures == []
    assert seen == set(Outcome)


def test_every_role_is_in_the_matrix_and_auditors_see_no_images() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.READ_AUDIT}
    assert {row.needs for row in ROWS} >= {Permission.SEARCH, Permission.RETRIEVE,
                                           Permission.STORE, Permission.DELETE,
                                           Permission.MANAGE_USERS, Permission.MANAGE_KEYS}
