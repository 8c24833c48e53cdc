"""Issue 10, defect 6: hostile numbers and nesting in a policy document are CONFIG_INVALID.

A document nested thousands of levels deep, an integer of 5,000 digits or a TTL of ``1e400``
raised ``RecursionError``, ``ValueError`` and ``OverflowError`` (``check-config`` printed a
traceback); ``NaN`` and ``Infinity`` were accepted ("re-read every nan s"). Each is now a
``ConfigError`` that names the field, in the loader, the runtime and ``check-config``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from authorizer.config import MAX_DEPTH, PolicyConfig
from authorizer.reasons import ConfigError, Reason

HEAD = '{"version": 1, "truststore": {"uri": "truststore.pem"}, '

CASES = [
    (HEAD + '"cache": {"ttl_seconds": NaN}}', "cache.ttl_seconds"),
    (HEAD + '"cache": {"ttl_seconds": Infinity}}', "cache.ttl_seconds"),
    (HEAD + '"cache": {"max_stale_seconds": -Infinity}}', "cache.max_stale_seconds"),
    (HEAD + '"cache": {"ttl_seconds": 1e400}}', "cache.ttl_seconds"),
    (HEAD + '"cache": {"ttl_seconds": ' + "9" * 5000 + "}}", "cache.ttl_seconds"),
    (HEAD + '"cache": {"ttl_seconds": 1e300}}', "cache.ttl_seconds"),
    (HEAD + '"comment": [1, NaN]}', "comment[1]"),
    (HEAD + '"clients": [{"name": "a", "match": {"serial": ' + "1" * 5000 + "}}]}", "clients[0].match.serial"),
    (HEAD + '"description": ' + "[" * 5000 + "]" * 5000 + "}", ""),
    (HEAD + '"description": ' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}", "description[0]"),
]


@pytest.mark.parametrize(("text", "where"), CASES)
def test_the_loader_refuses_with_the_field_path(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        PolicyConfig.from_json(text.encode(), "policy.json")
    assert info.value.reason is Reason.CONFIG_INVALID
    assert info.value.path.startswith(where), info.value.detail[:200]
    assert len(info.value.detail) < 1000


def test_python_documents_with_non_finite_numbers_are_refused_too() -> None:
    for value in (float("nan"), float("inf"), 10**400):
        with pytest.raises(ConfigError) as info:
            PolicyConfig.from_dict({"version": 1, "truststore": {"uri": "t.pem"}, "cache": {"ttl_seconds": value}})
        assert info.value.path == "cache.ttl_seconds"


def test_ordinary_numbers_still_load() -> None:
    config = PolicyConfig.from_json((HEAD + '"cache": {"ttl_seconds": 2.5, "max_stale_seconds": 600}}').encode())
    assert (config.cache.ttl_seconds, config.cache.max_stale_seconds) == (2.5, 600.0)


def test_check_config_prints_no_traceback(tmp_path: Path) -> None:
    for i, (text, where) in enumerate(CASES):
        doc = tmp_path / f"policy{i}.json"
        doc.write_text(text)
        proc = subprocess.run(
            [sys.executable, "-m", "authorizer", "check-config", str(doc)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 1, (where, proc.stdout[-500:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr and proc.stdout.startswith("INVALID"), where
        assert f"CONFIG_INVALID: {where}" in proc.stdout, proc.stdout[:300]


def test_the_handler_answers_config_invalid(tmp_path: Path) -> None:
    from authorizer.app import handle
    from authorizer.events import make_event
    from authorizer.runtime import Runtime
    from tests.pki import CA, NOW

    doc = tmp_path / "policy.json"
    doc.write_text(HEAD + '"cache": {"ttl_seconds": NaN}}')
    outcome = handle(make_event(CA.root("Limits").issue("CN=x").cert_pem.decode()), Runtime(str(doc)), NOW)
    assert outcome.decision.reason is Reason.CONFIG_INVALID
    assert "cache.ttl_seconds" in outcome.decision.detail
    assert json.dumps(outcome.response)
