"""Archive errors and outcomes as DIMSE status codes: the one translation of this door.

:mod:`dicomvault.errors` gives each error class a default ``dimse_status``;
this module refines it per service where PS3.4 defines a more precise code,
so that a handler never lets pynetdicom report a known failure as 0xC211
("unable to process, handler raised"). Codes:

==========  ==========================================================  =========
status      meaning                                                     services
==========  ==========================================================  =========
0x0000      success                                                     all
0xB006      warning, elements discarded: the SOP Instance UID was       C-STORE
            archived before with other bytes; the archived copy is
            kept (``duplicate_policy = ignore-if-identical``)
0xB000      warning, sub-operations complete with failures              C-MOVE/C-GET
0xA700      out of resources (disk full, database away, too large)      C-STORE, C-FIND
0xA701      out of resources: unable to calculate number of matches     C-MOVE/C-GET
0xA702      out of resources: unable to perform sub-operations          C-MOVE/C-GET
0xA801      move destination unknown                                    C-MOVE
0xA900      data set / identifier does not match SOP class              all
0xC000      cannot understand / unable to process                       all
0xC001      stored object failed verification (GCM tag or hash)         C-MOVE/C-GET
0x0124      refused: not authorised (PS3.7 C.1.4)                       all
0xFE00      cancelled (C-CANCEL)                                        C-FIND/C-MOVE/C-GET
0xFF00      pending                                                     C-FIND/C-MOVE/C-GET
==========  ==========================================================  =========
"""

from __future__ import annotations

import enum

from dicomvault.errors import (
    AuthenticationError,
    DicomVaultError,
    InvalidInputError,
    NotFoundError,
    OutOfResourcesError,
    PermissionDeniedError,
)


class Status(enum.IntEnum):
    """The DIMSE status codes this door answers with (see the module docstring)."""

    SUCCESS = 0x0000
    WARNING_ELEMENTS_DISCARDED = 0xB006
    WARNING_SUB_OPERATIONS = 0xB000
    OUT_OF_RESOURCES = 0xA700
    OUT_OF_RESOURCES_MATCHES = 0xA701
    OUT_OF_RESOURCES_SUB_OPERATIONS = 0xA702
    MOVE_DESTINATION_UNKNOWN = 0xA801
    DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    INTEGRITY_FAILURE = 0xC001
    NOT_AUTHORISED = 0x0124
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    CLASS_INSTANCE_CONFLICT = 0x0119
    CANCELLED = 0xFE00
    PENDING = 0xFF00


def store_status(error: DicomVaultError) -> int:
    """C-STORE failure status of ``error`` (PS3.4 Table B.2-1)."""
    if isinstance(error, PermissionDeniedError | AuthenticationError):
        return Status.NOT_AUTHORISED
    return error.dimse_status


def query_status(error: DicomVaultError) -> int:
    """C-FIND failure status of ``error`` (PS3.4 Table C.4-1)."""
    if isinstance(error, PermissionDeniedError | AuthenticationError):
        return Status.NOT_AUTHORISED
    if isinstance(error, OutOfResourcesError):
        return Status.OUT_OF_RESOURCES
    if isinstance(error, InvalidInputError):
        return Status.DOES_NOT_MATCH_SOP_CLASS  # "Identifier does not match SOP Class"
    return Status.CANNOT_UNDERSTAND


def retrieve_status(error: DicomVaultError) -> int:
    """C-MOVE / C-GET failure status of ``error`` (PS3.4 Tables C.4-2 and C.4-3)."""
    if isinstance(error, PermissionDeniedError | AuthenticationError):
        return Status.NOT_AUTHORISED
    if isinstance(error, OutOfResourcesError):
        return Status.OUT_OF_RESOURCES_MATCHES
    if isinstance(error, InvalidInputError):
        return Status.DOES_NOT_MATCH_SOP_CLASS
    if isinstance(error, NotFoundError):
        return Status.CANNOT_UNDERSTAND
    return error.dimse_status if error.dimse_status >= 0xC000 else Status.CANNOT_UNDERSTAND


def comment(error: DicomVaultError) -> str:
    """The Error Comment (0000,0902) for ``error``: its message, cut to the LO limit of 64.

    Messages carry no PHI (errors.py), so they may go to the peer.
    """
    return error.message[:64]
