"""A partner node's ledger as seen over its admin API (what a witness or a monitor fetches).

Plain ``urllib`` (no extra dependency): the checkpoint as C2SP text, the
verifier key, consistency proofs and the raw entries, from the endpoints
of :mod:`dicomvault.api.ledger`. Everything fetched is untrusted: the
caller verifies it against the partner's pinned key and the checkpoints it
saw before.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

from dicomvault.errors import OutOfResourcesError
from dicomvault.ledger.merkle import VerificationError
from dicomvault.ledger.verify import decode_b64

API = "/api/ledger"
#: Entries asked for per request when auditing a partner's whole log.
PAGE = 1000
_TIMEOUT_SECONDS = 30
_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class PartnerLog:
    """The ledger API of the node at ``base_url`` (``https://pacs.partner.example``)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise VerificationError("partner URL must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        # Checkpoints, keys and proofs are public; the entries themselves need an account
        # with the read_audit permission on the partner node (a bearer token).
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _get(self, path: str, **params: int) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.base_url}{API}{path}{query}"
        try:
            request = urllib.request.Request(url, headers=self._headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
                data: bytes = response.read(_MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise VerificationError(f"partner answered {exc.code} for {path}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise OutOfResourcesError(f"partner {self.base_url} is unreachable: {exc}") from exc
        if len(data) > _MAX_RESPONSE_BYTES:
            raise VerificationError(f"partner's answer for {path} is too large")
        return data

    def _json(self, path: str, **params: int) -> dict[str, object]:
        try:
            value = json.loads(self._get(path, **params))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VerificationError(f"partner's answer for {path} is not JSON") from exc
        if not isinstance(value, dict):
            raise VerificationError(f"partner's answer for {path} is not a JSON object")
        return value

    def checkpoint(self) -> str:
        """The partner's latest signed checkpoint (C2SP signed note)."""
        try:
            return self._get("/checkpoint").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VerificationError("partner's checkpoint is not UTF-8") from exc

    def verifier_key(self) -> str:
        """The key the partner says signs its checkpoints (to pin on first contact)."""
        key = self._json("/public-key").get("log_key")
        if not isinstance(key, str):
            raise VerificationError("partner's public key answer has no log_key")
        return key

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The partner's RFC 9162 consistency proof between two of its tree sizes."""
        proof = self._json("/consistency-proof", first=first, second=second).get("proof")
        if not isinstance(proof, list):
            raise VerificationError("partner's consistency proof is malformed")
        return [decode_b64(item, "partner's answer") for item in proof]

    def entries(self, size: int) -> Iterator[bytes]:
        """The partner's first ``size`` entries (canonical event bytes), page by page."""
        start = 0
        while start < size:
            page = self._json("/entries", start=start, limit=min(PAGE, size - start))
            items = page.get("entries")
            if not isinstance(items, list) or not items:
                return
            for item in items:
                if not isinstance(item, dict) or item.get("index") != start:
                    raise VerificationError("partner's entries are out of order")
                yield decode_b64(item.get("event"), "partner's answer")
                start += 1
