"""DN comparison: parsed names with RFC 4518-style folding, never raw strings."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from authorizer.dn import DNSyntaxError, fold, format_key, name_key, parse_dn
from tests.pki import CA, shared_key


def cert_key(issuing: CA, subject: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    return name_key(issuing.issue(subject, key=shared_key("p256")).cert.subject)


@pytest.mark.parametrize(
    "config",
    [
        "CN=client1,O=Partner A",
        "cn=CLIENT1,o=partner a",  # attribute names and values in any case
        "CN=client1, O=Partner A",  # space after the comma, as openssl and most tools print
        "CN = client1 , O = Partner A",
        "CN=client1,O=Partner   A",  # inner runs of spaces fold to one
        "CN=  client1  ,O=Partner A ",  # leading and trailing spaces are insignificant
        "commonName=client1,organizationName=Partner A",
        "2.5.4.3=client1,OID.2.5.4.10=Partner A",
        "CN=#0c07636c69656e7431,O=Partner A",  # BER-encoded UTF8String
        "CN=client\\31,O=Partner\\20A",  # hex escapes
    ],
)
def test_same_name_in_other_spellings(issuing: CA, config: str) -> None:
    assert parse_dn(config) == cert_key(issuing, "CN=client1,O=Partner A")


@pytest.mark.parametrize(
    "config",
    [
        "O=Partner A,CN=client1",  # attribute order matters
        "CN=client1",  # a prefix is not the name
        "CN=client1,O=Partner A,C=US",
        "CN=client1,OU=Partner A",  # same value, other type
        "CN=client2,O=Partner A",
        "CN=client1+O=Partner A",  # one multi-valued RDN is not two RDNs
    ],
)
def test_different_names(issuing: CA, config: str) -> None:
    assert parse_dn(config) != cert_key(issuing, "CN=client1,O=Partner A")


def test_escaped_comma_is_part_of_the_value(issuing: CA) -> None:
    key = cert_key(issuing, "CN=Smith\\, John,O=Partner A")
    assert parse_dn("CN=Smith\\, John,O=Partner A") == key
    assert parse_dn("CN=Smith\\2C John,O=Partner A") == key
    assert parse_dn("CN=Smith,CN=John,O=Partner A") != key
    assert len(key) == 2


def test_escaped_plus_is_not_a_multivalued_rdn(issuing: CA) -> None:
    escaped = cert_key(issuing, "CN=a\\+b,O=Partner A")
    multi = cert_key(issuing, "CN=a+UID=b,O=Partner A")
    assert parse_dn("CN=a\\+b,O=Partner A") == escaped
    assert parse_dn("CN=a\\2Bb,O=Partner A") == escaped
    assert parse_dn("CN=a+UID=b,O=Partner A") == multi
    assert escaped != multi


def test_multivalued_rdn_compares_as_a_set(issuing: CA) -> None:
    key = cert_key(issuing, "CN=client1+UID=42,O=Partner A")
    assert parse_dn("UID=42+CN=client1,O=Partner A") == key
    assert parse_dn("CN=client1 + UID=42,O=Partner A") == key
    assert parse_dn("CN=client1,UID=42,O=Partner A") != key
    assert parse_dn("CN=client1+UID=43,O=Partner A") != key


def test_unicode_nfkc_and_case(issuing: CA) -> None:
    key = cert_key(issuing, "CN=Zoë Straße,O=Ünïcode GmbH")
    assert parse_dn("CN=Zoe\u0308 Straße,O=U\u0308ni\u0308code GmbH") == key  # decomposed (NFD)
    assert parse_dn("CN=ZOË STRASSE,O=ÜNÏCODE GMBH") == key  # full case folding: ß is ss
    assert parse_dn("CN=Zo\\C3\\AB Stra\\C3\\9Fe,O=\\C3\\9Cn\\C3\\AFcode GmbH") == key  # UTF-8 escapes
    assert parse_dn("CN=Zoe Straße,O=Ünïcode GmbH") != key  # a diaeresis is not insignificant
    fullwidth = cert_key(issuing, "CN=ｃｌｉｅｎｔ１")
    assert parse_dn("CN=client1") == fullwidth  # compatibility forms fold (NFKC)


def test_invisible_characters_map_to_nothing(issuing: CA) -> None:
    assert parse_dn("CN=client1") == cert_key(issuing, "CN=cli\u00adent1")  # soft hyphen (RFC 4518 2.2)


def test_string_type_does_not_matter(issuing: CA) -> None:
    printable = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Partner A", _type=x509.name._ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.COMMON_NAME, "client1", _type=x509.name._ASN1Type.PrintableString),
        ]
    )
    assert name_key(printable) == parse_dn("CN=client1,O=Partner A")


def test_fold() -> None:
    assert fold("  Partner\t\u00a0 A ") == "partner a"
    assert fold("ＡＢＣ") == "abc"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("CN", "expected '='"),
        ("XX=1", "unknown attribute type 'XX'"),
        ("CN=a\\", "bad escape"),
        ("CN=a\\x", "bad escape"),
        ("CN=a;O=b", "unescaped ';'"),
        ("CN=a,", "expected an attribute type"),
        ("CN=#0c0", "expected hex pairs"),
        ("CN=\\C3", "not valid UTF-8"),
        ('CN="quoted"', "unescaped '\"'"),
    ],
)
def test_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(DNSyntaxError, match=None) as info:
        parse_dn(text)
    assert fragment in str(info.value)


def test_binary_ber_value_kept_as_hex() -> None:
    assert parse_dn("2.5.4.45=#030200ff") == ((("2.5.4.45", "#030200ff"),),)


def test_format_key_is_readable() -> None:
    assert format_key(parse_dn("CN=client1+UID=7,O=Partner A")) == "UID=7+CN=client1,O=partner a"
