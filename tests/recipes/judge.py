"""Judge one recipe the two ways a user meets the authorizer: ``mtls-authorizer verify`` (the
installed command, in a subprocess) and the Lambda handler on an API Gateway event.

Both must give the same verdict: the CLI is what an operator tries first, the handler is what
runs in production; a recipe allowed by one and refused by the other would be a bug by itself.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.runtime import Runtime
from tests.recipes.openssl_tool import OpenSSL, validation_time

CLI = Path(sys.executable).with_name("mtls-authorizer")
CLI_TIMEOUT = 60.0


@dataclass(frozen=True)
class Recipe:
    """What an operator has: the client's PEM, the truststore bundle, and when it is used."""

    leaf: Path
    truststore: Path
    at: dt.datetime


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    detail: str


def verify_cli(recipe: Recipe) -> Verdict:
    done = subprocess.run(
        [
            str(CLI),
            "verify",
            str(recipe.leaf),
            "--trust-store",
            str(recipe.truststore),
            "--at",
            recipe.at.isoformat(),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode in (0, 1), f"verify exited {done.returncode}: {done.stderr}"
    answer = json.loads(done.stdout)
    verdict = Verdict(answer["decision"] == "allow", answer["reason"], answer["detail"])
    assert verdict.allowed == (done.returncode == 0), done.stdout
    return verdict


def decide_handler(recipe: Recipe, folder: Path) -> Verdict:
    """The real handler, with a policy document whose truststore is the recipe's bundle, on a
    REST event and on HTTP API 1.0 and 2.0 events: one verdict for all three."""
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "policy.json"
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": str(recipe.truststore)}}))
    runtime = Runtime(str(policy))
    verdicts = set()
    for api in ("rest", "http1", "http2"):
        event = make_event(recipe.leaf.read_text(), api=api, method="GET", path="/pets", when=recipe.at)
        decision = handle(event, runtime, recipe.at).decision
        verdicts.add(Verdict(decision.allowed, decision.reason.value, decision.detail))
    assert len(verdicts) == 1, f"the API kinds disagree: {verdicts}"
    return verdicts.pop()


def judge(recipe: Recipe, folder: Path) -> Verdict:
    """Both verdicts, checked equal (reason and detail included), and returned."""
    cli = verify_cli(recipe)
    handler = decide_handler(recipe, folder / "handler")
    assert (cli.allowed, cli.reason) == (handler.allowed, handler.reason), f"CLI {cli} but handler {handler}"
    assert cli.detail == handler.detail, f"CLI {cli} but handler {handler}"
    return cli


def assert_allowed(recipe: Recipe, folder: Path) -> None:
    verdict = judge(recipe, folder)
    assert verdict.allowed, f"refused: {verdict.reason} - {verdict.detail}"
    assert verdict.reason == "ALLOWED"


def assert_refused(recipe: Recipe, folder: Path, reason: str, detail_prefix: str = "") -> Verdict:
    verdict = judge(recipe, folder)
    assert not verdict.allowed, f"allowed, expected {reason} {detail_prefix!r}"
    assert verdict.reason == reason, verdict
    assert verdict.detail.startswith(detail_prefix), verdict
    return verdict


def openssl_verify(recipe: Recipe, *extra: str) -> tuple[bool, str]:
    """``openssl verify -purpose sslclient`` on the same files (what the issue compares with)."""
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            "sslclient",
            "-attime",
            str(int(recipe.at.timestamp())),
            "-CAfile",
            str(recipe.truststore),
            *extra,
            str(recipe.leaf),
        ],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def recipe(ssl: OpenSSL, leaf: str, truststore: str, *chain: str) -> Recipe:
    at = validation_time(ssl.cert(leaf), *(ssl.cert(c) for c in chain))
    return Recipe(ssl.path(leaf), ssl.path(truststore), at)


def allowed_by_both(r: Recipe, folder: Path, *openssl_flags: str) -> None:
    ok, text = openssl_verify(r, *openssl_flags)
    assert ok, f"premise: openssl verify accepts the recipe: {text}"
    assert_allowed(r, folder)
