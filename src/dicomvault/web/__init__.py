"""The browser UI: static files only, talking to the public APIs like any other client.

The UI is a set of vanilla ES modules under ``static/`` (no build step, no
download at run time). It has no private back door: every page calls the
documented ``/api`` and ``/dicom-web`` endpoints with the user's own bearer
token, so what a role may not do is refused by the server, not just hidden.
"""

from dicomvault.web.app import UI_PREFIX, routes

__all__ = ["UI_PREFIX", "routes"]
