"""How each ledger event type is described in the standard audit vocabularies.

One table shared by the DICOM audit message (:mod:`.atna`) and the FHIR
AuditEvent (:mod:`.fhir`): the Audit Event ID (DICOM PS3.16 CID 400, the
``DCM`` codes of PS3.15 A.5.3), the event type code where PS3.15 asks for
one (CID 401 / 403 / 404 codes), the action code (C/R/U/D/E) and the
outcome indicator (0 success, 4 minor failure, 8 serious failure;
PS3.15 A.5.1, RFC 3881 5.1).

Choices worth knowing: a store through the CLI is an Import (110107), a
store over the network "DICOM Instances Transferred" (110104, action C), a
retrieve the same message with action R (PS3.15 A.5.3.7); instance deletes
are "DICOM Instances Accessed" with action D (PS3.15 A.5.3.6; the ledger
records instances, not whole studies); shares, key rotation, settings
changes and witness alarms are Security Alerts (110113, A.5.3.11) typed by
their CID 403 code; witnessing a partner's log and reading our own audit
views are "Audit Log Used" (110101, A.5.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomvault.ledger import EventType, LedgerEvent

DCM = "DCM"
#: The DICOM code system as FHIR names it.
DCM_FHIR_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value: code, coding scheme designator and meaning."""

    code: str
    meaning: str
    scheme: str = DCM


AUDIT_LOG_USED = Code("110101", "Audit Log Used")
INSTANCES_ACCESSED = Code("110103", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = Code("110104", "DICOM Instances Transferred")
EXPORT = Code("110106", "Export")
IMPORT = Code("110107", "Import")
QUERY = Code("110112", "Query")
SECURITY_ALERT = Code("110113", "Security Alert")
USER_AUTHENTICATION = Code("110114", "User Authentication")
LOGIN = Code("110122", "Login")
EMERGENCY_OVERRIDE = Code("110127", "Emergency Override Started")
SECURITY_CONFIGURATION = Code("110129", "Security Configuration")
HARDWARE_CONFIGURATION = Code("110130", "Hardware Configuration")
SOFTWARE_CONFIGURATION = Code("110131", "Software Configuration")
OBJECT_SECURITY_ATTRIBUTES_CHANGED = Code("110135", "Object Security Attributes Changed")
#: Participant object ID types (PS3.15 A.5.3, RFC 3881 Table 5.5.4).
STUDY_INSTANCE_UID = Code("110180", "Study Instance UID")
SOP_CLASS_UID = Code("110181", "SOP Class UID")
PATIENT_NUMBER = Code("2", "Patient Number", "RFC-3881")
#: Role of an active participant (PS3.16 CID 402).
SOURCE_ROLE = Code("110153", "Source Role ID")
DESTINATION_ROLE = Code("110152", "Destination Role ID")
APPLICATION_ROLE = Code("110150", "Application")

SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = "0", "4", "8"


@dataclass(frozen=True, slots=True)
class AuditDescription:
    """How one ledger event reads as an audit message."""

    event_id: Code
    action: str
    event_type: Code | None = None
    outcome: str = SUCCESS
    #: Whether the requesting participant sent data to the archive (source) or received it.
    requestor_is_source: bool | None = None


_BY_TYPE: dict[EventType, AuditDescription] = {
    EventType.INSTANCE_STORED: AuditDescription(INSTANCES_TRANSFERRED, "C",
                                                requestor_is_source=True),
    EventType.INSTANCE_RETRIEVED: AuditDescription(INSTANCES_TRANSFERRED, "R",
                                                   requestor_is_source=False),
    EventType.SEARCHED: AuditDescription(QUERY, "E"),
    EventType.EXPORTED: AuditDescription(EXPORT, "R", requestor_is_source=False),
    EventType.TRANSCODED: AuditDescription(INSTANCES_ACCESSED, "U"),
    EventType.DELETED: AuditDescription(INSTANCES_ACCESSED, "D"),
    EventType.SHARED: AuditDescription(SECURITY_ALERT, "E", OBJECT_SECURITY_ATTRIBUTES_CHANGED),
    EventType.SHARE_USED: AuditDescription(INSTANCES_TRANSFERRED, "R",
                                           requestor_is_source=False),
    EventType.SHARE_REVOKED: AuditDescription(SECURITY_ALERT, "E",
                                              OBJECT_SECURITY_ATTRIBUTES_CHANGED),
    EventType.KEY_ROTATED: AuditDescription(SECURITY_ALERT, "E", SECURITY_CONFIGURATION),
    EventType.LOGIN_SUCCEEDED: AuditDescription(USER_AUTHENTICATION, "E", LOGIN),
    EventType.LOGIN_FAILED: AuditDescription(USER_AUTHENTICATION, "E", LOGIN, MINOR_FAILURE),
    EventType.SETTINGS_CHANGED: AuditDescription(SECURITY_ALERT, "E", SOFTWARE_CONFIGURATION),
    EventType.BACKUP_MADE: AuditDescription(EXPORT, "R", requestor_is_source=False),
    EventType.RESTORE_DONE: AuditDescription(IMPORT, "C", requestor_is_source=True),
    # Storage found rotten (a security alert: integrity of stored objects) and its repair,
    # which rewrites a stored object (an update of the instance's storage).
    EventType.BLOB_DAMAGED: AuditDescription(SECURITY_ALERT, "E", HARDWARE_CONFIGURATION,
                                             MINOR_FAILURE),
    EventType.BLOB_REPAIRED: AuditDescription(INSTANCES_ACCESSED, "U"),
    EventType.CHECKPOINT_WITNESSED: AuditDescription(AUDIT_LOG_USED, "R"),
    EventType.WITNESS_ALARM: AuditDescription(SECURITY_ALERT, "E", SECURITY_CONFIGURATION,
                                              SERIOUS_FAILURE),
    EventType.AUDIT_LOG_USED: AuditDescription(AUDIT_LOG_USED, "R"),
    EventType.BREAK_GLASS: AuditDescription(SECURITY_ALERT, "E", EMERGENCY_OVERRIDE),
}


def describe(event: LedgerEvent) -> AuditDescription:
    """The audit description of ``event`` (a CLI store is an Import, PS3.15 A.5.3.5)."""
    description = _BY_TYPE[event.type]
    if event.type is EventType.INSTANCE_STORED and event.door == "CLI":
        return AuditDescription(IMPORT, "C", requestor_is_source=True)
    return description

