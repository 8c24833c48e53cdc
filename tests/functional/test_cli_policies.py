"""Certificate policies end to end: the document's validation.policies, verify's flags, doctor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from authorizer.cli import main
from authorizer.config import PolicyConfig
from authorizer.reasons import ConfigError
from authorizer.validation import ANY_POLICY, PolicyInputs
from tests.pki import CA

P1, P2 = "1.3.6.1.4.1.55555.1", "1.3.6.1.4.1.55555.2"
AT = "2027-06-01T12:00:00Z"


def _policies(*oids: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("policies")
    root = CA.root("Policy Root")
    issuing = root.intermediate("Policy Issuing")
    # devpki's intermediates carry no policies: re-issue one that asserts anyPolicy
    leaf_p1 = issuing.issue("CN=p1", extra_extensions=[(_policies(P1), False)])
    (d / "truststore.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    (d / "leaf.pem").write_bytes(leaf_p1.cert_pem)
    return {"dir": d, "truststore": d / "truststore.pem", "leaf": d / "leaf.pem"}


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, dict[str, Any]]:
    code = main([str(a) for a in argv])
    return code, json.loads(capsys.readouterr().out)


def test_verify_policy_flags(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["verify", files["leaf"], "--trust-store", files["truststore"], "--at", AT, "--json"]
    code, doc = run(capsys, *base)
    assert code == 0 and doc["policies"] == []  # the intermediate has no policies: NULL tree, none required
    code, doc = run(capsys, *base, "--require-explicit-policy")
    assert code == 1 and doc["reason"] == "CHAIN_INVALID" and doc["step"] == "policies"
    assert doc["detail"].startswith("policies:") and "Policy Issuing" in doc["certificate"]
    code, doc = run(capsys, *base, "--policy", P2, "--inhibit-any-policy", "--inhibit-policy-mapping")
    assert code == 0  # asked-for policies matter only when an explicit policy is required


def test_verify_max_chain_length(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["verify", files["leaf"], "--trust-store", files["truststore"], "--at", AT, "--json"]
    code, doc = run(capsys, *base, "--max-chain-length", "2")
    assert code == 1 and doc["reason"] == "CHAIN_TOO_LONG"
    assert (
        main(["verify", str(files["leaf"]), "--trust-store", str(files["truststore"]), "--max-chain-length", "99"]) == 2
    )


def _doc(policies: object) -> bytes:
    return json.dumps({"version": 1, "truststore": {"uri": "t.pem"}, "validation": {"policies": policies}}).encode()


def test_document_policies_section() -> None:
    cfg = PolicyConfig.from_json(
        _doc({"acceptable": [P1, P2], "require_explicit": True, "inhibit_mapping": True}), "mem.json"
    )
    assert cfg.validation.policies == PolicyInputs(frozenset({P1, P2}), require_explicit=True, inhibit_mapping=True)
    assert PolicyConfig.from_json(_doc({}), "m").validation.policies.acceptable == frozenset({ANY_POLICY})
    assert any("policies: one of" in line for line in cfg.summary())


@pytest.mark.parametrize(
    ("policies", "field"),
    [
        ({"acceptable": []}, "validation.policies.acceptable"),
        ({"acceptable": ["not-an-oid"]}, "validation.policies.acceptable[0]"),
        ({"acceptable": ["1.2.3", 5]}, "validation.policies.acceptable[1]"),
        ({"require_explicit": "yes"}, "validation.policies.require_explicit"),
        ({"inhibit_anything": True}, "validation.policies.inhibit_anything"),
        ([], "validation.policies"),
    ],
)
def test_document_policies_errors_name_the_field(policies: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        PolicyConfig.from_json(_doc(policies), "mem.json")
    assert info.value.path == field


def _policy_ca(root: CA, name: str, *oids: str) -> CA:
    """An intermediate that asserts ``oids`` (devpki's intermediates assert none)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    from authorizer.devpki import new_key

    key = new_key("p256")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(root.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_policies(*oids), critical=False)
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return CA(cert=cert, key=key, chain=(root.cert,))


def test_a_client_entry_may_require_a_policy_and_the_context_carries_them(tmp_path: Path) -> None:
    import datetime as dt

    from authorizer.app import handle
    from authorizer.events import make_event
    from authorizer.runtime import Runtime

    root = CA.root("Policy Root 2")
    ca = _policy_ca(root, "Policy CA", P1, P2)
    (tmp_path / "ts.pem").write_bytes(ca.cert_pem + root.cert_pem)
    doc = {
        "version": 1,
        "truststore": {"uri": "ts.pem"},
        "clients": [
            {"name": "high", "match": {"subject_cn": "*", "policy": P2}, "routes": ["GET /secret"]},
            {"name": "low", "match": {"subject_cn": "*"}, "routes": ["GET /pets"]},
        ],
    }
    (tmp_path / "policy.json").write_text(json.dumps(doc))
    runtime = Runtime(str(tmp_path / "policy.json"))
    at = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)

    def decide(leaf_oids: tuple[str, ...], path: str) -> tuple[str, dict[str, Any]]:
        leaf = ca.issue("CN=c", extra_extensions=[(_policies(*leaf_oids), False)])
        outcome = handle(make_event(leaf.cert_pem.decode(), path=path), runtime, at)
        return outcome.decision.reason.value, outcome.response.get("context", {})

    reason, ctx = decide((P2,), "/secret")
    assert reason == "ALLOWED" and ctx["clientName"] == "high" and ctx["certificatePolicies"] == P2
    reason, ctx = decide((P1,), "/secret")  # P1 only: the "low" entry, which may not call /secret
    assert reason == "ROUTE_NOT_ALLOWED"
    reason, ctx = decide((P1,), "/pets")
    assert reason == "ALLOWED" and ctx["clientName"] == "low" and ctx["certificatePolicies"] == P1


def test_match_policy_is_validated() -> None:
    doc = {
        "version": 1,
        "truststore": {"uri": "t.pem"},
        "clients": [{"name": "x", "match": {"policy": "nope"}, "routes": ["GET /x"]}],
    }
    with pytest.raises(ConfigError) as info:
        PolicyConfig.from_json(json.dumps(doc).encode(), "mem.json")
    assert info.value.path == "clients[0].match.policy"
