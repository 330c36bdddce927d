"""The audit trail and what people and collectors read of it.

The package re-exports :class:`AuditTrail` (what the Archive service uses);
the rest is imported from its module by the doors that need it::

    trail.AuditTrail        Archive operations -> ledger events, in their transaction
    views.AuditViews        the auditor's views (patient access, user activity, failed
                            logins, exports): AuditFilter, Page, AuditPage, CSV/JSON
    codes                   event type -> DICOM audit codes (shared by atna and fhir)
    atna.to_atna_xml        one event as a DICOM PS3.15 A.5 audit message (IHE ATNA)
    fhir.to_fhir            one event as a FHIR R4 AuditEvent; to_fhir_bundle
    syslog.SyslogSender     RFC 5424 syslog over TLS (RFC 5425) or UDP (RFC 5426)
    forwarder.AuditForwarder  the daemon that ships every ledger event to the collector
"""

from dicomvault.audit.trail import AuditTrail

__all__ = ["AuditTrail"]
