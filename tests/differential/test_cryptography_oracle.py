"""``cryptography``'s ``ClientVerifier`` as an oracle where its web-PKI profile is the right one.

On web-PKI-shaped chains (v3, critical basicConstraints and keyUsage keyCertSign on every CA,
AKI/SKI, a SAN on the leaf, no policy extensions, DNS and IP name constraints only) the CA/B
Forum profile and RFC 5280 coincide, so our verdict must be the same as ``cryptography``'s,
whatever the path lengths, validity windows, EKUs and name constraints drawn.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.differential.build import AT, build
from tests.differential.oracles import cryptography_client_verifier, ours
from tests.differential.spec import (
    DNS_BASES,
    DNS_NAMES,
    EMAILS,
    IP_BASES,
    IPS,
    CaSpec,
    LeafSpec,
    NameConstraintsSpec,
    PkiSpec,
)

pytestmark = pytest.mark.differential

TALLY: Counter[str] = Counter()
VALIDITY = st.sampled_from(["ok"] * 10 + ["expired", "not-yet", "starts-now", "ends-now"])

#: cryptography refuses a leading-dot dNSName constraint as malformed (RFC 5280 gives it no
#: meaning for DNS), so the web-PKI shape uses the plain form only.
web_names = st.one_of(
    st.tuples(st.just("dns"), st.sampled_from([b for b in DNS_BASES if not b.startswith(".")])),
    st.tuples(st.just("ip"), st.sampled_from(IP_BASES)),
)
web_constraints = st.builds(
    NameConstraintsSpec,
    permitted=st.lists(web_names, max_size=2, unique=True).map(tuple),
    excluded=st.lists(web_names, max_size=2, unique=True).map(tuple),
).filter(lambda nc: bool(nc.permitted or nc.excluded))

web_cas = st.builds(
    CaSpec,
    key=st.sampled_from(["rsa2048", "p256", "p384"]),
    path_len=st.one_of(st.none(), st.none(), st.integers(0, 2)),
    name_constraints=st.one_of(st.none(), st.none(), web_constraints),
    validity=VALIDITY,
)


@st.composite
def web_leaves(draw: st.DrawFn) -> LeafSpec:
    sans = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("dns"), st.sampled_from(DNS_NAMES[:5])),
                st.tuples(st.just("ip"), st.sampled_from(IPS[:4])),
                st.tuples(st.just("email"), st.sampled_from(EMAILS[:3])),
            ),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return LeafSpec(
        key=draw(st.sampled_from(["rsa2048", "p256", "p384"])),
        common_name=draw(st.sampled_from(["client-7", None])),
        sans=tuple(sans),
        basic_constraints=draw(st.sampled_from(["absent", "not-ca"])),
        eku=draw(st.sampled_from(["clientAuth", "clientAuth", "clientAuth", "serverAuth", "both"])),
        validity=draw(VALIDITY),
    )


web_pkis = st.builds(PkiSpec, cas=st.lists(web_cas, min_size=1, max_size=3).map(tuple), leaf=web_leaves())


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    target = os.environ.get("DIFFERENTIAL_REPORT")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(path.read_text()) if path.exists() else {}
        previous["cryptography"] = dict(TALLY.most_common())
        path.write_text(json.dumps(previous, indent=2))


@given(web_pkis)
def test_our_verdict_matches_cryptography_on_web_pki_shaped_chains(spec: PkiSpec) -> None:
    pki = build(spec)
    mine, theirs = ours(pki, AT), cryptography_client_verifier(pki, AT)
    TALLY[
        f"agree: both {'accept' if mine.accepted else 'refuse'}" if mine.accepted == theirs.accepted else "DISAGREE"
    ] += 1
    assert mine.accepted == theirs.accepted, f"ours {mine}, cryptography {theirs}"
