"""RFC 5280 §6.1 processing of one path, certificate by certificate, as immutable states.

:func:`start` takes the trust anchor, :func:`process_ca` each intermediate (§6.1.3 and
§6.1.4), :func:`finish` the last certificate (§6.1.3 and §6.1.5). Signatures and validity
windows are checked by the caller (path building verifies each link before it is used, and
windows depend on the request's time); everything here depends only on the certificates and
the inputs, so the state after a path's CA part can be memoized and shared by every leaf below
it.

Where this is stricter or looser than the RFC, on purpose:

* The trust anchor's own basicConstraints, keyUsage, name constraints, policy constraints,
  inhibitAnyPolicy and critical extensions apply (as OpenSSL and x509-limbo expect); a v3
  anchor must be a CA by basicConstraints or, without that extension, by keyUsage keyCertSign
  (OpenSSL's rule). A v1 anchor is a CA.
* A v1 intermediate is never a CA (§6.1.4(k) only covers v3; OpenSSL refuses v1 CAs under
  X509_STRICT); a v1 *leaf* is fine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..dn import DNKey
from ..reasons import AuthorizerError, Reason
from .facts import CertFacts
from .names import NameConstraintError, NameConstraintState
from .policies import (
    Level,
    PolicyError,
    PolicyInputs,
    apply_mappings,
    initial_level,
    process_policies,
    user_constrained,
)
from .rules import name_of


class PathValidationError(AuthorizerError):
    """A path broke a rule of RFC 5280 §6.1 or the product: the step, and the certificate."""

    def __init__(self, step: str, cert: str, message: str, reason: Reason = Reason.CHAIN_INVALID) -> None:
        super().__init__(reason, f"{step}: {message}")
        self.step = step
        self.cert = cert


@dataclass(frozen=True)
class WorkingState:
    """§6.1.2's state variables after some certificates of a path."""

    subject_key: DNKey  # working_issuer_name
    remaining: int | None  # max_path_length; None while no pathLenConstraint applies
    explicit: int
    inhibit_any: int
    mapping: int
    constraints: NameConstraintState
    level: Level | None  # the policy graph's current level; None is RFC 5280's NULL tree
    index: int  # certificates processed below the anchor


def _fail(step: str, facts: CertFacts, message: str) -> PathValidationError:
    return PathValidationError(step, name_of(facts.cert), f"{name_of(facts.cert)} {message}")


def _counters(state: WorkingState, facts: CertFacts, *, decrement: bool) -> WorkingState:
    """§6.1.4 (h)-(j)."""
    explicit, inhibit_any, mapping = state.explicit, state.inhibit_any, state.mapping
    if decrement and not facts.self_issued:
        explicit, inhibit_any, mapping = max(explicit - 1, 0), max(inhibit_any - 1, 0), max(mapping - 1, 0)
    if facts.require_explicit is not None:
        explicit = min(explicit, facts.require_explicit)
    if facts.inhibit_mapping is not None:
        mapping = min(mapping, facts.inhibit_mapping)
    if facts.inhibit_any is not None:
        inhibit_any = min(inhibit_any, facts.inhibit_any)
    return replace(state, explicit=explicit, inhibit_any=inhibit_any, mapping=mapping)


def _ca_checks(facts: CertFacts, role: str) -> None:
    """§6.1.4 (k), (n), (o) and the v1 rule, for an anchor or an intermediate."""
    if facts.version == 1:
        if role == "trust anchor":
            return
        raise _fail("basic constraints", facts, "is an X.509 v1 certificate and cannot be an intermediate CA")
    if facts.ca is False or (facts.ca is None and not (role == "trust anchor" and facts.key_cert_sign)):
        raise _fail("basic constraints", facts, f"is not a CA certificate (basicConstraints cA) but is used as {role}")
    if facts.key_cert_sign is False:
        raise _fail("key usage", facts, "has a keyUsage without keyCertSign")
    if facts.unknown_critical:
        raise _fail("critical extension", facts, f"has unrecognized critical extension {facts.unknown_critical[0]}")


def start(anchor: CertFacts, inputs: PolicyInputs, n: int) -> WorkingState:
    """§6.1.2 initialization from the trust anchor, then the anchor's own constraints."""
    _ca_checks(anchor, "trust anchor")
    constraints = NameConstraintState()
    if anchor.name_constraints is not None:
        constraints = _add_constraints(constraints, anchor)
    state = WorkingState(
        subject_key=anchor.subject_key,
        remaining=anchor.path_length,
        explicit=0 if inputs.require_explicit else n + 1,
        inhibit_any=0 if inputs.inhibit_any else n + 1,
        mapping=0 if inputs.inhibit_mapping else n + 1,
        constraints=constraints,
        level=initial_level(),
        index=0,
    )
    return _counters(state, anchor, decrement=False)


def _add_constraints(constraints: NameConstraintState, facts: CertFacts) -> NameConstraintState:
    assert facts.name_constraints is not None
    try:
        return constraints.add(facts.name_constraints, name_of(facts.cert))
    except NameConstraintError as exc:
        raise PathValidationError("name constraints", name_of(facts.cert), str(exc)) from None


def _basic(state: WorkingState, facts: CertFacts, *, final: bool, budget: list[int]) -> Level | None:
    """§6.1.3 (a)(4), (b)-(f): name chaining, name constraints, certificate policies."""
    if facts.issuer_key != state.subject_key:
        raise _fail("name chaining", facts, "names an issuer other than the certificate above it")
    if not state.constraints.empty and (final or not facts.self_issued):
        try:
            state.constraints.check(facts, name_of(facts.cert), budget, leaf=final)
        except NameConstraintError as exc:
            raise PathValidationError("name constraints", name_of(facts.cert), str(exc)) from None
    any_allowed = state.inhibit_any > 0 or (not final and facts.self_issued)
    try:
        level = process_policies(state.level, facts.policies, any_allowed)
    except PolicyError as exc:
        raise _fail("policies", facts, str(exc)) from None
    if level is None and state.explicit <= 0:
        raise _fail("policies", facts, "leaves no valid policy where an explicit policy is required")
    return level


def process_ca(state: WorkingState, facts: CertFacts, budget: list[int]) -> WorkingState:
    """§6.1.3 and §6.1.4 for an intermediate certificate."""
    _ca_checks(facts, "an intermediate CA")
    if not facts.self_issued and state.remaining is not None and state.remaining <= 0:
        raise _fail("basic constraints", facts, "is beyond the path length its issuers allow (pathLenConstraint)")
    level = _basic(state, facts, final=False, budget=budget)
    try:
        level = apply_mappings(level, facts.mappings, state.mapping > 0)
    except PolicyError as exc:
        raise _fail("policies", facts, str(exc)) from None
    constraints = state.constraints
    if facts.name_constraints is not None:
        constraints = _add_constraints(constraints, facts)
    remaining = state.remaining
    if not facts.self_issued and remaining is not None:
        remaining -= 1
    if facts.path_length is not None:
        remaining = facts.path_length if remaining is None else min(remaining, facts.path_length)
    state = replace(
        state,
        subject_key=facts.subject_key,
        remaining=remaining,
        constraints=constraints,
        level=level,
        index=state.index + 1,
    )
    return _counters(state, facts, decrement=True)


def finish(state: WorkingState, facts: CertFacts, inputs: PolicyInputs, budget: list[int]) -> tuple[str, ...]:
    """§6.1.3 and §6.1.5 for the last certificate; returns the path's valid policies."""
    level = _basic(state, facts, final=True, budget=budget)
    explicit = max(state.explicit - 1, 0)
    if facts.require_explicit == 0:
        explicit = 0
    if facts.unknown_critical:
        raise _fail("critical extension", facts, f"has unrecognized critical extension {facts.unknown_critical[0]}")
    policies = user_constrained(level, inputs)
    if explicit <= 0 and not policies:
        raise _fail("policies", facts, "has no valid policy acceptable to this validator where one is required")
    return policies
