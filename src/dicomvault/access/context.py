"""Who is asking, through which door: passed by every door into every Archive call.

The Archive service records this in the ledger and (with the access-control
layer) decides what the caller may do. Doors build it; nothing below the
Archive service invents one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


def system_context(door: Door = Door.SYSTEM, actor: str = "system") -> RequestContext:
    """Context of work the node does on its own behalf or for a local operator."""
    return RequestContext(actor=actor, door=door, client_address="local")
