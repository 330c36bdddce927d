"""HTTPS from settings (a certificate the test makes), HSTS, and plain HTTP only on localhost."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.auth import admin_headers
from tests.support.live import serving
from tests.support.nodes import open_test_node

from dicomvault.access.transport import transport_for
from dicomvault.config import load_settings
from dicomvault.errors import ConfigurationError


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext, dict[str, str]]]:
    cert, key = _self_signed(tmp_path)
    with open_test_node(tmp_path / "node", f"sqlite:///{tmp_path / 'i.sqlite3'}",
                        tls_certfile=cert, tls_keyfile=key, hsts_seconds=600) as archive, \
            serving(archive) as url:
        yield url, ssl.create_default_context(cafile=str(cert)), admin_headers(archive)


def test_https_with_hsts(https_url: tuple[str, ssl.SSLContext, dict[str, str]]) -> None:
    url, context, headers = https_url
    assert url.startswith("https://")
    response = httpx.get(url + "/dicom-web/studies", headers=headers, verify=context)
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    with pytest.raises(httpx.ConnectError):  # an unknown certificate is not trusted
        httpx.get(url + "/healthz")


def test_plain_http_only_on_localhost(tmp_path: Path) -> None:
    local = transport_for(load_settings(data_dir=tmp_path))
    assert local.scheme == "http" and "localhost" in local.warnings[0]
    with pytest.raises(ConfigurationError, match="plain HTTP"):
        transport_for(load_settings(data_dir=tmp_path, host="0.0.0.0"))
    proxied = transport_for(load_settings(data_dir=tmp_path, host="0.0.0.0",
                                          allow_plain_http=True))
    assert "proxy" in proxied.warnings[0]
