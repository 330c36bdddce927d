"""Sharing between institutions: share agreements enforced on every request, and federation.

Public names::

    ShareAgreement, ShareScope     the agreement document and its private scope
    InstitutionKey, PublicIdentity an institution's Ed25519 identity (id = key fingerprint)
    ShareGrants, GrantRequest      the grantor admin's create / list / show / revoke
    ShareRelease                   the grantor's enforcement of partner requests
    ShareReceiver                  the grantee: accept, search, retrieve, import
    FederationClient               signed DICOMweb client of a grantor's federation door

The federation door itself is :mod:`dicomvault.sharing.door` (mounted by the
server); tables in :mod:`.schema`; docs/sharing.md explains the whole.
"""

from dicomvault.sharing.agreement import ScopeKind, ShareAgreement, ShareDoor, ShareScope
from dicomvault.sharing.institution import InstitutionKey, PublicIdentity

__all__ = [
    "FederationClient",
    "GrantRequest",
    "InstitutionKey",
    "PublicIdentity",
    "ScopeKind",
    "ShareAgreement",
    "ShareDoor",
    "ShareGrants",
    "ShareReceiver",
    "ShareRelease",
    "ShareScope",
]


def __getattr__(name: str) -> object:
    """The services import the Archive; loaded on first use so the schema stays light."""
    import importlib

    modules = {"FederationClient": "client", "GrantRequest": "grants", "ShareGrants": "grants",
               "ShareReceiver": "grantee", "ShareRelease": "release"}
    if name in modules:
        return getattr(importlib.import_module(f"dicomvault.sharing.{modules[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
