"""Issue 10 defect 2 and issue 11 item 4: how long a refresh may hold a decision, and when.

* An S3 that accepts connections and never answers: each hung GetObject took 9.1 s, a decision
  with the document and the truststore both due 18.2 s (Lambda times out at 6 s, API Gateway
  answers 500) while a good last copy sat in memory. Here the S3 endpoint is a real TCP proxy
  on 127.0.0.1 in front of a moto server, switched to swallow every request; the production
  boto3 client (its own timeouts, retries) is used, pointed at the proxy by
  ``AWS_ENDPOINT_URL_S3``. A decision must come back within ``cache.refresh_deadline_seconds``
  from the last good copy, and the retry interval must count from the failure.
* A document's own ``cache.ttl_seconds`` must apply from the first load, not after the
  built-in 60 s have passed once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import Runtime
from tests.pki import CA, NOW

BUCKET = "deadline-policies"


class SwitchableProxy:
    """A TCP proxy on 127.0.0.1: forwards to ``upstream`` until :meth:`hang`; from then on it
    accepts connections and reads requests but never answers, on old and new connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.hanging = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self.hanging.is_set():
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            upstream = socket.create_connection(self.upstream)
            self._sockets.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _swallow(self, sock: socket.socket) -> None:
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.hanging.is_set():  # once hanging, requests are read and never answered
                    dst.sendall(data)
        except OSError:
            pass

    def hang(self) -> None:
        self.hanging.set()

    def close(self) -> None:
        self.server.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[tuple[str, int]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield host, int(port)
    finally:
        server.stop()


@pytest.fixture
def proxy(moto_endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[SwitchableProxy]:
    p = SwitchableProxy(moto_endpoint)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{p.port}",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield p
    finally:
        p.close()


class Clock:
    """Real monotonic time plus an offset the test moves forward (TTLs without sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _pki() -> tuple[CA, CA]:
    root = CA.root("Deadline Root")
    return root, root.intermediate("Deadline Issuing")


def test_a_hanging_s3_never_holds_a_decision_past_the_deadline(moto_endpoint, proxy: SwitchableProxy) -> None:
    root, issuing = _pki()
    host, port = moto_endpoint
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, proxies={}),
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="truststore.pem", Body=issuing.cert_pem + root.cert_pem)
    doc = {
        "version": 1,
        "truststore": {"uri": "truststore.pem"},
        "cache": {"ttl_seconds": 1, "max_stale_seconds": 600, "refresh_deadline_seconds": 0.5},
    }
    s3.put_object(Bucket=BUCKET, Key="policy.json", Body=json.dumps(doc).encode())
    clock = Clock()
    rt = Runtime(f"s3://{BUCKET}/policy.json", clock=clock)
    event = make_event(issuing.issue("CN=deadline-client").cert_pem.decode())
    assert handle(event, rt, NOW).decision.reason is Reason.ALLOWED  # cold start, through the proxy

    proxy.hang()
    clock.offset += 2  # both the document and the truststore are due
    started = time.monotonic()
    snapshot = rt.load()
    waited = time.monotonic() - started
    assert waited < 0.5 + 0.4, f"a refresh held the decision {waited:.2f} s"
    assert any("no answer within" in note for note in snapshot.stale_notes), snapshot.stale_notes
    assert handle(event, rt, NOW).decision.reason is Reason.ALLOWED  # the last good copies answer

    # The retry waits min(ttl, 5) = 1 s from the failure, not from the start of the failed
    # attempt: 0.7 s after the failure, nobody waits for the hanging source again.
    clock.offset += 0.7
    started = time.monotonic()
    outcome = handle(event, rt, NOW)
    assert outcome.decision.reason is Reason.ALLOWED
    assert time.monotonic() - started < 0.25

    # Past the retry interval the next attempt is bounded the same way.
    clock.offset += 1.0
    started = time.monotonic()
    assert handle(event, rt, NOW).decision.reason is Reason.ALLOWED
    assert time.monotonic() - started < 0.5 + 0.4


def test_a_cold_start_against_a_hanging_s3_answers_before_lambdas_timeout(proxy: SwitchableProxy) -> None:
    proxy.hang()
    rt = Runtime(f"s3://{BUCKET}/policy.json", first_load_wait=1.0)
    started = time.monotonic()
    outcome = handle(make_event(CA.root("Cold").issue("CN=cold").cert_pem.decode()), rt, NOW)
    assert outcome.decision.reason is Reason.CONFIG_UNAVAILABLE
    assert "no answer within" in outcome.decision.detail
    assert time.monotonic() - started < 1.0 + 0.5


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc))


def test_the_documents_ttl_applies_from_the_first_load(tmp_path: Path) -> None:
    """ttl_seconds 3, the document replaced 1 s after the cold start: served by 3 s, not 60."""
    root, issuing = _pki()
    (tmp_path / "truststore.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    policy = tmp_path / "policy.json"
    base: dict[str, Any] = {"version": 1, "truststore": {"uri": "truststore.pem"}, "cache": {"ttl_seconds": 3}}
    _write(policy, base)
    now = [100.0]
    rt = Runtime(str(policy), clock=lambda: now[0])
    event = make_event(issuing.issue("CN=ttl-client").cert_pem.decode())
    assert handle(event, rt, NOW).decision.reason is Reason.ALLOWED

    now[0] += 1.0
    _write(policy, {**base, "deny": [{"name": "everyone", "match": {"issuer": "CN=Deadline Issuing,O=Test PKI"}}]})
    now[0] += 1.5  # 2.5 s after the first load: still within the document's TTL
    assert handle(event, rt, NOW).decision.reason is Reason.ALLOWED
    now[0] += 1.0  # 3.5 s: the replaced document is read
    assert handle(event, rt, NOW).decision.reason is Reason.CLIENT_DENIED
