"""What a generated PKI is made of, and the hypothesis strategies that draw one.

A ``PkiSpec`` is plain data (frozen dataclasses), so a disagreement can be explained by changing
one field (``dataclasses.replace``) and judging again, and a failing example prints readably.
Names come from small fixed universes so that constraints and names meet often: a random
``dNSName`` would almost never fall inside a random constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hypothesis import strategies as st

ANY_POLICY = "2.5.29.32.0"
P1, P2, P3 = "1.3.6.1.4.1.55555.9.1", "1.3.6.1.4.1.55555.9.2", "1.3.6.1.4.1.55555.9.3"

NameKind = Literal["dns", "email", "uri", "ip", "dir"]
#: critical AKI or SKI (RFC 5280 says MUST NOT, but both are extensions a validator knows), an
#: unknown private extension, critical or not.
OddExtension = Literal["critical-aki", "critical-ski", "unknown-critical", "unknown"]
ODD_EXTENSIONS = ("critical-aki", "critical-ski", "unknown-critical", "unknown")
#: (SHA-1 is out: cryptography 48+ no longer signs with it; PKITS has SHA-1 paths.)
Signing = Literal["sha256", "sha384", "sha512", "pss", "pss-max-salt"]
#: "starts-now"/"ends-now": notBefore/notAfter exactly at the validation time (RFC 5280 §4.1.2.5:
#: the validity period includes both ends).
Validity = Literal["ok", "expired", "not-yet", "starts-now", "ends-now"]

#: (kind, value): a general name; for "dir" the value is the organization under C=US (or "" for C=US alone).
GeneralNameSpec = tuple[NameKind, str]

DNS_NAMES = ("example.com", "api.example.com", "a.b.example.com", "other.test", "api.other.test", "Api.EXAMPLE.com")
DNS_BASES = ("example.com", "api.example.com", ".example.com", "other.test")
EMAILS = ("alice@example.com", "bob@api.example.com", "eve@other.test", "Alice@example.com")
EMAIL_BASES = ("example.com", ".example.com", "alice@example.com", "other.test")
URIS = (
    "https://example.com/a",
    "https://api.example.com/b",
    "https://api.other.test:8443/c",
    "spiffe://API.example.com/ns/a",
)
URI_BASES = ("example.com", ".example.com", "api.other.test")
IPS = ("10.1.2.3", "192.168.1.1", "2001:db8::1", "2001:db9::1", "::ffff:10.1.2.3")
IP_BASES = ("10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "10.1.2.0/24")
ORGS = ("Example", "Other", "EXAMPLE")
DIR_BASES = ("Example", "Other", "")


@dataclass(frozen=True)
class NameConstraintsSpec:
    permitted: tuple[GeneralNameSpec, ...] = ()
    excluded: tuple[GeneralNameSpec, ...] = ()


@dataclass(frozen=True)
class CaSpec:
    key: Literal["rsa2048", "p256", "p384"] = "p256"
    basic_constraints: Literal["ca", "absent", "not-ca"] = "ca"
    path_len: int | None = None
    key_usage: Literal["ok", "absent", "wrong"] = "ok"
    eku: Literal["clientAuth", "serverAuth"] | None = None
    name_constraints: NameConstraintsSpec | None = None
    policies: tuple[str, ...] | None = None
    mappings: tuple[tuple[str, str], ...] = ()
    require_explicit: int | None = None
    inhibit_mapping: int | None = None
    inhibit_any: int | None = None
    policy_critical: bool = True
    rollover: bool = False
    validity: Validity = "ok"
    #: a second certificate for this CA's name in the truststore, listed first: the same key but
    #: expired (a renewed CA), another key (a re-keyed or unrelated CA), or the same key
    #: cross-signed by a root the truststore does not hold: path building must go past it.
    twin: Literal["expired", "other-key", "cross-signed"] | None = None
    odd_extension: OddExtension | None = None
    #: how this CA signs (itself when it is the root, and what it issues): the digest, or RSA-PSS
    #: with a salt of the digest's length or of the largest length (ECDSA keys use the digest).
    signing: Signing = "sha256"


@dataclass(frozen=True)
class LeafSpec:
    key: Literal["rsa2048", "p256", "p384", "rsa1024", "p521"] = "p256"
    org: str = "Example"
    common_name: str | None = "client-7"
    email_attribute: str | None = None
    sans: tuple[GeneralNameSpec, ...] = ()
    basic_constraints: Literal["absent", "not-ca", "ca"] = "absent"
    key_usage: Literal["absent", "ok", "wrong"] = "ok"
    eku: Literal["clientAuth", "serverAuth", "any", "both"] | None = "clientAuth"
    policies: tuple[str, ...] | None = None
    validity: Validity = "ok"
    odd_extension: OddExtension | None = None


@dataclass(frozen=True)
class InputsSpec:
    """RFC 5280 §6.1.1 (c), (e), (f), (g): ``PolicyInputs`` for us, ``-policy``, ``-explicit_policy``,
    ``-inhibit_map`` and ``-inhibit_any`` for OpenSSL."""

    acceptable: tuple[str, ...] = (ANY_POLICY,)
    require_explicit: bool = False
    inhibit_mapping: bool = False
    inhibit_any: bool = False


@dataclass(frozen=True)
class PkiSpec:
    """``cas[0]`` is the root (the trust anchor), ``cas[-1]`` issues the leaf."""

    cas: tuple[CaSpec, ...]
    leaf: LeafSpec
    inputs: InputsSpec = InputsSpec()


def _weighted(common: object, *rare: object) -> st.SearchStrategy:  # type: ignore[type-arg]
    """``common`` most of the time: one or two odd features per PKI is what finds bugs."""
    return st.sampled_from([common] * 14 + list(rare))


def general_names(kinds: tuple[NameKind, ...] = ("dns", "email", "uri", "ip", "dir")) -> st.SearchStrategy:  # type: ignore[type-arg]
    bases = {"dns": DNS_BASES, "email": EMAIL_BASES, "uri": URI_BASES, "ip": IP_BASES, "dir": DIR_BASES}
    return st.one_of(*(st.tuples(st.just(k), st.sampled_from(bases[k])) for k in kinds))


name_constraints = st.builds(
    NameConstraintsSpec,
    permitted=st.lists(general_names(), max_size=3, unique=True).map(tuple),
    excluded=st.lists(general_names(), max_size=2, unique=True).map(tuple),
).filter(lambda nc: bool(nc.permitted or nc.excluded))

policy_sets = st.lists(st.sampled_from([P1, P2, P3, ANY_POLICY]), min_size=1, max_size=3, unique=True).map(tuple)
mapping_pairs = st.lists(st.sampled_from([(P1, P2), (P2, P3), (P1, P3), (P3, P1)]), max_size=2, unique=True).map(tuple)


@st.composite
def ca_specs(draw: st.DrawFn) -> CaSpec:
    with_policies = draw(_weighted(False, True, True))
    return CaSpec(
        key=draw(st.sampled_from(["rsa2048", "p256", "p256", "p384"])),
        basic_constraints=draw(_weighted("ca", "absent", "not-ca")),
        path_len=draw(_weighted(None, 0, 1, 2)),
        key_usage=draw(_weighted("ok", "absent", "wrong")),
        eku=draw(_weighted(None, "clientAuth", "serverAuth")),
        name_constraints=draw(st.one_of(st.none(), st.none(), name_constraints)),
        policies=draw(policy_sets) if with_policies else draw(_weighted(None, (ANY_POLICY,))),
        mappings=draw(mapping_pairs) if with_policies else (),
        require_explicit=draw(_weighted(None, 0, 1, 2)),
        inhibit_mapping=draw(_weighted(None, 0, 1)),
        inhibit_any=draw(_weighted(None, 0, 1)),
        policy_critical=draw(st.booleans()),
        rollover=draw(_weighted(False, True)),
        validity=draw(_weighted("ok", "expired", "not-yet", "starts-now", "ends-now")),
        twin=draw(_weighted(None, "expired", "other-key", "cross-signed")),
        odd_extension=draw(_weighted(None, *ODD_EXTENSIONS)),
        signing=draw(_weighted("sha256", "sha384", "sha512", "pss", "pss-max-salt")),
    )


@st.composite
def leaf_specs(draw: st.DrawFn) -> LeafSpec:
    sans: list[GeneralNameSpec] = []
    values = {"dns": DNS_NAMES, "email": EMAILS, "uri": URIS, "ip": IPS}
    for kind in draw(st.lists(st.sampled_from(["dns", "email", "uri", "ip"]), max_size=3, unique=True)):
        sans.append((kind, draw(st.sampled_from(values[kind]))))
    return LeafSpec(
        key=draw(_weighted("p256", "rsa2048", "p384", "rsa1024", "p521")),
        org=draw(st.sampled_from(ORGS)),
        common_name=draw(st.sampled_from(["client-7", "client-7", "api.other.test", None])),
        email_attribute=draw(st.one_of(st.none(), st.none(), st.sampled_from(EMAILS))),
        sans=tuple(sans),
        basic_constraints=draw(_weighted("absent", "not-ca", "ca")),
        key_usage=draw(_weighted("ok", "absent", "wrong")),
        eku=draw(_weighted("clientAuth", None, "serverAuth", "any", "both")),
        policies=draw(st.one_of(st.none(), policy_sets)),
        validity=draw(_weighted("ok", "expired", "not-yet", "starts-now", "ends-now")),
        odd_extension=draw(_weighted(None, *ODD_EXTENSIONS)),
    )


inputs_specs = st.one_of(
    st.just(InputsSpec()),
    st.just(InputsSpec()),
    st.builds(
        InputsSpec,
        acceptable=st.one_of(
            st.just((ANY_POLICY,)),
            st.lists(st.sampled_from([P1, P2, P3]), min_size=1, max_size=2, unique=True).map(tuple),
        ),
        require_explicit=st.booleans(),
        inhibit_mapping=st.booleans(),
        inhibit_any=st.booleans(),
    ),
)

pki_specs = st.builds(
    PkiSpec, cas=st.lists(ca_specs(), min_size=1, max_size=3).map(tuple), leaf=leaf_specs(), inputs=inputs_specs
)


def features(spec: PkiSpec) -> set[str]:
    """What a generated PKI exercises (the run's coverage report counts them by verdict)."""
    found = {f"{len(spec.cas)} CA(s)"}
    for i, ca in enumerate(spec.cas):
        where = "anchor" if i == 0 else "intermediate"
        if ca.name_constraints is not None:
            for kind, _ in (*ca.name_constraints.permitted, *ca.name_constraints.excluded):
                found.add(f"{kind} name constraint on {where}")
        if ca.path_len is not None:
            found.add(f"pathLen on {where}")
        if ca.policies is not None:
            found.add(f"certificatePolicies on {where}")
        if ca.mappings:
            found.add(f"policyMappings on {where}")
        if ca.require_explicit is not None or ca.inhibit_mapping is not None:
            found.add(f"policyConstraints on {where}")
        if ca.inhibit_any is not None:
            found.add(f"inhibitAnyPolicy on {where}")
        if ca.rollover:
            found.add(f"self-issued rollover of {where}")
        if ca.validity != "ok":
            found.add(f"{ca.validity} {where}")
        if ca.key_usage != "ok" or ca.basic_constraints != "ca":
            found.add(f"keyUsage {ca.key_usage}, basicConstraints {ca.basic_constraints} on {where}")
        if ca.eku is not None:
            found.add(f"EKU {ca.eku} on {where}")
        if ca.twin is not None and i > 0:
            found.add(f"{ca.twin} twin of {where}")
        if ca.odd_extension is not None:
            found.add(f"{ca.odd_extension} extension on {where}")
        if ca.signing != "sha256":
            found.add(f"{ca.signing} signing by {where} ({'RSA' if ca.key == 'rsa2048' else 'ECDSA'})")
    found.update(f"leaf SAN {kind}" for kind, _ in spec.leaf.sans)
    if spec.leaf.email_attribute:
        found.add("leaf subject emailAddress")
    if spec.leaf.policies is not None:
        found.add("leaf certificatePolicies")
    if spec.leaf.odd_extension is not None:
        found.add(f"{spec.leaf.odd_extension} extension on leaf")
    if spec.leaf.validity != "ok":
        found.add(f"{spec.leaf.validity} leaf")
    if spec.inputs != InputsSpec():
        found.add("non-default policy inputs")
    return found
