"""Name constraints of every form, made with ``openssl``: a client inside every constraint is
ALLOWED (directoryName and URI included, on the anchor or on the intermediate), and a client with
one name outside (DNS, rfc822 in the SAN or in the subject's emailAddress, URI, IPv4, IPv6,
directoryName, permitted or excluded) is CHAIN_INVALID with a "name constraints:" detail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipes.judge import Recipe, allowed_by_both, assert_refused, openssl_verify, recipe
from tests.recipes.openssl_tool import REQ_PREAMBLE, OpenSSL

NC_TEMPLATE = """\
[ nc_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
{root_nc}
[ nc_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{inter_nc}
[ nc_leaf ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
{leaf_san}
[ dir_example ]
C = US
O = Example
[ dir_banned ]
C = US
O = Example
OU = Banned
"""

#: Every form at once; the ``.example.com`` URI form means "any host under example.com".
ALL_FORMS = (
    "nameConstraints = critical, permitted;dirName:dir_example, permitted;URI:.example.com, "
    "permitted;DNS:example.com, permitted;email:example.com, permitted;IP:10.0.0.0/255.0.0.0, "
    "permitted;IP:2001:db8::/ffff:ffff::, excluded;dirName:dir_banned"
)
GOOD_SAN = (
    "subjectAltName = DNS:api.example.com, email:alice@example.com, URI:https://svc.example.com/orders, "
    "IP:10.1.2.3, IP:2001:db8::5"
)
GOOD_SUBJECT = "/C=US/O=Example/OU=Payments/CN=alice/emailAddress=alice@example.com"


def nc_pki(
    tmp_path: Path, *, root_nc: str = "", inter_nc: str = "", leaf_san: str = "", subject: str = GOOD_SUBJECT
) -> Recipe:
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("nc.cnf", REQ_PREAMBLE + NC_TEMPLATE.format(root_nc=root_nc, inter_nc=inter_nc, leaf_san=leaf_san))
    ssl.rsa_key("root.key")
    ssl.self_signed("root.key", "root.pem", "/C=US/O=Example/CN=Example Root", config="nc.cnf", section="nc_root")
    ssl.ec_key("inter.key")
    ssl.csr("inter.key", "inter.csr", "/C=US/O=Example/CN=Example Issuing")
    ssl.sign("inter.csr", "inter.pem", "root.pem", "root.key", serial="0x31", extfile="nc.cnf", section="nc_inter")
    ssl.ec_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", subject)
    ssl.sign("leaf.csr", "leaf.pem", "inter.pem", "inter.key", serial="0x32", extfile="nc.cnf", section="nc_leaf")
    ssl.bundle("truststore.pem", "root.pem", "inter.pem")
    return recipe(ssl, "leaf.pem", "truststore.pem", "root.pem", "inter.pem")


@pytest.mark.parametrize("where", ["intermediate", "anchor"])
def test_every_name_form_inside_its_constraints_is_allowed(tmp_path: Path, where: str) -> None:
    """directoryName and URI constraints included; on the anchor they apply as well (OpenSSL's
    reading, and the lead's contract: an anchor's own name constraints apply)."""
    placed = {"inter_nc": ALL_FORMS} if where == "intermediate" else {"root_nc": ALL_FORMS}
    allowed_by_both(nc_pki(tmp_path, leaf_san=GOOD_SAN, **placed), tmp_path)


VIOLATIONS = {
    "dns-permitted": ("permitted;DNS:example.com", "subjectAltName = DNS:api.other.test", GOOD_SUBJECT),
    "dns-excluded": ("excluded;DNS:internal.example.com", "subjectAltName = DNS:db.internal.example.com", GOOD_SUBJECT),
    "email-san": ("permitted;email:example.com", "subjectAltName = email:alice@other.test", "/C=US/O=Example/CN=alice"),
    "email-subject": ("permitted;email:example.com", "", "/C=US/O=Example/CN=alice/emailAddress=alice@other.test"),
    "email-mailbox-excluded": (
        "excluded;email:mallory@example.com",
        "subjectAltName = email:mallory@example.com",
        GOOD_SUBJECT,
    ),
    "uri": ("permitted;URI:.example.com", "subjectAltName = URI:https://evil.other.test/x", GOOD_SUBJECT),
    "uri-excluded": (
        "excluded;URI:legacy.example.com",
        "subjectAltName = URI:https://legacy.example.com/",
        GOOD_SUBJECT,
    ),
    "ipv4": ("permitted;IP:10.0.0.0/255.0.0.0", "subjectAltName = IP:192.168.1.1", GOOD_SUBJECT),
    "ipv6": ("permitted;IP:2001:db8::/ffff:ffff::", "subjectAltName = IP:2001:db9::1", GOOD_SUBJECT),
    "ipv4-excluded": ("excluded;IP:10.9.0.0/255.255.0.0", "subjectAltName = IP:10.9.8.7", GOOD_SUBJECT),
    "directoryName": ("permitted;dirName:dir_example", "", "/C=US/O=Other/CN=alice"),
    "directoryName-excluded": ("excluded;dirName:dir_banned", "", "/C=US/O=Example/OU=Banned/CN=alice"),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_a_name_outside_a_constraint_is_refused(tmp_path: Path, case: str) -> None:
    constraint, san, subject = VIOLATIONS[case]
    r = nc_pki(tmp_path, inter_nc=f"nameConstraints = critical, {constraint}", leaf_san=san, subject=subject)
    ok, text = openssl_verify(r)
    assert not ok, f"premise: openssl refuses too: {text}"
    assert "name constraint" in text or "permitted" in text or "excluded" in text, text
    assert_refused(r, tmp_path, "CHAIN_INVALID", "name constraints:")
