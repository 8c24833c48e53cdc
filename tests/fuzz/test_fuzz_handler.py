"""Properties of ``handle()`` on mutated events and mutated certificates (issue 10).

The contracts: the handler never raises; its answer always has a shape API Gateway accepts and
agrees with the decision; a decision is logged exactly once (on a strict UTF-8 stream, like
Lambda's stdout); INTERNAL_ERROR never answers malformed input (it means a bug of ours); and a
certificate whose signed content changed is never allowed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import example, given
from hypothesis import strategies as st

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import DEFAULT_CONFIG, Runtime
from authorizer.serve import policy_allows
from tests.fuzz import mutate
from tests.fuzz.support import captured_log, check_response, demo_der, demo_events
from tests.pki import NOW

ALLOWED_CLIENTS = ("valid-rsa", "valid-ecdsa")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
EVENTS = demo_events()
DER = {name: demo_der(name) for name in ALLOWED_CLIENTS}


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime(DEFAULT_CONFIG)


def decide(event: object, runtime: Runtime) -> Any:
    """Decide once; check every contract that holds for any input; return the decision."""
    with captured_log() as log:
        outcome = handle(event, runtime, NOW)
    check_response(outcome.response, outcome.decision)
    decisions = log.decisions()
    assert len(decisions) == 1, (len(decisions), log.errors.getvalue()[-2000:])
    assert decisions[0]["reason"] == outcome.decision.reason.value
    if outcome.decision.allowed:
        check_allow_scope(event, outcome.response)
    return outcome.decision


def check_allow_scope(event: object, response: dict[str, Any]) -> None:
    """An Allow never carries a wildcard the operator did not write (in the partition, region,
    account, API id or stage) and covers the very request it answers."""
    if "policyDocument" not in response:
        return
    for stmt in response["policyDocument"]["Statement"]:
        for resource in stmt["Resource"]:
            head, _, rest = resource.partition(":execute-api:")
            region, account, path = rest.split(":", 2)
            api_id, stage = path.split("/")[:2]
            assert "*" not in head + region + account + api_id + stage, resource
    arn = event.get("methodArn") if isinstance(event, dict) else None
    if isinstance(arn, str) and event.get("version") != "2.0":  # type: ignore[union-attr]
        assert policy_allows(response, arn), (arn, response["policyDocument"])


_TEMPLATES = {
    api: make_event(mutate.pem_of(DER["valid-rsa"]), api=api, method="GET", path="/pets", when=NOW, request_id="fuzz-1")
    for api in ("rest", "http1", "http2")
}


def cert_event(pem: str, api: str = "rest") -> dict[str, Any]:
    """An event carrying ``pem`` (the hint fields stay those of a good certificate: the
    authorizer never trusts them, and ``make_event`` would have to parse ``pem`` to fill them)."""
    event = json.loads(json.dumps(_TEMPLATES[api]))
    ctx = event["requestContext"]
    block = ctx["authentication"] if api == "http2" else ctx["identity"]
    block["clientCert"]["clientCertPem"] = pem
    return event


def tbs_of(pem: str) -> bytes | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode("utf-8", "surrogatepass")).tbs_certificate_bytes
    except Exception:
        return None


def test_demo_clients_are_allowed_before_mutation(runtime: Runtime) -> None:
    """The baseline the mutation properties start from."""
    for name, der in DER.items():
        decision = decide(cert_event(mutate.pem_of(der)), runtime)
        assert decision.reason is Reason.ALLOWED, (name, decision.detail)


# -- mutated events ----------------------------------------------------------------------------------


@st.composite
def mutated_events(draw: st.DrawFn) -> object:
    name = draw(st.sampled_from(sorted(EVENTS)))
    if draw(st.integers(0, 9)) == 0:
        return draw(mutate.json_values)  # not even an object
    return draw(mutate.json_mutation(EVENTS[name]))


REST_ARN = EVENTS["rest-allow-valid-rsa"]["methodArn"]


def _with(event_name: str, *path_value: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(EVENTS[event_name]))
    *path, value = path_value
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@given(mutated_events())
@example(_with("rest-allow-valid-rsa", "requestContext", "requestId", "id-\ud800"))
@example(_with("rest-allow-valid-rsa", "methodArn", REST_ARN + "\udc00"))
@example(_with("rest-allow-valid-rsa", "methodArn", REST_ARN.replace("/GET/", "/get/")))
@example(_with("rest-allow-valid-rsa", "methodArn", REST_ARN.replace(":abcdef1234/", ":*/")))
@example(_with("rest-allow-valid-rsa", "methodArn", REST_ARN.replace("/prod/", "/*/")))
def test_handler_on_mutated_events(runtime: Runtime, event: object) -> None:
    decision = decide(event, runtime)
    assert decision.reason is not Reason.INTERNAL_ERROR, decision.detail


# -- mutated certificates -----------------------------------------------------------------------------


@st.composite
def mutated_pems(draw: st.DrawFn) -> str:
    der = DER[draw(st.sampled_from(ALLOWED_CLIENTS))]
    kind = draw(st.sampled_from(["bytes", "der", "pem"]))
    if kind == "bytes":
        return mutate.pem_of(draw(mutate.byte_mutation(der)))
    if kind == "der":
        return mutate.pem_of(draw(mutate.der_mutation(der)))
    return draw(mutate.pem_mutation(mutate.pem_of(der)))


def _version(der: bytes, version: int) -> str:
    """The certificate with its version INTEGER (tbs[0][0]) set to ``version``."""
    tree = mutate.parse(der)
    assert tree.children and tree.children[0].children
    explicit = tree.children[0].children[0]
    assert explicit.children
    explicit.children[0].raw = bytes([version])
    return mutate.pem_of(mutate.encode(tree))


@given(mutated_pems(), st.sampled_from(["rest", "http1", "http2"]))
@example(_version(DER["valid-ecdsa"], 5), "rest")
def test_handler_on_mutated_certificates(runtime: Runtime, pem: str, api: str) -> None:
    decision = decide(cert_event(pem, api), runtime)
    assert decision.reason is not Reason.INTERNAL_ERROR, decision.detail
    if decision.allowed:
        tbs = tbs_of(pem)
        signed = {x509.load_der_x509_certificate(d).tbs_certificate_bytes for d in DER.values()}
        assert tbs is not None and tbs in signed


@st.composite
def tbs_changed(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(ALLOWED_CLIENTS))
    der = DER[name]
    lo, hi = mutate.region(der, 0)
    if draw(st.booleans()):
        mutated = draw(mutate.byte_mutation(der, lo, hi))
    else:
        mutated = draw(mutate.der_mutation(der, under=(0,)))
    return name, mutated


@given(tbs_changed())
def test_a_changed_tbs_is_never_allowed(runtime: Runtime, case: tuple[str, bytes]) -> None:
    """Any byte of what the CA signed changed: the signature no longer covers it -> Deny."""
    _name, der = case
    decision = decide(cert_event(mutate.pem_of(der)), runtime)
    assert not decision.allowed, decision


@st.composite
def signature_changed(draw: st.DrawFn) -> bytes:
    der = DER[draw(st.sampled_from(ALLOWED_CLIENTS))]
    lo, hi = mutate.region(der, 2)
    if draw(st.booleans()):
        return draw(mutate.byte_mutation(der, lo + 2, hi))  # past the BIT STRING's tag and length
    return draw(mutate.der_mutation(der, under=(2,)))


def _unused_bits(der: bytes) -> bytes:
    """The same signature in a BIT STRING that claims one unused bit: not DER (defect 1)."""
    lo, _hi = mutate.region(der, 2)
    _tag, start, _end = mutate._header(der, lo)
    return der[:start] + b"\x01" + der[start + 1 :]


@given(signature_changed())
@example(_unused_bits(DER["valid-ecdsa"]))
@example(_unused_bits(DER["valid-rsa"]))
def test_a_changed_signature_is_never_allowed(runtime: Runtime, der: bytes) -> None:
    decision = decide(cert_event(mutate.pem_of(der)), runtime)
    assert not decision.allowed, decision


# -- a deny rule by fingerprint against other encodings of the same signed certificate ----------------


def malleated(der: bytes) -> bytes:
    """The same certificate with its ECDSA signature (r, s) replaced by (r, n - s): same TBS, a
    signature every verifier accepts, another fingerprint (defect 1)."""
    tree = mutate.parse(der)
    assert tree.children is not None
    sig = tree.children[2]
    r, s = decode_dss_signature(_bitstring_content(der))
    new = encode_dss_signature(r, P256_ORDER - s)
    sig.children, sig.nested, sig.prefix = None, False, b""
    sig.raw = b"\x00" + new
    return mutate.encode(tree)


def _bitstring_content(der: bytes) -> bytes:
    lo, hi = mutate.region(der, 2)
    raw = der[lo:hi]
    _tag, start, _end = mutate._header(raw, 0)
    return raw[start + 1 :]


@pytest.fixture(scope="module")
def deny_by_fingerprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    folder: Path = tmp_path_factory.mktemp("deny-fp")
    truststore = Path(DEFAULT_CONFIG).parent / "truststore.pem"
    policy = {
        "version": 1,
        "truststore": {"uri": str(truststore)},
        "deny": [{"name": "stolen", "match": {"cert_sha256": hashlib.sha256(DER["valid-ecdsa"]).hexdigest()}}],
    }
    (folder / "policy.json").write_text(json.dumps(policy))
    yield Runtime(str(folder / "policy.json"))


@st.composite
def reencoded_signatures(draw: st.DrawFn) -> bytes:
    der = DER["valid-ecdsa"]
    if draw(st.booleans()):
        return malleated(der)
    return draw(mutate.der_mutation(der, under=(2,)))


def test_the_denied_fingerprint_is_denied(deny_by_fingerprint: Runtime) -> None:
    decision = decide(cert_event(mutate.pem_of(DER["valid-ecdsa"])), deny_by_fingerprint)
    assert decision.reason is Reason.CLIENT_DENIED
    other = decide(cert_event(mutate.pem_of(DER["valid-rsa"])), deny_by_fingerprint)
    assert other.reason is Reason.ALLOWED


@given(reencoded_signatures())
@example(malleated(DER["valid-ecdsa"]))
def test_a_denied_certificate_is_denied_in_every_encoding(deny_by_fingerprint: Runtime, der: bytes) -> None:
    decision = decide(cert_event(mutate.pem_of(der)), deny_by_fingerprint)
    assert not decision.allowed, decision
