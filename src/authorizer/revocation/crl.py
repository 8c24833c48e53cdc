"""One CRL, parsed and indexed once: what it says and whether it is current and authentic.

A CRL is indexed when it arrives (a set of serial integers per certificate issuer: O(1)
lookups, ~75 MiB for a million 150-bit serials) and kept with what is needed to use it:

* its issuer (and the RFC 4518 key of that name), cRLNumber, and for a delta CRL its
  BaseCRLNumber; its issuing distribution point (scope: :mod:`.crl_scope`);
* currency: ``thisUpdate <= at + skew`` and ``at - skew <= nextUpdate`` (the skew goes on
  ``at``: 9999-12-31T23:59:59Z is a valid nextUpdate). A CRL without ``nextUpdate`` is never
  used: without it a current CRL cannot be told from a replayed old one;
* its signature, checked over the exact ``TBSCertList`` bytes and memoised per key;
* why it can never be used: an unknown critical CRL or CRL entry extension, an
  attribute-certificate CRL, a ``certificateIssuer`` entry in a CRL that is not indirect.

In an indirect CRL (IDP ``indirectCRL``) a ``certificateIssuer`` entry extension names the
issuer of that entry and of the following ones (RFC 5280 5.3.3). Every entry of a complete CRL
counts as a revocation whatever its reason code (``removeFromCRL`` only has a meaning in delta
CRLs, where it lifts a revocation of the base). How CRLs are combined for one certificate is
:mod:`.crl_status`'s job. Every parser failure is a :class:`CrlError`, which disqualifies that
CRL only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from ..dn import DNKey, name_key
from .crl_index import SignedPart, index_entries
from .der import DerError, read_header

#: The name the benchmark imports.
_SignedPart = SignedPart

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


@dataclass(frozen=True, eq=False)
class CrlIndex:
    """A parsed CRL with its serial index. Build with :meth:`from_bytes`.

    Entries are indexed per *certificate issuer*: in an indirect CRL a ``certificateIssuer``
    entry extension names the issuer of that entry and of every following entry until the next
    one (RFC 5280 5.3.3); every other CRL lists its own issuer's certificates only.
    """

    source: str
    issuer: x509.Name
    this_update: dt.datetime
    next_update: dt.datetime | None
    #: Serials of the CRL issuer's own certificates listed as revoked.
    serials: Set[int] = field(repr=False)
    idp: x509.IssuingDistributionPoint | None
    #: Why this CRL can never be used, or None.
    unusable: str | None
    _signed: SignedPart = field(repr=False)
    #: A delta CRL (deltaCRLIndicator): it only lists the changes since a base CRL, so alone it
    #: can prove a revocation, never that a certificate is good.
    delta: bool = False
    #: cRLNumber, and for a delta CRL the BaseCRLNumber of its deltaCRLIndicator.
    number: int | None = None
    base_number: int | None = None
    #: RFC 4518 comparison key of the issuer name.
    issuer_key: DNKey = ()
    #: Indirect CRLs: serials listed for other certificate issuers (by name key).
    others: Mapping[DNKey, Set[int]] = field(default_factory=dict, repr=False)
    #: Delta CRLs: serials listed with reason removeFromCRL, per certificate issuer.
    removed: Mapping[DNKey, Set[int]] = field(default_factory=dict, repr=False)
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
        number: int | None = None
        base_number: int | None = None
        idp: x509.IssuingDistributionPoint | None = None
        try:
            extensions = crl.extensions
            this_update = crl.last_update_utc
            next_update = crl.next_update_utc
            issuer = crl.issuer
            issuer_key = name_key(issuer)
        except Exception as exc:  # DuplicateExtension, ValueError, OverflowError ...
            raise CrlError(f"malformed CRL: {_why(exc)}") from None
        for ext in extensions:
            value = ext.value
            if isinstance(value, x509.DeltaCRLIndicator):
                delta, base_number = True, value.crl_number
            elif isinstance(value, x509.CRLNumber):
                number = value.crl_number
            elif isinstance(value, x509.IssuingDistributionPoint):
                idp = value
                if idp.only_contains_attribute_certs:
                    unusable = unusable or "CRL only covers attribute certificates"
            elif ext.critical and ext.oid not in KNOWN_CRL_EXTENSIONS:
                unusable = unusable or f"unknown critical CRL extension {ext.oid.dotted_string}"
        indirect = idp is not None and idp.indirect_crl
        try:
            entries = index_entries(crl, tbs, issuer_key, delta=delta, indirect=indirect)
        except Exception as exc:  # DerError, DuplicateExtension, ValueError ...
            raise CrlError(f"malformed revoked entries: {_why(exc)}") from None
        unusable = unusable or entries.unusable
        own = entries.revoked.pop(issuer_key, set())
        return cls(
            source,
            issuer,
            this_update,
            next_update,
            own,
            idp,
            unusable,
            SignedPart.of(crl, tbs),
            delta,
            number,
            base_number,
            issuer_key,
            entries.revoked,
            entries.removed,
        )

    def lists(self, issuer_key: DNKey, serial: int) -> bool:
        """Whether the certificate ``serial`` of the issuer named ``issuer_key`` is listed."""
        if issuer_key == self.issuer_key:
            return serial in self.serials
        found = self.others.get(issuer_key)
        return found is not None and serial in found

    def unlists(self, issuer_key: DNKey, serial: int) -> bool:
        """Delta CRLs: whether the certificate is listed with reason removeFromCRL."""
        found = self.removed.get(issuer_key)
        return found is not None and serial in found

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

    def signed_by_spki(self, spki: bytes, key: object = None) -> bool:
        """Signature check against a key given as DER SubjectPublicKeyInfo (and, when the
        caller has it, the loaded key), memoised."""
        known = self._verified.get(spki)
        if known is not None:
            return known
        try:
            ok = self._signed.verify(key if key is not None else serialization.load_der_public_key(spki))
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
        """This CRL alone applied to ``cert`` issued by ``issuer`` (a verified chain link): the
        RFC 5280 6.3.3 rules of :mod:`.crl_status` with this one CRL and the issuer's own key."""
        from .crl_status import CrlContext, decide
        from .status import RevocationStatus

        answer = decide(cert, (cert, issuer), (self,), CrlContext(at, skew))
        if answer.status is RevocationStatus.UNKNOWN:
            return CrlVerdict(False, detail=answer.detail)
        revoked = answer.status is RevocationStatus.REVOKED
        return CrlVerdict(True, revoked=revoked, complete=not revoked, detail=answer.detail)
