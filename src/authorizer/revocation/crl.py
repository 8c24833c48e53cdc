"""One CRL, parsed and indexed once, and the RFC 5280 (6.3.3) rules for using it.

A CRL is indexed when it arrives (a set of serial integers: O(1) lookups, ~75 MiB for a
million 150-bit serials) and kept with what is needed to decide, per certificate, whether it may
be used at all:

* it must name the certificate's issuer and be signed by the issuer's key (checked over the
  ``TBSCertList`` bytes, memoised per issuer key) and the issuer's keyUsage, when present, must
  allow ``cRLSign``;
* it must be current: ``thisUpdate - skew <= at <= nextUpdate + skew``. A CRL without
  ``nextUpdate`` is never used: RFC 5280 requires conforming CAs to set it, and without it there
  is no way to tell a current CRL from a replayed old one;
* an unknown critical CRL extension, any critical CRL *entry* extension (``certificateIssuer``
  marks an indirect CRL, which is not supported), or an indirect or attribute-certificate CRL
  make it unusable;
* a delta CRL is never taken for a full one: it can prove a revocation (an authentic, current
  list of changes from the issuer that names the serial), but "not listed" in it proves nothing.
  Delta CRLs are only used when given as sources (configured or ``--crl``), never looked up
  through FreshestCRL;
* an issuing distribution point limits its scope: user-only / CA-only, a distribution point name
  that must match one of the certificate's CRL distribution points, and ``onlySomeReasons``,
  which lets it prove a revocation but never that a certificate is good.

Revocation is keyed on the issuer and the serial: the serial set is only consulted once the CRL
has been shown to be the issuer's. Every entry of a full CRL counts as a revocation, whatever its
reason code (``removeFromCRL`` only has a meaning in delta CRLs, where it is honoured).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
from collections.abc import Set
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

from .der import DerError, read_header, tbs_certlist_body
from .signature import verify_signature

#: CRL extensions whose meaning is applied here (so they may be critical).
KNOWN_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.DELTA_CRL_INDICATOR,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)


class CrlError(ValueError):
    """The bytes are not a CRL, or not one this code can read. Every parser failure of
    ``cryptography`` (``InvalidVersion``, ``DuplicateExtension``, ``ValueError``, ``TypeError``,
    ``OverflowError`` ...) becomes this, so that it disqualifies one source and no more."""


@dataclass(frozen=True)
class CrlVerdict:
    """What one CRL says about one certificate.

    ``usable`` False: the CRL says nothing (``detail`` says why). Otherwise ``revoked`` tells
    the answer, and ``complete`` whether a "not listed" may be read as good.
    """

    usable: bool
    revoked: bool = False
    complete: bool = False
    detail: str = ""


_PEM_BEGIN = b"-----BEGIN X509 CRL-----"
_PEM_END = b"-----END X509 CRL-----"


def crl_der(data: bytes) -> bytes:
    """The DER of a PEM or DER CRL, decided by content. PEM is decoded here rather than by
    cryptography so that the exact signed bytes stay at hand (see :func:`tbs_bytes`)."""
    stripped = data.lstrip()
    if stripped[:11] != b"-----BEGIN ":
        return data
    start = stripped.find(_PEM_BEGIN)
    end = stripped.find(_PEM_END)
    if start != 0 or end < 0:
        raise CrlError("not a CRL: PEM without an X509 CRL block")
    body = b"".join(stripped[len(_PEM_BEGIN) : end].split())
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise CrlError("not a CRL: bad base64 in PEM") from None


def tbs_bytes(der: bytes) -> bytes:
    """The ``TBSCertList`` exactly as signed, sliced out of the CRL's DER.

    ``CertificateRevocationList.tbs_certlist_bytes`` re-encodes the parsed list (measured: about
    1.3 ms per 1,000 entries, 1.3 s for a million); slicing the original bytes costs nothing.
    """
    try:
        _, pos, _ = read_header(der, 0)
        _, _, end = read_header(der, pos)
    except DerError as exc:
        raise CrlError(f"not a CRL: {exc}") from None
    return der[pos:end]


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """PEM or DER, decided by content."""
    der = crl_der(data)
    try:
        return x509.load_der_x509_crl(der)
    except Exception as exc:  # InvalidVersion, DuplicateExtension, ValueError ...: all "not a CRL"
        raise CrlError(f"not a CRL: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def not_after(limit: dt.datetime, at: dt.datetime, skew: dt.timedelta) -> bool:
    """``at > limit + skew`` without computing ``limit + skew``: a GeneralizedTime of
    9999-12-31T23:59:59Z is a valid date, and adding a skew to it overflows ``datetime``."""
    return at - skew > limit


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True, eq=False)
class CrlIndex:
    """A parsed CRL with its serial index. Build with :meth:`from_bytes`."""

    source: str
    issuer: x509.Name
    this_update: dt.datetime
    next_update: dt.datetime | None
    serials: Set[int] = field(repr=False)
    idp: x509.IssuingDistributionPoint | None
    #: Why this CRL can never be used, or None.
    unusable: str | None
    _signed: _SignedPart = field(repr=False)
    #: A delta CRL (deltaCRLIndicator): it can prove a revocation, never that a certificate is
    #: good, because it only lists the changes since a base CRL.
    delta: bool = False
    _verified: dict[bytes, bool] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> CrlIndex:
        """Index a PEM or DER CRL; raises CrlError when it is not one."""
        der = crl_der(data)
        crl = load_crl(der)
        try:
            return cls.from_crl(crl, source, tbs=tbs_bytes(der))
        except CrlError:
            raise
        except Exception as exc:  # any parser failure disqualifies this CRL only
            raise CrlError(f"malformed CRL: {_why(exc)}") from None

    @classmethod
    def from_crl(cls, crl: x509.CertificateRevocationList, source: str, *, tbs: bytes | None = None) -> CrlIndex:
        """Parse the extensions and index the serials; raises CrlError when malformed. ``tbs``
        is the signed TBSCertList when the caller has the DER (see :func:`tbs_bytes`)."""
        if tbs is None:
            tbs = crl.tbs_certlist_bytes
        unusable: str | None = None
        delta = False
        idp: x509.IssuingDistributionPoint | None = None
        try:
            extensions = crl.extensions
            this_update = crl.last_update_utc
            next_update = crl.next_update_utc
            issuer = crl.issuer
        except Exception as exc:  # DuplicateExtension, ValueError, OverflowError ...
            raise CrlError(f"malformed CRL: {_why(exc)}") from None
        for ext in extensions:
            if ext.oid == ExtensionOID.DELTA_CRL_INDICATOR:
                delta = True
            elif ext.oid == ExtensionOID.ISSUING_DISTRIBUTION_POINT:
                assert isinstance(ext.value, x509.IssuingDistributionPoint)
                idp = ext.value
                if idp.indirect_crl:
                    unusable = unusable or "indirect CRLs are not supported"
                elif idp.only_contains_attribute_certs:
                    unusable = unusable or "CRL only covers attribute certificates"
            elif ext.critical and ext.oid not in KNOWN_CRL_EXTENSIONS:
                unusable = unusable or f"unknown critical CRL extension {ext.oid.dotted_string}"
        try:
            serials, critical = _index(crl, tbs, delta=delta)
        except Exception as exc:  # DerError, DuplicateExtension, ValueError ...
            raise CrlError(f"malformed revoked entries: {_why(exc)}") from None
        if critical:
            unusable = unusable or "a critical CRL entry extension (indirect CRL or unknown) is not supported"
        return cls(source, issuer, this_update, next_update, serials, idp, unusable, _SignedPart.of(crl, tbs), delta)

    def signed_by(self, issuer: x509.Certificate) -> bool:
        """Signature over the TBS bytes with the issuer's key, memoised per key."""
        key = issuer.public_key()
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        known = self._verified.get(spki)
        if known is not None:
            return known
        try:
            ok = self._signed.verify(key)
        except Exception:  # an unsupported algorithm is a bad signature here
            ok = False
        with self._lock:
            self._verified[spki] = ok
        return ok

    def verified_keys(self) -> list[bytes]:
        """SubjectPublicKeyInfo (DER) of every key this CRL's signature verified with so far."""
        return [spki for spki, ok in list(self._verified.items()) if ok]

    def signed_by_spki(self, spki: bytes) -> bool:
        """Signature check against a key given as DER SubjectPublicKeyInfo, memoised."""
        known = self._verified.get(spki)
        if known is not None:
            return known
        try:
            ok = self._signed.verify(serialization.load_der_public_key(spki))
        except Exception:  # an unsupported or unreadable key is a bad signature here
            ok = False
        with self._lock:
            self._verified[spki] = ok
        return ok

    def replacement_problem(self, new: CrlIndex, at: dt.datetime) -> str | None:
        """Why ``new`` must not replace this (still current) CRL from the same source, or None.

        A CRL distribution point is usually plain http: whoever sits on the path could replay an
        older CRL that is still within its dates (one that does not list a recent revocation) or
        serve a forged one. While this CRL is current, a replacement must name the same issuer,
        be at least as recent, and verify with every key this one verified with.
        """
        if self.next_update is None or at > self.next_update:
            return None  # nothing current to protect: the new one is judged on use as usual
        if new.issuer != self.issuer:
            return "names another issuer than the cached CRL"
        if new.this_update < self.this_update:
            return (
                f"is older (thisUpdate {new.this_update:%Y-%m-%dT%H:%M:%SZ}) than the cached CRL "
                f"({self.this_update:%Y-%m-%dT%H:%M:%SZ})"
            )
        for spki in self.verified_keys():
            if not new.signed_by_spki(spki):
                return "is not signed by the key that signed the cached CRL"
        return None

    def is_current(self, at: dt.datetime, skew: dt.timedelta) -> str | None:
        """Why the CRL is not current at ``at``, or None."""
        if self.this_update > at + skew:
            return f"CRL thisUpdate {self.this_update:%Y-%m-%dT%H:%M:%SZ} is in the future"
        if self.next_update is None:
            return "CRL has no nextUpdate"
        if not_after(self.next_update, at, skew):
            return f"CRL expired at {self.next_update:%Y-%m-%dT%H:%M:%SZ}"
        return None

    def verdict(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime, skew: dt.timedelta
    ) -> CrlVerdict:
        """Apply this CRL to ``cert`` issued by ``issuer`` (already a verified chain link)."""
        if self.unusable:
            return CrlVerdict(False, detail=self.unusable)
        if self.issuer != issuer.subject:
            return CrlVerdict(False, detail="CRL names another issuer")
        try:
            ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
            if not ku.crl_sign:
                return CrlVerdict(False, detail="issuer's keyUsage does not allow cRLSign")
        except x509.ExtensionNotFound:
            pass
        if not self.signed_by(issuer):
            return CrlVerdict(False, detail="CRL signature does not verify with the issuer's key")
        why = self.is_current(at, skew)
        if why:
            return CrlVerdict(False, detail=why)
        complete = True
        if self.idp is not None:
            why = _idp_scope(self.idp, cert)
            if why:
                return CrlVerdict(False, detail=why)
            complete = self.idp.only_some_reasons is None
        revoked = cert.serial_number in self.serials
        if self.delta:
            complete = False
            detail = "listed in a delta CRL" if revoked else "not listed in a delta CRL (which never proves good)"
        else:
            detail = "listed" if revoked else ("not listed" if complete else "not listed in a reason-partitioned CRL")
        return CrlVerdict(True, revoked=revoked, complete=complete, detail=detail)


@dataclass(frozen=True)
class _SignedPart:
    """What the signature check needs, without keeping the whole CRL alive: the digest of the
    ``TBSCertList`` (computed once; the signature is then checked over the digest), or, for
    EdDSA which signs the message itself, the TBS bytes. For a million entries this drops ~50 MB
    of DER from memory and makes a signature check a few microseconds once the digest is known.
    """

    signature: bytes
    hash_alg: hashes.HashAlgorithm | None
    params: object
    digest: bytes | None
    tbs: bytes | None

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList, tbs: bytes) -> _SignedPart:
        try:
            hash_alg = crl.signature_hash_algorithm
            params = crl.signature_algorithm_parameters
        except UnsupportedAlgorithm:
            return cls(crl.signature, None, None, None, None)
        if hash_alg is None:
            return cls(crl.signature, None, params, None, tbs)
        h = hashes.Hash(hash_alg)
        h.update(tbs)
        return cls(crl.signature, hash_alg, params, h.finalize(), None)

    def verify(self, key: object) -> bool:
        if self.digest is not None:
            return verify_signature(key, self.signature, self.digest, self.hash_alg, self.params, prehashed=True)
        if self.tbs is not None:
            return verify_signature(key, self.signature, self.tbs, None)
        return False


#: ``critical BOOLEAN TRUE`` followed by the ``extnValue`` OCTET STRING tag: the bytes every
#: critical extension contains, in this order, in DER.
_CRITICAL_FLAG = b"\x01\x01\xff\x04"


def _index(crl: x509.CertificateRevocationList, tbs: bytes, *, delta: bool) -> tuple[set[int], bool]:
    """The serial set, and whether any entry has a critical extension.

    Letting cryptography iterate the entries costs ~0.85 µs each (a pure-Python DER walk costs
    five times more; asking each entry for its extensions, four times more). So entry
    extensions are inspected only when the raw ``revokedCertificates`` bytes contain
    ``01 01 FF 04``, which every critical extension does: one C-speed search for the usual CRL
    (random serials hit it about once per 4 GB), the exact check only when it might matter.

    In a delta CRL an entry with reason ``removeFromCRL`` means "no longer revoked", so it is
    left out of the index.
    """
    if delta:
        serials = {entry.serial_number for entry in crl if not _removed(entry)}
    else:
        serials = {entry.serial_number for entry in crl}
    span = tbs_certlist_body(tbs)
    critical = False
    if span is not None and tbs.find(_CRITICAL_FLAG, span[0], span[1]) >= 0:
        critical = any(ext.critical for entry in crl for ext in entry.extensions)
    return serials, critical


def _removed(entry: x509.RevokedCertificate) -> bool:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.remove_from_crl
    except x509.ExtensionNotFound:
        return False


def _idp_scope(idp: x509.IssuingDistributionPoint, cert: x509.Certificate) -> str | None:
    """Why a CRL with this issuing distribution point does not cover ``cert``, or None."""
    is_ca = _is_ca(cert)
    if idp.only_contains_user_certs and is_ca:
        return "CRL only covers end-entity certificates"
    if idp.only_contains_ca_certs and not is_ca:
        return "CRL only covers CA certificates"
    if idp.full_name is None and idp.relative_name is None:
        return None
    try:
        cdps = list(cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value)
    except x509.ExtensionNotFound:
        return "CRL is scoped to a distribution point the certificate does not name"
    for dp in cdps:
        if idp.full_name is not None and dp.full_name is not None and set(idp.full_name) & set(dp.full_name):
            return None
        if idp.relative_name is not None and dp.relative_name is not None and idp.relative_name == dp.relative_name:
            return None
    return "CRL is scoped to a distribution point the certificate does not name"
