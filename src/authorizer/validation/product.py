"""The product's rules on a client certificate, on top of RFC 5280: not self-signed, not a CA,
an EKU (when present) that allows the validator's mode, and OpenSSL's EKU chaining on the CAs."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..reasons import AuthorizerError, Reason
from .facts import CertFacts
from .rules import EkuMode, name_of, signature_valid
from .state import PathValidationError

_ANY_EKU = "2.5.29.37.0"
_EKU_OID = {
    EkuMode.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string,
    EkuMode.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
}


def client_rules(path: list[CertFacts], eku: EkuMode, issuer_key: tuple[object, str] | None) -> None:
    """Raise unless ``path`` (leaf first) satisfies the product's client rules. ``issuer_key``
    is the issuer's (key, kind) when known: the leaf verified under it, so the leaf is
    self-signed only if that key is its own."""
    leaf = path[0]
    if (issuer_key is None or leaf.cert.public_key() == issuer_key[0]) and self_signed(leaf):
        raise self_signed_error(leaf.cert)
    if leaf.ca:
        raise PathValidationError(
            "basic constraints", name_of(leaf.cert), f"{name_of(leaf.cert)} is a CA certificate, not a client"
        )
    wanted = _EKU_OID.get(eku)
    if wanted is None:
        return
    if leaf.eku is not None and wanted not in leaf.eku and _ANY_EKU not in leaf.eku:
        raise PathValidationError(
            "extended key usage", name_of(leaf.cert), f"{name_of(leaf.cert)} does not allow {eku.value}"
        )
    for ca in path[1:]:
        if ca.eku is not None and wanted not in ca.eku and _ANY_EKU not in ca.eku:
            raise PathValidationError(
                "extended key usage",
                name_of(ca.cert),
                f"CA {name_of(ca.cert)} restricts its EKU and does not allow {eku.value}",
            )


def self_signed(facts: CertFacts) -> bool:
    """Self-issued and verifiable with its own key (a client certificate must be CA-issued)."""
    return facts.self_issued and signature_valid(facts.cert, facts.cert.public_key())


def self_signed_error(cert: x509.Certificate) -> AuthorizerError:
    return AuthorizerError(
        Reason.SELF_SIGNED, f"{name_of(cert)} is self-signed; a client certificate must be CA-issued"
    )
