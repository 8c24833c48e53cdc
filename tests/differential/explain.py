"""Named rules that explain a disagreement between our verdict and ``openssl verify``.

A rule explains a disagreement only if (1) it applies to the generated PKI, (2) the disagreement
goes its way (who refuses), (3) for product rules our reason code is the rule's, and (4) the
*counterfactual* holds: the same PKI with just that feature neutralized is judged alike by both.
Anything else is unexplained, and the test fails with a reproducer saved to disk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tests.differential.spec import CaSpec, PkiSpec

Who = Literal["ours", "openssl"]


@dataclass(frozen=True)
class Rule:
    name: str
    why: str
    refuses: Who  # who refuses what the other accepts
    applies: Callable[[PkiSpec], bool]
    neutralize: Callable[[PkiSpec], PkiSpec]
    our_reason: str | None = None


def _leaf(spec: PkiSpec, **changes: object) -> PkiSpec:
    return dataclasses.replace(spec, leaf=dataclasses.replace(spec.leaf, **changes))  # type: ignore[arg-type]


def _cas(spec: PkiSpec, change: Callable[[CaSpec], CaSpec], only_root: bool = False) -> PkiSpec:
    cas = tuple(change(ca) if (i == 0 or not only_root) else ca for i, ca in enumerate(spec.cas))
    return dataclasses.replace(spec, cas=cas)


def _dns_constrained(spec: PkiSpec) -> bool:
    return any(
        ca.name_constraints is not None
        and any(k == "dns" for k, _ in (*ca.name_constraints.permitted, *ca.name_constraints.excluded))
        for ca in spec.cas
    )


def _root_policy_fields(ca: CaSpec) -> bool:
    return any(v is not None for v in (ca.require_explicit, ca.inhibit_mapping, ca.inhibit_any, ca.policies)) or bool(
        ca.mappings
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "product: client key strength",
        "API Gateway's algorithm rules (RSA >= 2048, P-256/P-384) apply to the client's own key; "
        "OpenSSL at its default auth level -1 checks no key size.",
        "ours",
        lambda s: s.leaf.key in ("rsa1024", "p521"),
        lambda s: _leaf(s, key="p256"),
        "INSECURE_ALGORITHM",
    ),
    Rule(
        "product: a CA certificate is never a client",
        "basicConstraints cA=TRUE on the leaf: OpenSSL's sslclient purpose does not look at it.",
        "ours",
        lambda s: s.leaf.basic_constraints == "ca",
        lambda s: _leaf(s, basic_constraints="not-ca"),
        "CHAIN_INVALID",
    ),
    Rule(
        "openssl: sslclient purpose checks a CA's EKU",
        "OpenSSL's check_purpose_ssl_client rejects any certificate of the chain whose EKU lacks "
        "clientAuth; RFC 5280 gives a CA's EKU no meaning in path validation.",
        "openssl",
        lambda s: any(ca.eku == "serverAuth" for ca in s.cas),
        lambda s: _cas(s, lambda ca: dataclasses.replace(ca, eku=None)),
    ),
    Rule(
        "openssl: sslclient purpose checks the leaf's keyUsage",
        "OpenSSL requires digitalSignature or keyAgreement in a client's keyUsage (TLS signing); "
        "the product's rules (and RFC 5280 §6.1) do not look at a leaf's keyUsage.",
        "openssl",
        lambda s: s.leaf.key_usage == "wrong",
        lambda s: _leaf(s, key_usage="ok"),
    ),
    Rule(
        "openssl: sslclient purpose does not take anyExtendedKeyUsage for clientAuth",
        "OpenSSL's xku_reject wants the clientAuth bit itself.",
        "openssl",
        lambda s: s.leaf.eku == "any",
        lambda s: _leaf(s, eku="clientAuth"),
    ),
    Rule(
        "openssl: keyUsage keyCertSign makes a CA without basicConstraints (non-strict)",
        "X509_check_ca returns 4 for a v3 certificate with keyCertSign and no basicConstraints, and "
        "only -x509_strict refuses it; RFC 5280 §6.1.4(k) requires basicConstraints cA.",
        "ours",
        lambda s: any(ca.basic_constraints == "absent" and ca.key_usage == "ok" for ca in s.cas),
        lambda s: _cas(
            s, lambda ca: dataclasses.replace(ca, basic_constraints="ca") if ca.basic_constraints == "absent" else ca
        ),
        "CHAIN_INVALID",
    ),
    Rule(
        "openssl: a host-like subject CN is held to dNSName constraints",
        "With no dNSName in the SAN, OpenSSL (since 1.1.0) checks a CN that looks like a host name "
        "against dNSName constraints; RFC 5280 applies them to SAN dNSNames only.",
        "openssl",
        lambda s: (
            s.leaf.common_name is not None
            and "." in s.leaf.common_name
            and not any(k == "dns" for k, _ in s.leaf.sans)
            and _dns_constrained(s)
        ),
        lambda s: _leaf(s, common_name="client-7"),
    ),
    Rule(
        "openssl: the trust anchor takes no part in policy processing",
        "OpenSSL's policy tree starts below the anchor (pcy_tree.c), so the anchor's policies and "
        "policy constraints are ignored; the product applies an anchor's own constraints.",
        "ours",
        lambda s: _root_policy_fields(s.cas[0]),
        lambda s: _cas(
            s,
            lambda ca: dataclasses.replace(
                ca, require_explicit=None, inhibit_mapping=None, inhibit_any=None, policies=None, mappings=()
            ),
            only_root=True,
        ),
        "CHAIN_INVALID",
    ),
)


class Unexplained(AssertionError):
    """A disagreement no named rule accounts for: a validator bug until shown otherwise."""


def explain(
    spec: PkiSpec,
    our_accepted: bool,
    our_reason: str,
    agree: Callable[[PkiSpec], bool],
) -> str:
    """The name of the rule (or ``+``-joined rules) that accounts for the disagreement."""
    refuses: Who = "openssl" if our_accepted else "ours"
    candidates = [
        r
        for r in RULES
        if r.refuses == refuses and r.applies(spec) and (r.our_reason is None or r.our_reason == our_reason)
    ]
    for rule in candidates:
        if agree(rule.neutralize(spec)):
            return rule.name
    if len(candidates) > 1:
        combined = spec
        for rule in candidates:
            combined = rule.neutralize(combined)
        if agree(combined):
            return " + ".join(r.name for r in candidates)
    names = [r.name for r in candidates] or ["no rule applies"]
    raise Unexplained(f"{refuses} refuses alone ({our_reason}); tried: {names}")
