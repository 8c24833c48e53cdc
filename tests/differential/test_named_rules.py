"""Each named rule of ``explain.py`` on its smallest PKI: the disagreement it names is real (with
this OpenSSL and our validator), it goes the rule's way, and the rule alone explains it. A rule
that stopped matching reality (a new OpenSSL, a validator change) fails here, not silently.

Also the one product rule the generated runs keep out of the way: the deployment limit on the
number of certificates (``MAX_CHAIN_LENGTH``), which OpenSSL does not have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authorizer.validation import MAX_CHAIN_LENGTH
from tests.differential.build import AT, build
from tests.differential.explain import RULES, explain
from tests.differential.oracles import openssl, ours
from tests.differential.spec import CaSpec, LeafSpec, PkiSpec

pytestmark = pytest.mark.differential

SMALLEST: dict[str, PkiSpec] = {
    "product: client key strength": PkiSpec((CaSpec(),), LeafSpec(key="rsa1024")),
    "product: a CA certificate is never a client": PkiSpec((CaSpec(),), LeafSpec(basic_constraints="ca")),
    "openssl: sslclient purpose checks the leaf's keyUsage": PkiSpec((CaSpec(),), LeafSpec(key_usage="wrong")),
    "openssl: sslclient purpose does not take anyExtendedKeyUsage for clientAuth": PkiSpec(
        (CaSpec(),), LeafSpec(eku="any")
    ),
    "openssl: a critical AKI or SKI is an unhandled critical extension": PkiSpec(
        (CaSpec(), CaSpec(odd_extension="critical-ski")), LeafSpec(odd_extension="critical-aki")
    ),
    "openssl: no backtracking past a dead-end untrusted issuer": PkiSpec(
        (CaSpec(), CaSpec(twin="cross-signed")), LeafSpec()
    ),
    "openssl: notAfter is exclusive": PkiSpec((CaSpec(),), LeafSpec(validity="ends-now")),
    "openssl: the trust anchor's policy constraints are ignored": PkiSpec(
        (CaSpec(require_explicit=0), CaSpec()), LeafSpec()
    ),
}


def test_every_rule_has_its_smallest_example() -> None:
    assert sorted(SMALLEST) == sorted(r.name for r in RULES)


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_the_rule_alone_explains_its_smallest_example(name: str, tmp_path: Path) -> None:
    spec = SMALLEST[name]
    rule = next(r for r in RULES if r.name == name)
    pki = build(spec)
    mine, theirs = ours(pki, AT), openssl(pki, AT, tmp_path)
    assert mine.accepted != theirs.accepted, f"no disagreement: ours {mine}, openssl {theirs}"
    assert (not mine.accepted) == (rule.refuses == "ours")
    if rule.our_reason is not None:
        assert mine.reason == rule.our_reason, mine

    def agree(variant: PkiSpec) -> bool:
        built = build(variant)
        return ours(built, AT).accepted == openssl(built, AT, tmp_path / "variant").accepted

    assert explain(spec, mine.accepted, mine.reason, agree) == name


def test_more_certificates_than_the_deployment_limit_is_chain_too_long(tmp_path: Path) -> None:
    """Five certificates (anchor, three CAs, leaf): valid for OpenSSL and for our algorithm with a
    higher limit, CHAIN_TOO_LONG with the product's default of 4 (API Gateway's own limit)."""
    pki = build(PkiSpec((CaSpec(), CaSpec(), CaSpec(), CaSpec()), LeafSpec()))
    assert openssl(pki, AT, tmp_path).accepted
    assert ours(pki, AT).accepted
    limited = ours(pki, AT, max_chain_length=MAX_CHAIN_LENGTH)
    assert (limited.accepted, limited.reason) == (False, "CHAIN_TOO_LONG")
