"""Issue 10, defect 5: the audit trail never loses a decision line.

A lone surrogate in ``requestContext.requestId`` or in the method ARN's path (both chosen by
whoever sends the request) made the UTF-8 stream fail and the logging module drop the line,
Allows included. The stream here is a real UTF-8 text stream with strict errors, as stdout is
in Lambda; a ``StringIO`` would hide the failure.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authorizer import app
from authorizer.app import handle
from authorizer.events import make_event
from authorizer.runtime import Runtime
from tests.pki import CA, NOW


@pytest.fixture
def utf8_log() -> Iterator[io.BytesIO]:
    app.logger.setLevel("INFO")
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        yield raw
    finally:
        handler.setStream(previous)


def test_lone_surrogates_in_request_id_and_arn_path_are_logged(tmp_path: Path, utf8_log: io.BytesIO) -> None:
    root = CA.root("Log Root")
    issuing = root.intermediate("Log Issuing")
    (tmp_path / "truststore.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    (tmp_path / "policy.json").write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}}))
    rt = Runtime(str(tmp_path / "policy.json"))
    events: list[dict[str, Any]] = []
    for pem in (issuing.issue("CN=ok").cert_pem.decode(), CA.root("Other").issue("CN=no").cert_pem.decode()):
        event = make_event(pem, path="/pets")
        event["requestContext"]["requestId"] = "req-\ud800-id"
        event["methodArn"] += "/x\udcff"
        events.append(event)
    outcomes = [handle(e, rt, NOW) for e in events]
    assert [o.decision.allowed for o in outcomes] == [True, False]
    text = utf8_log.getvalue().decode("utf-8")
    assert "Logging error" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    decisions = [line for line in lines if line.get("message") == "authorization decision"]
    assert [d["decision"] for d in decisions] == ["allow", "deny"]
    for d in decisions:
        # The escape round-trips: a reader of the JSON gets the exact value the request carried.
        assert d["request_id"] == "req-\ud800-id"
        assert d["route"] == "GET /pets/x\udcff"
