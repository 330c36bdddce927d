"""What a partner may have, decided on every request: the grantor's enforcement.

Each federation request goes through, in this order:

1. the agreement exists and the request is signed by its grantee's key, with
   a fresh date and an unseen nonce (:mod:`dicomvault.sharing.signing`);
2. the agreement is active: revoked, expired or used up answers 410 with
   the reason (:class:`~dicomvault.errors.AgreementEndedError`);
3. the door (QIDO / WADO) is one the agreement allows (403 otherwise);
4. the addressed study is in scope *now* (:mod:`dicomvault.sharing.scope`)
   and was released under this agreement (its remapped UID is in the map):
   anything else is 404, exactly as for a study that does not exist, so a
   partner guessing UIDs learns nothing;
5. what leaves is de-identified with the agreement's profile and pseudonym
   key (``dicomvault.deid``); instances the profile holds back do not leave;
6. a released instance counts against ``max_retrievals`` atomically, in the
   same transaction as its ``share_used`` ledger event.

Refusals are ledger events too (``share_used`` with ``outcome: refused`` and
a reason code), so an agreement's whole history is in the grantor's ledger.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from dicomvault.access import Door, Permission, Principal, PrincipalKind, RequestContext, Role
from dicomvault.archive import Archive
from dicomvault.deid import Deidentifier, DeidProfile, part10_bytes
from dicomvault.dicom.json import dataset_to_json
from dicomvault.errors import (
    AgreementEndedError,
    AuthenticationError,
    DicomVaultError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from dicomvault.index import Query, QueryLevel, run_query, to_dataset, write_transaction
from dicomvault.ledger import EventType
from dicomvault.sharing import registry
from dicomvault.sharing.agreement import ShareDoor, check_share_id
from dicomvault.sharing.grants import event_details, pseudonym_key
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity
from dicomvault.sharing.registry import ShareRecord, ShareStatus
from dicomvault.sharing.scope import series_allowed, studies_in_scope
from dicomvault.sharing.signing import SignedRequest, verify_request

#: Levels of the UID map and the keyword each stands for.
UID_LEVELS = (("study", "StudyInstanceUID"), ("series", "SeriesInstanceUID"),
              ("sop", "SOPInstanceUID"))
#: Returned at every level so that a search result gets the patient's pseudonym (keyed
#: by Patient ID and issuer, as for the whole instance) and the UIDs to remap.
_QIDO_FIELDS = frozenset({"PatientID", "IssuerOfPatientID", "PatientName",
                          "StudyInstanceUID", "SeriesInstanceUID"})


@dataclass(frozen=True, slots=True)
class PartnerRequest:
    """An authenticated request under one agreement, and the context it is recorded with."""

    record: ShareRecord
    signed: SignedRequest
    ctx: RequestContext


def partner_context(institution_id: str, client: str) -> RequestContext:
    """The partner as a principal: it may search and retrieve, within what release allows."""
    name = f"partner:{institution_id[:16]}"
    principal = Principal(name=name, kind=PrincipalKind.SERVICE, roles=frozenset({Role.SERVICE}),
                          restrict_to=frozenset({Permission.SEARCH, Permission.RETRIEVE}))
    return RequestContext(actor=name, door=Door.DICOMWEB, client_address=client,
                          principal=principal)


def _refusal_code(error: DicomVaultError) -> str:
    if isinstance(error, AgreementEndedError):
        return error.reason
    if isinstance(error, NotFoundError):
        return "not-found"
    return "refused"


def _uid_pairs(deidentifier: Deidentifier,
               source: Mapping[str, Any] | Dataset) -> set[tuple[str, str, str]]:
    """(level, original, remapped) for the UIDs of ``source``, as the de-identifier maps
    them (the same keyed function that rewrites them inside the released data)."""
    pairs = set()
    for level, keyword in UID_LEVELS:
        original = source.get(keyword)
        if original:
            pairs.add((level, str(original), deidentifier.remap_uid(str(original))))
    return pairs


class ShareRelease:
    """The grantor's answers to partners (see the module docstring)."""

    def __init__(self, archive: Archive, key: InstitutionKey) -> None:
        self.archive = archive
        self.key = key

    # -- 1. authentication --------------------------------------------------------

    def authenticate(self, share_id: str, headers: Mapping[str, str], *, method: str,
                     path: str, query: str, body: bytes, client: str) -> PartnerRequest:
        try:
            check_share_id(share_id)
        except InvalidInputError as exc:
            raise NotFoundError("no such share agreement") from exc
        with self.archive.engine.connect() as conn:
            record = registry.get_agreement(conn, share_id)
        grantee = PublicIdentity.parse(record.agreement.grantee_key)
        signed = verify_request(grantee, headers, method=method, path=path, query=query,
                                body=body)
        with write_transaction(self.archive.engine) as conn:
            if not registry.remember_nonce(conn, signed.institution_id, signed.nonce):
                raise AuthenticationError("this request was replayed (its nonce was seen)")
        return PartnerRequest(record, signed, partner_context(signed.institution_id, client))

    # -- 2.-3. the agreement allows this at all -----------------------------------

    def _refuse(self, request: PartnerRequest, operation: str, error: DicomVaultError,
                study: str | None = None) -> DicomVaultError:
        """Record a refusal in the ledger; return the error for the caller to raise."""
        with write_transaction(self.archive.engine) as conn:
            self.archive.audit.record(conn, request.ctx, EventType.SHARE_USED, study=study,
                                      details={**event_details(request.record, "grantor"),
                                               "operation": operation, "outcome": "refused",
                                               "reason": _refusal_code(error)})
        return error

    def _require(self, request: PartnerRequest, door: ShareDoor, operation: str) -> None:
        status = request.record.status()
        if status is not ShareStatus.ACTIVE:
            raise self._refuse(request, operation, request.record.ended_error(status))
        if not request.record.agreement.allows_door(door):
            raise self._refuse(request, operation, PermissionDeniedError(
                f"this share agreement does not allow {door.value.upper()}"))

    def _deidentifier(self, record: ShareRecord) -> Deidentifier:
        profile = DeidProfile.from_names(list(record.agreement.deid_profile),
                                         allow_burned_in=record.agreement.allow_burned_in)
        return Deidentifier(key=pseudonym_key(self.archive, record), profile=profile)

    def _originals(self, request: PartnerRequest, operation: str,
                   remapped: tuple[tuple[str, str | None], ...]) -> list[str | None]:
        """Map remapped UIDs back and check the study is in scope now; 404 otherwise."""
        try:
            return self._map_back(request.record, remapped)
        except NotFoundError as exc:
            raise self._refuse(request, operation, exc) from None

    def _map_back(self, record: ShareRecord,
                  remapped: tuple[tuple[str, str | None], ...]) -> list[str | None]:
        share_id = record.agreement.share_id
        with self.archive.engine.connect() as conn:
            originals = [None if uid is None else registry.original_uid(conn, share_id, level, uid)
                         for level, uid in remapped]
            visible = studies_in_scope(conn, record.scope)
        study = originals[0]
        if study is not None and study not in visible:
            raise NotFoundError("no such study under this share agreement")
        series = originals[1] if len(originals) > 1 else None
        if series is not None and not series_allowed(record.scope, series):
            raise NotFoundError("no such series under this share agreement")
        return originals

    # -- the doors ----------------------------------------------------------------

    def agreement(self, request: PartnerRequest) -> dict[str, object]:
        """The signed agreement and its state, for the grantee to record and verify."""
        record = request.record
        return {"document": base64.b64encode(record.document).decode("ascii"),
                "signature": base64.b64encode(record.signature).decode("ascii"),
                "status": record.status().value, "retrievals_used": record.retrievals_used}

    def search(self, request: PartnerRequest, level: QueryLevel, study: str | None = None,
               series: str | None = None, *, limit: int | None = None,
               offset: int = 0) -> list[dict[str, Any]]:
        """QIDO-RS under the agreement: de-identified matches, remapped UIDs."""
        self._require(request, ShareDoor.QIDO, "search")
        record = request.record
        original_study, original_series = self._originals(
            request, "search", (("study", study), ("series", series)))
        with self.archive.engine.connect() as conn:
            if level is QueryLevel.STUDY:
                visible = sorted(studies_in_scope(conn, record.scope))
                rows = [] if not visible else run_query(conn, Query(
                    level=QueryLevel.STUDY, filters={"StudyInstanceUID": "\\".join(visible)},
                    include_fields=_QIDO_FIELDS, limit=limit, offset=offset))
            else:
                if original_study is None:
                    raise InvalidInputError("partners search series and instances per study")
                rows = run_query(conn, Query(
                    level=level, study_uid=original_study, series_uid=original_series,
                    include_fields=_QIDO_FIELDS, limit=limit, offset=offset))
        deidentifier = self._deidentifier(record)
        results: list[dict[str, Any]] = []
        pairs: set[tuple[str, str, str]] = set()
        for row in rows:
            if not series_allowed(record.scope, _text(row.get("SeriesInstanceUID"))):
                continue
            source = to_dataset(row)
            released = deidentifier.deidentify(source).dataset
            if released is None:
                continue
            pairs |= _uid_pairs(deidentifier, source)
            results.append(dataset_to_json(released))
        with write_transaction(self.archive.engine) as conn:
            registry.remember_uids(conn, record.agreement.share_id, pairs)
            self.archive.audit.record(conn, request.ctx, EventType.SHARE_USED,
                                      study=original_study, details={
                                          **event_details(record, "grantor"),
                                          "operation": "search", "outcome": "released",
                                          "level": level.value, "matches": len(results)})
        return results

    def retrieve(self, request: PartnerRequest, study: str, series: str, sop: str) -> bytes:
        """WADO-RS of one instance under the agreement: de-identified Part 10 bytes."""
        self._require(request, ShareDoor.WADO, "retrieve")
        record = request.record
        originals = self._originals(request, "retrieve",
                                    (("study", study), ("series", series), ("sop", sop)))
        o_study, o_series, o_sop = (str(uid) for uid in originals)
        try:
            location = self.archive.locate(request.ctx, o_study, o_series, o_sop)[0]
        except NotFoundError as exc:
            raise self._refuse(request, "retrieve", exc, o_study) from None
        source = pydicom.dcmread(BytesIO(self.archive.read_instance(location)))
        deidentifier = self._deidentifier(record)
        outcome = deidentifier.deidentify(source)
        if outcome.dataset is None:
            raise self._refuse(request, "retrieve", PermissionDeniedError(
                f"held back by the de-identification profile: {outcome.held_back_reason}"),
                o_study)
        released = part10_bytes(outcome.dataset)
        pairs = _uid_pairs(deidentifier, source)
        try:
            with write_transaction(self.archive.engine) as conn:
                registry.consume_retrieval(conn, record)
                registry.remember_uids(conn, record.agreement.share_id, pairs)
                self.archive.audit.record(
                    conn, request.ctx, EventType.SHARE_USED, study=o_study, series=o_series,
                    sop=o_sop, details={
                        **event_details(record, "grantor"), "operation": "retrieve",
                        "outcome": "released", "content_sha256": location.sha256,
                        "released_sha256": hashlib.sha256(released).hexdigest()})
        except AgreementEndedError as exc:
            raise self._refuse(request, "retrieve", exc, o_study) from None
        return released


def _text(value: object) -> str | None:
    return None if value is None else str(value)
