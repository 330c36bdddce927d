"""Ledger events as FHIR R4 AuditEvent resources (and a Bundle of them).

The mapping follows the FHIR R4 AuditEvent's own DICOM mapping (its
``type`` is the DICOM Audit Event ID, ``subtype`` the event type code,
``action`` and ``outcome`` the same codes as PS3.15 A.5.1), with the codes
of :mod:`.codes`:

* ``agent``: the requesting user (``who.identifier.value`` = actor, its
  network address) and this archive (``requestor`` false);
* ``source``: the ledger origin, type 4 (application server);
* ``entity``: one per subject of the event, identified by its keyed hash
  (system ``urn:dicomvault:hmac-sha256:<kind>``), type 1 (person) for the
  patient and 2 (system object) otherwise, plus the ledger entry itself whose
  ``detail`` carries the event's details and leaf hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from dicomvault.audit.codes import DCM_FHIR_SYSTEM, Code, describe
from dicomvault.ledger import LedgerEvent
from dicomvault.ledger.events import subject_hash, subject_kind
from dicomvault.ledger.identifiers import PATIENT
from dicomvault.ledger.merkle import leaf_hash

_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_ENTITY_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_NETWORK_IP = "2"

JSON = dict[str, object]


def _coding(code: Code) -> JSON:
    return {"system": DCM_FHIR_SYSTEM, "code": code.code, "display": code.meaning}


def _entity(subject: str) -> JSON:
    kind = subject_kind(subject)
    person = kind == PATIENT
    return {
        "what": {"identifier": {"system": f"urn:dicomvault:hmac-sha256:{kind}",
                                "value": subject_hash(subject)}},
        "type": {"system": _ENTITY_TYPE, "code": "1" if person else "2",
                 "display": "Person" if person else "System Object"},
        "role": {"system": _ENTITY_ROLE, "code": "1" if person else "3",
                 "display": "Patient" if person else "Report"},
    }


def to_fhir(event: LedgerEvent, *, index: int, origin: str) -> JSON:
    """The FHIR R4 AuditEvent of ledger entry ``index`` of the log ``origin``."""
    description = describe(event)
    requestor: JSON = {"who": {"identifier": {"value": event.actor or "unknown"}},
                       "requestor": True}
    if event.client:
        requestor["network"] = {"address": event.client, "type": _NETWORK_IP}
    details = {**event.details, "leaf_hash": leaf_hash(event.to_json()).hex(),
               "door": event.door}
    resource: JSON = {
        "resourceType": "AuditEvent",
        "id": f"ledger-{index}",
        "type": _coding(description.event_id),
        "action": description.action,
        "recorded": event.time,
        "outcome": description.outcome,
        "agent": [requestor, {"who": {"display": origin}, "requestor": False}],
        "source": {"observer": {"display": origin},
                   "type": [{"system": _SOURCE_TYPE, "code": "4",
                             "display": "Application Server"}]},
        "entity": [*(_entity(s) for s in event.subjects), {
            "what": {"identifier": {"system": f"urn:dicomvault:ledger:{origin}",
                                    "value": str(index)}},
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "detail": [{"type": key, "valueString": str(details[key])}
                       for key in sorted(details)],
        }],
    }
    if description.event_type is not None:
        resource["subtype"] = [_coding(description.event_type)]
    reason = event.details.get("reason")
    if reason is not None:
        resource["outcomeDesc"] = str(reason)
    return resource


def to_fhir_bundle(events: Sequence[tuple[int, LedgerEvent]], *, origin: str) -> JSON:
    """A FHIR ``collection`` Bundle of the AuditEvents of ``(index, event)`` pairs."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:dicomvault:ledger:{origin}:{index}",
                   "resource": to_fhir(event, index=index, origin=origin)}
                  for index, event in events],
    }
