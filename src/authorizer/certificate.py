"""The client certificate as a value: parsed once, with every field later stages need.

The event's ``subjectDN``/``serialNumber``/``validity`` fields have no stable format, so only
``clientCertPem`` is trusted; it is parsed here, size-capped, and everything else (fingerprint,
RFC 4514 names, SANs, revocation URLs) is derived from the parsed certificate.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .certder import ECDSA_SIGNATURE_OIDS, CertDerError, CertificateDer, equivalent_fingerprints
from .reasons import AuthorizerError, Reason

#: Largest PEM text accepted from an event. A client certificate with a long chain of SANs is
#: a few kilobytes; API Gateway itself caps a client certificate well below this.
MAX_PEM_BYTES = 16 * 1024

_BEGIN = b"-----BEGIN CERTIFICATE-----"

#: What cryptography raises for a certificate whose content does not parse: most fields are
#: decoded lazily, on first access, and not all failures are ``ValueError`` (an unknown version
#: is ``InvalidVersion``, a wrong string type for a name attribute is ``TypeError``).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnicodeError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@dataclass(frozen=True, eq=False)
class ClientCertificate:
    """One parsed certificate and the values derived from it."""

    cert: x509.Certificate

    @cached_property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @cached_property
    def fingerprint_sha256(self) -> str:
        """Hex SHA-256 of the DER encoding, the identity used in logs, caches and policies."""
        return self.cert.fingerprint(hashes.SHA256()).hex()

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        """Hex SHA-256 of every encoding of this signed certificate: this DER and, for an ECDSA
        signature, its ``(r, n - s)`` twin. A ``cert_sha256`` rule matches any of them, so a
        client cannot step around a deny rule by re-encoding the CA's signature."""
        return equivalent_fingerprints(CertificateDer(self.der), self.is_ecdsa_signed) | {self.fingerprint_sha256}

    @property
    def is_ecdsa_signed(self) -> bool:
        return self.cert.signature_algorithm_oid.dotted_string in ECDSA_SIGNATURE_OIDS

    @cached_property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @cached_property
    def issuer(self) -> str:
        return self.cert.issuer.rfc4514_string()

    def know_issuer_dn(self, issuer_dn: str) -> None:
        """Record the issuer's RFC 4514 name when the verified path already has it.

        Path validation guarantees the leaf's issuer name equals its issuer's subject, whose
        string the validator computed once per truststore certificate; formatting a name costs
        several microseconds per request otherwise.
        """
        self.__dict__["issuer"] = issuer_dn

    @property
    def serial_hex(self) -> str:
        return format(self.cert.serial_number, "x")

    @property
    def not_before(self) -> dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @cached_property
    def sans(self) -> tuple[str, ...]:
        """SANs as ``TYPE:value`` strings (``DNS:``, ``URI:``, ``EMAIL:``, ``IP:``)."""
        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return ()
        except PARSE_ERRORS as exc:
            raise AuthorizerError(Reason.CERT_MALFORMED, f"extensions do not parse: {_short(exc)}") from None
        return format_sans(ext)

    def know_sans(self, names: Iterable[x509.GeneralName] | None) -> None:
        """Record the SANs the path verifier already decoded (``VerifiedClient.subjects``):
        reading them again through ``cert.extensions`` costs about 10 µs per new certificate."""
        self.__dict__["sans"] = format_sans(names or ())

    def summary(self) -> dict[str, str]:
        """The fields a log line or the backend context may carry (never the PEM)."""
        return {
            "subjectDN": self.subject,
            "issuerDN": self.issuer,
            "serialNumber": self.serial_hex,
            "fingerprintSha256": self.fingerprint_sha256,
            "notAfter": self.not_after.isoformat(),
        }


def parse_pem_certificate(pem: str | bytes, *, max_bytes: int = MAX_PEM_BYTES) -> ClientCertificate:
    """Parse the client certificate PEM from an event.

    Raises ``AuthorizerError`` with ``CERT_MISSING`` for an empty value and ``CERT_MALFORMED``
    for anything too large or not a single certificate.
    """
    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    if not data or data.isspace():
        raise AuthorizerError(Reason.CERT_MISSING, "clientCertPem is empty")
    if len(data) > max_bytes:
        raise AuthorizerError(
            Reason.CERT_MALFORMED, f"clientCertPem is {len(data)} bytes, over the {max_bytes}-byte cap"
        )
    if _BEGIN not in data:
        raise AuthorizerError(Reason.CERT_MALFORMED, "clientCertPem holds no PEM certificate block")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except PARSE_ERRORS as exc:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"clientCertPem does not parse: {_short(exc)}") from None
    # The block's own DER when the PEM is one plain block (the bytes cryptography parsed, since
    # both decoders read the same base64 text); otherwise checked_certificate re-encodes.
    der = _single_block_der(data)
    if der is None or not der.endswith(cert.signature):
        der = None
    return checked_certificate(cert, der, "clientCertPem")


def checked_certificate(
    cert: x509.Certificate, der: bytes | None = None, what: str = "the certificate"
) -> ClientCertificate:
    """``cert`` as a :class:`ClientCertificate` whose every field later stages read is known to
    decode, and whose encoding is the one DER of what its CA signed.

    cryptography decodes names and extensions on first access; a field that fails there, in
    the chain validator, the policy, the response or the log line, would be an unexpected
    exception (``INTERNAL_ERROR``) instead of a refusal. So they are read here, once, and any
    failure is ``CERT_MALFORMED``. ``der`` is the certificate's DER when the caller has it.
    """
    leaf = ClientCertificate(cert)
    try:
        if der is None:
            der = cert.public_bytes(serialization.Encoding.DER)
        parts = CertificateDer(der)
        problem = parts.problem(leaf.is_ecdsa_signed)
        if problem is not None:
            raise AuthorizerError(Reason.CERT_MALFORMED, f"{what} is not DER: {problem}")
        # Hashing the DER costs ~2 µs where Certificate.fingerprint() costs ~10 µs on a freshly
        # parsed certificate.
        leaf.__dict__["der"] = der
        leaf.__dict__["fingerprint_sha256"] = hashlib.sha256(der).hexdigest()
        leaf.__dict__["subject"] = decode_fields(cert, extensions=False)
        leaf.__dict__["encoding_checked"] = True  # path validation need not check it again
        leaf.__dict__["tbs"] = parts.tbs  # the signed bytes, for path validation's signature check
    except CertDerError as exc:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"{what} is not DER: {exc}") from None
    except PARSE_ERRORS as exc:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"{what} does not parse: {_short(exc)}") from None
    return leaf


def decode_fields(cert: x509.Certificate, *, extensions: bool = True) -> str:
    """Read every lazily decoded field later code uses; returns the subject's RFC 4514 string.

    Raises one of :data:`PARSE_ERRORS` when a field does not decode. ``extensions=False`` for a
    client certificate: path validation reads them first, inside its own guard (cryptography
    re-parses them on every access, 8-18 µs a time), and :attr:`ClientCertificate.sans` is
    guarded too.
    """
    subject = cert.subject.rfc4514_string()
    _ = (cert.issuer, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc)
    if extensions:
        _ = cert.extensions
    return subject


def _single_block_der(data: bytes) -> bytes | None:
    """The DER of the only ``CERTIFICATE`` block of ``data``, or None when that is not plain."""
    if data.count(b"-----BEGIN") != 1:
        return None
    start = data.find(_BEGIN)
    end = data.find(b"-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        return None
    body = data[start + len(_BEGIN) : end]
    if body.translate(None, _BASE64_AND_SPACE):
        # RFC 1421 headers ("Key: value") or stray characters: cryptography skips what a plain
        # base64 decode would read, so the bytes could differ. Let the caller re-encode instead.
        return None
    try:
        return binascii.a2b_base64(body)
    except binascii.Error:
        return None


_BASE64_AND_SPACE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n\t "


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def format_sans(names: Iterable[x509.GeneralName]) -> tuple[str, ...]:
    """SANs as ``TYPE:value`` strings; other name types (directory names ...) are left out."""
    out: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"EMAIL:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP:{name.value}")
    return tuple(out)
