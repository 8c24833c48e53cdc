"""The CRL index file (``.idx``): a verified CRL's revoked serials, loadable without a parse.

Layout (docs/crl-index-format.md is the reference): a fixed header, a *shell* (the CRL's own
DER with its ``revokedCertificates`` taken out, its original signature kept), then the entry
table in columns. The shell is what makes an index behave exactly like the CRL it came from:
it is read by the same code as any CRL (:meth:`CrlIndex.from_bytes`), so issuer, dates,
cRLNumber, deltaCRLIndicator, IDP scope and critical extensions are the CRL's own; the
signature is then checked over the digest of the *original* ``TBSCertList``, carried in the
header. That CA signature alone does not tie the header's digest to the shell, so since format
version 2 every index ends with the indexer's own signature over the whole body
(:mod:`.crl_idx_sig`); the authorizer uses no index whose signature it has not verified
(docs/crl-index-format.md, "Trust").

Entries are sorted by ``(serial mod 2**64, serial)``: the low 64 bits are a little-endian
``uint64`` column that ``bisect`` searches at C speed through a ``memoryview`` (no copy, no
per-entry object), the rest of each serial (big-endian, fixed width) settles the rare ties.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import struct
import sys
import threading
from array import array
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass, field, replace
from functools import cached_property

from cryptography import x509

from .crl import CrlError, CrlIndex
from .crl_scope import key_of

MAGIC = b"\x89CRLIDX\n"
#: 2: the body is followed by the indexer's signature (1, unsigned, is refused).
VERSION = 2
FLAG_DELTA = 1
FLAG_INDIRECT = 2
#: magic, version, flags, key width, reserved, count, thisUpdate, nextUpdate, cRLNumber
#: (length + 20 octets), BaseCRLNumber (ditto), issuer name SHA-256, AKI key id (length + 32),
#: CRL SHA-256, TBS digest (length + 64), the CRL object's ETag when indexed (length + 64), shell
#: length.
HEADER = struct.Struct(">8sHHHHQqqB20sB20s32sB32s32sB64sB64sI")
MAX_ETAG = 64
#: revocation reason "none" (the entry has no reasonCode).
NO_REASON = 255
REMOVE_FROM_CRL = 8
MAX_KEY_WIDTH = 32
_MASK = (1 << 64) - 1


class IndexError_(CrlError):
    """The bytes are not a usable index (a CrlError: it disqualifies that source only)."""


@dataclass(frozen=True)
class Header:
    version: int
    flags: int
    key_width: int
    count: int
    this_update: int
    next_update: int
    number: int | None
    base_number: int | None
    issuer_hash: bytes
    key_id: bytes
    crl_sha256: bytes
    tbs_digest: bytes
    shell_len: int
    #: The CRL object's ETag (S3) when the indexer read it, or b"": what a container sends in a
    #: conditional GET of the CRL to learn cheaply that the CRL is still the one indexed.
    crl_etag: bytes = b""

    @property
    def delta(self) -> bool:
        return bool(self.flags & FLAG_DELTA)

    def pack(self) -> bytes:
        def num(n: int | None) -> tuple[int, bytes]:
            if n is None:
                return 0, b""
            raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
            if len(raw) > 20:
                raise IndexError_("cRLNumber longer than 20 octets")
            return len(raw), raw

        nl, nb = num(self.number)
        bl, bb = num(self.base_number)
        return HEADER.pack(
            MAGIC, self.version, self.flags, self.key_width, 0, self.count, self.this_update, self.next_update,
            nl, nb, bl, bb, self.issuer_hash, len(self.key_id), self.key_id, self.crl_sha256,
            len(self.tbs_digest), self.tbs_digest, len(self.crl_etag), self.crl_etag, self.shell_len,
        )  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        if len(data) < HEADER.size:
            raise IndexError_("index truncated in its header")
        f = HEADER.unpack_from(data, 0)
        if f[0] != MAGIC:
            raise IndexError_("not a CRL index (bad magic)")
        if f[1] != VERSION:
            unsigned = " (version 1 indexes are unsigned)" if f[1] == 1 else ""
            raise IndexError_(f"CRL index format version {f[1]} is not supported{unsigned} (this reader: {VERSION})")
        if f[4] != 0 or f[2] & ~(FLAG_DELTA | FLAG_INDIRECT):
            raise IndexError_("CRL index header has reserved bits set")
        nl, bl, kl, dl, el = f[8], f[10], f[13], f[16], f[18]
        if nl > 20 or bl > 20 or kl > 32 or dl > 64 or el > MAX_ETAG:
            raise IndexError_("malformed CRL index header")
        number = int.from_bytes(f[9][:nl], "big") if nl else None
        base = int.from_bytes(f[11][:bl], "big") if bl else None
        return cls(
            VERSION, f[2], f[3], f[5], f[6], f[7], number, base, f[12], f[14][:kl], f[15], f[17][:dl], f[20], f[19][:el]
        )  # fmt: skip


def etag_field(etag: str | None) -> bytes:
    """The header's ``crl_etag`` for an ETag as read (empty when none or too long to record)."""
    raw = (etag or "").encode("ascii", "replace")
    return raw if len(raw) <= MAX_ETAG else b""


def key_width(serials: Set[int]) -> int:
    """Bytes per serial key: 8 at least (the low column), enough for the longest serial."""
    longest = max((s.bit_length() for s in serials), default=0)
    return max(8, (longest + 7) // 8)


def layout(header: Header) -> tuple[int, int, int, int, int]:
    """Offsets of the low column, high column, times, reasons, and the total size."""
    n, w = header.count, header.key_width
    low = _align(HEADER.size + header.shell_len)
    high = low + 8 * n
    times = high + (w - 8) * n
    reasons = times + 4 * n
    return low, high, times, reasons, reasons + n


def _align(pos: int) -> int:
    return (pos + 7) & ~7


class SerialTable(Set[int]):
    """The sorted entry table of one index as a read-only set of serials.

    ``removed`` selects the entries whose reason is removeFromCRL (True), the others (False),
    or all of them (None): a delta CRL's two lists (see :class:`CrlIndex`).
    """

    def __init__(self, data: bytes, header: Header, removed: bool | None = None) -> None:
        low, high, times, reasons, _ = layout(header)
        view = memoryview(data)
        self._low = view[low:high].cast("Q")
        if sys.byteorder != "little":  # pragma: no cover - Lambda runs little-endian
            swapped = array("Q", self._low.tobytes())
            swapped.byteswap()
            self._low = memoryview(swapped)
        self._high = view[high:times]
        self._times = view[times:reasons]
        self._reasons = view[reasons : reasons + header.count]
        self._n, self._w = header.count, header.key_width
        self._removed = removed

    def find(self, serial: int) -> int:
        """Position of ``serial`` in the table, or -1."""
        if serial < 0 or serial.bit_length() > 8 * self._w:
            return -1
        low = serial & _MASK
        i = bisect.bisect_left(self._low, low)
        extra = self._w - 8
        if extra == 0:
            return i if i < self._n and self._low[i] == low else -1
        want = (serial >> 64).to_bytes(extra, "big")
        while i < self._n and self._low[i] == low:
            if self._high[i * extra : (i + 1) * extra] == want:
                return i
            i += 1
        return -1

    def __contains__(self, serial: object) -> bool:
        if not isinstance(serial, int):
            return False
        i = self.find(serial)
        if i < 0:
            return False
        return self._removed is None or (self._reasons[i] == REMOVE_FROM_CRL) == self._removed

    def entry(self, i: int) -> tuple[int, dt.datetime, int]:
        """``(serial, revocation time, reason code or 255)`` of position ``i``."""
        extra = self._w - 8
        high = int.from_bytes(self._high[i * extra : (i + 1) * extra], "big") if extra else 0
        when = int.from_bytes(self._times[4 * i : 4 * i + 4], "big")
        return (high << 64) | self._low[i], dt.datetime.fromtimestamp(when, dt.UTC), self._reasons[i]

    def __iter__(self) -> Iterator[int]:
        for i in range(self._n):
            if self._removed is None or (self._reasons[i] == REMOVE_FROM_CRL) == self._removed:
                yield self.entry(i)[0]

    def __len__(self) -> int:
        if self._removed is None:
            return self._n
        return sum(1 for _ in self)


@dataclass(frozen=True, eq=False)
class LoadedIndex:
    """An index file as the authorizer uses it: the :class:`CrlIndex` (a CRL like any other to
    :mod:`.crl_status`) and the header it came with."""

    crl: CrlIndex
    header: Header
    data: bytes = field(repr=False)
    #: The indexer's DER signature from the trailer, or None (an unsigned body: never used).
    signature: bytes | None = field(default=None, repr=False)

    @cached_property
    def sha256(self) -> bytes:
        """SHA-256 of the index file itself (computed on demand: ~20 ms for a million entries)."""
        return hashlib.sha256(self.data).digest()

    @cached_property
    def body_sha256(self) -> bytes:
        """SHA-256 of the body (everything the signature covers): the signed message."""
        return hashlib.sha256(memoryview(self.data)[: layout(self.header)[4]]).digest()


def load_index(data: bytes, source: str) -> LoadedIndex:
    """Read an index (a body, or a body with its signature trailer); raises :class:`IndexError_`
    when it is malformed or its header does not match the CRL shell it carries. No signature
    check here, neither the indexer's (:mod:`.crl_idx_sig`, with the index key) nor the CRL's
    (with the issuer's key): those are the caller's."""
    header = Header.unpack(data)
    if not 8 <= header.key_width <= MAX_KEY_WIDTH:
        raise IndexError_("bad key width")
    total = layout(header)[4]
    signature = _trailer(data, total)
    shell = data[HEADER.size : HEADER.size + header.shell_len]
    base = CrlIndex.from_bytes(shell, source)
    if base.serials or base.others or base.removed:
        raise IndexError_("index shell lists entries")
    _check_header(header, base, shell)
    signed = base._signed
    if signed.digest is None or signed.hash_alg is None or len(header.tbs_digest) != signed.hash_alg.digest_size:
        raise IndexError_("index does not carry a usable TBS digest")
    table = SerialTable(data, header, False if header.delta else None)
    removed = {base.issuer_key: SerialTable(data, header, True)} if header.delta else {}
    crl = replace(
        base,
        serials=table,
        removed=removed,
        _signed=replace(signed, digest=header.tbs_digest),
        _verified={},
        _lock=threading.Lock(),
    )
    return LoadedIndex(crl, header, data, signature)


def _trailer(data: bytes, total: int) -> bytes | None:
    """The signature after a body of ``total`` octets (``uint16 length || DER``), or None."""
    if len(data) == total:
        return None
    if len(data) < total + 2:
        raise IndexError_("index size does not match its header (truncated or padded)")
    n = int.from_bytes(data[total : total + 2], "big")
    if not 0 < n <= 80 or len(data) != total + 2 + n:
        raise IndexError_("index size does not match its header and signature (truncated or padded)")
    return data[total + 2 :]


def _check_header(header: Header, base: CrlIndex, shell: bytes) -> None:
    """The header repeats what the shell says (for tools and a quick look); they must agree."""
    from .crl import load_crl

    problems = []
    if header.this_update != int(base.this_update.timestamp()):
        problems.append("thisUpdate")
    if base.next_update is None or header.next_update != int(base.next_update.timestamp()):
        problems.append("nextUpdate")
    if header.number != base.number or header.base_number != base.base_number or header.delta != base.delta:
        problems.append("CRL number")
    if bool(header.flags & FLAG_INDIRECT) != bool(base.idp is not None and base.idp.indirect_crl):
        problems.append("indirect flag")
    issuer_der = load_crl(shell).issuer.public_bytes()
    if header.issuer_hash != hashlib.sha256(issuer_der).digest():
        problems.append("issuer")
    if problems:
        raise IndexError_("index header does not match its CRL: " + ", ".join(problems))


def issuing_ca(crl: CrlIndex, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The truststore CA that issued and signed ``crl`` (same name, signature verifies with its
    key), or None. Indexes are made and used only for CRLs signed by a truststore CA itself;
    a CRL signed by a delegated CRL signer is used the ordinary way (no index)."""
    for ca in pool:
        if key_of(ca.subject) == crl.issuer_key and crl.signed_by(ca):
            return ca
    return None


def aki_key_id(crl: x509.CertificateRevocationList) -> bytes:
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return b""
    return (aki.key_identifier or b"")[:32]
