"""End to end over HTTP against moto's server: a policy changed in S3 changes decisions within
one TTL, and nothing is requested from S3 inside a TTL.

Unlike the in-process ``mock_aws`` tests, every call here crosses a real socket (127.0.0.1) and
botocore's full HTTP stack, so the ETag round trip (quoted header, 304 answer) is the real one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from authorizer.certificate import ClientCertificate
from authorizer.policy import AccessPolicy
from authorizer.reasons import AuthorizerError, ConfigError, Reason
from authorizer.sources.blob import CachedBlob, S3Fetcher
from tests.pki import CA, shared_key

TTL = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, proxies={}),
    )


def parse(data: bytes) -> AccessPolicy:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ConfigError("", f"not JSON: {exc}") from None
    return AccessPolicy.from_dict(doc)


def policy_doc(routes: list[str]) -> bytes:
    return json.dumps(
        {
            "version": 1,
            "clients": [{"name": "partner-a", "match": {"subject": "CN=client1, O=Partner A"}, "routes": routes}],
            "cache": {"ttl_seconds": TTL, "max_stale_seconds": 600},
        }
    ).encode()


def decide(policy: AccessPolicy, cert: ClientCertificate, issuer: CA, verb: str, path: str) -> str:
    try:
        return policy.evaluate(cert, issuer.cert, verb, path).principal_id
    except AuthorizerError as exc:
        return exc.reason.value


def test_changed_document_changes_decisions_within_one_ttl(s3: Any, issuing: CA) -> None:
    bucket = f"policy-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="policy.json", Body=policy_doc(["GET /pets"]))
    sent: list[str] = []
    s3.meta.events.register("before-send.s3.GetObject", lambda request, **_: sent.append(request.method))

    clock = FakeClock()
    loaded_at = clock.now
    cache = CachedBlob(f"s3://{bucket}/policy.json", parse, S3Fetcher(client_factory=lambda: s3), ttl=TTL, clock=clock)
    cert = ClientCertificate(issuing.issue("CN=client1,O=Partner A", key=shared_key("p256")).cert)

    assert decide(cache.get().value, cert, issuing, "GET", "/pets") == "partner-a"
    assert decide(cache.get().value, cert, issuing, "POST", "/pets") == Reason.ROUTE_NOT_ALLOWED.value

    s3.put_object(Bucket=bucket, Key="policy.json", Body=policy_doc(["GET /pets", "POST /pets"]))
    for _ in range(100):  # a warm function inside the TTL: cached decisions, no request at all
        clock.now += TTL / 200
        assert decide(cache.get().value, cert, issuing, "POST", "/pets") == Reason.ROUTE_NOT_ALLOWED.value
    assert sent == ["GET"]

    clock.now = loaded_at + TTL  # one TTL after the first load: the change is live
    assert decide(cache.get().value, cert, issuing, "POST", "/pets") == "partner-a"
    assert len(sent) == 2

    clock.now += TTL  # unchanged since: a conditional GET answered 304, same parsed policy
    before = cache.get()
    clock.now += TTL
    after = cache.get()
    assert after.value is before.value and not after.stale
    assert len(sent) == 4

    s3.put_object(Bucket=bucket, Key="policy.json", Body=b'{"clients": [{"name": "x"}]}')
    clock.now += TTL
    kept = cache.get()  # an invalid update over HTTP: the good policy stays, marked stale
    assert kept.stale and isinstance(kept.error, ConfigError)
    assert kept.error.detail == "clients[0].match: required"
    assert decide(kept.value, cert, issuing, "POST", "/pets") == "partner-a"
