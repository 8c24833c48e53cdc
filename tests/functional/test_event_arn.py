"""Issue 10, defect 9: the method ARN is answered consistently and never widens an Allow.

* A verb in lower case (``get``): the Allow would list ``GET`` resources that do not cover the
  ARN it answers. Decided: refused (``CERT_MALFORMED``) with a Deny that covers the request.
* A ``*`` or ``?`` in the ARN's partition, region, account, API id or stage: those parts are
  copied into Allow resources, where they would be IAM wildcards nobody wrote. Decided: the ARN
  is unusable, the answer is a Deny (``CERT_MALFORMED``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import Runtime
from tests.pki import CA, NOW

BASE = "arn:aws:execute-api:us-east-1:123456789012"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, str]:
    d = tmp_path_factory.mktemp("arn")
    root = CA.root("ARN Root")
    issuing = root.intermediate("ARN Issuing")
    (d / "truststore.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    (d / "policy.json").write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}}))
    return Runtime(str(d / "policy.json")), issuing.issue("CN=arn-client").cert_pem.decode()


def _answer(setup: tuple[Runtime, str], arn: str, api: str = "rest") -> tuple[Reason, dict[str, Any]]:
    rt, pem = setup
    event = make_event(pem, api=api)
    event["routeArn" if api == "http2" else "methodArn"] = arn
    outcome = handle(event, rt, NOW)
    return outcome.decision.reason, outcome.response


def test_the_same_arn_in_upper_case_is_allowed(setup) -> None:
    reason, response = _answer(setup, f"{BASE}:abcdef1234/prod/GET/pets")
    assert reason is Reason.ALLOWED
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize("verb", ["get", "Get", "pOST"])
def test_a_lower_case_verb_is_refused_with_a_deny_covering_it(setup, verb: str) -> None:
    reason, response = _answer(setup, f"{BASE}:abcdef1234/prod/{verb}/pets")
    assert reason is Reason.CERT_MALFORMED
    [stmt] = response["policyDocument"]["Statement"]
    assert stmt["Effect"] == "Deny"
    covered = stmt["Resource"][0]
    assert covered in ("*", f"{BASE}:abcdef1234/prod/{verb}/pets", f"{BASE}:abcdef1234/prod/*/*")


def test_an_http_api_default_route_verb_is_not_a_method(setup) -> None:
    reason, response = _answer(setup, f"{BASE}:abcdef1234/prod/$default", api="http2")
    assert reason is Reason.ALLOWED and response["isAuthorized"] is True


@pytest.mark.parametrize(
    "arn",
    [
        f"{BASE}:*/prod/GET/pets",
        f"{BASE}:abcdef1234/*/GET/pets",
        f"{BASE}:abc?ef1234/prod/GET/pets",
        "arn:aws:execute-api:*:123456789012:abcdef1234/prod/GET/pets",
        "arn:aws:execute-api:us-east-1:*:abcdef1234/prod/GET/pets",
    ],
)
def test_a_wildcard_in_the_api_or_stage_is_never_copied_into_an_allow(setup, arn: str) -> None:
    reason, response = _answer(setup, arn)
    assert reason is Reason.CERT_MALFORMED
    assert [s["Effect"] for s in response["policyDocument"]["Statement"]] == ["Deny"]
