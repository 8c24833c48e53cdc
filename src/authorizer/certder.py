"""The outer DER of a certificate: what the CA signed, and every encoding of the same signature.

A certificate is ``SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }``.
Only ``tbsCertificate`` is signed, so anything outside it can change without breaking the
signature; the rules here pin those bytes down so that one signed certificate has as few
encodings as possible, and name the ones that remain:

* the signature BIT STRING has no unused bits, and ``signatureAlgorithm`` is byte for byte the
  ``signature`` field inside the TBS (RFC 5280 section 4.1.1.2): otherwise ``CERT_MALFORMED``;
* an ECDSA signature is a canonical DER ``SEQUENCE { INTEGER r, INTEGER s }``; OpenSSL refuses
  any other encoding anyway, so a non-DER one is ``CERT_MALFORMED`` here, before the chain;
* ECDSA signatures stay malleable even then: ``(r, s)`` and ``(r, n - s)`` both verify. So a
  fingerprint rule compares against :func:`equivalent_fingerprints`, the SHA-256 of both forms
  (for each curve API Gateway accepts, since the curve is the issuer's and not written in the
  leaf). RSA PKCS#1 v1.5 and PSS signatures are one integer below the modulus, of the modulus'
  length: OpenSSL checks that for PKCS#1 v1.5 but lets a PSS signature be shorter (leading zero
  bytes dropped), so path validation refuses an RSA signature of any other length than the
  issuer's modulus; then they have a single encoding.

A reader of a handful of TLVs: strict DER lengths, nothing else.
"""

from __future__ import annotations

import hashlib

_SEQUENCE, _INTEGER, _BIT_STRING = 0x30, 0x02, 0x03

#: ecdsa-with-SHA1/224/256/384/512: signatures that are a DER ``SEQUENCE { r, s }``.
ECDSA_SIGNATURE_OIDS = frozenset(
    {"1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"}
)

#: Orders of the curves an issuing CA may use (API Gateway: P-256 and P-384; P-521 is harmless).
_CURVE_ORDERS = (
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
)


class CertDerError(ValueError):
    """The certificate's outer structure is not strict DER (the message says where)."""


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, content_start, content_end)`` of the TLV at ``pos``; strict DER lengths."""
    if pos + 2 > end:
        raise CertDerError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end or data[pos] == 0:
            raise CertDerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        if length < 0x80:
            raise CertDerError("non-minimal length")
    if pos + length > end:
        raise CertDerError("truncated")
    return tag, pos, pos + length


def _header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw


class CertificateDer:
    """The parts of one certificate's DER: ``tbs``, ``algorithm`` (outer), ``signature`` bytes."""

    __slots__ = ("algorithm", "der", "signature", "tbs", "tbs_algorithm")

    def __init__(self, der: bytes) -> None:
        tag, start, end = _tlv(der, 0, len(der))
        if tag != _SEQUENCE or end != len(der):
            raise CertDerError("a certificate is one SEQUENCE with nothing after it")
        tag, tbs_start, tbs_end = _tlv(der, start, end)
        if tag != _SEQUENCE:
            raise CertDerError("tbsCertificate is not a SEQUENCE")
        tag, _, alg_end = _tlv(der, tbs_end, end)
        if tag != _SEQUENCE:
            raise CertDerError("signatureAlgorithm is not a SEQUENCE")
        tag, sig_start, sig_end = _tlv(der, alg_end, end)
        if tag != _BIT_STRING or sig_end != end or sig_start == sig_end:
            raise CertDerError("signatureValue is not the last element, a BIT STRING")
        if der[sig_start] != 0:
            raise CertDerError(f"the signature BIT STRING has {der[sig_start]} unused bits")
        self.der = der
        self.tbs = der[start:tbs_end]
        self.algorithm = der[tbs_end:alg_end]
        self.signature = der[sig_start + 1 : sig_end]
        self.tbs_algorithm = _tbs_signature_field(der, tbs_start, tbs_end)

    def problem(self, ecdsa: bool) -> str | None:
        """Why this encoding is not the one DER encoding of its signed content, or ``None``."""
        if self.algorithm != self.tbs_algorithm:
            return "signatureAlgorithm differs from the signature field the CA signed"
        if ecdsa:
            try:
                _ecdsa_values(self.signature)
            except CertDerError as exc:
                return f"the ECDSA signature is not DER ({exc})"
        return None

    def with_signature(self, signature: bytes) -> bytes:
        """The same certificate with another signature value (an equivalent encoding)."""
        bits = b"\x00" + signature
        body = self.tbs + self.algorithm + _header(_BIT_STRING, len(bits)) + bits
        return _header(_SEQUENCE, len(body)) + body


def _tbs_signature_field(der: bytes, start: int, end: int) -> bytes:
    """The ``signature`` AlgorithmIdentifier inside the TBS (after the optional [0] version
    and the serial number)."""
    tag, _, nxt = _tlv(der, start, end)
    if tag == 0xA0:
        tag, _, nxt = _tlv(der, nxt, end)
    if tag != _INTEGER:
        raise CertDerError("tbsCertificate has no serialNumber")
    tag, _, alg_end = _tlv(der, nxt, end)
    if tag != _SEQUENCE:
        raise CertDerError("tbsCertificate has no signature AlgorithmIdentifier")
    return der[nxt:alg_end]


def _der_int(content: bytes) -> int:
    if not content:
        raise CertDerError("empty INTEGER")
    if len(content) > 1 and ((content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)):
        raise CertDerError("INTEGER not minimally encoded")
    if content[0] >= 0x80:
        raise CertDerError("negative INTEGER")
    return int.from_bytes(content, "big")


def _ecdsa_values(signature: bytes) -> tuple[int, int]:
    tag, start, end = _tlv(signature, 0, len(signature))
    if tag != _SEQUENCE or end != len(signature):
        raise CertDerError("not one SEQUENCE")
    tag, r_start, r_end = _tlv(signature, start, end)
    if tag != _INTEGER:
        raise CertDerError("r is not an INTEGER")
    tag, s_start, s_end = _tlv(signature, r_end, end)
    if tag != _INTEGER or s_end != end:
        raise CertDerError("s is not the last INTEGER")
    return _der_int(signature[r_start:r_end]), _der_int(signature[s_start:s_end])


def _encode_int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0x00 keeps it positive
    if len(raw) > 1 and raw[0] == 0 and raw[1] < 0x80:
        raw = raw[1:]
    return _header(_INTEGER, len(raw)) + raw


def ecdsa_signature(r: int, s: int) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of ``(r, s)``."""
    body = _encode_int(r) + _encode_int(s)
    return _header(_SEQUENCE, len(body)) + body


def equivalent_fingerprints(parts: CertificateDer, ecdsa: bool) -> frozenset[str]:
    """Hex SHA-256 of this DER and of every other encoding of the same signed certificate.

    For ECDSA that is ``(r, n - s)`` for each curve order ``n`` the values fit under: the
    twin for the issuer's real curve is the one that matters; the others are certificates no
    issuer signed, which can only widen a rule to an encoding that never verifies.
    """
    out = {hashlib.sha256(parts.der).hexdigest()}
    if ecdsa:
        try:
            r, s = _ecdsa_values(parts.signature)
        except CertDerError:
            return frozenset(out)
        for n in _CURVE_ORDERS:
            if 0 < r < n and 0 < s < n:
                out.add(hashlib.sha256(parts.with_signature(ecdsa_signature(r, n - s))).hexdigest())
    return frozenset(out)
