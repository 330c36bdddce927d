"""The one permission check of the admin API's ledger and audit handlers.

Every handler of :mod:`dicomvault.api.ledger` and :mod:`dicomvault.api.audit`
starts with exactly one call, ``ctx = authorize(request, Permission.X)``,
which returns the :class:`~dicomvault.access.RequestContext` the handler
records events with, after the access policy has judged the caller:

* ``LEDGER_PUBLIC``: signed checkpoints, verifier keys, proofs (hashes only):
  anyone, without an account (the authentication middleware lets these GETs
  through, see :data:`dicomvault.api.auth.PUBLIC_READS`);
* ``LEDGER_READ``: the ledger's summary: any authenticated principal;
* ``AUDIT_READ``: events themselves (actors, doors, addresses): the
  ``read_audit`` permission (auditors, admins);
* ``LEDGER_WRITE``: signing a checkpoint on demand: ``manage_keys``.
"""

from __future__ import annotations

import dataclasses
import enum

from starlette.requests import Request

from dicomvault.access import Door, RequestContext
from dicomvault.access import Permission as AccessPermission
from dicomvault.archive import Archive
from dicomvault.dicomweb.context import request_context
from dicomvault.errors import AuthenticationError


class Permission(enum.StrEnum):
    """What a ledger or audit endpoint lets its caller do."""

    #: Checkpoints, verifier keys and proofs: hashes and signatures, public.
    LEDGER_PUBLIC = "ledger:public"
    #: Checkpoints, public keys, entries and proofs (verifiers, witnessing partners).
    LEDGER_READ = "ledger:read"
    #: Sign a checkpoint on demand, hash identifiers with the node's key.
    LEDGER_WRITE = "ledger:write"
    #: The audit views over the ledger (the auditor role only).
    AUDIT_READ = "audit:read"


def authorize(request: Request, permission: Permission) -> RequestContext:
    """Check that the caller may ``permission``; the context to record its events with."""
    ctx = dataclasses.replace(request_context(request), door=Door.API)
    if permission is Permission.LEDGER_PUBLIC:
        return ctx
    archive: Archive = request.app.state.archive
    required = _POLICY_PERMISSION.get(permission)
    if required is None:
        if ctx.principal is None:
            raise AuthenticationError("this resource needs a bearer token")
    else:
        archive.policy.require(ctx, required)
    return ctx


_POLICY_PERMISSION: dict[Permission, AccessPermission | None] = {
    Permission.LEDGER_READ: None,
    Permission.AUDIT_READ: AccessPermission.READ_AUDIT,
    Permission.LEDGER_WRITE: AccessPermission.MANAGE_KEYS,
}
