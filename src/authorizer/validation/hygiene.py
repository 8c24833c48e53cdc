"""Encoding faults a CA should fix, which API Gateway admits and so do we (reported, never refused).

RFC 5280 says a CA MUST include an authority key identifier, MUST mark basicConstraints,
nameConstraints and policyConstraints critical, MUST use a positive serial of at most 20
octets; a DNS name has no underscore. None of these changes what the certificate means (the
constraints are enforced whether critical or not), so validation decides on substance and
``doctor`` / ``check-config`` point them out.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

_MUST_BE_CRITICAL = {
    ExtensionOID.NAME_CONSTRAINTS: "nameConstraints",
    ExtensionOID.POLICY_CONSTRAINTS: "policyConstraints",
}


def hygiene_notes(cert: x509.Certificate) -> list[str]:
    """What a careful CA would have encoded differently; never raises."""
    try:
        return _notes(cert)
    except Exception as exc:  # an unreadable certificate is reported by validation itself
        return [f"extensions cannot be read ({type(exc).__name__})"]


def _notes(cert: x509.Certificate) -> list[str]:
    out: list[str] = []
    serial = cert.serial_number
    if serial <= 0:
        out.append(f"serial number {serial} is not positive")
    elif (serial.bit_length() + 8) // 8 > 20:
        out.append("serial number is longer than 20 octets")
    if cert.version is x509.Version.v1:
        out.append("X.509 v1 certificate: no extensions (reissue as v3 with EKU clientAuth when you can)")
        return out
    exts = {ext.oid: ext for ext in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    is_ca = bc is not None and isinstance(bc.value, x509.BasicConstraints) and bc.value.ca
    self_issued = cert.issuer == cert.subject
    if ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in exts and not self_issued:
        out.append("no authorityKeyIdentifier")
    if is_ca and ExtensionOID.SUBJECT_KEY_IDENTIFIER not in exts:
        out.append("CA certificate without subjectKeyIdentifier")
    if is_ca and bc is not None and not bc.critical:
        out.append("basicConstraints of a CA is not marked critical")
    for oid, name in _MUST_BE_CRITICAL.items():
        ext = exts.get(oid)
        if ext is not None and not ext.critical:
            out.append(f"{name} is not marked critical (enforced all the same)")
    san = exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is not None and isinstance(san.value, x509.SubjectAlternativeName):
        for name in san.value.get_values_for_type(x509.DNSName):
            if "_" in name:
                out.append(f"DNS SAN {name!r} has an underscore")
    return out
