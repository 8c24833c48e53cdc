"""`mtls-authorizer demo --regenerate` rewrites the sample events and keeps sam's env file."""

from __future__ import annotations

import json
from pathlib import Path

from authorizer.demo import CASES, write_events


def test_regenerating_events_keeps_env_json_and_drops_stale_events(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "env.json").write_text('{"AuthorizerFunction": {"AUTHORIZER_CONFIG": ""}}\n')
    (events / "stale-event.json").write_text("{}")
    pem = (Path(__file__).resolve().parents[2] / "demo" / "pki" / "clients" / "valid-rsa.pem").read_text()
    write_events(tmp_path, {case.client: pem for case in CASES if case.client})
    names = {p.name for p in events.glob("*.json")}
    assert "env.json" in names and "stale-event.json" not in names
    assert json.loads((events / "env.json").read_text()) == {"AuthorizerFunction": {"AUTHORIZER_CONFIG": ""}}
    assert names == {"env.json", "expected.json", *(f"{c.name}.json" for c in CASES)}
