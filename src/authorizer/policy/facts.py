"""The certificate values matching needs (names folded, SANs, fingerprints), cached by fingerprint."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..certder import CertificateDer, equivalent_fingerprints
from ..certificate import PARSE_ERRORS, ClientCertificate
from ..dn import DNKey, attribute_values, name_key
from ..reasons import AuthorizerError, Reason

# --------------------------------------------------------------------------- certificate facts


@dataclass(frozen=True)
class CertFacts:
    """The values of one certificate that matching needs, folded once.

    Folding a DN costs a few microseconds; a warm function sees the same clients again and
    again, so :func:`cert_facts` keeps these by fingerprint.
    """

    fingerprint: str
    subject: DNKey
    issuer: DNKey
    serial: int
    cns: tuple[str, ...]
    dns: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    der: bytes = field(compare=False, repr=False)
    ecdsa_signed: bool = field(compare=False, repr=False)
    #: The verified path's valid certificate policies (RFC 5280 §6.1.5(g)): a property of the
    #: path, not of the certificate, so set per decision and only when a rule matches on one.
    policies: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        """``fingerprint`` and the SHA-256 of every other encoding of the same signed certificate
        (an ECDSA signature's ``(r, n - s)`` twin): what ``cert_sha256`` rules compare against.
        Computed on first use, so only when a rule has a ``cert_sha256``."""
        return equivalent_fingerprints(CertificateDer(self.der), self.ecdsa_signed) | {self.fingerprint}


_FACTS: dict[str, CertFacts] = {}
_FACTS_MAX = 4096
_FACTS_LOCK = threading.Lock()


def cert_facts(cert: ClientCertificate) -> CertFacts:
    """Facts of ``cert``, from a small process-wide cache keyed by the SHA-256 fingerprint."""
    fp = cert.fingerprint_sha256
    facts = _FACTS.get(fp)
    if facts is None:
        try:
            facts = _compute_facts(fp, cert)
        except PARSE_ERRORS as exc:  # cryptography parses names and extensions lazily
            raise AuthorizerError(Reason.CERT_MALFORMED, f"names or SANs do not parse: {str(exc)[:200]}") from None
        with _FACTS_LOCK:
            if len(_FACTS) >= _FACTS_MAX:
                _FACTS.clear()  # crude but bounded; a warm function rarely sees 4096 clients
            _FACTS[fp] = facts
    return facts


def _compute_facts(fp: str, leaf: ClientCertificate) -> CertFacts:
    cert = leaf.cert
    subject = name_key(cert.subject)
    dns: list[str] = []
    uris: list[str] = []
    emails: list[str] = []
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        dns = [_fold_dns(v) for v in sans.get_values_for_type(x509.DNSName)]
        uris = [_fold_uri(v) for v in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        emails = [_fold_email(v) for v in sans.get_values_for_type(x509.RFC822Name)]
    return CertFacts(
        fingerprint=fp,
        subject=subject,
        issuer=name_key(cert.issuer),
        serial=cert.serial_number,
        cns=tuple(attribute_values(subject, NameOID.COMMON_NAME)),
        dns=tuple(dns),
        uris=tuple(uris),
        emails=tuple(emails),
        der=leaf.der,
        ecdsa_signed=leaf.is_ecdsa_signed,
    )


def _fold_dns(value: str) -> str:
    return value.lower().rstrip(".")


def _fold_uri(value: str) -> str:
    """Scheme and authority are case-insensitive (RFC 3986 section 6.2.2.1), the rest is not:
    a deny rule on ``spiffe://example.org/...`` must also catch ``SPIFFE://Example.ORG/...``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    authority, slash, tail = rest.partition("/")
    return f"{scheme.lower()}://{authority.lower()}{slash}{tail}"


def _fold_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


# --------------------------------------------------------------------------- match patterns
