"""The audit trail and what people and collectors read of it.

Public names::

    AuditTrail     turns Archive operations into ledger events, in their transaction
    AuditViews     the auditor's views over the ledger (patient access, user
                   activity, failed logins, exports), filtered and paged
    AuditFilter    the filters of a view; AuditPage one page of AuditRecords
    to_atna_xml    one event as a DICOM PS3.15 A.5 audit message (IHE ATNA)
    to_fhir        one event as a FHIR R4 AuditEvent
    SyslogSender   RFC 5424 syslog over TLS (RFC 5425) or UDP (RFC 5426)
    AuditForwarder the daemon that ships every ledger event to the collector
"""

from dicomvault.audit.trail import AuditTrail

__all__ = ["AuditTrail"]
