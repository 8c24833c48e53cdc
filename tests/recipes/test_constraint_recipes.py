"""Recipes that exercise the constraint machinery of RFC 5280 §6.1, made with ``openssl``:
step-ca's EC hierarchy, a self-issued key-rollover certificate in the path, a critical
policyMappings/policyConstraints/inhibitAnyPolicy hierarchy, directoryName and URI name
constraints (all ALLOWED), and their violations (refused with the step named in the detail).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipes.judge import Recipe, allowed_by_both, assert_refused, openssl_verify, recipe
from tests.recipes.openssl_tool import REQ_PREAMBLE, OpenSSL

POLICY_FLAGS = ("-policy_check", "-policy", "2.5.29.32.0")

STEP_CA = """\
[ step_root ]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ step_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ step_leaf ]
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = critical, URI:spiffe://example.com/ns/prod/sa/billing, DNS:billing.prod.svc.example.com
"""


def test_step_ca_shaped_chain(tmp_path: Path) -> None:
    """EC P-256 root and intermediate (pathLen 0), a 24-hour leaf named only by its SAN."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("step.cnf", REQ_PREAMBLE + STEP_CA)
    ssl.ec_key("root_ca_key")
    ssl.self_signed(
        "root_ca_key", "root_ca.crt", "/O=Smallstep/CN=Smallstep Root CA", config="step.cnf", section="step_root"
    )
    ssl.ec_key("intermediate_ca_key")
    ssl.csr("intermediate_ca_key", "inter.csr", "/O=Smallstep/CN=Smallstep Intermediate CA")
    ssl.sign(
        "inter.csr",
        "intermediate_ca.crt",
        "root_ca.crt",
        "root_ca_key",
        serial="0x5a17",
        extfile="step.cnf",
        section="step_inter",
    )
    ssl.ec_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/CN=ignored")
    ssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "intermediate_ca.crt", "-CAkey", "intermediate_ca_key",
        "-set_serial", "0x3bd1", "-days", "1", "-sha256", "-subj", "/", "-extfile", "step.cnf",
        "-extensions", "step_leaf", "-out", "leaf.crt",
    )  # fmt: skip
    leaf = ssl.cert("leaf.crt")
    assert len(leaf.subject) == 0, "premise: the leaf has an empty subject"
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 1
    ssl.bundle("truststore.pem", "root_ca.crt", "intermediate_ca.crt")
    allowed_by_both(recipe(ssl, "leaf.crt", "truststore.pem", "root_ca.crt", "intermediate_ca.crt"), tmp_path)


ROLLOVER = """\
[ roll_ca ]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ roll_inter ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ roll_client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


def test_self_issued_key_rollover_certificate_in_the_path(tmp_path: Path) -> None:
    """RFC 4210 §4.4 rollover: the anchor is OldWithOld; NewWithOld (same name, new key, signed by
    the old key) is a self-issued intermediate, so the anchor's pathLen 1 still leaves room for
    the issuing CA below it (self-issued certificates do not count, §6.1.4(l))."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("roll.cnf", REQ_PREAMBLE + ROLLOVER)
    subject = "/C=DE/O=Rollover GmbH/CN=Rollover Root"
    ssl.rsa_key("old.key")
    ssl.self_signed("old.key", "old_with_old.pem", subject, config="roll.cnf", section="roll_ca")
    ssl.ec_key("new.key", "secp384r1")
    ssl.csr("new.key", "new.csr", subject)
    ssl.sign(
        "new.csr",
        "new_with_old.pem",
        "old_with_old.pem",
        "old.key",
        serial="0x0200",
        extfile="roll.cnf",
        section="roll_ca",
    )
    assert ssl.cert("new_with_old.pem").issuer == ssl.cert("new_with_old.pem").subject, "premise: self-issued"
    ssl.rsa_key("inter.key")
    ssl.csr("inter.key", "inter.csr", "/C=DE/O=Rollover GmbH/CN=Rollover Issuing")
    ssl.sign(
        "inter.csr",
        "inter.pem",
        "new_with_old.pem",
        "new.key",
        serial="0x0300",
        extfile="roll.cnf",
        section="roll_inter",
    )
    ssl.ec_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/C=DE/O=Rollover GmbH/CN=client")
    ssl.sign(
        "leaf.csr", "leaf.pem", "inter.pem", "inter.key", serial="0x0400", extfile="roll.cnf", section="roll_client"
    )
    ssl.bundle("truststore.pem", "old_with_old.pem", "new_with_old.pem", "inter.pem")
    chain = ("old_with_old.pem", "new_with_old.pem", "inter.pem")
    allowed_by_both(recipe(ssl, "leaf.pem", "truststore.pem", *chain), tmp_path)


P_ISSUER, P_SUBJECT, P_OTHER = "1.3.6.1.4.1.55555.2.1", "1.3.6.1.4.1.55555.2.100", "1.3.6.1.4.1.55555.2.200"

POLICY_HIERARCHY = f"""\
[ pol_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
certificatePolicies = 2.5.29.32.0
[ pol_bridge ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
certificatePolicies = {P_ISSUER}
policyMappings = critical, {P_ISSUER}:{P_SUBJECT}
policyConstraints = critical, requireExplicitPolicy:0, inhibitPolicyMapping:0
inhibitAnyPolicy = critical, 0
[ pol_leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
certificatePolicies = {{leaf_policy}}
"""


def policy_pki(tmp_path: Path, leaf_policy: str) -> Recipe:
    """Root (anyPolicy) > CA with critical policyMappings, policyConstraints, inhibitAnyPolicy > leaf."""
    ssl = OpenSSL(tmp_path / "pki")
    ssl.write("pol.cnf", REQ_PREAMBLE + POLICY_HIERARCHY.format(leaf_policy=leaf_policy))
    ssl.rsa_key("root.key")
    ssl.self_signed(
        "root.key", "root.pem", "/C=US/O=U.S. Example/CN=Example Common Policy", config="pol.cnf", section="pol_root"
    )
    ssl.rsa_key("ca.key")
    ssl.csr("ca.key", "ca.csr", "/C=US/O=U.S. Example/OU=Agency/CN=Agency CA")
    ssl.sign("ca.csr", "ca.pem", "root.pem", "root.key", serial="0x77", extfile="pol.cnf", section="pol_bridge")
    ssl.ec_key("leaf.key")
    ssl.csr("leaf.key", "leaf.csr", "/C=US/O=U.S. Example/OU=Agency/CN=Jane Doe")
    ssl.sign("leaf.csr", "leaf.pem", "ca.pem", "ca.key", serial="0x78", extfile="pol.cnf", section="pol_leaf")
    ssl.bundle("truststore.pem", "root.pem", "ca.pem")
    return recipe(ssl, "leaf.pem", "truststore.pem", "root.pem", "ca.pem")


def test_critical_policy_mappings_constraints_and_inhibit_any_policy(tmp_path: Path) -> None:
    """The CA's policy P1 maps to P100 for its subjects; the leaf asserts P100: the path is valid
    under the explicit-policy requirement the CA itself imposes."""
    allowed_by_both(policy_pki(tmp_path, P_SUBJECT), tmp_path, *POLICY_FLAGS)


@pytest.mark.parametrize(
    "leaf_policy",
    [P_OTHER, "2.5.29.32.0"],
    ids=["unrelated-policy", "anyPolicy-inhibited"],
)
def test_require_explicit_policy_without_a_valid_policy_is_refused(tmp_path: Path, leaf_policy: str) -> None:
    """requireExplicitPolicy 0 and a leaf whose policy is neither mapped nor, under
    inhibitAnyPolicy 0, anyPolicy: the valid policy tree is NULL, RFC 5280 §6.1.5(g) fails."""
    r = policy_pki(tmp_path, leaf_policy)
    ok, text = openssl_verify(r, *POLICY_FLAGS)
    assert not ok, f"premise: openssl refuses too: {text}"
    assert_refused(r, tmp_path, "CHAIN_INVALID", "policies:")
