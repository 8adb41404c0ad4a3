"""aiortc's DTLS transport: why a handshake failed, in one line; pinned (rooms/compat/pins.py).

aiortc logs a failed DTLS handshake only at debug level, as ``error []``: the peer sees a
fatal alert, the crew sees nothing.  The one failure met in practice has a cause that
no setting of ours can remove:

* FFmpeg 8.1's ``whip`` muxer (PyAV 18.1's build, GnuTLS) offers ``a=setup:passive``,
  so aiortc is the DTLS client, and, without ``cert_file``/``key_file``, it makes its
  own certificate on curve secp224r1;
* aiortc's TLS library is the OpenSSL inside the ``cryptography`` wheel (4.0 since
  cryptography 48; pyOpenSSL 26.4 needs >= 49).  OpenSSL 4.0 is built without the curves
  RFC 8422 section 5.1.1 deprecates (``tls-deprecated-ec``, a compile-time switch that
  no call can turn back on: ``SSL_CTX_set1_groups_list("secp224r1")`` fails), and a
  TLS 1.2 client refuses a server certificate whose curve is not among its groups
  (alert 47, illegal_parameter) right after reading it.

:func:`handshake_failure` reads the peer certificate the failed handshake left on
aiortc's ``SSL.Connection`` and says which curve it was and what the publisher can do.
Removed by: an aiortc that reports why a DTLS handshake failed (and a TLS library that
takes the peer's curve, or an FFmpeg whose own certificate is P-256).
"""

from __future__ import annotations

from aiortc.rtcdtlstransport import RTCDtlsTransport
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL
from OpenSSL._util import lib as openssl_lib

from rooms.compat.pins import Pins

PINNED: Pins = {
    # a failed handshake sets State.FAILED and keeps self._ssl (with the peer certificate it read)
    "RTCDtlsTransport._do_handshake": (RTCDtlsTransport._do_handshake, "0af5299c33352e6e"),
    # the only place that makes self._ssl
    "RTCDtlsTransport.start": (RTCDtlsTransport.start, "3b3522667fe0a3da"),
}

CERTIFICATE_ADVICE = (
    "publish with a P-256 (prime256v1) ECDSA certificate; FFmpeg's whip muxer: "
    "-cert_file CERT.pem -key_file KEY.pem (README, 'Publishing with FFmpeg')"
)


def tls_accepts_curve(curve: str) -> bool:
    """Whether aiortc's TLS library (OpenSSL in ``cryptography``) can use ``curve`` (OpenSSL's
    name, e.g. ``"secp224r1"``) as a TLS group: the same check it makes of a peer's certificate."""
    context = SSL.Context(SSL.DTLS_METHOD)
    accepted = bool(openssl_lib.SSL_CTX_set1_curves_list(context._context, curve.encode()))
    openssl_lib.ERR_clear_error()  # a refusal queues an error a later pyOpenSSL call would report
    return accepted


def handshake_failure(transport: RTCDtlsTransport) -> str | None:
    """Why ``transport``'s DTLS handshake failed, one line; None when it did not fail.

    Names the peer certificate's curve when the TLS library cannot take it; otherwise says
    what it can (the peer sent no certificate, or its key type and the generic failure).
    """
    if transport.state != "failed":
        return None
    ssl: SSL.Connection | None = transport._ssl
    certificate = ssl.get_peer_certificate(as_cryptography=True) if ssl is not None else None
    if certificate is None:
        return "DTLS handshake failed before the publisher's certificate arrived (or it sent none)"
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve.name
        if not tls_accepts_curve(curve):
            return (
                f"DTLS handshake failed: the publisher's certificate is on curve {curve}, which this "
                f"server's TLS library ({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}) no longer "
                f"accepts (RFC 8422 5.1.1); {CERTIFICATE_ADVICE}"
            )
        return f"DTLS handshake failed (publisher's certificate: ECDSA {curve})"
    return f"DTLS handshake failed (publisher's certificate: {type(key).__name__.removesuffix('PublicKey')})"
