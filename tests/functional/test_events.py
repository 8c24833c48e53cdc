"""The committed sample events (events/, for `sam local invoke -e`) decide as their names say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authorizer import app
from authorizer.response import is_allow
from authorizer.runtime import DEFAULT_CONFIG, Runtime

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = json.loads((ROOT / "events" / "expected.json").read_text())


def test_every_event_file_has_an_expectation() -> None:
    files = {p.name for p in (ROOT / "events").glob("*.json")} - {"expected.json", "env.json"}
    assert files == set(EXPECTED)
    assert {e["reason"] for e in EXPECTED.values()} >= {
        "ALLOWED",
        "CERT_MISSING",
        "CERT_MALFORMED",
        "EXPIRED",
        "NOT_YET_VALID",
        "ISSUER_NOT_FOUND",
        "SELF_SIGNED",
        "INSECURE_ALGORITHM",
        "CHAIN_INVALID",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_decides_as_expected_with_the_embedded_default(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real handler, as `sam local invoke` runs it: no AUTHORIZER_CONFIG, real clock."""
    monkeypatch.delenv("AUTHORIZER_CONFIG", raising=False)
    app.reset_runtime(None)
    event = json.loads((ROOT / "events" / name).read_text())
    response = app.lambda_handler(event, None)
    expected = EXPECTED[name]
    assert is_allow(response) is (expected["decision"] == "allow")
    assert response["context"]["reason"] == expected["reason"]
    app.reset_runtime(None)


def test_embedded_default_is_the_demo_policy() -> None:
    assert Path(DEFAULT_CONFIG).exists()
    embedded = (Path(DEFAULT_CONFIG).parent / "truststore.pem").read_bytes()
    assert embedded == (ROOT / "demo" / "pki" / "truststore.pem").read_bytes()
    assert Runtime(DEFAULT_CONFIG).load().deps.config.truststore.uri.endswith("data/truststore.pem")
