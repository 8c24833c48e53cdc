"""Certificate policies (RFC 5280 §6.1.2-§6.1.6) as a policy graph (RFC 9618).

RFC 5280's valid_policy_tree can grow exponentially with policy mappings (CVE-2023-0464 was
that); RFC 9618 replaces it by a graph with one node per policy OID and depth. Each level here
is a mapping ``valid_policy -> _Node``; a node keeps its expected_policy_set and its *origins*:
the OIDs of its ancestors whose parent was anyPolicy (RFC 5280's valid_policy_node_set), which
is all §6.1.5(g) needs to intersect with the user-initial-policy-set. Levels are never mutated
once built, so a memoized CA state can be shared by every leaf below it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

ANY_POLICY = "2.5.29.32.0"
#: A dotted OID as a policy document writes one (arcs without leading zeros, bounded length).
OID_PATTERN = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]{0,17})){1,63}")
MAX_NODES_PER_LEVEL = 256


class PolicyError(ValueError):
    """The certificate policies of a path cannot satisfy the constraints."""


@dataclass(frozen=True)
class PolicyInputs:
    """RFC 5280 §6.1.1 (c), (e), (f), (g): what the relying party asks of a path's policies."""

    acceptable: frozenset[str] = field(default_factory=lambda: frozenset({ANY_POLICY}))
    require_explicit: bool = False
    inhibit_mapping: bool = False
    inhibit_any: bool = False

    @property
    def any(self) -> bool:
        return ANY_POLICY in self.acceptable

    def describe(self) -> str:
        text = "any policy" if self.any else "one of " + ", ".join(sorted(self.acceptable))
        flags = [
            name
            for name, on in (
                ("explicit policy required", self.require_explicit),
                ("policy mapping inhibited", self.inhibit_mapping),
                ("anyPolicy inhibited", self.inhibit_any),
            )
            if on
        ]
        return "; ".join([text, *flags])


@dataclass(frozen=True)
class _Node:
    policy: str
    expected: frozenset[str]
    origins: frozenset[str]


Level = dict[str, _Node]


def initial_level() -> Level:
    return {ANY_POLICY: _Node(ANY_POLICY, frozenset({ANY_POLICY}), frozenset({ANY_POLICY}))}


def _origins(parent: _Node, policy: str) -> frozenset[str]:
    if parent.policy == ANY_POLICY:
        return frozenset({policy})
    return parent.origins


def process_policies(previous: Level | None, policies: frozenset[str] | None, any_allowed: bool) -> Level | None:
    """§6.1.3 (d)-(e): the next level from a certificate's certificatePolicies (None: NULL)."""
    if previous is None or policies is None:
        return None
    level: Level = {}
    for policy in policies:
        if policy == ANY_POLICY:
            continue
        parents = [n for n in previous.values() if policy in n.expected]
        if not parents and ANY_POLICY in previous:
            parents = [previous[ANY_POLICY]]
        if parents:
            origins = frozenset().union(*(_origins(p, policy) for p in parents))
            level[policy] = _Node(policy, frozenset({policy}), origins)
    if ANY_POLICY in policies and any_allowed:
        for parent in previous.values():
            for expected in parent.expected:
                if expected in level:
                    if expected != ANY_POLICY:
                        node = level[expected]
                        level[expected] = _Node(expected, node.expected, node.origins | _origins(parent, expected))
                    continue
                origins = frozenset({ANY_POLICY}) if expected == ANY_POLICY else _origins(parent, expected)
                level[expected] = _Node(expected, frozenset({expected}), origins)
    if len(level) > MAX_NODES_PER_LEVEL:
        raise PolicyError(f"more than {MAX_NODES_PER_LEVEL} policies at one level of the path")
    return level or None


def apply_mappings(level: Level | None, mappings: Iterable[tuple[str, str]], mapping_allowed: bool) -> Level | None:
    """§6.1.4 (a)-(b): policy mappings of a CA certificate."""
    pairs = list(mappings)
    if not pairs:
        return level
    for issuer_policy, subject_policy in pairs:
        if ANY_POLICY in (issuer_policy, subject_policy):
            raise PolicyError("a policy mapping names anyPolicy")
    if level is None:
        return None
    mapped: dict[str, set[str]] = {}
    for issuer_policy, subject_policy in pairs:
        mapped.setdefault(issuer_policy, set()).add(subject_policy)
    out = dict(level)
    for issuer_policy, subjects in mapped.items():
        if mapping_allowed:
            node = out.get(issuer_policy)
            if node is not None:
                out[issuer_policy] = _Node(issuer_policy, frozenset(subjects), node.origins)
            elif ANY_POLICY in out:
                out[issuer_policy] = _Node(issuer_policy, frozenset(subjects), frozenset({issuer_policy}))
        else:
            out.pop(issuer_policy, None)
    return out or None


def user_constrained(level: Level | None, inputs: PolicyInputs) -> tuple[str, ...]:
    """§6.1.5 (g): the path's valid policies intersected with the user-initial-policy-set."""
    if level is None:
        return ()
    if inputs.any:
        return tuple(sorted(level))
    kept = {p for p, n in level.items() if p != ANY_POLICY and n.origins & inputs.acceptable}
    if ANY_POLICY in level:
        seen = frozenset().union(*(n.origins for n in level.values())) - {ANY_POLICY}
        kept |= {p for p in inputs.acceptable if p not in seen}
    return tuple(sorted(kept))
