"""What the fuzz properties share: the demo material, log capture, the response contract."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.response import Decision

REPO = Path(__file__).resolve().parents[2]
DEMO_CLIENTS = REPO / "demo" / "pki" / "clients"
EVENTS = REPO / "events"
ARN_PREFIX = "arn:aws:execute-api:"


def demo_der(name: str) -> bytes:
    cert = x509.load_pem_x509_certificate((DEMO_CLIENTS / f"{name}.pem").read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def demo_events() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json")) if p.stem != "expected"}


class LogCapture:
    """The decision logger's output, written the way Lambda's stdout is: UTF-8, strict."""

    def __init__(self) -> None:
        self.raw = io.BytesIO()
        self.stream = io.TextIOWrapper(self.raw, encoding="utf-8", errors="strict", write_through=True)
        self.errors = io.StringIO()

    def lines(self) -> list[str]:
        return self.raw.getvalue().decode("utf-8", errors="replace").splitlines()

    def decisions(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("message") == "authorization decision":
                out.append(record)
        return out

    def clear(self) -> None:
        self.raw.seek(0)
        self.raw.truncate()
        self.errors.seek(0)
        self.errors.truncate()


@contextlib.contextmanager
def captured_log() -> Iterator[LogCapture]:
    """Point the handler's (and the package's) log handler at a capture; restore after.
    Logging's own "--- Logging error ---" reports go to ``errors`` instead of stderr."""
    import sys

    from authorizer import app

    capture = LogCapture()
    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(capture.stream)
    previous_level = app.logger.log_level
    app.set_log_level("INFO")
    real_stderr = sys.stderr
    sys.stderr = capture.errors
    try:
        yield capture
    finally:
        sys.stderr = real_stderr
        handler.setStream(previous)
        app.set_log_level(previous_level)


def check_response(response: object, decision: Decision) -> None:
    """The answer has a shape API Gateway accepts and agrees with the decision."""
    assert isinstance(response, dict), type(response)
    json.dumps(response)  # Lambda must be able to serialise it
    context = response.get("context", {})
    assert isinstance(context, dict)
    for key, value in context.items():
        assert isinstance(key, str)
        assert isinstance(value, str | int | float | bool) and value is not None, (key, value)
    if "isAuthorized" in response:
        assert set(response) <= {"isAuthorized", "context"}, response.keys()
        assert response["isAuthorized"] is decision.allowed
        return
    assert set(response) <= {"principalId", "policyDocument", "context", "usageIdentifierKey"}, response.keys()
    assert isinstance(response["principalId"], str) and response["principalId"]
    doc = response["policyDocument"]
    assert doc["Version"] == "2012-10-17"
    statements = doc["Statement"]
    assert isinstance(statements, list) and statements
    effects = set()
    for stmt in statements:
        assert stmt["Action"] == "execute-api:Invoke"
        assert stmt["Effect"] in ("Allow", "Deny")
        effects.add(stmt["Effect"])
        resources = stmt["Resource"]
        assert isinstance(resources, list) and resources
        for resource in resources:
            assert isinstance(resource, str)
            if stmt["Effect"] == "Allow":
                assert resource.startswith(ARN_PREFIX), resource  # never a bare "*"
            else:
                assert resource == "*" or resource.startswith(ARN_PREFIX), resource
    assert effects == ({"Allow"} if decision.allowed else {"Deny"}), (effects, decision.reason)
