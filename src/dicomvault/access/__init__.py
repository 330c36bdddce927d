"""Who may do what: request context, principals, roles, the one policy, authentication.

Public names::

    RequestContext, Door, system_context   what every door passes to the Archive
    Principal, PrincipalKind               an authenticated caller
    Role, Permission                       the role -> permission table (roles.py)
    Scope                                  per-study scope (index/scope.py's StudyScope)
    AccessPolicy                           the one permission check (policy.py)

Authentication (users, tokens, OIDC) lives in ``access.service`` and the
modules it composes; it is imported lazily by the node, not here, so that
this package stays importable by every door without its dependencies.
"""

from dicomvault.access.context import Door, RequestContext, system_context
from dicomvault.access.policy import AccessPolicy, ScopeDecision
from dicomvault.access.principal import Principal, PrincipalKind, system_principal
from dicomvault.access.roles import Permission, Role
from dicomvault.index.scope import StudyScope as Scope

__all__ = [
    "AccessPolicy",
    "Door",
    "Permission",
    "Principal",
    "PrincipalKind",
    "RequestContext",
    "Role",
    "Scope",
    "ScopeDecision",
    "system_context",
    "system_principal",
]
