"""The artifact ``sam build`` produces decides every sample event, as ``sam local invoke`` would.

There is no Docker engine here, so ``sam local invoke`` itself cannot run; what can break in it
is the artifact: a module left out of the function's zip, a dependency missing from the layer,
an import that only works because the project's venv is on the path, an environment
(``events/env.json``) that does not select the embedded demo policy. So the test builds with
``sam build`` (the command ``make sam-build`` runs, no Docker) and runs the built handler in a
FRESH interpreter (``-I -S -B``: no site-packages, no PYTHON* variables, no bytecode written
into the build, as on Lambda's read-only file system) whose ``sys.path`` holds only
the stdlib, the built function folder and a host build of the layer's requirements
(``make host-layer``: the real layer's binaries are aarch64 and cannot load here). The
environment is what ``sam local invoke --env-vars events/env.json`` gives the function: the
template's variables, unresolved intrinsics blanked (as SAM does), then env.json's overrides.

The outcomes are those of ``events/expected.json``, written by the demo with the events. The
handler decides at the current time, like the deployed function; the demo PKI's validity
windows and CRLs make those outcomes hold from 2026-01-01 until 2040.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_template import ROOT, SAM, sam_env

BUILD_DIR = ROOT / ".aws-sam" / "build"
HOST_LAYER = ROOT / "build" / "host-layer"
EVENTS = ROOT / "events"


def _build_layer_module() -> Any:
    from tests.functional.test_layer import build_layer

    return build_layer


@functools.cache
def sam_build() -> Path:
    """``sam build`` into .aws-sam/build, once per test session (test_layer reuses it)."""
    assert SAM is not None
    env = sam_env()
    env.pop("DOCKER_HOST", None)
    env["LAYER_PYTHON"] = sys.executable  # as make sam-build: the layer build needs only pip
    proc = subprocess.run(
        [SAM, "build", "--template", str(ROOT / "template.yaml"), "--build-dir", str(BUILD_DIR)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Build Succeeded" in proc.stdout + proc.stderr
    return BUILD_DIR


needs_artifacts = pytest.mark.skipif(
    SAM is None or not _build_layer_module().is_current(HOST_LAYER, host=True),
    reason="needs aws-sam-cli and build/host-layer: `make sam-artifacts` prepares both (make test does this first)",
)


def local_invoke_env(env_file: Path = EVENTS / "env.json") -> dict[str, str]:
    """The function's environment under ``sam local invoke --env-vars env_file``: SAM passes the
    template's variables, blanks the values it cannot resolve (intrinsics), then applies the
    file's entries for this function (and its ``Parameters`` section for every function)."""
    from cfnlint.decode import decode

    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches and template is not None
    variables = template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    env = {name: value if isinstance(value, str) else "" for name, value in variables.items()}
    overrides = json.loads(env_file.read_text())
    for section in ("Parameters", "AuthorizerFunction"):
        env.update({k: v for k, v in overrides.get(section, {}).items() if k in env})
    return env


# The child: only the stdlib, the built function and the host layer on sys.path; it prints the
# responses as one JSON line after a marker (the handler's own logs and metrics go to stdout).
CHILD = textwrap.dedent(
    """
    import json, sys
    function, layer, events = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    leaked = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
    sys.path[:0] = [function, layer]
    from authorizer.app import lambda_handler
    import authorizer, cryptography

    class Context:
        function_name = "AuthorizerFunction"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AuthorizerFunction"
        memory_limit_in_mb = 512
        aws_request_id = "local"
        log_group_name = "/aws/lambda/AuthorizerFunction"
        log_stream_name = "local"

        @staticmethod
        def get_remaining_time_in_millis():
            return 6000

    out = {}
    for path in events:
        with open(path) as f:
            out[path] = lambda_handler(json.load(f), Context())
    print("@@RESULT@@" + json.dumps({
        "responses": out, "leaked": leaked, "authorizer": authorizer.__file__,
        "cryptography": cryptography.__file__, "modules": sorted(m for m in sys.modules if m.startswith("boto")),
    }))
    """
)


def verdict(response: dict[str, Any]) -> tuple[str, str]:
    """(allow|deny, reason) from a REST/1.0 IAM answer or a 2.0 simple answer."""
    if "isAuthorized" in response:
        allowed = response["isAuthorized"] is True
    else:
        statements = response["policyDocument"]["Statement"]
        allowed = bool(statements) and all(s["Effect"] == "Allow" for s in statements)
    return ("allow" if allowed else "deny", response["context"]["reason"])


def test_env_file_selects_the_embedded_demo_policy() -> None:
    """An empty AUTHORIZER_CONFIG means the embedded default (runtime.config_uri_from_env)."""
    from authorizer.runtime import DEFAULT_CONFIG, config_uri_from_env

    env = local_invoke_env()
    assert env["AUTHORIZER_CONFIG"] == ""
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"  # the template's value survives
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTHORIZER_CONFIG", env["AUTHORIZER_CONFIG"])
        assert config_uri_from_env() == DEFAULT_CONFIG


def test_expected_outcomes_cover_every_sample_event() -> None:
    expected = json.loads((EVENTS / "expected.json").read_text())
    samples = {p.name for p in EVENTS.glob("*.json")} - {"expected.json", "env.json"}
    assert set(expected) == samples
    assert {e["decision"] for e in expected.values()} == {"allow", "deny"}


@needs_artifacts
def test_built_artifact_decides_every_sample_event_in_a_fresh_interpreter() -> None:
    build = sam_build()
    function = build / "AuthorizerFunction"
    assert (function / "authorizer" / "app.py").is_file()
    assert (function / "authorizer" / "data" / "policy.json").is_file()  # the embedded default
    expected = json.loads((EVENTS / "expected.json").read_text())
    events = [str(EVENTS / name) for name in sorted(expected)]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", CHILD, str(function), str(HOST_LAYER / "python"), json.dumps(events)],
        capture_output=True, text=True, timeout=120, cwd=function, env=local_invoke_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@")]
    assert len(marker) == 1, proc.stdout[-3000:]
    result = json.loads(marker[0][len("@@RESULT@@") :])
    assert result["leaked"] == []  # nothing but the stdlib before our two folders
    assert Path(result["authorizer"]).is_relative_to(function)  # the built code, not src/
    assert Path(result["cryptography"]).is_relative_to(HOST_LAYER)
    assert result["modules"] == []  # the demo policy needs no boto3
    got = {Path(path).name: verdict(resp) for path, resp in result["responses"].items()}
    want = {name: (e["decision"], e["reason"]) for name, e in expected.items()}
    assert got == want
