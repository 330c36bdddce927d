"""DICOM TLS (PS3.15 B.1, the TLS secure transport connection profile).

The TLS listener (``dimse_tls_port``, IANA's 2762 by convention) presents
``dimse_tls_certfile``/``dimse_tls_keyfile`` and requires a client
certificate signed by a CA in ``dimse_tls_ca_file``: a peer without one
fails the handshake and never reaches an association. TLS 1.2 at least, as
the BCP 195 profile of PS3.15 B.9 asks. The certificate's subject common
name names the principal (:mod:`dicomvault.dimse.session`). Outgoing
associations (C-MOVE destinations with ``tls = true``) verify the peer
against the same CA file and present the same certificate.
"""

from __future__ import annotations

import ssl
from typing import Any

from dicomvault.config import Settings
from dicomvault.errors import ConfigurationError


def server_context(settings: Settings) -> ssl.SSLContext:
    """The SSL context of the TLS listener (client certificates required)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, settings)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(settings: Settings) -> ssl.SSLContext:
    """The SSL context of outgoing DICOM TLS associations."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, settings)
    return context


def _load(context: ssl.SSLContext, settings: Settings) -> None:
    files = (settings.dimse_tls_certfile, settings.dimse_tls_keyfile, settings.dimse_tls_ca_file)
    if None in files:
        raise ConfigurationError("DICOM TLS needs dimse_tls_certfile, dimse_tls_keyfile "
                                 "and dimse_tls_ca_file")
    for path in files:
        assert path is not None
        if not path.is_file():
            raise ConfigurationError(f"DICOM TLS file {path} does not exist")
    assert settings.dimse_tls_certfile is not None and settings.dimse_tls_ca_file is not None
    try:
        context.load_cert_chain(settings.dimse_tls_certfile, settings.dimse_tls_keyfile)
        context.load_verify_locations(cafile=settings.dimse_tls_ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"DICOM TLS files cannot be loaded: {exc}") from exc


def certificate_name(peer_certificate: dict[str, Any] | None) -> str:
    """The subject common name of a verified peer certificate ('' if it has none)."""
    if not peer_certificate:
        return ""
    for rdn in peer_certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""
