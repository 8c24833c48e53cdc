"""The real handler on REST, HTTP API 1.0 and 2.0 events: responses, refusals, configuration."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import Runtime
from tests.pki import CA, NOW

UTC = dt.UTC


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    root = CA.root("Handler Root")
    issuing = root.intermediate("Handler Issuing")
    return {
        "root": root,
        "issuing": issuing,
        "leaf": issuing.issue("CN=client1,O=Partner A", sans=[]),
        "short": issuing.issue("CN=short-lived", not_after=dt.datetime(2027, 6, 1, 13, 0, tzinfo=UTC)),
    }


def write_policy(folder: Path, pki: dict[str, Any], **extra: Any) -> Path:
    (folder / "truststore.pem").write_bytes(pki["issuing"].cert_pem + pki["root"].cert_pem)
    policy = folder / "policy.json"
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}, **extra}))
    return policy


@pytest.fixture
def runtime(tmp_path: Path, pki: dict[str, Any]) -> Runtime:
    return Runtime(str(write_policy(tmp_path, pki)))


def decide(event: object, runtime: Runtime, at: dt.datetime = NOW) -> tuple[dict[str, Any], Reason]:
    outcome = handle(event, runtime, at)
    return outcome.response, outcome.decision.reason


def statements(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["policyDocument"]["Statement"]


@pytest.mark.parametrize("api", ["rest", "http1"])
def test_allow_is_an_iam_policy_scoped_to_the_api_and_stage(runtime: Runtime, pki, api: str) -> None:
    event = make_event(pki["leaf"].cert_pem.decode(), api=api, method="GET", path="/pets/7")
    response, reason = decide(event, runtime)
    assert reason is Reason.ALLOWED
    assert response["principalId"] == "CN=client1,O=Partner A"
    [stmt] = statements(response)
    assert stmt["Effect"] == "Allow"
    assert stmt["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"]
    assert "*" not in stmt["Resource"]
    ctx = response["context"]
    assert ctx["subjectDN"] == "CN=client1,O=Partner A"
    assert ctx["issuerDN"] == "CN=Handler Issuing,O=Test PKI"
    assert ctx["serialNumber"] == format(pki["leaf"].cert.serial_number, "x")
    assert len(ctx["fingerprintSha256"]) == 64
    assert ctx["notAfter"] == "2045-01-01T00:00:00+00:00"
    assert ctx["sans"] == ""
    assert ctx["reason"] == "ALLOWED"
    assert all(isinstance(v, str | int | bool) for v in ctx.values())


def test_http2_simple_response(runtime: Runtime, pki) -> None:
    event = make_event(pki["leaf"].cert_pem.decode(), api="http2", method="POST", path="/pets")
    response, reason = decide(event, runtime)
    assert reason is Reason.ALLOWED
    assert response["isAuthorized"] is True
    assert response["context"]["subjectDN"] == "CN=client1,O=Partner A"
    assert "policyDocument" not in response


def test_http2_iam_policy_when_configured(tmp_path: Path, pki) -> None:
    rt = Runtime(str(write_policy(tmp_path, pki, response={"http2": "iam"})))
    event = make_event(pki["leaf"].cert_pem.decode(), api="http2")
    response, reason = decide(event, rt)
    assert reason is Reason.ALLOWED
    assert statements(response)[0]["Effect"] == "Allow"


def test_http2_certificate_is_read_from_authentication_not_identity(runtime: Runtime, pki) -> None:
    """The AWS CRL sample read the HTTP API certificate from the wrong path."""
    event = make_event(pki["leaf"].cert_pem.decode(), api="http2")
    event["requestContext"]["identity"] = {"clientCert": {"clientCertPem": "garbage"}}
    assert decide(event, runtime)[1] is Reason.ALLOWED
    del event["requestContext"]["authentication"]
    assert decide(event, runtime)[1] is Reason.CERT_MISSING


@pytest.mark.parametrize("api", ["rest", "http1"])
def test_deny_is_an_explicit_deny_covering_the_request(runtime: Runtime, pki, api: str) -> None:
    stranger = CA.root("Stranger").issue("CN=stranger")
    event = make_event(stranger.cert_pem.decode(), api=api, method="DELETE", path="/pets/9")
    response, reason = decide(event, runtime)
    assert reason is Reason.ISSUER_NOT_FOUND
    [stmt] = statements(response)
    assert stmt["Effect"] == "Deny"
    assert stmt["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/DELETE/pets/9"]
    assert response["context"] == {"reason": "ISSUER_NOT_FOUND"}


def test_http2_deny(runtime: Runtime) -> None:
    response, reason = decide(make_event(None, api="http2"), runtime)
    assert reason is Reason.CERT_MISSING
    assert response == {"isAuthorized": False, "context": {"reason": "CERT_MISSING"}}


def test_certificate_expiring_while_warm_is_refused_from_that_second(runtime: Runtime, pki) -> None:
    event = make_event(pki["short"].cert_pem.decode())
    expiry = pki["short"].cert.not_valid_after_utc
    assert decide(event, runtime, expiry - dt.timedelta(seconds=1))[1] is Reason.ALLOWED
    assert decide(event, runtime, expiry)[1] is Reason.ALLOWED
    assert decide(event, runtime, expiry + dt.timedelta(seconds=1))[1] is Reason.EXPIRED


def _with_cert(event: dict[str, Any], value: Any) -> dict[str, Any]:
    event["requestContext"]["identity"]["clientCert"] = value
    return event


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda e: _with_cert(e, None) and e["requestContext"]["identity"].pop("clientCert"),
            Reason.CERT_MISSING,
        ),
        (lambda e: _with_cert(e, {"clientCertPem": ""}), Reason.CERT_MISSING),
        (lambda e: _with_cert(e, {}), Reason.CERT_MISSING),
        (lambda e: _with_cert(e, {"clientCertPem": "not a pem"}), Reason.CERT_MALFORMED),
        (lambda e: _with_cert(e, {"clientCertPem": 42}), Reason.CERT_MALFORMED),
        (lambda e: _with_cert(e, "a string"), Reason.CERT_MALFORMED),
        (
            lambda e: _with_cert(e, {"clientCertPem": "-----BEGIN CERTIFICATE-----\n" + "A" * 200_000}),
            Reason.CERT_MALFORMED,
        ),
        (lambda e: e["requestContext"].update(identity="nope"), Reason.CERT_MISSING),
        (lambda e: e.update(requestContext=None), Reason.CERT_MISSING),
        (lambda e: e.pop("methodArn"), Reason.CERT_MALFORMED),
    ],
)
def test_bad_events_are_denied_never_raised(runtime: Runtime, pki, mutate, expected: Reason) -> None:
    event = make_event(pki["leaf"].cert_pem.decode())
    mutate(event)
    response, reason = decide(event, runtime)
    assert reason is expected
    assert all(s["Effect"] == "Deny" for s in statements(response))


@pytest.mark.parametrize("event", [None, [], "text", 7, {}, {"version": "2.0"}, {"methodArn": 5}])
def test_events_of_the_wrong_shape(runtime: Runtime, event: object) -> None:
    response, reason = decide(event, runtime)
    assert reason in (Reason.CERT_MALFORMED, Reason.CERT_MISSING)
    assert response.get("isAuthorized", False) is False
    for stmt in response.get("policyDocument", {}).get("Statement", []):
        assert stmt["Effect"] == "Deny"


def test_unparsable_method_arn_still_gets_a_deny(runtime: Runtime, pki) -> None:
    event = make_event(pki["leaf"].cert_pem.decode())
    event["methodArn"] = "not-an-arn"
    response, reason = decide(event, runtime)
    assert reason is Reason.CERT_MALFORMED
    assert [s["Effect"] for s in statements(response)] == ["Deny"]
    assert statements(response)[0]["Resource"] == ["*"]


def test_missing_config_is_unavailable(tmp_path: Path, pki) -> None:
    rt = Runtime(str(tmp_path / "absent.json"))
    response, reason = decide(make_event(pki["leaf"].cert_pem.decode()), rt)
    assert reason is Reason.CONFIG_UNAVAILABLE
    assert statements(response)[0]["Effect"] == "Deny"


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 2, "truststore": {"uri": "t.pem"}}', "version"),
        ('{"version": 1}', "truststore"),
        ('{"version": 1, "truststore": {"uri": "ftp://x/t.pem"}}', "truststore.uri"),
        ('{"version": 1, "truststore": {"uri": "t.pem"}, "cache": {"ttl_seconds": -1}}', "cache.ttl_seconds"),
        ('{"version": 1, "truststore": {"uri": "t.pem"}, "validation": {"eku": "x"}}', "validation.eku"),
        ("[]", "JSON object"),
    ],
)
def test_broken_config_is_invalid(tmp_path: Path, pki, document: str, needle: str, caplog) -> None:
    (tmp_path / "policy.json").write_text(document)
    rt = Runtime(str(tmp_path / "policy.json"))
    outcome = handle(make_event(pki["leaf"].cert_pem.decode()), rt, NOW)
    assert outcome.decision.reason is Reason.CONFIG_INVALID
    assert needle in outcome.decision.detail


def test_truststore_missing_or_garbage(tmp_path: Path, pki) -> None:
    (tmp_path / "policy.json").write_text(json.dumps({"version": 1, "truststore": {"uri": "nope.pem"}}))
    rt = Runtime(str(tmp_path / "policy.json"))
    assert decide(make_event(pki["leaf"].cert_pem.decode()), rt)[1] is Reason.CONFIG_UNAVAILABLE
    (tmp_path / "nope.pem").write_text("garbage")
    rt = Runtime(str(tmp_path / "policy.json"))
    outcome = handle(make_event(pki["leaf"].cert_pem.decode()), rt, NOW)
    assert outcome.decision.reason is Reason.CONFIG_INVALID
    assert "truststore.uri" in outcome.decision.detail


def test_unexpected_error_is_an_internal_error_deny(pki) -> None:
    class Broken(Runtime):
        def load(self):  # type: ignore[override]
            raise RuntimeError("boom")

    response, reason = decide(make_event(pki["leaf"].cert_pem.decode()), Broken("unused"))
    assert reason is Reason.INTERNAL_ERROR
    assert statements(response)[0]["Effect"] == "Deny"


def test_config_and_truststore_from_s3(pki) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="mtls-config")
        s3.put_object(
            Bucket="mtls-config",
            Key="authz/truststore.pem",
            Body=pki["issuing"].cert_pem + pki["root"].cert_pem,
        )
        s3.put_object(
            Bucket="mtls-config",
            Key="authz/policy.json",
            Body=json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}}).encode(),
        )
        rt = Runtime("s3://mtls-config/authz/policy.json")
        assert decide(make_event(pki["leaf"].cert_pem.decode()), rt)[1] is Reason.ALLOWED
        missing = Runtime("s3://mtls-config/authz/absent.json")
        assert decide(make_event(pki["leaf"].cert_pem.decode()), missing)[1] is Reason.CONFIG_UNAVAILABLE


def test_log_line_has_the_decision_and_never_a_pem(runtime: Runtime, pki) -> None:
    from authorizer import app

    app.logger.setLevel("INFO")
    stream = io.StringIO()
    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        handle(make_event(pki["leaf"].cert_pem.decode(), path="/pets"), runtime, NOW)
        handle(make_event("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), runtime, NOW)
    finally:
        handler.setStream(previous)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    decisions = [line for line in lines if line.get("message") == "authorization decision"]
    assert [d["decision"] for d in decisions] == ["allow", "deny"]
    assert decisions[0]["reason"] == "ALLOWED" and decisions[0]["route"] == "GET /pets"
    assert decisions[0]["fingerprint"] and decisions[0]["subject"] == "CN=client1,O=Partner A"
    assert decisions[1]["reason"] == "CERT_MALFORMED"
    assert "BEGIN CERTIFICATE" not in text and "MIIB" not in text


def test_cold_start_imports_no_tracer_boto3_or_ocsp(tmp_path: Path, pki) -> None:
    """Import lazily what only some paths need: a local policy without revocation never loads
    boto3 (or a botocore client), the OCSP/HTTP machinery or the X-Ray SDK behind the Tracer.
    (Powertools' own package import touches ``botocore``'s tiny top-level package only.)"""
    import subprocess
    import sys

    policy = write_policy(tmp_path, pki)
    (tmp_path / "event.json").write_text(json.dumps(make_event(pki["leaf"].cert_pem.decode())))
    script = (
        "import json, sys; from authorizer.app import lambda_handler; "
        "r = lambda_handler(json.load(open(sys.argv[1])), None); "
        "bad = [m for m in ('boto3', 'botocore.client', 'aws_xray_sdk', "
        "'authorizer.revocation.ocsp', 'http.client') if m in sys.modules]; "
        "print(json.dumps({'effect': r['policyDocument']['Statement'][0]['Effect'], 'loaded': bad}), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "event.json")],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "AUTHORIZER_CONFIG": str(policy), "POWERTOOLS_TRACE_DISABLED": "true"},
    )  # fmt: skip
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result == {"effect": "Allow", "loaded": []}


def test_allow_lists_exactly_the_clients_routes(tmp_path: Path, pki) -> None:
    clients = [
        {
            "name": "partner-a",
            "match": {"subject": "CN=client1,O=Partner A"},
            "routes": ["GET /", "GET /pets/*", "ANY /admin/**", "POST /pets/{id}/photos"],
        }
    ]
    rt = Runtime(str(write_policy(tmp_path, pki, clients=clients)))
    pem = pki["leaf"].cert_pem.decode()
    response, reason = decide(make_event(pem, method="GET", path="/"), rt)
    assert reason is Reason.ALLOWED and response["principalId"] == "partner-a"
    assert response["context"]["clientName"] == "partner-a"
    base = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod"
    assert statements(response) == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": [f"{base}/GET/", f"{base}/GET/pets/*", f"{base}/*/admin/*", f"{base}/POST/pets/*/photos"],
        }
    ]
    assert decide(make_event(pem, method="GET", path="/pets/1/toys"), rt)[1] is Reason.ROUTE_NOT_ALLOWED
    assert decide(make_event(pem, method="DELETE", path="/admin/users/7"), rt)[1] is Reason.ALLOWED


def test_route_with_characters_iam_cannot_name_is_refused_at_load(tmp_path: Path, pki) -> None:
    clients = [{"name": "a", "match": {"subject": "CN=client1,O=Partner A"}, "routes": ["GET /files/a~b"]}]
    rt = Runtime(str(write_policy(tmp_path, pki, clients=clients)))
    outcome = handle(make_event(pki["leaf"].cert_pem.decode()), rt, NOW)
    assert outcome.decision.reason is Reason.CONFIG_INVALID
    assert "clients[0].routes[0]" in outcome.decision.detail


def test_configured_crl_larger_than_the_policy_cap_is_read_with_the_crl_cap(tmp_path: Path, pki) -> None:
    """CRL sources share the policy loader's S3 client but not its 4 MiB cap: a 200k-entry CRL
    (~5 MiB) configured in the document is read, and `crl.max_bytes` is honoured."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from authorizer.devpki import make_crl, make_large_crl_der

    this, nxt = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=7)
    big = make_large_crl_der(
        pki["issuing"], range(10**6, 10**6 + 200_000), with_reason=True, this_update=this, next_update=nxt
    )
    assert len(big) > 4 * 1024 * 1024
    (tmp_path / "issuing.crl").write_bytes(big)
    (tmp_path / "root.crl").write_bytes(
        make_crl(pki["root"], [], this_update=this, next_update=nxt).public_bytes(Encoding.DER)
    )

    def runtime(**crl: Any) -> Runtime:
        revocation = {"ocsp": {"enabled": False}, "crl": {"urls": ["issuing.crl", "root.crl"], **crl}}
        folder = tmp_path / str(len(crl))
        folder.mkdir(exist_ok=True)
        for name in ("issuing.crl", "root.crl"):
            (folder / name).write_bytes((tmp_path / name).read_bytes())
        return Runtime(str(write_policy(folder, pki, revocation=revocation)))

    event = make_event(pki["leaf"].cert_pem.decode())
    assert decide(event, runtime())[1] is Reason.ALLOWED
    outcome = handle(event, runtime(max_bytes=1024 * 1024), NOW)
    assert outcome.decision.reason is Reason.REVOCATION_UNKNOWN
    assert "cap" in outcome.decision.detail


def test_http2_iam_mode_is_kept_for_refusals_before_the_document_is_read(tmp_path: Path, pki) -> None:
    """An API set up for IAM policy answers returns 500 on a simple response: a broken event
    still gets the policy shape the last good document asked for."""
    rt = Runtime(str(write_policy(tmp_path, pki, response={"http2": "iam"})))
    assert decide(make_event(pki["leaf"].cert_pem.decode(), api="http2"), rt)[1] is Reason.ALLOWED
    response, reason = decide(make_event(None, api="http2"), rt)
    assert reason is Reason.CERT_MISSING
    assert [s["Effect"] for s in statements(response)] == ["Deny"]


def test_a_new_document_with_an_unreadable_truststore_keeps_the_previous_one(tmp_path: Path, pki) -> None:
    """A typo in truststore.uri must not lock every client out at once: like any failed update,
    the previous document and truststore serve for up to max_stale, with a warning."""
    now = [1000.0]
    policy = write_policy(tmp_path, pki, cache={"ttl_seconds": 60, "max_stale_seconds": 600})
    rt = Runtime(str(policy), clock=lambda: now[0])
    event = make_event(pki["leaf"].cert_pem.decode())
    assert decide(event, rt)[1] is Reason.ALLOWED
    doc = json.loads(policy.read_text())
    doc["truststore"]["uri"] = "typo.pem"
    policy.write_text(json.dumps(doc, indent=1))
    now[0] += 61
    snapshot = rt.load()
    assert snapshot.stale_notes and "typo.pem" in snapshot.stale_notes[0]
    assert decide(event, rt)[1] is Reason.ALLOWED
    now[0] += 600
    assert decide(event, rt)[1] is Reason.CONFIG_UNAVAILABLE


def test_responses_reuse_built_statements_but_never_share_objects(runtime: Runtime, pki) -> None:
    event = make_event(pki["leaf"].cert_pem.decode())
    first, _ = decide(event, runtime)
    first["policyDocument"]["Statement"][0]["Resource"].append("arn:tampered")
    first["policyDocument"]["Statement"][0]["Effect"] = "Deny"
    second, reason = decide(event, runtime)
    assert reason is Reason.ALLOWED
    assert statements(second) == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"],
        }
    ]


def test_deny_of_a_path_powertools_cannot_name_still_covers_the_request(runtime: Runtime) -> None:
    event = make_event(None, path="/files/a~b@c")
    response, reason = decide(event, runtime)
    assert reason is Reason.CERT_MISSING
    assert statements(response) == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"],
        }
    ]
