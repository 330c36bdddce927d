"""Roles and the permissions they grant: the one table every door is judged by.

Permissions are per operation (issue 4): store, search, retrieve, delete,
export, share, manage users, manage keys, read audit, and break the glass.
A principal's permissions are the union of its roles' (an API token may narrow
them further, never widen them).

============  =====================================================================
role          may
============  =====================================================================
admin         everything
clinician     search, retrieve, export, share; break the glass (scoped, with reason)
technologist  store, search, retrieve (the modality side)
researcher    search, retrieve, export (normally scoped to a research collection)
auditor       read the audit trail only: no image, no search
service       store, search, retrieve (machines: modalities, routers, viewers)
============  =====================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Permission(enum.StrEnum):
    STORE = "store"
    SEARCH = "search"
    RETRIEVE = "retrieve"
    DELETE = "delete"
    EXPORT = "export"
    SHARE = "share"
    MANAGE_USERS = "manage_users"
    MANAGE_KEYS = "manage_keys"
    READ_AUDIT = "read_audit"
    BREAK_GLASS = "break_glass"


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    TECHNOLOGIST = "technologist"
    RESEARCHER = "researcher"
    AUDITOR = "auditor"
    SERVICE = "service"


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CLINICIAN: frozenset({_P.SEARCH, _P.RETRIEVE, _P.EXPORT, _P.SHARE, _P.BREAK_GLASS}),
    Role.TECHNOLOGIST: frozenset({_P.STORE, _P.SEARCH, _P.RETRIEVE}),
    Role.RESEARCHER: frozenset({_P.SEARCH, _P.RETRIEVE, _P.EXPORT}),
    Role.AUDITOR: frozenset({_P.READ_AUDIT}),
    Role.SERVICE: frozenset({_P.STORE, _P.SEARCH, _P.RETRIEVE}),
}


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Role names -> roles; an unknown name is a ValueError naming the known ones."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            known = ", ".join(role.value for role in Role)
            raise ValueError(f"unknown role {name!r} (known: {known})") from None
    return frozenset(roles)


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)
