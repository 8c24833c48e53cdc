"""Properties of the policy loader and of ``check-config`` on mutated documents (issue 10).

* ``PolicyConfig.from_json`` raises only ``ConfigError`` (CONFIG_INVALID with a field path);
* a document it accepts has finite cache durations (NaN or Infinity is no duration) and can be
  summarised;
* ``mtls-authorizer check-config`` answers VALID (exit 0) or INVALID (exit 1), never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authorizer import cli
from authorizer.config import PolicyConfig
from authorizer.reasons import ConfigError
from authorizer.runtime import DEFAULT_CONFIG
from tests.fuzz import mutate

DEMO_POLICY: dict[str, Any] = json.loads(Path(DEFAULT_CONFIG).read_text())
DEMO_TEXT = Path(DEFAULT_CONFIG).read_text()


def _doc(**changes: Any) -> str:
    doc = json.loads(DEMO_TEXT)
    doc.update(changes)
    return mutate.dumps(doc)


#: The reproductions of issue 10, defect 6.
DEEP = _doc(comment=mutate.deep(3000))
BIG_INT = _doc(cache={"ttl_seconds": mutate.BIG_INT})
HUGE_TTL = DEMO_TEXT.replace('"ttl_seconds": 60', '"ttl_seconds": 1e400')
NAN_TTL = DEMO_TEXT.replace('"ttl_seconds": 60', '"ttl_seconds": NaN')
INF_STALE = DEMO_TEXT.replace('"max_stale_seconds": 3600', '"max_stale_seconds": Infinity')


def documents() -> st.SearchStrategy[str]:
    """Mutated demo documents: structural edits written as JSON, or byte edits of the text."""
    structural = mutate.json_mutation(DEMO_POLICY).map(mutate.dumps)
    textual = mutate.byte_mutation(DEMO_TEXT.encode()).map(lambda b: b.decode("utf-8", "replace"))
    return st.one_of(structural, structural, textual)


@given(documents())
@example(DEEP)
@example(BIG_INT)
@example(HUGE_TTL)
@example(NAN_TTL)
@example(INF_STALE)
def test_policy_loader_raises_only_config_errors(text: str) -> None:
    try:
        config = PolicyConfig.from_json(text.encode("utf-8", "surrogatepass"), DEFAULT_CONFIG)
    except ConfigError as exc:
        assert exc.detail
        return
    assert math.isfinite(config.cache.ttl_seconds), config.cache
    assert math.isfinite(config.cache.max_stale_seconds), config.cache
    assert all(isinstance(line, str) for line in config.summary())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo policy's neighbours (truststore, CRLs), so relative references resolve."""
    path = tmp_path_factory.mktemp("check-config")
    data = Path(DEFAULT_CONFIG).parent
    shutil.copy(data / "truststore.pem", path / "truststore.pem")
    shutil.copytree(data / "crl", path / "crl")
    yield path


def check_config(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["check-config", str(path)])
    return code, out.getvalue() + err.getvalue()


def test_check_config_on_the_demo_document(folder: Path) -> None:
    (folder / "demo.json").write_text(DEMO_TEXT)
    code, output = check_config(folder / "demo.json")
    assert code == cli.EXIT_OK and output.startswith("VALID"), output


@given(documents())
@example(DEEP)
@example(BIG_INT)
@example(HUGE_TTL)
@example(NAN_TTL)
def test_check_config_never_prints_a_traceback(folder: Path, text: str) -> None:
    path = folder / "policy.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    code, output = check_config(path)
    assert "Traceback" not in output, output[-2000:]
    assert code in (cli.EXIT_OK, cli.EXIT_REFUSED), (code, output[-2000:])
    assert output.startswith("VALID" if code == cli.EXIT_OK else "INVALID"), output[:500]
    assert re.search(r"(re-read every|kept) -?(nan|inf) s", output) is None, output[:500]


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("deep", DEEP, ""),
        ("big-int", BIG_INT, ""),
        ("1e400", HUGE_TTL, "cache.ttl_seconds"),
        ("nan", NAN_TTL, "cache.ttl_seconds"),
        ("infinity", INF_STALE, "cache.max_stale_seconds"),
    ],
)
def test_check_config_command_on_the_reproductions(folder: Path, name: str, text: str, field: str) -> None:
    """The real command in its own process: INVALID with the field's path, exit 1, no traceback."""
    path = folder / f"{name}.json"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "authorizer", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == cli.EXIT_REFUSED, output
    assert proc.stdout.startswith("INVALID"), output
    assert "Traceback" not in output, output
    assert field in proc.stdout, output
