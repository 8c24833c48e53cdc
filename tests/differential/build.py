"""Turn a ``PkiSpec`` into real certificates with ``cryptography``.

Keys are shared per (kind, position) across examples (RSA generation would dominate the run);
within one PKI every certificate position has its own key, so "self-signed" means exactly the
anchor. A CA with ``rollover`` gets a second, self-issued certificate (same name, new key, signed
by its old key) and signs everything below with the new key, as in an RFC 4210 key update.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from authorizer.devpki import PrivateKey, shared_key
from tests.differential.spec import (
    CaSpec,
    GeneralNameSpec,
    LeafSpec,
    NameConstraintsSpec,
    OddExtension,
    PkiSpec,
    Signing,
    Validity,
)

#: The validation time of every differential example.
AT = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)

WINDOWS: dict[Validity, tuple[dt.datetime, dt.datetime]] = {
    "ok": (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2045, 1, 1, tzinfo=dt.UTC)),
    "expired": (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
    "not-yet": (dt.datetime(2028, 1, 1, tzinfo=dt.UTC), dt.datetime(2045, 1, 1, tzinfo=dt.UTC)),
    "starts-now": (AT, dt.datetime(2045, 1, 1, tzinfo=dt.UTC)),
    "ends-now": (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), AT),
}


@dataclass(frozen=True)
class BuiltPki:
    anchor: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]  # top-down, self-issued ones included
    leaf: x509.Certificate
    issuer_name: x509.Name
    issuer_key: PrivateKey

    issuer_signing: Signing = "sha256"

    def another_leaf(self, spec: LeafSpec, serial: int = 0x4001) -> x509.Certificate:
        """A second client of the same issuing CA (the very same CA certificates)."""
        return _leaf(spec, self.issuer_name, self.issuer_key, self.issuer_signing, serial)

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        """root.pem, untrusted.pem (possibly empty), leaf.pem."""
        folder.mkdir(parents=True, exist_ok=True)
        pem = serialization.Encoding.PEM
        root, untrusted, leaf = folder / "root.pem", folder / "untrusted.pem", folder / "leaf.pem"
        root.write_bytes(self.anchor.public_bytes(pem))
        untrusted.write_bytes(b"".join(c.public_bytes(pem) for c in self.intermediates))
        leaf.write_bytes(self.leaf.public_bytes(pem))
        return root, untrusted, leaf


def _der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def policy_mappings(pairs: tuple[tuple[str, str], ...]) -> x509.UnrecognizedExtension:
    """``cryptography`` has no PolicyMappings class: SEQUENCE OF SEQUENCE {issuer OID, subject OID}."""
    body = b"".join(_der(0x30, _der_oid(i) + _der_oid(s)) for i, s in pairs)
    return x509.UnrecognizedExtension(ExtensionOID.POLICY_MAPPINGS, _der(0x30, body))


def general_name(spec: GeneralNameSpec, *, constraint: bool) -> x509.GeneralName:
    kind, value = spec
    if kind == "dns":
        return x509.DNSName(value)
    if kind == "email":
        return x509.RFC822Name(value)
    if kind == "uri":
        return x509.UniformResourceIdentifier(value)
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_network(value) if constraint else ipaddress.ip_address(value))
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    if value:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, value))
    return x509.DirectoryName(x509.Name(attrs))


def _name_constraints(nc: NameConstraintsSpec) -> x509.NameConstraints:
    permitted = [general_name(g, constraint=True) for g in nc.permitted] or None
    excluded = [general_name(g, constraint=True) for g in nc.excluded] or None
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def _policies(oids: tuple[str, ...]) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids])


def _ca_name(index: int) -> x509.Name:
    label = "Root CA" if index == 0 else f"CA {index}"
    return x509.Name.from_rfc4514_string(f"CN=Differential {label},O=Example,C=US")


def _ca_extensions(b: x509.CertificateBuilder, ca: CaSpec) -> x509.CertificateBuilder:
    if ca.basic_constraints != "absent":
        is_ca = ca.basic_constraints == "ca"
        b = b.add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca.path_len if is_ca else None), critical=True)
    if ca.key_usage != "absent":
        sign = ca.key_usage == "ok"
        b = b.add_extension(
            x509.KeyUsage(not sign, False, False, False, False, sign, sign, False, False), critical=True
        )
    if ca.eku is not None:
        oid = ExtendedKeyUsageOID.CLIENT_AUTH if ca.eku == "clientAuth" else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
    if ca.name_constraints is not None:
        b = b.add_extension(_name_constraints(ca.name_constraints), critical=True)
    if ca.policies is not None:
        b = b.add_extension(_policies(ca.policies), critical=False)
    if ca.mappings:
        b = b.add_extension(policy_mappings(ca.mappings), critical=ca.policy_critical)
    if ca.require_explicit is not None or ca.inhibit_mapping is not None:
        b = b.add_extension(
            x509.PolicyConstraints(ca.require_explicit, ca.inhibit_mapping), critical=ca.policy_critical
        )
    if ca.inhibit_any is not None:
        b = b.add_extension(x509.InhibitAnyPolicy(ca.inhibit_any), critical=ca.policy_critical)
    return b


UNKNOWN_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.55555.99.1")


_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _signature(b: x509.CertificateBuilder, key: PrivateKey, signing: Signing) -> x509.Certificate:
    digest = _DIGESTS.get(signing, hashes.SHA256)()
    if signing.startswith("pss") and isinstance(key, rsa.RSAPrivateKey):
        salt = padding.PSS.DIGEST_LENGTH if signing == "pss" else padding.PSS.MAX_LENGTH
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=salt)
        return b.sign(key, digest, rsa_padding=pss)
    return b.sign(key, digest)  # type: ignore[arg-type]


def _sign(
    b: x509.CertificateBuilder,
    subject_key: PrivateKey,
    issuer_key: PrivateKey,
    serial: int,
    validity: Validity,
    odd: OddExtension | None = None,
    signing: Signing = "sha256",
) -> x509.Certificate:
    start, end = WINDOWS[validity]
    b = (
        b.public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=odd == "critical-ski"
        )
    )
    if issuer_key is not subject_key:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        b = b.add_extension(aki, critical=odd == "critical-aki")
    if odd in ("unknown", "unknown-critical"):
        unknown = x509.UnrecognizedExtension(UNKNOWN_EXTENSION, b"\x05\x00")  # NULL
        b = b.add_extension(unknown, critical=odd == "unknown-critical")
    return _signature(b, issuer_key, signing)


def _leaf_name(leaf: LeafSpec) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, leaf.org)]
    if leaf.common_name is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, leaf.common_name))
    if leaf.email_attribute is not None:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, leaf.email_attribute))
    return x509.Name(attrs)


_LEAF_EKU = {
    "clientAuth": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "serverAuth": [ExtendedKeyUsageOID.SERVER_AUTH],
    "any": [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE],
    "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
}


def _leaf(
    leaf: LeafSpec, issuer_name: x509.Name, issuer_key: PrivateKey, signing: Signing, serial: int = 0x4000
) -> x509.Certificate:
    key = shared_key(leaf.key, 40)
    b = x509.CertificateBuilder().subject_name(_leaf_name(leaf)).issuer_name(issuer_name)
    if leaf.basic_constraints != "absent":
        b = b.add_extension(x509.BasicConstraints(ca=leaf.basic_constraints == "ca", path_length=None), critical=True)
    if leaf.key_usage != "absent":
        ok = leaf.key_usage == "ok"
        b = b.add_extension(x509.KeyUsage(ok, False, False, False, False, not ok, False, False, False), critical=True)
    if leaf.eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(_LEAF_EKU[leaf.eku]), critical=False)
    if leaf.sans:
        sans = [general_name(g, constraint=False) for g in leaf.sans]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if leaf.policies is not None:
        b = b.add_extension(_policies(leaf.policies), critical=False)
    return _sign(b, key, issuer_key, serial, leaf.validity, leaf.odd_extension, signing)


STRANGER = x509.Name.from_rfc4514_string("CN=Stranger Root,O=Elsewhere,C=US")


def _twin(
    ca: CaSpec,
    index: int,
    name: x509.Name,
    key: PrivateKey,
    issuer_name: x509.Name | None,
    issuer_key: PrivateKey | None,
    signing: Signing,
) -> x509.Certificate:
    assert issuer_name is not None and issuer_key is not None
    if ca.twin == "cross-signed":
        b = _ca_extensions(x509.CertificateBuilder().subject_name(name).issuer_name(STRANGER), ca)
        return _sign(b, key, shared_key("p256", 50), 0x3000 + index, ca.validity, ca.odd_extension)
    b = _ca_extensions(x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name), ca)
    if ca.twin == "expired":
        return _sign(b, key, issuer_key, 0x3000 + index, "expired", ca.odd_extension, signing)
    return _sign(b, shared_key(ca.key, 30 + index), issuer_key, 0x3000 + index, ca.validity, ca.odd_extension, signing)


def build(spec: PkiSpec) -> BuiltPki:
    anchor: x509.Certificate | None = None
    chain: list[x509.Certificate] = []
    issuer_name: x509.Name | None = None
    issuer_key: PrivateKey | None = None
    signing: Signing = spec.cas[0].signing  # how the issuer of the next certificate signs
    for index, ca in enumerate(spec.cas):
        name, key = _ca_name(index), shared_key(ca.key, index)
        b = _ca_extensions(x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name), ca)
        cert = _sign(b, key, issuer_key or key, 0x1000 + index, ca.validity, ca.odd_extension, signing)
        if anchor is None:
            anchor = cert
        else:
            if ca.twin is not None:  # listed first, so a first-match path builder meets it first
                chain.append(_twin(ca, index, name, key, issuer_name, issuer_key, signing))
            chain.append(cert)
        if ca.rollover:  # NewWithOld: same name, new key, signed by the old key
            new_key = shared_key(ca.key, 20 + index)
            b = _ca_extensions(x509.CertificateBuilder().subject_name(name).issuer_name(name), ca)
            chain.append(_sign(b, new_key, key, 0x2000 + index, ca.validity, ca.odd_extension, ca.signing))
            key = new_key
        issuer_name, issuer_key, signing = name, key, ca.signing
    assert anchor is not None and issuer_name is not None and issuer_key is not None
    leaf = _leaf(spec.leaf, issuer_name, issuer_key, signing)
    return BuiltPki(anchor, tuple(chain), leaf, issuer_name, issuer_key, signing)
