"""Re-encode real certificates the way a hostile client would: the same signed TBS with another
encoding of the CA's signature, or a TBS edited and signed again by the real CA key."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from authorizer.certder import CertificateDer, ecdsa_signature
from tests.pki import CA

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem_of_der(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def _header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw


def assemble(tbs: bytes, algorithm: bytes, signature: bytes, unused_bits: int = 0) -> bytes:
    bits = bytes((unused_bits,)) + signature
    body = tbs + algorithm + _header(0x03, len(bits)) + bits
    return _header(0x30, len(body)) + body


def ecdsa_twin(cert: x509.Certificate, order: int = P256_ORDER) -> bytes:
    """The same certificate with the CA's ECDSA signature (r, s) replaced by (r, n - s)."""
    parts = CertificateDer(der_of(cert))
    r, s = decode_dss_signature(parts.signature)
    return parts.with_signature(ecdsa_signature(r, order - s))


def resigned(cert: x509.Certificate, ca: CA, old: bytes, new: bytes) -> bytes:
    """``cert`` with the first ``old`` in its TBS replaced by ``new`` (same length), signed again
    by ``ca``'s real key, so the only defect is the edited content."""
    assert len(old) == len(new)
    parts = CertificateDer(der_of(cert))
    assert old in parts.tbs, old.hex()
    tbs = parts.tbs.replace(old, new, 1)
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    return assemble(tbs, parts.algorithm, ca.key.sign(tbs, ec.ECDSA(hashes.SHA256())))


def pem_block(der: bytes) -> str:
    """A PEM block around any bytes (cryptography would refuse to re-encode some of them)."""
    import base64

    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
