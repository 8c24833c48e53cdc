"""A leaf whose issuer name differs from its CA's subject only by case, spaces or string type.

RFC 5280 §7.1 compares names with the RFC 4518 preparation (case folding, insignificant space
handling, any DirectoryString type), and OpenSSL's ``X509_NAME_cmp`` on its canonical encoding
does the same, so such a leaf chains. The CA is made by ``openssl req`` (PrintableString names,
``string_mask = nombstr``); the leaf is crafted with ``cryptography``, which alone can write an
issuer name other than the CA's exact bytes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from tests.recipes.judge import Recipe, assert_allowed, openssl_verify
from tests.recipes.openssl_tool import OpenSSL, validation_time

CA_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
string_mask = nombstr
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

P, U = _ASN1Type.PrintableString, _ASN1Type.UTF8String

#: (country, organization, common name, string type of O and CN): the CA's subject is
#: ("US", "Example Corp", "Example Issuing CA", PrintableString).
VARIANTS = {
    "case": ("us", "EXAMPLE CORP", "example issuing ca", P),
    "spaces": ("US", "  Example   Corp ", " Example  Issuing CA  ", P),
    "string-type": ("US", "Example Corp", "Example Issuing CA", U),
    "all-three": ("US", " example  CORP", "EXAMPLE   issuing Ca ", U),
}


def issuer_name(country: str, org: str, cn: str, kind: _ASN1Type) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country, _type=P),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org, _type=kind),
            x509.NameAttribute(NameOID.COMMON_NAME, cn, _type=kind),
        ]
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_issuer_name_differing_only_by_case_spaces_or_string_type(tmp_path: Path, variant: str) -> None:
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("ca.cnf", CA_CONFIG)
    ssl.rsa_key("ca.key")
    ssl.self_signed("ca.key", "ca.pem", "/C=US/O=Example Corp/CN=Example Issuing CA", config="ca.cnf", section="v3_ca")
    ca = ssl.cert("ca.pem")
    assert all(a._type is P for a in ca.subject), "premise: OpenSSL wrote PrintableStrings"
    ca_key = serialization.load_pem_private_key(ssl.path("ca.key").read_bytes(), password=None)
    assert not isinstance(ca_key, ec.EllipticCurvePrivateKey)

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    issuer = issuer_name(*VARIANTS[variant])
    assert issuer.public_bytes() != ca.subject.public_bytes(), "premise: the bytes differ"
    ski = ca.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=name-variant client,O=Example Corp,C=US"))
        .issuer_name(issuer)
        .public_key(leaf_key.public_key())
        .serial_number(0x51)
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_before_utc + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    leaf_path = ssl.write("leaf.pem", leaf.public_bytes(serialization.Encoding.PEM).decode())
    r = Recipe(leaf_path, ssl.path("ca.pem"), validation_time(ca, leaf))
    ok, text = openssl_verify(r)
    assert ok, f"premise: openssl verify chains it: {text}"
    assert_allowed(r, tmp_path)
