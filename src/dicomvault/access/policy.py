"""The one permission check: every door's request is judged here, through the Archive.

:class:`AccessPolicy` resolves the principal of a :class:`RequestContext`,
refuses operations its roles do not grant (:class:`PermissionDeniedError`,
HTTP 403 / DIMSE 0xA801 with a reason that names the operation, never the
data) and gives the study scope a search or retrieve is limited to.

Break-the-glass: a principal holding ``break_glass`` (clinicians, admins)
whose request carries a reason is let outside its scope for that request; the
Archive records it (a ``break_glass`` ledger event and the reason in
``break_glass_log``). Without the permission, a reason changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dicomvault.access.context import Door, RequestContext
from dicomvault.access.principal import (
    ANONYMOUS,
    Principal,
    PrincipalKind,
    system_principal,
)
from dicomvault.access.roles import Permission, parse_roles
from dicomvault.errors import InvalidInputError, PermissionDeniedError
from dicomvault.index.scope import StudyScope

MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    """What a search or retrieve may see: ``scope`` (``None``: everything) and whether
    the glass was broken to get there."""

    principal: Principal
    scope: StudyScope | None
    break_glass: bool = False


def check_reason(reason: str | None) -> str | None:
    """A break-the-glass reason as given (stripped); refused if empty, too long or binary."""
    if reason is None:
        return None
    text = reason.strip()
    if not text or len(text) > MAX_REASON_CHARS or not text.isprintable():
        raise InvalidInputError(
            f"a break-the-glass reason must be 1-{MAX_REASON_CHARS} printable characters")
    return text


class AccessPolicy:
    """Resolves principals and checks permissions (see the module docstring)."""

    def __init__(self, dimse_ae_roles: Mapping[str, Sequence[str]]) -> None:
        self._ae_roles = {ae: parse_roles(roles) for ae, roles in dimse_ae_roles.items()}

    def principal(self, ctx: RequestContext) -> Principal:
        if ctx.principal is not None:
            return ctx.principal
        if ctx.door in (Door.SYSTEM, Door.CLI):
            return system_principal(ctx.actor)
        if ctx.door is Door.DIMSE:
            roles = self._ae_roles.get(ctx.actor, self._ae_roles.get("*"))
            if roles:
                return Principal(name=ctx.actor, kind=PrincipalKind.AE, roles=roles)
        return ANONYMOUS

    def require(self, ctx: RequestContext, permission: Permission) -> Principal:
        principal = self.principal(ctx)
        if not principal.can(permission):
            action = permission.value.replace("_", " ")
            raise PermissionDeniedError(f"this account may not {action}")
        return principal

    def scope_for(self, ctx: RequestContext, permission: Permission) -> ScopeDecision:
        """The scope of a search/retrieve/delete, after checking ``permission``."""
        principal = self.require(ctx, permission)
        if principal.scope.unrestricted:
            return ScopeDecision(principal, None)
        reason = check_reason(ctx.break_glass_reason)
        if reason is not None and principal.can(Permission.BREAK_GLASS) and permission in (
                Permission.SEARCH, Permission.RETRIEVE):
            return ScopeDecision(principal, None, break_glass=True)
        return ScopeDecision(principal, principal.scope)
