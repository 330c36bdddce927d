"""The DICOMweb door (PS3.18): STOW-RS, QIDO-RS, WADO-RS, rendered resources."""

from dicomvault.dicomweb.app import routes

__all__ = ["routes"]
