"""Just enough DER reading for the two hot spots cryptography does not serve fast enough.

* Locating a CRL's ``revokedCertificates`` inside the ``TBSCertList``, so that a single C-speed
  byte search can tell whether any entry may carry a critical extension (measured: a pure-Python
  walk of a million entries costs ~4.5 s, six times more than letting ``cryptography`` iterate
  the serials, so only the span is read here).
* The ``subjectPublicKey`` BIT STRING of a certificate, which OCSP hashes for the CertID and the
  ResponderID ``byKey``.

Anything unexpected raises :class:`DerError`; callers treat that as "not usable".
"""

from __future__ import annotations

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
CONTEXT_0 = 0xA0


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


def read_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return ``(tag, content_start, content_end)`` of the TLV at ``pos`` (single-byte tags only)."""
    end_of_data = len(data)
    if pos + 2 > end_of_data:
        raise DerError("truncated TLV")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not expected here")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end_of_data:
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        if length < 0x80 or (count > 1 and data[pos - count] == 0):
            raise DerError("non-minimal length")
    end = pos + length
    if end > end_of_data:
        raise DerError("truncated content")
    return tag, pos, end


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def encode_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def tbs_certlist_body(tbs: bytes) -> tuple[int, int] | None:
    """Locate ``revokedCertificates`` in a ``TBSCertList``: ``(content_start, content_end)`` or
    ``None`` when the CRL lists nothing."""
    tag, pos, end = read_header(tbs, 0)
    if tag != SEQUENCE:
        raise DerError("TBSCertList is not a SEQUENCE")
    tag, _, nxt = read_header(tbs, pos)
    if tag == INTEGER:  # version
        pos = nxt
    for _ in range(2):  # signature AlgorithmIdentifier, issuer Name
        tag, _, nxt = read_header(tbs, pos)
        if tag != SEQUENCE:
            raise DerError("expected a SEQUENCE in TBSCertList")
        pos = nxt
    tag, _, nxt = read_header(tbs, pos)  # thisUpdate
    if tag not in (UTC_TIME, GENERALIZED_TIME):
        raise DerError("bad thisUpdate")
    pos = nxt
    if pos < end:
        tag, _, nxt = read_header(tbs, pos)
        if tag in (UTC_TIME, GENERALIZED_TIME):  # nextUpdate
            pos = nxt
    if pos >= end:
        return None
    tag, cstart, cend = read_header(tbs, pos)
    if tag != SEQUENCE:
        return None  # crlExtensions [0] directly: no revoked certificates
    return cstart, cend


def spki_public_key_bits(spki_der: bytes) -> bytes:
    """The value of ``subjectPublicKey`` (without the unused-bits octet) of a DER SPKI."""
    tag, pos, _ = read_header(spki_der, 0)
    if tag != SEQUENCE:
        raise DerError("SPKI is not a SEQUENCE")
    _, _, pos = read_header(spki_der, pos)  # algorithm
    tag, start, end = read_header(spki_der, pos)
    if tag != BIT_STRING or end <= start:
        raise DerError("subjectPublicKey is not a BIT STRING")
    return spki_der[start + 1 : end]
