"""The one exception hierarchy of dicomvault.

Every failure the archive reports on purpose is one of these classes. Each
class carries what a door needs to translate it into its own protocol, so the
translation happens in one place per door (``dicomweb/errors.py`` maps to HTTP,
``dimse/status.py`` to DIMSE status codes)::

    DicomVaultError                 500  0xC000
    ├── ConfigurationError          500  0xC000  settings refused at start
    ├── InvalidInputError           400  0xC000  malformed request or file
    │   ├── NotDicomError           400  0xC000  body is not a DICOM Part 10 file
    │   ├── MissingAttributeError   400  0xC000  a required UID is absent/invalid
    │   ├── SOPClassMismatchError   409  0xA900  data set does not match SOP class
    │   ├── StudyMismatchError      409  0xA900  STOW to /studies/{uid} with other uid
    │   ├── TooLargeError           413  0xA700  part or request above the limit
    │   └── DeidentificationError   400  0xC000  unknown de-identification option, bad key
    ├── UnsupportedMediaTypeError   415  0xC000  wrong Content-Type
    ├── NotAcceptableError          406  0xC000  cannot serve the Accept'ed syntax
    ├── NotFoundError               404  0xA801  no such study/series/instance
    ├── DuplicateInstanceError      409  0xA900  duplicate refused by policy
    ├── PermissionDeniedError       403  0xA801  caller may not do this
    │   └── AgreementEndedError     410  0xA801  share agreement revoked/expired/used up
    ├── AuthenticationError         401  0xA801  caller unknown
    │   └── TooManyAttemptsError    429  0xA801  login locked out / rate limited
    ├── IntegrityError              500  0xC001  blob tag or hash did not verify
    ├── KeyUnavailableError         410  0xC002  key needed to decrypt is gone
    ├── ChainRefusedError           409  0xC000  the chain's contract refused a transaction
    └── OutOfResourcesError         503  0xA700  disk full, read-only, DB away
        └── ChainUnavailableError   503  0xA700  consortium chain node unreachable

Messages never contain PHI: they may name a UID only where the caller sent
that UID itself, and never a patient's name, ID or birth date.
"""

from __future__ import annotations

from typing import ClassVar


class DicomVaultError(Exception):
    """Root of every error dicomvault raises on purpose.

    ``http_status`` and ``dimse_status`` say how doors report it;
    ``stow_failure_reason`` is the FailureReason (0008,1197) code used in a
    STOW-RS FailedSOPSequence item (PS3.18 Table I.2-1, PS3.4 Annex GG).
    """

    http_status: ClassVar[int] = 500
    dimse_status: ClassVar[int] = 0xC000
    stow_failure_reason: ClassVar[int] = 0x0110  # Processing failure

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(DicomVaultError):
    """Settings were refused when loaded; the process should not start."""


class InvalidInputError(DicomVaultError):
    """The request or the data set it carries is malformed."""

    http_status = 400
    dimse_status = 0xC000  # Cannot understand
    stow_failure_reason = 0xC000


class NotDicomError(InvalidInputError):
    """The bytes received are not a readable DICOM data set."""


class MissingAttributeError(InvalidInputError):
    """A required attribute (SOP Class/Instance UID, Study/Series UID) is absent or invalid."""


class SOPClassMismatchError(InvalidInputError):
    """The data set does not match the SOP class it claims (PS3.4 0xA900)."""

    http_status = 409
    dimse_status = 0xA900
    stow_failure_reason = 0xA900


class StudyMismatchError(InvalidInputError):
    """A STOW-RS request to /studies/{uid} carried an instance of another study.

    PS3.18 10.5.3: the instance is refused with failure reason 0xA900 and the
    response status is 409 if nothing was stored.
    """

    http_status = 409
    dimse_status = 0xA900
    stow_failure_reason = 0xA900


class TooLargeError(InvalidInputError):
    """A part or a whole request exceeds the configured size limit."""

    http_status = 413
    dimse_status = 0xA700
    stow_failure_reason = 0xA700


class DeidentificationError(InvalidInputError):
    """A de-identification request cannot be honoured (unknown option, unusable key or UID root).

    Messages name the option or the file, never a value taken from a data set.
    """


class UnsupportedMediaTypeError(DicomVaultError):
    """The request's Content-Type is not one the endpoint accepts."""

    http_status = 415
    stow_failure_reason = 0xC000


class NotAcceptableError(DicomVaultError):
    """No representation satisfies the request's Accept header."""

    http_status = 406


class NotFoundError(DicomVaultError):
    """The study, series, instance, frame or resource does not exist."""

    http_status = 404
    dimse_status = 0xA801  # Move/Get destination or object unknown


class DuplicateInstanceError(DicomVaultError):
    """An instance with this SOP Instance UID exists and the policy refuses it."""

    http_status = 409
    dimse_status = 0xA900
    stow_failure_reason = 0x0111  # Duplicate SOP Instance (PS3.4 Table GG.3-2 style)


class AuthenticationError(DicomVaultError):
    """The caller could not be authenticated."""

    http_status = 401
    dimse_status = 0xA801


class TooManyAttemptsError(AuthenticationError):
    """Repeated failed logins: the account is locked or the client rate-limited (429)."""

    http_status = 429


class PermissionDeniedError(DicomVaultError):
    """The authenticated caller may not do this to this object."""

    http_status = 403
    dimse_status = 0xA801
    stow_failure_reason = 0x0124  # Refused: not authorized


class AgreementEndedError(PermissionDeniedError):
    """A share agreement no longer allows anything: revoked, expired or used up.

    410 Gone rather than 403: the partner's credentials are fine, the
    agreement is over (``reason`` says which, never anything about a patient).
    """

    http_status = 410

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IntegrityError(DicomVaultError):
    """Stored data failed verification (GCM tag, SHA-256, or a proof).

    Never swallowed: a retrieve that raises this returns nothing of the object.
    """

    http_status = 500
    dimse_status = 0xC001


class KeyUnavailableError(DicomVaultError):
    """The key that unlocks an object is not held by the key provider (shredded or lost)."""

    http_status = 410
    dimse_status = 0xC002


class OutOfResourcesError(DicomVaultError):
    """Storage or database is full, read-only or unreachable; retry later."""

    http_status = 503
    dimse_status = 0xA700
    stow_failure_reason = 0xA700


class ChainUnavailableError(OutOfResourcesError):
    """The consortium chain's JSON-RPC node cannot be reached; anchoring waits in the backlog."""


class ChainRefusedError(DicomVaultError):
    """The consortium chain's contract refused a transaction (not a member, size not growing...)."""

    http_status = 409
