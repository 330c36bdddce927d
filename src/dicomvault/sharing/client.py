"""The grantee's client of a grantor's federation door (plain ``urllib``, signed both ways).

Every request is signed with this node's institution key; every answer must
be signed by the grantor's key pinned for the partner (mutual authentication,
:mod:`dicomvault.sharing.signing`) and bound to the request's nonce. An
answer that does not verify is refused whatever it says. Refusals come back
as the archive's own errors: 410 :class:`AgreementEndedError` (with the
agreement's state: revoked, expired, exhausted), 404 :class:`NotFoundError`,
403 :class:`PermissionDeniedError`.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from dicomvault.dicomweb.media import parse_content_type
from dicomvault.dicomweb.multipart import parse_multipart
from dicomvault.errors import (
    AgreementEndedError,
    AuthenticationError,
    DicomVaultError,
    InvalidInputError,
    NotFoundError,
    OutOfResourcesError,
    PermissionDeniedError,
)
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.signing import sign_request, verify_response

_TIMEOUT_SECONDS = 60
_MAX_RESPONSE_BYTES = 2 * 1024**3
_ERRORS: Mapping[int, type[DicomVaultError]] = {
    400: InvalidInputError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 503: OutOfResourcesError}


class FederationClient:
    """One agreement at one grantor, as its grantee sees it."""

    def __init__(self, key: InstitutionKey, grantor: PublicIdentity, base_url: str,
                 share_id: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInputError("a partner URL is an http:// or https:// URL")
        self.key = key
        self.grantor = grantor
        self.base_url = base_url.rstrip("/")
        self.share_id = share_id

    def _get(self, suffix: str, **params: int) -> tuple[bytes, str]:
        """Signed GET; the verified body and its Content-Type (errors raised as ours)."""
        path = f"{urllib.parse.urlsplit(self.base_url).path}/federation/{self.share_id}{suffix}"
        query = urllib.parse.urlencode(params)
        headers = sign_request(self.key, "GET", path, query)
        url = f"{self.base_url}/federation/{self.share_id}{suffix}" + (f"?{query}" if query
                                                                       else "")
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
                status, answer, body = response.status, response.headers, response.read(
                    _MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            status, answer, body = exc.code, exc.headers, exc.read(_MAX_RESPONSE_BYTES)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise OutOfResourcesError(f"partner {self.base_url} is unreachable: {exc}") from exc
        lowered = {name.lower(): value for name, value in answer.items()}
        if status == 401 and "signature" not in lowered:
            raise AuthenticationError(f"the grantor refused our signature: {_reason(body)}")
        verify_response(self.grantor, lowered, status, body, headers["X-DV-Nonce"])
        if status >= 400:
            raise _error(status, body)
        return body, lowered.get("content-type", "")

    def agreement(self) -> tuple[bytes, bytes, str]:
        """The agreement document, the grantor's signature over it, and its state."""
        body, _ = self._get("/agreement")
        value = _json(body)
        try:
            return (base64.b64decode(value["document"], validate=True),
                    base64.b64decode(value["signature"], validate=True), str(value["status"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError("the grantor's agreement answer is malformed") from exc

    def search(self, study: str | None = None, series: str | None = None, *,
               level: str = "studies", **paging: int) -> list[dict[str, Any]]:
        """QIDO-RS: ``level`` is ``studies``, ``series`` or ``instances``."""
        suffix = "" if study is None else f"/studies/{study}"
        if series is not None:
            suffix += f"/series/{series}"
        suffix += f"/{level}"
        value = _json(self._get(suffix, **paging)[0])
        if not isinstance(value, list):
            raise InvalidInputError("the grantor's search answer is not a list")
        return value

    def retrieve(self, study: str, series: str, sop: str) -> bytes:
        """WADO-RS of one instance: its de-identified Part 10 bytes."""
        body, content_type = self._get(f"/studies/{study}/series/{series}/instances/{sop}")
        boundary = parse_content_type(content_type).params.get("boundary")
        if not boundary:
            raise InvalidInputError("the grantor's instance answer is not multipart/related")
        parts = parse_multipart(body, boundary.encode("ascii"))
        if len(parts) != 1:
            raise InvalidInputError("the grantor's instance answer holds other than one part")
        return parts[0][1]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError("the grantor's answer is not JSON") from exc


def _reason(body: bytes) -> str:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "no reason given"
    return str(value.get("reason", "no reason given")) if isinstance(value, dict) else ""


def _error(status: int, body: bytes) -> DicomVaultError:
    reason = _reason(body)
    if status == 410:
        try:
            state = str(json.loads(body).get("agreement", "ended"))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            state = "ended"
        return AgreementEndedError(reason, state)
    return _ERRORS.get(status, DicomVaultError)(f"the grantor refused: {reason}")

