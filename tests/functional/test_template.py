"""template.yaml: lints clean (cfn-lint, ``sam validate --lint``) and keeps its security promises.

The linters prove the template is deployable; the structural checks below pin the properties a
refactor could silently lose: mTLS on the only entry point, authorizer caching off by default,
no full certificate in the access log, least-privilege S3 reads, the handler and runtime the
layer is built for.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.serve import ACCESS_LOG_FORMAT

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def sam_binary() -> str | None:
    """aws-sam-cli from ``make sam-install`` (.venv-sam), $SAM_CLI_BIN, or the PATH."""
    for candidate in (os.environ.get("SAM_CLI_BIN"), str(ROOT / ".venv-sam" / "bin" / "sam"), shutil.which("sam")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


SAM = sam_binary()
needs_sam = pytest.mark.skipif(
    SAM is None,
    reason="aws-sam-cli not installed: `make sam-install` puts it in .venv-sam (make test does this first)",
)


def sam_env() -> dict[str, str]:
    """No telemetry, no instance-metadata probing, a region, and dummy credentials: nothing
    here may reach AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    return env


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode

    data, matches = decode(str(TEMPLATE))
    assert not matches and data is not None
    return json.loads(json.dumps(data, default=str))


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {list(found)}"
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


# --------------------------------------------------------------------------- linters


def test_cfn_lint_passes() -> None:
    exe = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cfnlint"]
    proc = subprocess.run([*cmd, str(TEMPLATE)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_sam
def test_sam_validate_lint_passes() -> None:
    assert SAM is not None
    proc = subprocess.run(
        [SAM, "validate", "--lint", "--template", str(TEMPLATE)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=sam_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- promises


def test_execute_api_endpoint_is_disabled(template: dict[str, Any]) -> None:
    """Otherwise {api}.execute-api.{region}.amazonaws.com serves the API without any certificate."""
    assert one(template, "AWS::Serverless::Api")["DisableExecuteApiEndpoint"] is True
    assert not resources(template, "AWS::ApiGateway::RestApi")


def test_custom_domain_is_regional_mtls_tls12(template: dict[str, Any]) -> None:
    domain = one(template, "AWS::ApiGateway::DomainName")
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
    mtls = domain["MutualTlsAuthentication"]
    assert mtls["TruststoreUri"] == {"Ref": "TruststoreUri"}
    assert "TruststoreVersion" in mtls
    assert "OwnershipVerificationCertificateArn" in domain
    mapping = one(template, "AWS::ApiGateway::BasePathMapping")
    assert mapping["RestApiId"] == {"Ref": "MtlsApi"}


def test_authorizer_cache_is_off_by_default_and_the_risk_is_explained(template: dict[str, Any]) -> None:
    ttl = template["Parameters"]["AuthorizerCacheTtl"]
    assert ttl["Default"] == 0 and ttl["MaxValue"] == 3600
    assert re.search(r"cannot be part of .*key", ttl["Description"])
    assert "DIFFERENT certificate" in ttl["Description"]
    body = one(template, "AWS::Serverless::Api")["DefinitionBody"]
    auth = body["securityDefinitions"]["MtlsAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert auth["type"] == "request"
    assert auth["authorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheTtl"}
    # No identity source unless caching is on (then one must be always present).
    assert auth["identitySource"]["Fn::If"][0] == "CacheEnabled"
    assert auth["identitySource"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_every_method_is_behind_the_authorizer_and_mocked(template: dict[str, Any]) -> None:
    from authorizer.serve import match_route

    body = one(template, "AWS::Serverless::Api")["DefinitionBody"]
    routes = []
    for path, methods in body["paths"].items():
        for method, spec in methods.items():
            routes.append((method.upper(), path))
            assert spec["security"] == [{"MtlsAuthorizer": []}], f"{method} {path} is not authorized"
            assert spec["x-amazon-apigateway-integration"]["type"] == "mock"
            # serve answers the same routes (a path parameter filled in).
            concrete = path.replace("{id}", "1")
            assert match_route(method.upper(), concrete) == (path, {"id": "1"} if "{id}" in path else {})
    assert sorted(routes) == [("GET", "/pets"), ("GET", "/pets/{id}"), ("POST", "/pets")]


def test_access_log_carries_the_certificate_fields_but_never_the_pem(template: dict[str, Any]) -> None:
    api = one(template, "AWS::Serverless::Api")
    fmt = api["AccessLogSetting"]["Format"]
    assert "clientCertPem" not in fmt
    parsed = json.loads(fmt)  # one JSON object per line in CloudWatch
    assert parsed == ACCESS_LOG_FORMAT, "serve.ACCESS_LOG_FORMAT and the template's format differ"
    for var in (
        "$context.identity.clientCert.subjectDN",
        "$context.identity.clientCert.issuerDN",
        "$context.identity.clientCert.serialNumber",
        "$context.identity.clientCert.validity.notBefore",
        "$context.identity.clientCert.validity.notAfter",
        "$context.authorizer.principalId",
        "$context.authorizer.reason",
    ):
        assert var in parsed.values()
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}


def test_403_gateway_response_carries_the_reason(template: dict[str, Any]) -> None:
    denied = one(template, "AWS::Serverless::Api")["GatewayResponses"]["ACCESS_DENIED"]
    assert denied["StatusCode"] == 403
    with_reason = denied["ResponseTemplates"]["application/json"]["Fn::If"][1]
    assert json.loads(with_reason.replace("$context.", "")) == {
        "message": "Forbidden",
        "reason": "authorizer.reason",
        "requestId": "requestId",
    }


def test_function_runtime_handler_and_limits(template: dict[str, Any]) -> None:
    fn = one(template, "AWS::Serverless::Function")
    globals_ = template["Globals"]["Function"]
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Runtime"] in ("python3.12", "python3.13")
    assert fn["Handler"] == "authorizer.app.lambda_handler"
    assert fn["CodeUri"] == "src/"
    module, _, attr = fn["Handler"].rpartition(".")
    assert importlib.util.find_spec(module) is not None
    assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    assert fn["Timeout"] < 10, "must end well before the HTTP API authorizer's 10 s limit"
    assert 256 <= fn["MemorySize"] <= 2048
    env = fn["Environment"]["Variables"]
    for name in (
        "AUTHORIZER_CONFIG",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    ):
        assert name in env
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"  # the event carries the client's PEM


def test_build_never_pip_installs_into_the_function(template: dict[str, Any]) -> None:
    """sam build's Python builder would need a local python3.13 (and Docker for cross builds)."""
    fn = next(iter(resources(template, "AWS::Serverless::Function").values()))
    assert fn["Metadata"]["BuildMethod"] == "makefile"
    assert not (ROOT / "src" / "requirements.txt").exists()
    layer = next(iter(resources(template, "AWS::Serverless::LayerVersion").values()))
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleArchitectures"] == template["Globals"]["Function"]["Architectures"]
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]]


def test_iam_is_least_privilege(template: dict[str, Any]) -> None:
    fn = one(template, "AWS::Serverless::Function")
    statements = [s for policy in fn["Policies"] for s in policy["Statement"]]
    assert statements
    targets = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
        res = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for r in res:
            assert r != "*"
            text = json.dumps(r)
            assert "arn:${AWS::Partition}:s3:::" in text
            targets.append(text)
    joined = " ".join(targets)
    assert "${PolicyKey}" in joined and "${CrlPrefix}*" in joined and "TruststoreUri" in joined
    assert len(targets) == 3


def test_parameters_and_outputs_are_documented(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    for name in (
        "DomainName", "CertificateArn", "TruststoreUri", "TruststoreVersion",
        "OwnershipVerificationCertificateArn", "PolicyBucketName", "PolicyKey", "LogLevel", "AuthorizerCacheTtl",
    ):  # fmt: skip
        assert name in params
    assert "CreatePolicyBucket" in template["Conditions"]
    for name, output in template["Outputs"].items():
        assert output.get("Description"), f"output {name} has no description"


def test_samconfig_has_default_and_prod() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert "CAPABILITY_IAM" in deploy["capabilities"]
        assert "AuthorizerCacheTtl=0" in deploy["parameter_overrides"]
    assert (
        config["default"]["global"]["parameters"]["stack_name"] != config["prod"]["global"]["parameters"]["stack_name"]
    )
