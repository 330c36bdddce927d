"""dicomvault: a secure, verifiable DICOM archive.

The public surface is the Archive service (:mod:`dicomvault.archive`), the
settings (:mod:`dicomvault.config`) and the error hierarchy
(:mod:`dicomvault.errors`); each subsystem package states its own public names.
"""

__version__ = "0.1.0"
