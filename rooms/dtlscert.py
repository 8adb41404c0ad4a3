"""A self-signed ECDSA P-256 certificate for the DTLS side of a WHIP publisher.

FFmpeg's ``whip`` muxer (8.1, GnuTLS) generates a secp224r1 certificate by default, a curve
the OpenSSL under aiortc (4.0) is built without for TLS (RFC 8422 deprecates it), so that
handshake fails (rooms/compat/aiortcdtls.py); P-256 is what browsers use and what aiortc
accepts. The files are handed to the muxer as ``cert_file``/``key_file``.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILENAME = "dtls-cert.pem"
KEY_FILENAME = "dtls-key.pem"


def generate_p256_certificate(
    common_name: str = "synthetic-studio",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Create a fresh self-signed P-256 certificate valid from yesterday for 30 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    # Backdate a day so a peer with a slightly wrong clock does not reject it.
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def write_p256_certificate(directory: Path) -> tuple[Path, Path]:
    """Write ``dtls-cert.pem`` and ``dtls-key.pem`` into ``directory``; return (cert, key) paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = generate_p256_certificate()
    cert_path = directory / CERT_FILENAME
    key_path = directory / KEY_FILENAME
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is a secret of this process only: create it 0600 from the start.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    return cert_path, key_path
