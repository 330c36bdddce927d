"""Ledger events as DICOM audit messages (PS3.15 A.5, the XML of IHE ATNA).

One message per ledger event, in the schema of PS3.15 A.5.1 (element order
and coded values as it defines them; codes from :mod:`.codes`):

* ``EventIdentification``: event ID, type code, action, time, outcome (and,
  for alarms and failed logins, the reason as ``EventOutcomeDescription``).
* ``ActiveParticipant``: the requesting user (``UserID`` = the event's actor,
  ``NetworkAccessPointID`` = its client address) and the archive itself.
* ``AuditSourceIdentification``: the ledger origin, source type 4
  (application server process, A.5.1.2.1).
* ``ParticipantObjectIdentification``: the patient (type 1, role 1,
  "Patient Number"), the study (type 2, role 3, "Study Instance UID") with
  its SOP class and instance in a ``ParticipantObjectDescription``, a query
  (role 24, the query description base64 in ``ParticipantObjectQuery``) and
  always the ledger entry itself (role 13, security resource), whose
  ``ParticipantObjectDetail`` pairs carry the event's details and its leaf
  hash, so a collector's record can be proven against the ledger.

Identifiers are the ledger's keyed hashes (HMAC-SHA256), never the raw
Patient ID or UIDs: the audit repository receives pseudonymous records that
a holder of the node's identifier key can still search.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from dicomvault.audit.codes import (
    APPLICATION_ROLE,
    DESTINATION_ROLE,
    PATIENT_NUMBER,
    SOP_CLASS_UID,
    SOURCE_ROLE,
    STUDY_INSTANCE_UID,
    Code,
    describe,
)
from dicomvault.ledger import EventType, LedgerEvent
from dicomvault.ledger.events import subject_hash, subject_kind
from dicomvault.ledger.identifiers import PATIENT, SERIES, SOP, STUDY
from dicomvault.ledger.merkle import leaf_hash

#: PS3.4 Study Root Query/Retrieve Information Model - FIND, the model our searches use.
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_LEDGER_ENTRY = Code("ledger-entry", "Ledger entry index", "dicomvault")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    """A value as XML 1.0 text: characters XML cannot carry become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(value))


def _coded(parent: ET.Element, tag: str, code: Code) -> None:
    ET.SubElement(parent, tag, {"csd-code": code.code, "codeSystemName": code.scheme,
                                "originalText": code.meaning})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def audit_message(event: LedgerEvent, *, index: int, origin: str) -> ET.Element:
    """The ``AuditMessage`` element of ledger entry ``index`` of the log ``origin``."""
    description = describe(event)
    message = ET.Element("AuditMessage")
    identification = ET.SubElement(message, "EventIdentification", {
        "EventActionCode": description.action, "EventDateTime": event.time,
        "EventOutcomeIndicator": description.outcome})
    _coded(identification, "EventID", description.event_id)
    if description.event_type is not None:
        _coded(identification, "EventTypeCode", description.event_type)
    reason = event.details.get("reason")
    if reason is not None:
        ET.SubElement(identification, "EventOutcomeDescription").text = _text(reason)

    requestor = ET.SubElement(message, "ActiveParticipant", {
        "UserID": _text(event.actor or "unknown"), "UserIsRequestor": "true"})
    if event.client:
        requestor.set("NetworkAccessPointID", _text(event.client))
        requestor.set("NetworkAccessPointTypeCode", "2")
    archive = ET.SubElement(message, "ActiveParticipant", {
        "UserID": _text(origin), "UserIsRequestor": "false"})
    if description.requestor_is_source is not None:
        source = description.requestor_is_source
        _coded(requestor, "RoleIDCode", SOURCE_ROLE if source else DESTINATION_ROLE)
        _coded(archive, "RoleIDCode", DESTINATION_ROLE if source else SOURCE_ROLE)
    else:
        _coded(archive, "RoleIDCode", APPLICATION_ROLE)

    audit_source = ET.SubElement(message, "AuditSourceIdentification",
                                 {"AuditSourceID": _text(origin)})
    ET.SubElement(audit_source, "AuditSourceTypeCode", {"csd-code": "4"})

    _participant_objects(message, event)
    entry = _participant(message, str(index), "2", "13", _LEDGER_ENTRY)
    ET.SubElement(entry, "ParticipantObjectName").text = _text(origin)
    details = {**event.details, "leaf_hash": leaf_hash(event.to_json()).hex(),
               "event_type": event.type.value, "door": event.door}
    for key in sorted(details):
        ET.SubElement(entry, "ParticipantObjectDetail",
                      {"type": _text(key), "value": _b64(str(details[key]))})
    return message


def _participant(message: ET.Element, object_id: str, type_code: str, role: str,
                 id_type: Code) -> ET.Element:
    participant = ET.SubElement(message, "ParticipantObjectIdentification", {
        "ParticipantObjectID": object_id, "ParticipantObjectTypeCode": type_code,
        "ParticipantObjectTypeCodeRole": role})
    _coded(participant, "ParticipantObjectIDTypeCode", id_type)
    return participant


def _participant_objects(message: ET.Element, event: LedgerEvent) -> None:
    by_kind: dict[str, list[str]] = {}
    for subject in event.subjects:
        by_kind.setdefault(subject_kind(subject), []).append(subject_hash(subject))
    for patient in by_kind.get(PATIENT, []):
        participant = _participant(message, patient, "1", "1", PATIENT_NUMBER)
        ET.SubElement(participant, "ParticipantObjectName").text = "keyed hash (HMAC-SHA256)"
    for study in by_kind.get(STUDY, []):
        participant = _participant(message, study, "2", "3", STUDY_INSTANCE_UID)
        ET.SubElement(participant, "ParticipantObjectName").text = "keyed hash (HMAC-SHA256)"
        for series in by_kind.get(SERIES, []):
            ET.SubElement(participant, "ParticipantObjectDetail",
                          {"type": "SeriesInstanceUID", "value": _b64(series)})
        sop_class = event.details.get("sop_class")
        if sop_class is not None or SOP in by_kind:
            description = ET.SubElement(participant, "ParticipantObjectDescription")
            sop_element = ET.SubElement(description, "SOPClass",
                                        {"NumberOfInstances": str(len(by_kind.get(SOP, [])))})
            if sop_class is not None:
                sop_element.set("UID", _text(sop_class))
            for sop in by_kind.get(SOP, []):
                ET.SubElement(sop_element, "Instance", {"UID": sop})
    if event.type is EventType.SEARCHED:
        participant = _participant(message, STUDY_ROOT_FIND, "2", "24", SOP_CLASS_UID)
        query = (f"level={event.details.get('level', '')};"
                 f"keys={event.details.get('matching_keys', '')}")
        ET.SubElement(participant, "ParticipantObjectQuery").text = _b64(query)


def to_atna_xml(event: LedgerEvent, *, index: int, origin: str) -> bytes:
    """The audit message as UTF-8 XML bytes (with an XML declaration)."""
    data: bytes = ET.tostring(audit_message(event, index=index, origin=origin),
                              encoding="utf-8", xml_declaration=True)
    return data
