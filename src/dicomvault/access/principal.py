"""Principals: who is asking, with which roles, permissions and study scope."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dicomvault.access.roles import Permission, Role, permissions_of
from dicomvault.index.scope import StudyScope


class PrincipalKind(enum.StrEnum):
    USER = "user"  # a person with a password (argon2id)
    SERVICE = "service"  # a machine account, authenticated by API tokens only
    OIDC = "oidc"  # a person authenticated by the hospital's identity provider
    AE = "ae"  # a DICOM application entity (calling AE title)
    SYSTEM = "system"  # the node itself or a local operator with access to the data dir
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``restrict_to`` narrows the roles' permissions (API tokens)."""

    name: str
    kind: PrincipalKind
    roles: frozenset[Role] = frozenset()
    scope: StudyScope = field(default_factory=StudyScope)
    restrict_to: frozenset[Permission] | None = None
    token_id: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = permissions_of(self.roles)
        return granted if self.restrict_to is None else granted & self.restrict_to

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def system_principal(name: str = "system") -> Principal:
    return Principal(name=name, kind=PrincipalKind.SYSTEM, roles=frozenset({Role.ADMIN}))


ANONYMOUS = Principal(name="anonymous", kind=PrincipalKind.ANONYMOUS)
