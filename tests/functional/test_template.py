"""template.yaml: lints clean (cfn-lint, ``sam validate --lint``) and keeps its security promises.

The linters prove the template is deployable; the structural checks below pin the properties a
refactor could silently lose: mTLS on the only entry point, authorizer caching off by default,
no full certificate in the access log, least-privilege S3 reads, the handler and runtime the
layer is built for.
"""

from __future__ import annotations

import fnmatch
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
    fn = template["Resources"]["AuthorizerFunction"]["Properties"]
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
    fn = template["Resources"]["AuthorizerFunction"]
    assert fn["Metadata"]["BuildMethod"] == "makefile"
    assert not (ROOT / "src" / "requirements.txt").exists()
    layer = next(iter(resources(template, "AWS::Serverless::LayerVersion").values()))
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleArchitectures"] == template["Globals"]["Function"]["Architectures"]
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]]


def test_iam_is_least_privilege(template: dict[str, Any]) -> None:
    fn = template["Resources"]["AuthorizerFunction"]["Properties"]
    # The shared OCSP cache's statement exists only with SharedOcspCache=true (pinned below).
    policies = [_value(template, p, parameters(template)) for p in fn["Policies"]]
    statements = [
        s for policy in policies if isinstance(policy, dict) and "Statement" in policy for s in policy["Statement"]
    ]
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


# --------------------------------------------------------------------------- ApiType: REST | HTTP
#
# The template deploys exactly one API kind. ``deployed`` resolves the template's conditions for
# given parameter values (the defaults otherwise), as CloudFormation would, and keeps the
# resources that would be created; the linters run on a copy whose ApiType default is changed.

API_TYPES = ("REST", "HTTP")
HTTP_ROUTES = ["GET /pets", "GET /pets/{id}", "POST /pets"]


def _value(template: dict[str, Any], expr: Any, params: dict[str, Any]) -> Any:
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()  # fmt: skip
        if key == "Ref":
            return params.get(arg, expr)  # a resource's Ref stays as it is
        if key == "Condition":
            return _condition(template, arg, params)
        if key == "Fn::Equals":
            return str(_value(template, arg[0], params)) == str(_value(template, arg[1], params))
        if key == "Fn::Not":
            return not _value(template, arg[0], params)
        if key == "Fn::And":
            return all(_value(template, a, params) for a in arg)
        if key == "Fn::Or":
            return any(_value(template, a, params) for a in arg)
        if key == "Fn::If":
            return _value(template, arg[1] if _condition(template, arg[0], params) else arg[2], params)
    return expr


def _condition(template: dict[str, Any], name: str, params: dict[str, Any]) -> bool:
    return bool(_value(template, template["Conditions"][name], params))


def parameters(template: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    params = {name: spec.get("Default", f"<{name}>") for name, spec in template["Parameters"].items()}
    params.update(overrides)
    return params


def deployed(template: dict[str, Any], **overrides: Any) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation would create for these parameter values."""
    params = parameters(template, **overrides)
    return {
        name: res
        for name, res in template["Resources"].items()
        if "Condition" not in res or _condition(template, res["Condition"], params)
    }


def kinds(found: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in found.items() if res["Type"] == kind}


def only(found: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = kinds(found, kind)
    assert len(matches) == 1, f"expected one {kind}, found {list(matches)}"
    return next(iter(matches.values()))


def template_with_api_type(api_type: str, folder: Path) -> Path:
    """A copy of template.yaml whose ApiType default is ``api_type`` (next to the original, so
    CodeUri/ContentUri resolve the same way)."""
    text = TEMPLATE.read_text()
    old = "  ApiType:\n    Type: String\n    Default: REST\n"
    assert old in text
    out = folder / f"template-{api_type.lower()}.yaml"
    out.write_text(text.replace(old, f"  ApiType:\n    Type: String\n    Default: {api_type}\n"))
    return out


@pytest.fixture(scope="module")
def variant_dir() -> Any:
    folder = ROOT / f".template-variants-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_api_type_parameter(template: dict[str, Any]) -> None:
    api_type = template["Parameters"]["ApiType"]
    assert api_type["Default"] == "REST" and api_type["AllowedValues"] == ["REST", "HTTP"]
    mode = template["Parameters"]["HttpApiAuthorizerResponse"]
    assert mode["Default"] == "simple" and sorted(mode["AllowedValues"]) == ["iam", "simple"]
    # The function answers payload 2.0 from the policy document's response.http2; the parameter
    # must say the two have to agree.
    assert "response" in mode["Description"] and "http2" in mode["Description"]


@pytest.mark.parametrize("api_type", API_TYPES)
def test_cfn_lint_passes_for_each_api_type(api_type: str, variant_dir: Path) -> None:
    exe = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cfnlint"]
    path = template_with_api_type(api_type, variant_dir)
    proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_sam
@pytest.mark.parametrize("api_type", API_TYPES)
def test_sam_validate_lint_passes_for_each_api_type(api_type: str, variant_dir: Path) -> None:
    assert SAM is not None
    path = template_with_api_type(api_type, variant_dir)
    proc = subprocess.run(
        [SAM, "validate", "--lint", "--template", str(path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=sam_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


@pytest.mark.parametrize("api_type", API_TYPES)
def test_exactly_one_api_kind_deploys(template: dict[str, Any], api_type: str) -> None:
    found = deployed(template, ApiType=api_type)
    rest = [n for n, r in found.items() if r["Type"].startswith(("AWS::ApiGateway::", "AWS::Serverless::Api"))]
    http = [n for n, r in found.items() if r["Type"].startswith("AWS::ApiGatewayV2::")]
    if api_type == "REST":
        assert "MtlsApi" in rest and "MtlsDomain" in rest and not http
        assert "PetsFunction" not in found and "HttpAuthorizerInvokePermission" not in found
    else:
        assert not [n for n in rest if n != "ApiGatewayAccount"], rest  # the opt-in account role only
        assert {"MtlsHttpApi", "HttpApiAuthorizer", "HttpApiStage", "HttpMtlsDomain", "HttpApiMapping"} <= set(http)
        assert "AuthorizerInvokePermission" not in found
    # The same function and layer either way.
    assert found["AuthorizerFunction"] is template["Resources"]["AuthorizerFunction"]
    assert found["DependenciesLayer"] is template["Resources"]["DependenciesLayer"]
    # Outputs naming a resource exist only with it.
    params = parameters(template, ApiType=api_type)
    for name, output in template["Outputs"].items():
        if "Condition" in output and not _condition(template, output["Condition"], params):
            continue
        for ref in re.findall(
            r'"(?:Ref|Fn::GetAtt)": (?:\["|")(\w+)', json.dumps(_value(template, output["Value"], params))
        ):
            assert ref in found or ref in template["Parameters"] or ref.startswith("AWS"), f"{name} -> {ref}"


@pytest.mark.parametrize("api_type", API_TYPES)
def test_mtls_on_and_default_endpoint_disabled(template: dict[str, Any], api_type: str) -> None:
    found = deployed(template, ApiType=api_type)
    if api_type == "REST":
        assert only(found, "AWS::Serverless::Api")["DisableExecuteApiEndpoint"] is True
        mtls = only(found, "AWS::ApiGateway::DomainName")["MutualTlsAuthentication"]
    else:
        assert only(found, "AWS::ApiGatewayV2::Api")["DisableExecuteApiEndpoint"] is True
        assert only(found, "AWS::ApiGatewayV2::Api")["ProtocolType"] == "HTTP"
        domain = only(found, "AWS::ApiGatewayV2::DomainName")
        (config,) = domain["DomainNameConfigurations"]
        assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
        assert config["CertificateArn"] == {"Ref": "CertificateArn"}
        assert "OwnershipVerificationCertificateArn" in config
        mtls = domain["MutualTlsAuthentication"]
        mapping = only(found, "AWS::ApiGatewayV2::ApiMapping")
        assert mapping["ApiId"] == {"Ref": "MtlsHttpApi"} and mapping["Stage"] == {"Ref": "HttpApiStage"}
        assert "ApiMappingKey" not in mapping  # the API at the domain's root, like the REST one
    assert mtls["TruststoreUri"] == {"Ref": "TruststoreUri"}
    assert mtls["TruststoreVersion"]["Fn::If"][1] == {"Ref": "TruststoreVersion"}


@pytest.mark.parametrize("response_mode", ["simple", "iam"])
def test_http_authorizer_payload_2_uncached_and_responses_selectable(
    template: dict[str, Any], response_mode: str
) -> None:
    found = deployed(template, ApiType="HTTP", HttpApiAuthorizerResponse=response_mode)
    auth = only(found, "AWS::ApiGatewayV2::Authorizer")
    assert auth["AuthorizerType"] == "REQUEST"
    assert auth["AuthorizerPayloadFormatVersion"] == "2.0"
    assert auth["AuthorizerResultTtlInSeconds"] == 0  # caching off, whatever the parameters
    assert "IdentitySource" not in auth
    params = parameters(template, ApiType="HTTP", HttpApiAuthorizerResponse=response_mode)
    assert _value(template, auth["EnableSimpleResponses"], params) is (response_mode == "simple")
    # The same function: the URI names AuthorizerFunction, and apigateway may invoke it only
    # as this API's authorizers.
    assert "${AuthorizerFunction.Arn}" in auth["AuthorizerUri"]["Fn::Sub"]
    permission = found["HttpAuthorizerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith("${MtlsHttpApi}/authorizers/${HttpApiAuthorizer}")


def test_http_routes_are_all_behind_the_authorizer(template: dict[str, Any]) -> None:
    found = deployed(template, ApiType="HTTP")
    routes = kinds(found, "AWS::ApiGatewayV2::Route")
    assert sorted(r["RouteKey"] for r in routes.values()) == HTTP_ROUTES
    for name, route in routes.items():
        assert route["AuthorizationType"] == "CUSTOM", name
        assert route["AuthorizerId"] == {"Ref": "HttpApiAuthorizer"}, name
    assert "$default" not in json.dumps(routes)  # no catch-all route around the authorizer
    # The REST API serves the same routes.
    body = template["Resources"]["MtlsApi"]["Properties"]["DefinitionBody"]
    rest_routes = sorted(f"{m.upper()} {p}" for p, methods in body["paths"].items() for m in methods)
    assert rest_routes == HTTP_ROUTES


def test_http_access_log_carries_certificate_fields_and_reason(template: dict[str, Any]) -> None:
    stage = only(deployed(template, ApiType="HTTP"), "AWS::ApiGatewayV2::Stage")
    settings = stage["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    assert "clientCertPem" not in settings["Format"]
    parsed = json.loads(settings["Format"])
    for var in (
        "$context.identity.clientCert.subjectDN",
        "$context.identity.clientCert.issuerDN",
        "$context.identity.clientCert.serialNumber",
        "$context.identity.clientCert.validity.notBefore",
        "$context.identity.clientCert.validity.notAfter",
        "$context.authorizer.reason",
        "$context.authorizer.error",
        "$context.routeKey",
        "$context.status",
    ):
        assert var in parsed.values(), var
    # The same key names as the REST API's log, wherever both have the field.
    shared = set(parsed) & set(ACCESS_LOG_FORMAT)
    assert {k for k in shared if parsed[k] != ACCESS_LOG_FORMAT[k]} == set()
    assert len(shared) >= 15


@pytest.mark.parametrize("api_type", API_TYPES)
def test_least_privilege_role_is_the_same_for_each_api_type(template: dict[str, Any], api_type: str) -> None:
    found = deployed(template, ApiType=api_type)
    assert (
        found["AuthorizerFunction"]["Properties"]["Policies"]
        == (template["Resources"]["AuthorizerFunction"]["Properties"]["Policies"])
    )
    roles = kinds(found, "AWS::IAM::Role")
    assert set(roles) <= {"ApiGatewayLoggingRole"}  # only the opt-in account logging role
    functions = kinds(found, "AWS::Serverless::Function")
    if api_type == "HTTP":
        # The sample backend gets SAM's basic execution role (logs only), nothing else.
        pets = functions.pop("PetsFunction")
        assert "Policies" not in pets and "Role" not in pets and "Layers" not in pets
    # The CRL indexer's rights are pinned by test_crl_indexer_writes_only_index_objects.
    assert list(functions) == ["AuthorizerFunction", "CrlIndexerFunction"]
    # Lambda permissions: apigateway only, scoped to this stack's API.
    for name, permission in kinds(found, "AWS::Lambda::Permission").items():
        assert permission["Principal"] == "apigateway.amazonaws.com", name
        assert (
            "${MtlsApi}" in permission["SourceArn"]["Fn::Sub"] or "${MtlsHttpApi}" in permission["SourceArn"]["Fn::Sub"]
        )


# --------------------------------------------------------------------------- the CRL indexer


def test_crl_indexer_writes_only_index_objects(template: dict[str, Any]) -> None:
    fn = template["Resources"]["CrlIndexerFunction"]["Properties"]
    assert fn["Handler"] == "authorizer.indexer.lambda_handler"
    module, _, attr = fn["Handler"].rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    statements = [s for policy in fn["Policies"] for s in policy["Statement"]]
    writes = [s for s in statements if set(s["Action"]) - {"s3:GetObject"}]
    reads = [s for s in statements if s not in writes]
    assert all(s["Effect"] == "Allow" and s["Action"] == ["s3:GetObject"] for s in reads)
    assert len(writes) == 1 and sorted(writes[0]["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    target = json.dumps(writes[0]["Resource"])
    assert "${CrlPrefix}*.idx" in target and target.count("arn:") == 1
    env = fn["Environment"]["Variables"]
    assert {"AUTHORIZER_CONFIG", "CRL_PREFIX_URI", "TRUSTSTORE_URI"} <= set(env)
    # The authorizer itself stays read-only (test_iam_is_least_privilege pins its statements).
    authorizer = template["Resources"]["AuthorizerFunction"]["Properties"]
    on = parameters(template, SharedOcspCache="true")
    for policy in authorizer["Policies"]:
        for statement in _value(template, policy, on)["Statement"]:
            s3_actions = {a for a in statement["Action"] if a.startswith("s3:")}
            assert s3_actions <= {"s3:GetObject", "s3:GetObjectVersion"}


def test_only_the_indexer_may_write_indexes_in_the_stack_bucket(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["PolicyDocumentBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    statements = template["Resources"]["PolicyDocumentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in statements if s.get("Sid") == "OnlyTheIndexerWritesCrlIndexes")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    # Wildcards: every PutObject and DeleteObject variant, DeleteObjectVersion included (deleting
    # the current version of a versioned index object puts an older index back).
    assert sorted(deny["Action"]) == ["s3:DeleteObject*", "s3:PutObject*"]
    for action in ("s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert any(fnmatch.fnmatchcase(action, pattern) for pattern in deny["Action"]), action
    assert "${CrlPrefix}*.idx" in json.dumps(deny["Resource"])
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["CrlIndexerFunctionRole", "Arn"]}}
    }


def test_crl_indexer_triggers(template: dict[str, Any]) -> None:
    events = template["Resources"]["CrlIndexerFunction"]["Properties"]["Events"]
    pattern = events["CrlUploaded"]["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": {"Ref": "CrlPrefix"}}]
    schedule = events["PullListedCrls"]["Properties"]
    param = template["Parameters"]["CrlIndexIntervalMinutes"]
    assert param["Default"] == 0 and param["MinValue"] == 0
    expected = {0: ("DISABLED", "rate(1 day)"), 1: ("ENABLED", "rate(1 minute)"), 15: ("ENABLED", None)}
    for minutes, (state, rate) in expected.items():
        params = parameters(template, CrlIndexIntervalMinutes=minutes)
        assert _value(template, schedule["State"], params) == state
        expr = _value(template, schedule["Schedule"], params)
        if rate is not None:
            assert expr == rate
        else:
            assert expr == {"Fn::Sub": "rate(${CrlIndexIntervalMinutes} minutes)"}


def test_shared_ocsp_cache_is_opt_in_and_least_privilege(template: dict[str, Any]) -> None:
    assert template["Parameters"]["SharedOcspCache"]["Default"] == "false"
    assert "OcspCacheTable" not in deployed(template)
    found = deployed(template, SharedOcspCache="true")
    table = found["OcspCacheTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    fn = template["Resources"]["AuthorizerFunction"]["Properties"]
    on = parameters(template, SharedOcspCache="true")
    env = fn["Environment"]["Variables"]["OCSP_CACHE_TABLE"]
    assert _value(template, env, on) == {"Ref": "OcspCacheTable"}
    assert _value(template, env, parameters(template)) == ""
    policies = [_value(template, p, on) for p in fn["Policies"]]
    dynamo = [s for p in policies for s in p["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert len(dynamo) == 1
    assert sorted(dynamo[0]["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    assert dynamo[0]["Resource"] == {"Fn::GetAtt": ["OcspCacheTable", "Arn"]}


def test_only_the_indexer_signs_crl_indexes(template: dict[str, Any]) -> None:
    """The index key (docs/crl-index-format.md, "Trust"): asymmetric P-256 for signing; kms:Sign
    granted to the indexer's role alone (the account administers the key but cannot sign), the
    public key read by the authorizer and by the indexer (which checks the index it replaces)."""
    key = template["Resources"]["CrlIndexSigningKey"]
    assert key["Type"] == "AWS::KMS::Key"
    props = key["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    statements = props["KeyPolicy"]["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)

    def who(action: str) -> list[Any]:
        found = []
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if any(fnmatch.fnmatchcase(action, a) for a in actions):
                principal = s["Principal"]["AWS"]
                found.extend(principal if isinstance(principal, list) else [principal])
        return found

    role = {"Fn::GetAtt": ["CrlIndexerFunctionRole", "Arn"]}
    authorizer = {"Fn::GetAtt": ["AuthorizerFunctionRole", "Arn"]}
    assert who("kms:Sign") == [role]
    assert sorted(map(json.dumps, who("kms:GetPublicKey"))) == sorted(map(json.dumps, [authorizer, role]))
    for action in ("kms:Verify", "kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:ReEncryptFrom"):
        assert who(action) == [], action  # no grant could hand signing to anybody else either
    for fn in ("AuthorizerFunction", "CrlIndexerFunction"):
        env = template["Resources"][fn]["Properties"]["Environment"]["Variables"]
        assert env["CRL_INDEX_KEY_ID"] == {"Ref": "CrlIndexSigningKey"}
