"""Writing a CRL index: validate the CRL as the authorizer would, then encode it.

:func:`validate_for_index` applies the authorizer's own checks (:class:`CrlIndex` parsing and
its usability rules, currency with the same skew, a signature by a truststore CA, cRLNumber
not going backwards) and refuses what an index cannot carry exactly: a CRL without a digest
signature (EdDSA signs the message itself), an indirect CRL with entries for other issuers,
duplicate serials, revocation times outside 1970..2106. Those CRLs are simply not indexed and
the authorizer reads them itself.

:func:`encode_index` is deterministic: the same CRL bytes always give the same index bytes, so
an audit can rebuild an index from its CRL and compare.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from array import array
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .crl import CrlError, CrlIndex, crl_der, load_crl, tbs_bytes
from .crl_idx import (
    FLAG_DELTA,
    FLAG_INDIRECT,
    HEADER,
    MAX_KEY_WIDTH,
    NO_REASON,
    REMOVE_FROM_CRL,
    VERSION,
    Header,
    IndexError_,
    LoadedIndex,
    aki_key_id,
    etag_field,
    issuing_ca,
    key_width,
    layout,
)
from .der import SEQUENCE, DerError, encode_tlv, read_header

#: DER of the reasonCode extension's OID (2.5.29.21): absent from the entries, no entry has one.
_REASON_OID = b"\x06\x03\x55\x1d\x15"
_REASONS = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: REMOVE_FROM_CRL,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


def _reason(entry: x509.RevokedCertificate) -> int:
    """The entry's reasonCode as its number, or NO_REASON."""
    try:
        return _REASONS.get(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason, NO_REASON)
    except x509.ExtensionNotFound:
        return NO_REASON


class IndexRefused(CrlError):
    """This CRL is not indexed (why is the message); the authorizer reads the CRL itself."""


def validate_for_index(
    data: bytes,
    source: str,
    pool: Sequence[x509.Certificate],
    at: dt.datetime,
    skew: dt.timedelta,
    previous: Header | None = None,
) -> CrlIndex:
    """The parsed CRL when it may be indexed; raises :class:`IndexRefused` (or CrlError)."""
    crl = CrlIndex.from_bytes(data, source)
    if crl.unusable:
        raise IndexRefused(f"CRL is unusable: {crl.unusable}")
    why = crl.is_current(at, skew)
    if why:
        raise IndexRefused(why)
    if issuing_ca(crl, pool) is None:
        raise IndexRefused("CRL is not signed by a truststore CA of the same name")
    if crl.others:
        raise IndexRefused("indirect CRL with entries for other certificate issuers")
    if previous is not None and previous.number is not None and (crl.number is None or crl.number < previous.number):
        raise IndexRefused(f"CRL number {crl.number} is lower than the indexed {previous.number}")
    return crl


def _shell(der: bytes) -> bytes:
    """The CRL's DER without its ``revokedCertificates`` (signature kept as it was)."""
    try:
        _, pos, end = read_header(der, 0)
        _, tbs_start, tbs_end = read_header(der, pos)
        rest = der[tbs_end:end]
        parts: list[bytes] = []
        p, seen_time = tbs_start, 0
        while p < tbs_end:
            tag, _, nxt = read_header(der, p)
            if tag in (0x17, 0x18):
                seen_time += 1
            elif tag == SEQUENCE and seen_time:
                p = nxt  # revokedCertificates
                continue
            parts.append(der[p:nxt])
            p = nxt
    except DerError as exc:
        raise IndexRefused(f"not a CRL: {exc}") from None
    return encode_tlv(SEQUENCE, encode_tlv(SEQUENCE, b"".join(parts)) + rest)


def encode_index(data: bytes, crl: CrlIndex, crl_etag: str | None = None) -> bytes:
    """The index (body, unsigned) of the CRL ``data`` (already validated into ``crl``);
    ``crl_etag``: the CRL object's ETag as read, recorded when it fits."""
    etag = etag_field(crl_etag)
    der = crl_der(data)
    parsed = load_crl(der)
    tbs = tbs_bytes(der)
    signed = crl._signed
    if signed.digest is None:
        raise IndexRefused("the CRL's signature algorithm signs the message itself (EdDSA): not indexable")
    with_reasons = _REASON_OID in tbs
    entries: list[tuple[int, int, int, int]] = []
    for entry in parsed:
        if entry.serial_number <= 0 or entry.serial_number.bit_length() > 8 * MAX_KEY_WIDTH:
            # Path validation admits such serials (PKITS 4.4.14); the table's unsigned keys cannot
            # hold them, so the CRL is read as it is instead of being indexed wrongly.
            raise IndexRefused(f"serial {entry.serial_number:x} is not a positive integer of at most 32 octets")
        when = int(entry.revocation_date_utc.timestamp())
        if not 0 <= when < 1 << 32:
            raise IndexRefused("revocation time outside what the index can hold")
        reason = _reason(entry) if with_reasons else NO_REASON
        entries.append((entry.serial_number & 0xFFFFFFFFFFFFFFFF, entry.serial_number, when, reason))
    entries.sort()
    serials = [e[1] for e in entries]
    if len(set(serials)) != len(serials):
        raise IndexRefused("the CRL lists a serial twice")
    width = key_width(set(serials))
    if width > 32:
        raise IndexRefused("serial longer than 32 octets")
    shell = _shell(der)
    issuer_der = parsed.issuer.public_bytes()
    assert crl.next_update is not None  # validated: a CRL without nextUpdate is never used
    header = Header(
        VERSION,
        (FLAG_DELTA if crl.delta else 0) | (FLAG_INDIRECT if crl.idp is not None and crl.idp.indirect_crl else 0),
        width,
        len(entries),
        int(crl.this_update.timestamp()),
        int(crl.next_update.timestamp()),
        crl.number,
        crl.base_number,
        hashlib.sha256(issuer_der).digest(),
        aki_key_id(parsed),
        hashlib.sha256(data).digest(),
        signed.digest,
        len(shell),
        etag,
    )
    low_at, _, _, _, total = layout(header)
    lows = array("Q", (e[0] for e in entries))
    if lows.itemsize != 8:  # pragma: no cover
        raise IndexRefused("no 64-bit array type")
    if array("H", [1]).tobytes() != b"\x01\x00":  # pragma: no cover - big-endian host
        lows.byteswap()
    extra = width - 8
    out = bytearray(header.pack())
    out += shell
    out += b"\0" * (low_at - len(out))
    out += lows.tobytes()
    if extra:
        out += b"".join((s >> 64).to_bytes(extra, "big") for s in serials)
    out += b"".join(e[2].to_bytes(4, "big") for e in entries)
    out += bytes(e[3] for e in entries)
    if len(out) != total or len(out) < HEADER.size:  # pragma: no cover - a bug here, never a bad index
        raise IndexError_("index encoder produced a wrong size")
    return bytes(out)


def audit_problem(data: bytes, loaded: LoadedIndex) -> str | None:
    """Why ``loaded`` is not the index of the CRL ``data``, or None when it is.

    What :func:`encode_index` would write, checked without building it (a million entries would
    cost ~200 MiB that way): the CRL's SHA-256, its shell and TBS digest, then every entry of
    the CRL looked up in the table with its time and reason, and the same count. Every CRL entry
    present at its place and no other row means the table is exactly the CRL's.
    """
    header = loaded.header
    if hashlib.sha256(data).digest() != header.crl_sha256:
        return "the CRL is not the one the index names (replaced since, or the index is forged)"
    try:
        der = crl_der(data)
        parsed = load_crl(der)
        tbs = tbs_bytes(der)
        if _shell(der) != loaded.data[HEADER.size : HEADER.size + header.shell_len]:
            return "the index's CRL shell is not the CRL's"
        if header.key_id != aki_key_id(parsed):
            return "the index's issuer key id is not the CRL's"
        signed = loaded.crl._signed
        h = hashes.Hash(signed.hash_alg) if signed.hash_alg is not None else None
        if h is None:
            return "the index carries no digest algorithm"
        h.update(tbs)
        if h.finalize() != header.tbs_digest:
            return "the index's TBS digest is not the CRL's"
        table = loaded.crl.serials
        find, entry = table.find, table.entry  # type: ignore[attr-defined]
        with_reasons = _REASON_OID in tbs
        count = 0
        for item in parsed:
            count += 1
            i = find(item.serial_number)
            if i < 0:
                return f"the index leaves out serial {item.serial_number:x}"
            reason = _reason(item) if with_reasons else NO_REASON
            _, when, got = entry(i)
            if got != reason or int(when.timestamp()) != int(item.revocation_date_utc.timestamp()):
                return f"the index changes the entry of serial {item.serial_number:x}"
    except (CrlError, DerError, ValueError) as exc:
        return f"the CRL the index names cannot be read: {exc}"
    if count != header.count:
        return f"the index has {header.count} entries, the CRL {count}"
    return None


def build_index(
    data: bytes,
    source: str,
    pool: Sequence[x509.Certificate],
    at: dt.datetime,
    skew: dt.timedelta = dt.timedelta(seconds=300),
    previous: Header | None = None,
    crl_etag: str | None = None,
) -> bytes:
    """Validate the CRL ``data`` as the authorizer does, then encode its index (unsigned body:
    :func:`.crl_idx_sig.sign_index` adds the signature)."""
    return encode_index(data, validate_for_index(data, source, pool, at, skew, previous), crl_etag)


__all__ = ["REMOVE_FROM_CRL", "IndexRefused", "audit_problem", "build_index", "encode_index", "validate_for_index"]
