"""Real-world recipes made with the ``openssl`` command line: every one must be ALLOWED by
``mtls-authorizer verify`` and by the handler (issue 8, "Real recipes").

Each recipe follows the shape of a PKI people actually run (the AWS blog post, OpenSSL's default
configuration, easy-rsa, AWS Private CA, AD CS, step-ca, a CA key rollover, a Federal-PKI-like
policy hierarchy, name constraints by directoryName and URI), and OpenSSL itself is asked to
agree, so a refusal here is a refusal of something the TLS layer in front of us accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from tests.recipes.judge import allowed_by_both, assert_refused, openssl_verify, recipe
from tests.recipes.openssl_tool import REQ_PREAMBLE, OpenSSL


def test_aws_blog_recipe_v1_client_under_a_default_config_root(tmp_path: Path) -> None:
    """The exact commands of "Introducing mutual TLS authentication for Amazon API Gateway"."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.rsa_key("RootCA.key", 4096)
    ssl("req", "-new", "-x509", "-days", "3650", "-key", "RootCA.key", "-out", "RootCA.pem", "-subj", "/CN=MyRootCA")
    ssl.rsa_key("my_client.key", 2048)
    ssl.csr("my_client.key", "my_client.csr", "/CN=my_client")
    ssl(
        "x509", "-req", "-in", "my_client.csr", "-CA", "RootCA.pem", "-CAkey", "RootCA.key",
        "-set_serial", "01", "-out", "my_client.pem", "-days", "3650", "-sha256",
    )  # fmt: skip
    assert ssl.cert("my_client.pem").version is x509.Version.v1, "premise: OpenSSL 3.0 makes a v1 client"
    allowed_by_both(recipe(ssl, "my_client.pem", "RootCA.pem", "RootCA.pem"), tmp_path)


INTERMEDIATE_AND_CLIENT = """\
[ v3_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def test_default_config_root_with_a_proper_v3_intermediate_and_client(tmp_path: Path) -> None:
    ssl = OpenSSL(tmp_path / "pki")
    ssl.rsa_key("root.key")
    ssl.self_signed("root.key", "root.pem", "/C=US/O=Default Config/CN=Default Root")
    root = ssl.cert("root.pem")
    with pytest.raises(x509.ExtensionNotFound):  # premise: the default config puts no keyUsage on a root
        root.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    ssl.write("ext.cnf", INTERMEDIATE_AND_CLIENT)
    ssl.rsa_key("inter.key")
    ssl.csr("inter.key", "inter.csr", "/C=US/O=Default Config/CN=Issuing CA")
    ssl.sign("inter.csr", "inter.pem", "root.pem", "root.key", serial="1000", extfile="ext.cnf", section="v3_inter")
    ssl.ec_key("client.key")
    ssl.csr("client.key", "client.csr", "/C=US/O=Default Config/CN=client-1")
    ssl.sign(
        "client.csr", "client.pem", "inter.pem", "inter.key", serial="2000", extfile="ext.cnf", section="v3_client"
    )
    ssl.bundle("truststore.pem", "inter.pem", "root.pem")
    allowed_by_both(recipe(ssl, "client.pem", "truststore.pem", "root.pem", "inter.pem"), tmp_path)


EASY_RSA = """\
[ easyrsa_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always
basicConstraints = CA:true
keyUsage = cRLSign, keyCertSign
[ easyrsa_client ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer:always
extendedKeyUsage = clientAuth
keyUsage = digitalSignature
"""


def test_easy_rsa_style_ca_and_client(tmp_path: Path) -> None:
    """easy-rsa 3's ``x509-types/ca`` and ``x509-types/client`` (non-critical constraints)."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("easyrsa.cnf", REQ_PREAMBLE + EASY_RSA)
    ssl.rsa_key("ca.key")
    ssl.self_signed("ca.key", "ca.crt", "/CN=Easy-RSA CA", config="easyrsa.cnf", section="easyrsa_ca")
    ssl.rsa_key("client.key")
    ssl.csr("client.key", "client.req", "/CN=client1")
    ssl.sign(
        "client.req",
        "client.crt",
        "ca.crt",
        "ca.key",
        serial="0x0A1B2C",
        extfile="easyrsa.cnf",
        section="easyrsa_client",
    )
    allowed_by_both(recipe(ssl, "client.crt", "ca.crt", "ca.crt"), tmp_path)


BC_ONLY = """\
[ v3_ca_plain ]
basicConstraints = critical, CA:TRUE
[ v3_bc_only ]
basicConstraints = CA:FALSE
subjectKeyIdentifier = none
authorityKeyIdentifier = none
[ v3_inter_no_ku ]
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_root_ku ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def test_v3_leaf_with_only_basic_constraints(tmp_path: Path) -> None:
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("ext.cnf", REQ_PREAMBLE + BC_ONLY)
    ssl.rsa_key("root.key")
    ssl.self_signed("root.key", "root.pem", "/CN=Plain Root", config="ext.cnf", section="v3_ca_plain")
    ssl.rsa_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/CN=bc-only client")
    ssl.sign("leaf.csr", "leaf.pem", "root.pem", "root.key", extfile="ext.cnf", section="v3_bc_only")
    leaf = ssl.cert("leaf.pem")
    assert leaf.version is x509.Version.v3
    assert [e.oid for e in leaf.extensions] == [ExtensionOID.BASIC_CONSTRAINTS]
    allowed_by_both(recipe(ssl, "leaf.pem", "root.pem", "root.pem"), tmp_path)


def test_intermediate_without_key_usage(tmp_path: Path) -> None:
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("ext.cnf", REQ_PREAMBLE + BC_ONLY + INTERMEDIATE_AND_CLIENT)
    ssl.rsa_key("root.key")
    ssl.self_signed("root.key", "root.pem", "/O=Example/CN=Root", config="ext.cnf", section="v3_root_ku")
    ssl.rsa_key("inter.key")
    ssl.csr("inter.key", "inter.csr", "/O=Example/CN=Inter without keyUsage")
    ssl.sign("inter.csr", "inter.pem", "root.pem", "root.key", serial="11", extfile="ext.cnf", section="v3_inter_no_ku")
    with pytest.raises(x509.ExtensionNotFound):
        ssl.cert("inter.pem").extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    ssl.rsa_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/O=Example/CN=client")
    ssl.sign("leaf.csr", "leaf.pem", "inter.pem", "inter.key", serial="12", extfile="ext.cnf", section="v3_client")
    ssl.bundle("truststore.pem", "root.pem", "inter.pem")
    allowed_by_both(recipe(ssl, "leaf.pem", "truststore.pem", "root.pem", "inter.pem"), tmp_path)


AWS_PRIVATE_CA = """\
[ pca_root ]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ pca_sub ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:http://crl.example.invalid/crl/1a2b3c4d.crl
[ pca_client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:device-0042.iot.example.com, email:device-0042@example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://crl.example.invalid/crl/5e6f7a8b.crl
"""


def test_aws_private_ca_shaped_chain(tmp_path: Path) -> None:
    """Root with pathLen 1, subordinate with pathLen 0 and a CDP, EndEntityClientAuth leaf.

    The CDP URLs are never fetched: this policy document configures no revocation.
    """
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("pca.cnf", REQ_PREAMBLE + AWS_PRIVATE_CA)
    ssl.rsa_key("root.key")
    ssl.self_signed(
        "root.key",
        "root.pem",
        "/C=US/O=Example Corp/OU=PKI/CN=Example Root CA G1",
        config="pca.cnf",
        section="pca_root",
    )
    ssl.ec_key("sub.key", "secp384r1")
    ssl.csr("sub.key", "sub.csr", "/C=US/O=Example Corp/OU=PKI/CN=Example Device Issuing CA")
    ssl.sign("sub.csr", "sub.pem", "root.pem", "root.key", serial="0x7f01", extfile="pca.cnf", section="pca_sub")
    ssl.ec_key("client.key")
    ssl.csr("client.key", "client.csr", "/C=US/O=Example Corp/CN=device-0042")
    ssl.sign(
        "client.csr",
        "client.pem",
        "sub.pem",
        "sub.key",
        serial="0x4e8a1c",
        days=395,
        extfile="pca.cnf",
        section="pca_client",
        digest="-sha384",
    )
    ssl.bundle("truststore.pem", "root.pem", "sub.pem")
    allowed_by_both(recipe(ssl, "client.pem", "truststore.pem", "root.pem", "sub.pem"), tmp_path)


AD_CS = """\
[ adcs_root ]
basicConstraints = critical, CA:TRUE
keyUsage = digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
certificatePolicies = 2.5.29.32.0
[ adcs_issuing ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
certificatePolicies = @cp_issuing
policyConstraints = {policy_constraints}requireExplicitPolicy:0
crlDistributionPoints = URI:http://pki.corp.example.invalid/CertEnroll/Corp%20Root%20CA.crl
authorityInfoAccess = caIssuers;URI:http://pki.corp.example.invalid/CertEnroll/root.crt
1.3.6.1.4.1.311.20.2 = ASN1:BMPSTRING:SubCA
[ cp_issuing ]
policyIdentifier = 1.3.6.1.4.1.311.21.8.8871214.1.402.1
CPS.1 = "http://pki.corp.example.invalid/cps.html"
[ adcs_user ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, emailProtection, 1.3.6.1.4.1.311.10.3.4
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
certificatePolicies = 1.3.6.1.4.1.311.21.8.8871214.1.402.1
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@corp.example.com, email:alice@corp.example.com
crlDistributionPoints = URI:http://pki.corp.example.invalid/CertEnroll/Corp%20Issuing%20CA.crl
authorityInfoAccess = caIssuers;URI:http://pki.corp.example.invalid/CertEnroll/issuing.crt, OCSP;URI:http://pki.corp.example.invalid/ocsp
1.3.6.1.4.1.311.21.7 = ASN1:SEQUENCE:template
[ template ]
id = OID:1.3.6.1.4.1.311.21.8.8871214.1.402.1.7
major = INTEGER:100
minor = INTEGER:4
"""


@pytest.mark.parametrize("critical", [False, True], ids=["policyConstraints", "critical-policyConstraints"])
def test_ad_cs_shaped_chain(tmp_path: Path, critical: bool) -> None:
    """AD CS: policies on the CAs (the root asserts anyPolicy), requireExplicitPolicy on the
    issuing CA, Microsoft's template and UPN extensions on the user, AIA/CDP (never fetched)."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("adcs.cnf", REQ_PREAMBLE + AD_CS.format(policy_constraints="critical, " if critical else ""))
    ssl.rsa_key("root.key", 3072)
    ssl.self_signed(
        "root.key", "root.pem", "/DC=example/DC=corp/CN=Corp Root CA", config="adcs.cnf", section="adcs_root"
    )
    ssl.rsa_key("issuing.key")
    ssl.csr("issuing.key", "issuing.csr", "/DC=example/DC=corp/CN=Corp Issuing CA")
    ssl.sign(
        "issuing.csr",
        "issuing.pem",
        "root.pem",
        "root.key",
        serial="0x610000000",
        extfile="adcs.cnf",
        section="adcs_issuing",
    )
    ssl.rsa_key("alice.key")
    ssl.csr("alice.key", "alice.csr", "/DC=example/DC=corp/OU=Users/CN=Alice")
    ssl.sign(
        "alice.csr",
        "alice.pem",
        "issuing.pem",
        "issuing.key",
        serial="0x1f000000a1",
        days=365,
        extfile="adcs.cnf",
        section="adcs_user",
    )
    ext = ssl.cert("issuing.pem").extensions.get_extension_for_oid(ExtensionOID.POLICY_CONSTRAINTS)
    assert ext.critical is critical
    ssl.bundle("truststore.pem", "root.pem", "issuing.pem")
    r = recipe(ssl, "alice.pem", "truststore.pem", "root.pem", "issuing.pem")
    allowed_by_both(r, tmp_path, "-policy_check", "-policy", "2.5.29.32.0")


def test_a_v1_intermediate_is_refused(tmp_path: Path) -> None:
    """The same ``openssl x509 -req`` recipe one level deeper makes a v1 *intermediate*: a v1
    certificate cannot say it is a CA (RFC 5280 §6.1.4(k)), and OpenSSL refuses it too."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.rsa_key("root.key")
    ssl.self_signed("root.key", "root.pem", "/CN=V1 Test Root")
    ssl.rsa_key("inter.key")
    ssl.csr("inter.key", "inter.csr", "/CN=V1 Intermediate")
    ssl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "02",
        "-out", "inter.pem", "-days", "3650", "-sha256")  # fmt: skip
    assert ssl.cert("inter.pem").version is x509.Version.v1
    ssl.rsa_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/CN=client under v1")
    ssl("x509", "-req", "-in", "leaf.csr", "-CA", "inter.pem", "-CAkey", "inter.key", "-set_serial", "03",
        "-out", "leaf.pem", "-days", "3650", "-sha256")  # fmt: skip
    ssl.bundle("truststore.pem", "root.pem", "inter.pem")
    r = recipe(ssl, "leaf.pem", "truststore.pem", "root.pem", "inter.pem")
    ok, text = openssl_verify(r)
    assert not ok, f"premise: openssl refuses a v1 intermediate: {text}"
    assert_refused(r, tmp_path, "CHAIN_INVALID", "basic constraints:")
