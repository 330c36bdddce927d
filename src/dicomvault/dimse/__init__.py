"""The DIMSE door (pynetdicom): C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, storage commitment.

Public names: :class:`DimseServer` (started by ``dicomvault serve``) and
:class:`Status` (the status codes it answers with). docs/dimse.md is the
administrator's guide and conformance table.
"""

from dicomvault.dimse.server import DimseServer
from dicomvault.dimse.status import Status

__all__ = ["DimseServer", "Status"]
