"""S3 that refuses, hangs, answers slowly or with garbage (issue 10, fault injection).

The policy document and truststore live in moto's S3 server; the runtime reaches it through a
:class:`FaultServer` proxy on 127.0.0.1 whose behaviour is switched mid-test, with the
production S3 client (its own timeouts and retries: only the endpoint comes from
``AWS_ENDPOINT_URL_S3``). Contracts: a cold start that cannot read the document answers
CONFIG_UNAVAILABLE; a warm function keeps deciding with its last good copy and logs that it
does; neither ever holds a decision past its configured wait (``cache.refresh_deadline_seconds``
warm, the runtime's first-load wait cold), asserted with a generous margin.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import FIRST_LOAD_WAIT_S, Runtime
from tests.faults.servers import FaultServer, closed_port
from tests.fuzz.support import captured_log
from tests.pki import CA, NOW, Issued

TTL_S = 0.5
#: The document's ``cache.refresh_deadline_seconds``: what a refresh may add to a warm decision.
REFRESH_DEADLINE_S = 0.5
#: Generous margin on top of every configured wait (a loaded 2-core machine, botocore's setup).
MARGIN_S = 1.5
WARM_BOUND_S = REFRESH_DEADLINE_S + MARGIN_S
#: A cold start has no copy to fall back on: it waits the runtime's first-load wait, no longer.
COLD_BOUND_S = FIRST_LOAD_WAIT_S + MARGIN_S


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, int]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield host, int(port)
    finally:
        server.stop()


@dataclass
class Pki:
    root: CA
    issuing: CA
    leaf: Issued


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = CA.root("S3 Faults Root")
    issuing = root.intermediate("S3 Faults Issuing")
    return Pki(root, issuing, issuing.issue("CN=s3 fault client"))


@pytest.fixture
def bucket(moto: tuple[str, int], pki: Pki) -> str:
    host, port = moto
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, proxies={}),
    )
    name = f"faults-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    policy = {
        "version": 1,
        "truststore": {"uri": "truststore.pem"},
        "cache": {"ttl_seconds": TTL_S, "max_stale_seconds": 3600, "refresh_deadline_seconds": REFRESH_DEADLINE_S},
    }
    s3.put_object(Bucket=name, Key="policy.json", Body=json.dumps(policy).encode())
    s3.put_object(Bucket=name, Key="truststore.pem", Body=pki.issuing.cert_pem + pki.root.cert_pem)
    return name


@pytest.fixture
def proxy(moto: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    server = FaultServer("proxy", upstream=moto)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for var in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        yield server
    finally:
        server.close()


@dataclass
class Result:
    reason: Reason
    elapsed: float
    line: dict[str, Any]
    warnings: list[str]


def decide(rt: Runtime, pki: Pki) -> Result:
    event = make_event(pki.leaf.cert_pem.decode(), when=NOW, request_id="s3-faults")
    with captured_log() as log:
        start = time.monotonic()
        outcome = handle(event, rt, NOW)
        elapsed = time.monotonic() - start
    [line] = log.decisions()
    warnings = [x for x in log.lines() if '"level":"WARNING"' in x and "authorization decision" not in x]
    return Result(outcome.decision.reason, elapsed, line, warnings)


FAULTS = ("refuse", "reset", "garbage", "hang")
#: What the log must say for each fault (lower case).
WHY = {"refuse": "s3 unreachable", "reset": "s3 unreachable", "garbage": "s3 unreachable", "hang": "no answer within"}


@pytest.mark.parametrize("fault", FAULTS)
def test_cold_start_without_s3_is_config_unavailable_within_the_deadline(
    bucket: str, proxy: FaultServer, pki: Pki, fault: str
) -> None:
    proxy.set_mode(fault)
    rt = Runtime(f"s3://{bucket}/policy.json")
    result = decide(rt, pki)
    assert result.reason is Reason.CONFIG_UNAVAILABLE, result.line
    assert WHY[fault] in result.line.get("detail", "").lower(), result.line
    assert result.elapsed < COLD_BOUND_S, result.elapsed


def test_cold_start_with_nothing_listening(bucket: str, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = decide(Runtime(f"s3://{bucket}/policy.json"), pki)
    assert result.reason is Reason.CONFIG_UNAVAILABLE, result.line
    assert "s3 unreachable" in result.line.get("detail", "").lower(), result.line
    assert result.elapsed < COLD_BOUND_S, result.elapsed


@pytest.mark.parametrize("fault", FAULTS)
def test_warm_function_keeps_its_last_good_copy_within_the_deadline(
    bucket: str, proxy: FaultServer, pki: Pki, fault: str
) -> None:
    rt = Runtime(f"s3://{bucket}/policy.json")
    assert decide(rt, pki).reason is Reason.ALLOWED
    proxy.set_mode(fault)
    time.sleep(TTL_S + 0.1)  # both copies are due
    first = decide(rt, pki)
    assert first.reason is Reason.ALLOWED, first.line
    assert first.elapsed < WARM_BOUND_S, first.elapsed
    stale = [w for w in first.warnings if "serving a stale copy" in w]
    assert stale and any(WHY[fault] in w.lower() for w in stale), first.warnings
    # the retry waits from the failure: the next request, right after, does not pay again
    second = decide(rt, pki)
    assert second.reason is Reason.ALLOWED, second.line
    assert second.elapsed < 0.5, second.elapsed


def test_slow_s3_answers_fresh_within_its_timeouts(bucket: str, proxy: FaultServer, pki: Pki) -> None:
    rt = Runtime(f"s3://{bucket}/policy.json")
    assert decide(rt, pki).reason is Reason.ALLOWED
    proxy.set_mode("proxy", delay=0.15)  # both objects answer within the refresh deadline
    time.sleep(TTL_S + 0.1)
    result = decide(rt, pki)
    assert result.reason is Reason.ALLOWED, result.line
    assert not [w for w in result.warnings if "stale" in w], result.warnings  # slow is not failed
    assert 0.15 <= result.elapsed < WARM_BOUND_S, result.elapsed


def test_s3_back_after_a_fault_is_read_again(bucket: str, proxy: FaultServer, pki: Pki) -> None:
    rt = Runtime(f"s3://{bucket}/policy.json")
    assert decide(rt, pki).reason is Reason.ALLOWED
    proxy.set_mode("refuse")
    time.sleep(TTL_S + 0.1)
    assert any("stale" in w for w in decide(rt, pki).warnings)
    proxy.set_mode("proxy", delay=0.0)
    time.sleep(TTL_S + 0.1)  # the retry interval after a failure (min(ttl, 5 s)) has passed
    result = decide(rt, pki)
    assert result.reason is Reason.ALLOWED
    assert not [w for w in result.warnings if "stale" in w], result.warnings


def test_s3_slower_than_the_refresh_deadline_answers_stale_then_fresh(
    bucket: str, proxy: FaultServer, pki: Pki
) -> None:
    """Past the deadline the last good copy answers (the log says the fetch got no answer in
    time); once S3 is back to speed, decisions are fresh again."""
    rt = Runtime(f"s3://{bucket}/policy.json")
    assert decide(rt, pki).reason is Reason.ALLOWED
    proxy.set_mode("proxy", delay=REFRESH_DEADLINE_S + 0.4)
    time.sleep(TTL_S + 0.1)
    slow = decide(rt, pki)
    assert slow.reason is Reason.ALLOWED, slow.line
    assert slow.elapsed < WARM_BOUND_S, slow.elapsed
    assert any("no answer within" in w for w in slow.warnings), slow.warnings
    proxy.set_mode("proxy", delay=0.0)
    deadline = time.monotonic() + 10
    fresh = decide(rt, pki)
    while [w for w in fresh.warnings if "stale" in w] and time.monotonic() < deadline:
        time.sleep(0.2)
        fresh = decide(rt, pki)
    assert fresh.reason is Reason.ALLOWED, fresh.line
    assert not [w for w in fresh.warnings if "stale" in w], fresh.warnings
