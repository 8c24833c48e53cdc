"""Named rules that explain a disagreement between our verdict and ``openssl verify``.

A rule explains a disagreement only if (1) it applies to the generated PKI, (2) the disagreement
goes its way (who refuses), (3) for product rules our reason code is the rule's, and (4) the
*counterfactual* holds: the same PKI with just that feature neutralized is judged alike by both.
When one PKI carries several such features (a 1024-bit client that is also a CA), the smallest
set of rules whose features, neutralized together, make the judges agree is the explanation.
Anything else is unexplained, and the test fails with a reproducer saved to disk.

The rules are pinned by ``test_named_rules.py``: each on its smallest PKI must still produce its
disagreement, so a rule that stops matching reality (a validator change, a new OpenSSL) fails
there instead of silently excusing a bug.
"""

from __future__ import annotations

import dataclasses
import itertools
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


def _not_ending(validity: str) -> str:
    return "ok" if validity == "ends-now" else validity


def _plain(odd: str | None) -> str | None:
    return None if odd in ("critical-aki", "critical-ski") else odd


def _root_policy_constraints(ca: CaSpec) -> bool:
    return any(v is not None for v in (ca.require_explicit, ca.inhibit_mapping, ca.inhibit_any))


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
        "openssl: a critical AKI or SKI is an unhandled critical extension",
        "OpenSSL's supported-extension list (v3_purp.c) lacks authorityKeyIdentifier and "
        "subjectKeyIdentifier, so marked critical they fail X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION; "
        "both are extensions RFC 5280 defines and we process, and a CA marking them critical is "
        "encoding hygiene, which the product does not refuse (issue 8).",
        "openssl",
        lambda s: any(x.odd_extension in ("critical-aki", "critical-ski") for x in (*s.cas, s.leaf)),
        lambda s: _cas(
            _leaf(s, odd_extension=_plain(s.leaf.odd_extension)),
            lambda ca: dataclasses.replace(ca, odd_extension=_plain(ca.odd_extension)),
        ),
    ),
    Rule(
        "openssl: no backtracking past a dead-end untrusted issuer",
        "OpenSSL 3.0 takes the first matching untrusted issuer (same name and key identifier) and does "
        "not try another when it leads to no anchor; RFC 5280 §6.1 judges a path, and ours builds "
        "every candidate (issue 8: 'every candidate tried with backtracking').",
        "openssl",
        lambda s: any(ca.twin == "cross-signed" for ca in s.cas[1:]),
        lambda s: _cas(s, lambda ca: dataclasses.replace(ca, twin=None) if ca.twin == "cross-signed" else ca),
    ),
    Rule(
        "openssl: notAfter is exclusive",
        "X509_cmp_time returns -1 for 'earlier than or equal', so OpenSSL calls a certificate whose "
        "notAfter is the validation time expired; RFC 5280 §4.1.2.5 includes notAfter in the period.",
        "openssl",
        lambda s: any(x.validity == "ends-now" for x in (*s.cas, s.leaf)),
        lambda s: _cas(
            _leaf(s, validity=_not_ending(s.leaf.validity)),
            lambda ca: dataclasses.replace(ca, validity=_not_ending(ca.validity)),
        ),
    ),
    Rule(
        "openssl: the trust anchor's policy constraints are ignored",
        "OpenSSL's policy tree starts below the anchor (pcy_tree.c), so an anchor's policyConstraints "
        "and inhibitAnyPolicy count for nothing; the product's contract (issue 8) applies a trust "
        "anchor's own name and policy constraints (RFC 5937's option), stricter than OpenSSL here. "
        "An anchor's certificatePolicies neither of us processes (RFC 5280 §6.1 starts the path "
        "below the anchor).",
        "ours",
        lambda s: _root_policy_constraints(s.cas[0]),
        lambda s: _cas(
            s,
            lambda ca: dataclasses.replace(ca, require_explicit=None, inhibit_mapping=None, inhibit_any=None),
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
    applicable = [r for r in RULES if r.refuses == refuses and r.applies(spec)]
    # The smallest set of applicable rules whose features, neutralized together, make both judges
    # agree; one of them must name the reason we gave (we report the first problem found).
    for size in range(1, len(applicable) + 1):
        for rules in itertools.combinations(applicable, size):
            if not any(r.our_reason in (None, our_reason) for r in rules):
                continue
            variant = spec
            for rule in rules:
                variant = rule.neutralize(variant)
            if agree(variant):
                return " + ".join(r.name for r in rules)
    names = [r.name for r in applicable] or ["no rule applies"]
    raise Unexplained(f"{refuses} refuses alone ({our_reason}); tried: {names}")
