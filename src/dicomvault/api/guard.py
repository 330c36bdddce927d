"""The one permission check of the admin API's ledger and audit handlers.

Every handler of :mod:`dicomvault.api.ledger` and :mod:`dicomvault.api.audit`
starts with exactly one call, ``ctx = authorize(request, Permission.X)``,
which returns the :class:`~dicomvault.access.RequestContext` the handler
records events with. The access-control layer (roles: auditor, partner
institution, admin) replaces the body of :func:`authorize` with its policy
check, raising :class:`~dicomvault.errors.AuthenticationError` or
:class:`~dicomvault.errors.PermissionDeniedError`; nothing else changes.
Until it lands, every caller is let through as ``request.state.principal``
(``anonymous`` when no authentication middleware set one).
"""

from __future__ import annotations

import dataclasses
import enum

from starlette.requests import Request

from dicomvault.access import Door, RequestContext
from dicomvault.dicomweb.context import request_context


class Permission(enum.StrEnum):
    """What a ledger or audit endpoint lets its caller do."""

    #: Checkpoints, public keys, entries and proofs (verifiers, witnessing partners).
    LEDGER_READ = "ledger:read"
    #: Sign a checkpoint on demand, hash identifiers with the node's key.
    LEDGER_WRITE = "ledger:write"
    #: The audit views over the ledger (the auditor role only).
    AUDIT_READ = "audit:read"


def authorize(request: Request, permission: Permission) -> RequestContext:
    """Check that the caller may ``permission``; the context to record its events with."""
    del permission  # the policy of the access-control layer decides (see the module docstring)
    return dataclasses.replace(request_context(request), door=Door.API)
