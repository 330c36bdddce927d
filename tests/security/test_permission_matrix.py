"""Every role against every endpoint: allowed or refused, and refusals leak no PHI.

The matrix is a table (:data:`ROWS`): one row per operation of a door, with
the permission it needs (``None``: any authenticated principal). The DIMSE
door has its own table (:data:`DIMSE_ROWS`: C-ECHO, C-STORE, C-FIND, C-MOVE,
C-GET, storage commitment), each role being a calling AE title mapped to it.
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


# -- the DIMSE door -------------------------------------------------------------------------
# The same matrix through DIMSE: each role is a calling AE title mapped to that role
# (``dimse_ae_roles`` without "*", so an unknown AE title cannot associate at all: the
# DIMSE form of "no credentials"). Refusals are status 0x0124 with a comment free of PHI.


@dataclass(frozen=True)
class DimseRow:
    name: str
    needs: Permission | None
    #: Performs the operation on an association; returns the final status and its comment.
    call: Callable[[Any, Target], tuple[int, str]]
    contexts: tuple[str, ...]


def _dimse_status(status: Any) -> tuple[int, str]:
    return int(status.Status), str(status.get("ErrorComment", ""))


def _c_echo(assoc: Any, t: Target) -> tuple[int, str]:
    return _dimse_status(assoc.send_c_echo())


def _c_store(assoc: Any, t: Target) -> tuple[int, str]:
    import io

    import pydicom

    return _dimse_status(assoc.send_c_store(pydicom.dcmread(io.BytesIO(t.file))))


def _q(level: str, **keys: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _c_find(assoc: Any, t: Target) -> tuple[int, str]:
    *_, (status, _) = assoc.send_c_find(_q("STUDY", StudyInstanceUID="", PatientID=""),
                                        _STUDY_FIND)
    return _dimse_status(status)


def _c_move(assoc: Any, t: Target) -> tuple[int, str]:
    *_, (status, _) = assoc.send_c_move(_q("STUDY", StudyInstanceUID=t.study), "MATRIXDEST",
                                        _STUDY_MOVE)
    return _dimse_status(status)


def _c_get(assoc: Any, t: Target) -> tuple[int, str]:
    *_, (status, _) = assoc.send_c_get(_q("STUDY", StudyInstanceUID=t.study), _STUDY_GET)
    return _dimse_status(status)


def _commitment(assoc: Any, t: Target) -> tuple[int, str]:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    request, item = Dataset(), Dataset()
    request.TransactionUID = generate_uid()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = _CT, t.sop
    request.ReferencedSOPSequence = [item]
    status, _ = assoc.send_n_action(request, 1, _COMMITMENT, "1.2.840.10008.1.20.1.1")
    return _dimse_status(status)


_CT = "1.2.840.10008.5.1.4.1.1.2"
_MR = "1.2.840.10008.5.1.4.1.1.4"
_STUDY_FIND, _STUDY_MOVE, _STUDY_GET = ("1.2.840.10008.5.1.4.1.2.2.1",
                                        "1.2.840.10008.5.1.4.1.2.2.2",
                                        "1.2.840.10008.5.1.4.1.2.2.3")
_COMMITMENT = "1.2.840.10008.1.20.1"
DIMSE_ROWS: list[DimseRow] = [
    DimseRow("C-ECHO", None, _c_echo, ("1.2.840.10008.1.1",)),
    DimseRow("C-STORE", Permission.STORE, _c_store, (_CT, _MR)),
    DimseRow("C-FIND", Permission.SEARCH, _c_find, (_STUDY_FIND,)),
    DimseRow("C-MOVE", Permission.RETRIEVE, _c_move, (_STUDY_MOVE,)),
    DimseRow("C-GET", Permission.RETRIEVE, _c_get, (_STUDY_GET, _CT, _MR)),
    DimseRow("storage commitment", Permission.SEARCH, _commitment, (_COMMITMENT,)),
]


def test_dimse_permission_matrix(tmp_path: Any) -> None:
    from pynetdicom import AE, StoragePresentationContexts, build_context, build_role, evt
    from tests.support.dimse import dimse_node
    from tests.support.live import free_port

    dest_port = free_port()
    destination = AE(ae_title="MATRIXDEST")
    destination.supported_contexts = StoragePresentationContexts
    destination.add_supported_context("1.2.840.10008.1.1")  # Verification, as every SCP
    scp = destination.start_server(("127.0.0.1", dest_port), block=False,
                                   evt_handlers=[(evt.EVT_C_STORE, lambda e: 0)])
    ae_roles = {f"AE_{role.value.upper()}"[:16]: [role.value] for role in Role}
    try:
        with dimse_node(tmp_path / "dimse-node", dimse_ae_roles=ae_roles,
                        dimse_destinations={"MATRIXDEST": {"host": "127.0.0.1",
                                                           "port": dest_port}}) as node:
            [first, second] = study_files(12, institution="Matrix Hospital")
            node.archive.store_bytes(first, RequestContext(actor="loader", door=Door.CLI))
            study, series, sop = uids(first)
            target = Target(study, series, sop, second)
            failures = []
            for row, role in itertools.product(DIMSE_ROWS, PRINCIPALS):
                calling = f"AE_{role.value.upper()}"[:16] if role else "UNKNOWN_AE"
                ae = AE(ae_title=calling)
                ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
                roles = [build_role(uid, scp_role=True) for uid in (_CT, _MR)
                         if row.name == "C-GET"]
                assoc = ae.associate("127.0.0.1", node.port, ae_title=node.ae_title,
                                     contexts=[build_context(uid) for uid in row.contexts],
                                     ext_neg=roles,
                                     evt_handlers=[(evt.EVT_C_STORE, lambda e: 0),
                                                   (evt.EVT_N_EVENT_REPORT, lambda e: 0)])
                if not assoc.is_established:
                    got, status, text = Outcome.UNAUTHENTICATED, None, ""
                else:
                    try:
                        status, text = row.call(assoc, target)
                    finally:
                        assoc.release()
                    got = Outcome.REFUSED if status == 0x0124 else Outcome.ALLOWED
                    assert status in (0x0000, 0x0124, 0xB006), (row.name, role, hex(status))
                if role is None:
                    expected = Outcome.UNAUTHENTICATED
                elif row.needs is None or row.needs in ROLE_PERMISSIONS[role]:
                    expected = Outcome.ALLOWED
                else:
                    expected = Outcome.REFUSED
                if got is not expected:
                    failures.append(f"{row.name} as {role}: {got.value}, expected "
                                    f"{expected.value}")
                leaked = [p for p in (*PHI, study, sop) if p in text]
                assert not leaked, f"{row.name} as {role} leaks {leaked}"
            assert failures == []
    finally:
        scp.shutdown()
