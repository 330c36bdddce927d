"""Signed federation messages: HTTP Message Signatures (RFC 9421) with Ed25519 keys.

Mutual authentication without client certificates: the partner signs each
request with its institution key, the grantor signs each response with its
own, and each side checks the other against the public key it pinned (the
grantor from the agreement, the grantee from the agreement document it
received). TLS, if configured, adds confidentiality; it is not what proves
who is talking.

Request signature base (RFC 9421 2.5), covered components in this order::

    "@method": GET
    "@path": /federation/sh-.../studies
    "@query": ?limit=10
    "date": Tue, 24 Nov 2026 01:02:03 GMT
    "x-dv-nonce": <32 hex>
    "content-digest": sha-256=:<base64>:
    "@signature-params": ("@method" ... "content-digest");created=...;keyid="<id>";alg="ed25519"

The response covers ``"@status"``, ``"content-digest"`` and the request's
nonce (bound with ``;req``, RFC 9421 2.4), so a response cannot be replayed
for another request. Replay protection of requests: ``date`` must be within
:data:`WINDOW_SECONDS` of the receiver's clock and the nonce unseen in that
window (the grantor remembers nonces in ``share_nonces``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from dicomvault.errors import AuthenticationError
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity

WINDOW_SECONDS = 300
LABEL = "dv"
NONCE_HEADER = "x-dv-nonce"
_REQUEST_COMPONENTS = ("@method", "@path", "@query", "date", NONCE_HEADER, "content-digest")
_RESPONSE_COMPONENTS = ("@status", "content-digest")
_INPUT = re.compile(r'dv=\((?P<components>[^)]*)\);created=(?P<created>[0-9]+);'
                    r'keyid="(?P<keyid>[0-9a-f]{64})";alg="ed25519"')
_SIGNATURE = re.compile(r"dv=:(?P<value>[A-Za-z0-9+/=]+):")
_NONCE = re.compile(r"[0-9a-f]{32}")


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value for ``body``."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode('ascii')}:"


def _params(components: tuple[str, ...], created: int, keyid: str) -> str:
    listed = " ".join(f'"{c}"' for c in components)
    return f'({listed});created={created};keyid="{keyid}";alg="ed25519"'


def _base(values: Mapping[str, str], params: str) -> bytes:
    lines = [f'"{name}": {value}' for name, value in values.items()]
    lines.append(f'"@signature-params": {params}')
    text = "\n".join(lines)
    if any(c in text for c in "\r\0"):
        raise AuthenticationError("a signed component contains a forbidden character")
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a verified request proved: who sent it, and its nonce (for the response)."""

    institution_id: str
    nonce: str


def sign_request(key: InstitutionKey, method: str, path: str, query: str,
                 body: bytes = b"") -> dict[str, str]:
    """The headers that sign a request (``query`` without its ``?``)."""
    created = int(time.time())
    values = {"@method": method.upper(), "@path": path, "@query": f"?{query}",
              "date": formatdate(created, usegmt=True), NONCE_HEADER: secrets.token_hex(16),
              "content-digest": content_digest(body)}
    params = _params(_REQUEST_COMPONENTS, created, key.institution_id)
    signature = key.sign(_base(values, params))
    return {"Date": values["date"], "X-DV-Nonce": values[NONCE_HEADER],
            "Content-Digest": values["content-digest"], "Signature-Input": f"{LABEL}={params}",
            "Signature": f"{LABEL}=:{base64.b64encode(signature).decode('ascii')}:"}


def request_signer(headers: Mapping[str, str]) -> str:
    """The institution id a request claims to come from (before it is verified)."""
    match = _INPUT.fullmatch(headers.get("signature-input", ""))
    if match is None:
        raise AuthenticationError("federation requests must carry an RFC 9421 signature "
                                  "by the partner's institution key")
    return match.group("keyid")


def verify_request(identity: PublicIdentity, headers: Mapping[str, str], *, method: str,
                   path: str, query: str, body: bytes = b"",
                   now: float | None = None) -> SignedRequest:
    """Check a request's signature, digest and date; the nonce is the caller's to remember."""
    match = _INPUT.fullmatch(headers.get("signature-input", ""))
    if match is None or match.group("components") != " ".join(
            f'"{c}"' for c in _REQUEST_COMPONENTS):
        raise AuthenticationError("the request's Signature-Input is not one this node accepts")
    if match.group("keyid") != identity.institution_id:
        raise AuthenticationError("the request is not signed by the agreement's grantee")
    nonce = headers.get(NONCE_HEADER, "")
    if not _NONCE.fullmatch(nonce):
        raise AuthenticationError("the request has no valid X-DV-Nonce")
    if headers.get("content-digest") != content_digest(body):
        raise AuthenticationError("the request's Content-Digest does not match its body")
    _check_date(headers.get("date", ""), now)
    values = {"@method": method.upper(), "@path": path, "@query": f"?{query}",
              "date": headers.get("date", ""), NONCE_HEADER: nonce,
              "content-digest": content_digest(body)}
    params = _params(_REQUEST_COMPONENTS, int(match.group("created")), match.group("keyid"))
    if not identity.verify(_signature(headers), _base(values, params)):
        raise AuthenticationError("the request's signature does not verify")
    return SignedRequest(identity.institution_id, nonce)


def _check_date(text: str, now: float | None) -> None:
    try:
        sent = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError) as exc:
        raise AuthenticationError("the request has no valid Date header") from exc
    if abs((time.time() if now is None else now) - sent) > WINDOW_SECONDS:
        raise AuthenticationError("the request's Date is outside the accepted window "
                                  f"({WINDOW_SECONDS} s); check both clocks")


def _signature(headers: Mapping[str, str]) -> bytes:
    match = _SIGNATURE.fullmatch(headers.get("signature", ""))
    if match is None:
        raise AuthenticationError("the message has no Signature header")
    try:
        return base64.b64decode(match.group("value"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError("the message's Signature is not base64") from exc


def _response_values(status: int, body: bytes, nonce: str) -> dict[str, str]:
    return {"@status": str(status), "content-digest": content_digest(body),
            f"{NONCE_HEADER};req": nonce}


def _response_params(created: int, keyid: str) -> str:
    listed = " ".join(f'"{c}"' for c in _RESPONSE_COMPONENTS)
    return f'({listed} "{NONCE_HEADER}";req);created={created};keyid="{keyid}";alg="ed25519"'


def sign_response(key: InstitutionKey, status: int, body: bytes, nonce: str) -> dict[str, str]:
    """The headers that sign a response to the request that carried ``nonce``."""
    created = int(time.time())
    params = _response_params(created, key.institution_id)
    signature = key.sign(_base(_response_values(status, body, nonce), params))
    return {"Content-Digest": content_digest(body), "Signature-Input": f"{LABEL}={params}",
            "Signature": f"{LABEL}=:{base64.b64encode(signature).decode('ascii')}:"}


def verify_response(identity: PublicIdentity, headers: Mapping[str, str], status: int,
                    body: bytes, nonce: str) -> None:
    """Check that the grantor (``identity``) answered exactly this, to our request."""
    match = _INPUT.fullmatch(headers.get("signature-input", ""))
    if match is None or match.group("keyid") != identity.institution_id:
        raise AuthenticationError("the partner's answer is not signed by its institution key")
    if headers.get("content-digest") != content_digest(body):
        raise AuthenticationError("the partner's answer does not match its Content-Digest")
    params = _response_params(int(match.group("created")), identity.institution_id)
    if not identity.verify(_signature(headers), _base(_response_values(status, body, nonce),
                                                      params)):
        raise AuthenticationError("the partner's answer has a signature that does not verify")
