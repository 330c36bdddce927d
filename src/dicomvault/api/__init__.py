"""The admin REST API (``/api``): one module per resource family, like Orthanc's
``OrthancRest*`` files. Each is a thin door onto the Archive service."""

from dicomvault.api.app import routes

__all__ = ["routes"]
