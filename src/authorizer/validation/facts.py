"""What path validation needs to know about one certificate, read once.

Reading ``cert.extensions`` builds Python objects for every extension (10-20 µs); a truststore
certificate's facts are computed once per validator, a client certificate's once per request.
A certificate whose extensions do not parse (duplicates, bad DER inside an extension) raises
:class:`MalformedCertificate` here, so no later step meets a half-readable certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from ..certder import ECDSA_SIGNATURE_OIDS, CertDerError, CertificateDer, _tlv
from ..dn import DNKey, _attr_key, name_key

#: Extensions this validator processes or may safely ignore; any other *critical* extension
#: makes the certificate unusable (RFC 5280 §6.1.4(o), §6.1.5(f)).
RECOGNIZED = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.INHIBIT_ANY_POLICY,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.SUBJECT_INFORMATION_ACCESS,
        ExtensionOID.OCSP_NO_CHECK,
    }
)


class MalformedCertificate(ValueError):
    """A certificate whose names or extensions cannot be read."""


#: What cryptography raises on a certificate it parsed but cannot read further (not a bug of ours).
_UNREADABLE = (
    ValueError,
    TypeError,
    UnicodeError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
)


@dataclass(eq=False)
class CertFacts:
    """The parts of one certificate that RFC 5280 §6.1 reads.

    Never changed after :func:`facts_of` builds it; not ``frozen`` only because a frozen
    dataclass of this size costs 3 µs more to build, once per new client certificate. What only
    some paths need (the subject's key, self-issuance, e-mail attributes) is computed on use.
    """

    cert: x509.Certificate
    issuer_key: DNKey
    version: int  # 1 or 3 (cryptography reads v2 as an error)
    ca: bool | None  # basicConstraints cA; None when the extension is absent
    path_length: int | None
    key_cert_sign: bool | None  # None when keyUsage is absent
    crl_sign: bool | None
    eku: frozenset[str] | None  # dotted OIDs; None when absent
    sans: tuple[x509.GeneralName, ...]
    name_constraints: x509.NameConstraints | None
    policies: frozenset[str] | None  # certificatePolicies OIDs; None when absent
    mappings: tuple[tuple[str, str], ...]  # (issuerDomainPolicy, subjectDomainPolicy)
    require_explicit: int | None
    inhibit_mapping: int | None
    inhibit_any: int | None
    unknown_critical: tuple[str, ...]
    ski: bytes | None
    aki: bytes | None
    not_before: dt.datetime
    not_after: dt.datetime
    #: The signed bytes when the caller already sliced them from the DER (cryptography's
    #: ``tbs_certificate_bytes`` re-encodes them, 3 µs a call).
    tbs: bytes | None = None

    @cached_property
    def subject_key(self) -> DNKey:
        """Computed on first use: a client certificate's own subject key is needed only for
        name constraints (the issuer's, for path building, comes from a cache)."""
        return name_key(self.cert.subject)

    @cached_property
    def self_issued(self) -> bool:
        """RFC 5280: subject and issuer are the same (normalized) name."""
        return _same_name(self.cert.subject, self.cert.issuer, self.issuer_key)

    @cached_property
    def emails_in_subject(self) -> tuple[str, ...]:
        """emailAddress attributes of the subject, which rfc822Name constraints cover too."""
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
        return tuple(a.value for a in attrs if isinstance(a.value, str))

    @property
    def subject_empty(self) -> bool:
        return len(self.cert.subject) == 0


_NAME_KEYS: dict[x509.Name, DNKey] = {}


def cached_name_key(name: x509.Name) -> DNKey:
    """``name_key`` memoized by the parsed name: every client of one CA names the same issuer."""
    key = _NAME_KEYS.get(name)
    if key is None:
        key = name_key(name)
        if len(_NAME_KEYS) >= 4096:
            _NAME_KEYS.clear()
        _NAME_KEYS[name] = key
    return key


def _same_name(subject: x509.Name, issuer: x509.Name, issuer_key: DNKey) -> bool:
    """RFC 5280 §7.1 name equality, cheap when the names differ (the usual case for a leaf):
    RDNs compare from the last (the CN, usually) and stop at the first difference."""
    if subject == issuer:
        return True
    rdns = subject.rdns
    if len(rdns) != len(issuer_key):
        return False
    for i in range(len(rdns) - 1, -1, -1):
        if tuple(sorted(_attr_key(a.oid.dotted_string, a.value) for a in rdns[i])) != issuer_key[i]:
            return False
    return True


def facts_of(cert: x509.Certificate, *, check_encoding: bool = True) -> CertFacts:
    """Read ``cert`` once; raises :class:`MalformedCertificate` when it cannot be read or is not
    the one DER encoding of what its CA signed (``check_encoding=False`` when the caller, like
    :func:`authorizer.certificate.checked_certificate`, has checked that already)."""
    if check_encoding:
        try:
            problem = CertificateDer(cert.public_bytes(serialization.Encoding.DER)).problem(
                cert.signature_algorithm_oid.dotted_string in ECDSA_SIGNATURE_OIDS
            )
        except CertDerError as exc:
            problem = str(exc)
        if problem is not None:
            raise MalformedCertificate(f"not DER: {problem}")
    try:
        return _read(cert)
    except MalformedCertificate:
        raise
    except _UNREADABLE as exc:
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise MalformedCertificate(f"unreadable certificate: {text}") from None


def _read(cert: x509.Certificate) -> CertFacts:
    _ = cert.subject  # decoded here, inside facts_of's guard (lazy properties read it later)
    issuer_key = cached_name_key(cert.issuer)
    version = 1 if cert.version is x509.Version.v1 else 3
    exts = cert.extensions
    ca: bool | None = None
    path_length: int | None = None
    key_cert_sign: bool | None = None
    crl_sign: bool | None = None
    eku: frozenset[str] | None = None
    sans: tuple[x509.GeneralName, ...] = ()
    nc: x509.NameConstraints | None = None
    policies: frozenset[str] | None = None
    mappings: tuple[tuple[str, str], ...] = ()
    require_explicit = inhibit_mapping = inhibit_any = None
    ski = aki = None
    unknown: list[str] = []
    for ext in exts:
        value = ext.value
        kind = type(value)  # `is` on the concrete class: isinstance() on these ABCs costs µs
        if kind is x509.KeyUsage:
            key_cert_sign, crl_sign = value.key_cert_sign, value.crl_sign
        elif kind is x509.BasicConstraints:
            ca, path_length = value.ca, value.path_length
        elif kind is x509.ExtendedKeyUsage:
            eku = frozenset(o.dotted_string for o in value)
        elif kind is x509.SubjectAlternativeName:
            sans = tuple(value)
        elif kind is x509.SubjectKeyIdentifier:
            ski = value.digest
        elif kind is x509.AuthorityKeyIdentifier:
            aki = value.key_identifier
        elif kind is x509.NameConstraints:
            nc = value
        elif kind is x509.CertificatePolicies:
            policies = frozenset(p.policy_identifier.dotted_string for p in value)
        elif kind is x509.PolicyConstraints:
            require_explicit, inhibit_mapping = value.require_explicit_policy, value.inhibit_policy_mapping
        elif kind is x509.InhibitAnyPolicy:
            inhibit_any = value.skip_certs
        elif ext.oid == ExtensionOID.POLICY_MAPPINGS and kind is x509.UnrecognizedExtension:
            mappings = _policy_mappings(value.value)
        elif ext.critical and ext.oid not in RECOGNIZED:
            unknown.append(ext.oid.dotted_string)
    return CertFacts(
        cert=cert,
        issuer_key=issuer_key,
        version=version,
        ca=ca,
        path_length=path_length,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        eku=eku,
        sans=sans,
        name_constraints=nc,
        policies=policies,
        mappings=mappings,
        require_explicit=require_explicit,
        inhibit_mapping=inhibit_mapping,
        inhibit_any=inhibit_any,
        unknown_critical=tuple(unknown),
        ski=ski,
        aki=aki,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _policy_mappings(der: bytes) -> tuple[tuple[str, str], ...]:
    """PolicyMappings ::= SEQUENCE SIZE (1..MAX) OF SEQUENCE { issuerDomainPolicy, subjectDomainPolicy }
    (cryptography leaves the extension unparsed)."""
    tag, start, end = _tlv(der, 0, len(der))
    if tag != 0x30 or end != len(der) or start == end:
        raise MalformedCertificate("policyMappings is not a non-empty SEQUENCE")
    out: list[tuple[str, str]] = []
    pos = start
    while pos < end:
        tag, inner, pos = _tlv(der, pos, end)
        if tag != 0x30:
            raise MalformedCertificate("policyMappings entry is not a SEQUENCE")
        t1, s1, e1 = _tlv(der, inner, pos)
        t2, s2, e2 = _tlv(der, e1, pos)
        if t1 != 0x06 or t2 != 0x06 or e2 != pos:
            raise MalformedCertificate("policyMappings entry is not two OIDs")
        out.append((_oid(der[s1:e1]), _oid(der[s2:e2])))
    return tuple(out)


def _oid(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise MalformedCertificate("bad OID")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))
