"""Who is asking, through which door: passed by every door into every Archive call.

The Archive service records this in the ledger and, through
:class:`~dicomvault.access.policy.AccessPolicy`, decides what the caller may
do. Doors build it; nothing below the Archive service invents one.

``principal`` is the authenticated caller (HTTP doors set it from the bearer
token). A context without one is resolved by the policy from its door:
the CLI and the node itself act as the local system (whoever can run them can
read the data directory anyway); a DIMSE context maps its ``actor`` (the
calling AE title) through the ``dimse_ae_roles`` setting; anything else is
anonymous and may do nothing. ``break_glass_reason`` asks for emergency
access outside the principal's scope (recorded, see docs/security.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomvault.access.principal import Principal


class Door(enum.StrEnum):
    """The way a request entered the archive (recorded in every ledger event)."""

    DICOMWEB = "DICOMweb"
    DIMSE = "DIMSE"
    CLI = "CLI"
    UI = "UI"
    API = "API"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class RequestContext:
    actor: str
    door: Door
    client_address: str = ""
    principal: Principal | None = None
    break_glass_reason: str | None = None


def system_context(door: Door = Door.SYSTEM, actor: str = "system") -> RequestContext:
    """Context of work the node does on its own behalf or for a local operator."""
    return RequestContext(actor=actor, door=door, client_address="local")
