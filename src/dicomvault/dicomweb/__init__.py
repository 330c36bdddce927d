"""The DICOMweb door (PS3.18): STOW-RS, QIDO-RS, WADO-RS as an ASGI application."""

from dicomvault.dicomweb.app import create_app

__all__ = ["create_app"]
