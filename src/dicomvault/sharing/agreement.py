"""A share agreement: who grants what to whom, for what, until when, how often, how cleaned.

Two views of one agreement:

* :class:`ShareScope` is the grantor's private part: which patients,
  studies, series, or which saved query (a QIDO-RS parameter dict such as
  ``{"ModalitiesInStudy": "MR", "StudyDescription": "*BRAIN*"}``, evaluated
  on every request, so that a new matching study becomes visible by itself).
  Patient IDs and UIDs are PHI or close to it and never leave the grantor.
* :class:`ShareAgreement` is the document both institutions hold: the scope
  appears in it only as its *kind* and a salted SHA-256 commitment
  (``sha256(salt || canonical_json(scope))``) that the grantor can open to
  an auditor. Its RFC 8785 canonical JSON is what is signed by the grantor's
  institution key, what both ledgers cite as ``agreement_sha256`` and what
  the consortium chain anchors.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dicomvault.errors import InvalidInputError
from dicomvault.ledger.canonical import JSONValue, canonical_json, parse_canonical_json

AGREEMENT_VERSION = 1
_SHARE_ID = re.compile(r"sh-[0-9a-f]{24}")
_MAX_VALUES = 1000


class ScopeKind(enum.StrEnum):
    PATIENT = "patient"
    STUDY = "study"
    SERIES = "series"
    QUERY = "query"


class ShareDoor(enum.StrEnum):
    """The ways a partner may use an agreement (federation is DICOMweb only)."""

    QIDO = "qido"
    WADO = "wado"


@dataclass(frozen=True, slots=True)
class ShareScope:
    """What an agreement covers (grantor-side only; see the module docstring).

    ``values`` are Patient IDs, Study or Series Instance UIDs; ``query`` the
    saved QIDO-RS study-level matching parameters.
    """

    kind: ScopeKind
    values: tuple[str, ...] = ()
    query: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind is ScopeKind.QUERY:
            if not self.query or self.values:
                raise InvalidInputError("a query scope needs a non-empty query and no values")
            if not all(isinstance(k, str) and isinstance(v, str) and k and v
                       for k, v in self.query.items()):
                raise InvalidInputError("a saved query maps attribute names to strings")
        else:
            if not self.values or self.query:
                raise InvalidInputError(f"a {self.kind.value} scope needs values and no query")
            if len(self.values) > _MAX_VALUES:
                raise InvalidInputError(f"a scope holds at most {_MAX_VALUES} values")
            if any(not v or any(c in v for c in "*?\\") for v in self.values):
                raise InvalidInputError("scope values are exact identifiers (no wildcards)")

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ShareScope:
        try:
            kind = ScopeKind(str(value.get("kind")))
        except ValueError as exc:
            known = ", ".join(k.value for k in ScopeKind)
            raise InvalidInputError(f"scope kind must be one of {known}") from exc
        raw_values = value.get("values") or ()
        raw_query = value.get("query")
        if not isinstance(raw_values, list | tuple) or not all(
                isinstance(v, str) for v in raw_values):
            raise InvalidInputError("scope values must be a list of strings")
        if raw_query is not None and not isinstance(raw_query, dict):
            raise InvalidInputError("a saved query must be an object")
        query = None if raw_query is None else {str(k): str(v) for k, v in raw_query.items()}
        return cls(kind, tuple(v.strip() for v in raw_values), query)

    def to_dict(self) -> dict[str, JSONValue]:
        body: dict[str, JSONValue] = {"kind": self.kind.value}
        if self.query is not None:
            body["query"] = dict(self.query)
        else:
            body["values"] = list(self.values)
        return body

    def commitment(self, salt: bytes) -> str:
        """The salted SHA-256 that stands for this scope in the shared document."""
        return hashlib.sha256(salt + canonical_json(self.to_dict())).hexdigest()


def new_share_id() -> str:
    return f"sh-{secrets.token_hex(12)}"


def check_share_id(value: str) -> str:
    if not _SHARE_ID.fullmatch(value):
        raise InvalidInputError("a share id looks like sh-<24 hex digits>")
    return value


def rfc3339(moment: datetime) -> str:
    """UTC, seconds precision, ``Z``: the one way times are written in agreements."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError("times are ISO 8601 / RFC 3339 date-times") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ShareAgreement:
    """The agreement document both institutions hold (see the module docstring)."""

    share_id: str
    grantor: str  # institution id (fingerprint of its key)
    grantor_key: str  # base64 Ed25519 public key
    grantor_url: str  # where the partner reaches the grantor's federation endpoints
    grantee: str
    grantee_key: str
    scope_kind: ScopeKind
    scope_commitment: str
    purpose: str
    created: str
    expires: str
    max_retrievals: int
    deid_profile: tuple[str, ...]
    allow_burned_in: bool
    doors: tuple[ShareDoor, ...]

    def __post_init__(self) -> None:
        check_share_id(self.share_id)
        if not self.purpose.strip() or len(self.purpose) > 500:
            raise InvalidInputError("purpose must be 1-500 characters")
        if self.max_retrievals < 1:
            raise InvalidInputError("max_retrievals must be at least 1")
        if not self.doors:
            raise InvalidInputError("an agreement allows at least one door (qido, wado)")
        if parse_rfc3339(self.expires) <= parse_rfc3339(self.created):
            raise InvalidInputError("an agreement must expire after it is created")

    @property
    def expires_at(self) -> datetime:
        return parse_rfc3339(self.expires)

    def allows_door(self, door: ShareDoor) -> bool:
        return door in self.doors

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "v": AGREEMENT_VERSION, "share_id": self.share_id,
            "grantor": self.grantor, "grantor_key": self.grantor_key,
            "grantor_url": self.grantor_url,
            "grantee": self.grantee, "grantee_key": self.grantee_key,
            "scope": {"kind": self.scope_kind.value, "commitment": self.scope_commitment},
            "purpose": self.purpose, "created": self.created, "expires": self.expires,
            "max_retrievals": self.max_retrievals, "deid_profile": list(self.deid_profile),
            "allow_burned_in": self.allow_burned_in,
            "doors": [door.value for door in self.doors],
        }

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON: the bytes that are signed, hashed and anchored."""
        return canonical_json(self.to_dict())

    def sha256(self) -> str:
        """``agreement_sha256`` in both ledgers' shared / share_revoked events."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def from_canonical(cls, data: bytes) -> ShareAgreement:
        """Parse an agreement document (must be canonical, so that its hash is stable)."""
        try:
            value = parse_canonical_json(data)
        except ValueError as exc:
            raise InvalidInputError(f"agreement is not canonical JSON: {exc}") from exc
        if not isinstance(value, dict) or value.get("v") != AGREEMENT_VERSION:
            raise InvalidInputError("not a version 1 share agreement")
        return cls.from_dict(value)

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ShareAgreement:
        try:
            scope = value["scope"]
            return cls(
                share_id=str(value["share_id"]), grantor=str(value["grantor"]),
                grantor_key=str(value["grantor_key"]), grantor_url=str(value["grantor_url"]),
                grantee=str(value["grantee"]), grantee_key=str(value["grantee_key"]),
                scope_kind=ScopeKind(scope["kind"]), scope_commitment=str(scope["commitment"]),
                purpose=str(value["purpose"]), created=str(value["created"]),
                expires=str(value["expires"]), max_retrievals=int(value["max_retrievals"]),
                deid_profile=tuple(str(name) for name in value["deid_profile"]),
                allow_burned_in=bool(value["allow_burned_in"]),
                doors=tuple(ShareDoor(door) for door in value["doors"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"malformed share agreement: {exc}") from exc


def parse_doors(names: Sequence[str]) -> tuple[ShareDoor, ...]:
    try:
        doors = {ShareDoor(name.strip().lower()) for name in names}
    except ValueError as exc:
        raise InvalidInputError("doors are qido and/or wado (DIMSE is not federated)") from exc
    return tuple(sorted(doors))
