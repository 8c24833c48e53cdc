"""CachedBlob over S3Fetcher through moto (in-process): TTL, ETag revalidation, last-known-good.

A fake monotonic clock drives time; a botocore ``before-send`` hook counts the HTTP requests
that reach "S3", so "no request within a TTL" is measured at the wire, not by the cache's own
counter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from authorizer.policy import AccessPolicy
from authorizer.reasons import AuthorizerError, ConfigError, Reason, SourceError
from authorizer.sources.blob import Blob, CachedBlob, S3Fetcher

BUCKET = "policy-bucket"
KEY = "policy.json"
URI = f"s3://{BUCKET}/{KEY}"
TTL = 60.0
MAX_STALE = 600.0


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Wire:
    """What reached S3: one entry per HTTP request, with its If-None-Match header."""

    requests: list[str | None] = field(default_factory=list)

    def hook(self, request: Any, **_: Any) -> None:
        tag = request.headers.get("If-None-Match")
        self.requests.append(tag.decode() if isinstance(tag, bytes) else tag)


@dataclass
class Parser:
    """Counts parses: a 304 must not re-parse."""

    calls: int = 0

    def __call__(self, data: bytes) -> AccessPolicy:
        self.calls += 1
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise ConfigError("", f"not JSON: {exc}") from None
        return AccessPolicy.from_dict(doc)


def doc(*names: str) -> bytes:
    return json.dumps(
        {"clients": [{"name": n, "match": {"subject": f"CN={n}"}, "routes": ["GET /pets"]} for n in names]}
    ).encode()


def names(policy: AccessPolicy) -> list[str]:
    return [c.name for c in policy.clients or ()]


@dataclass
class Env:
    s3: Any
    wire: Wire
    clock: FakeClock
    parser: Parser
    cache: CachedBlob[AccessPolicy]

    def put(self, data: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=data)

    def break_bucket(self) -> None:
        for obj in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            self.s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
        self.s3.delete_bucket(Bucket=BUCKET)

    def restore_bucket(self, data: bytes) -> None:
        self.s3.create_bucket(Bucket=BUCKET)
        self.put(data)


@pytest.fixture
def env() -> Iterator[Env]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=doc("a"))
        wire = Wire()
        # Registered after the setup calls above, so only the cache's requests are counted.
        s3.meta.events.register("before-send.s3.GetObject", wire.hook)
        clock = FakeClock()
        parser = Parser()
        cache = CachedBlob(URI, parser, S3Fetcher(client_factory=lambda: s3), ttl=TTL, max_stale=MAX_STALE, clock=clock)
        yield Env(s3, wire, clock, parser, cache)


def test_first_get_loads_and_a_second_within_ttl_makes_no_request(env: Env) -> None:
    first = env.cache.get()
    assert names(first.value) == ["a"] and not first.stale and first.error is None
    assert first.blob.etag
    env.clock.advance(TTL - 0.001)
    second = env.cache.get()
    assert second is first
    assert env.wire.requests == [None]  # one unconditional GET, nothing since
    assert env.cache.fetches == 1


def test_after_ttl_a_conditional_get_answers_not_modified(env: Env) -> None:
    first = env.cache.get()
    env.clock.advance(TTL)
    again = env.cache.get()
    assert env.wire.requests == [None, first.blob.etag]  # If-None-Match carries the ETag
    assert again.value is first.value  # same parsed object: nothing re-parsed
    assert env.parser.calls == 1
    assert not again.stale
    env.clock.advance(TTL - 1)
    env.cache.get()
    assert len(env.wire.requests) == 2  # the revalidation restarted the TTL


def test_a_changed_object_is_picked_up_after_ttl(env: Env) -> None:
    env.cache.get()
    env.put(doc("a", "b"))
    env.clock.advance(TTL / 2)
    assert names(env.cache.get().value) == ["a"]  # within the TTL: the cached one, no request
    env.clock.advance(TTL / 2)
    loaded = env.cache.get()
    assert names(loaded.value) == ["a", "b"]
    assert env.parser.calls == 2
    assert len(env.wire.requests) == 2


def test_outage_served_from_last_good_until_max_stale(env: Env) -> None:
    good = env.cache.get()
    env.break_bucket()
    env.clock.advance(TTL)
    stale = env.cache.get()
    assert stale.stale and stale.value is good.value
    assert isinstance(stale.error, SourceError) and stale.error.reason is Reason.CONFIG_UNAVAILABLE
    requests = len(env.wire.requests)
    env.clock.advance(1)
    assert env.cache.get().stale
    assert len(env.wire.requests) == requests  # failed refreshes are retried, but not on every request
    env.clock.advance(MAX_STALE - TTL - 1)  # exactly max_stale after the last good load
    assert env.cache.get().value is good.value
    env.clock.advance(5)
    with pytest.raises(SourceError) as info:
        env.cache.get()
    assert info.value.reason is Reason.CONFIG_UNAVAILABLE


def test_recovery_after_an_outage_is_fresh_again(env: Env) -> None:
    env.cache.get()
    env.break_bucket()
    env.clock.advance(TTL)
    assert env.cache.get().stale
    env.restore_bucket(doc("a", "c"))
    env.clock.advance(5)
    loaded = env.cache.get()
    assert not loaded.stale and loaded.error is None
    assert names(loaded.value) == ["a", "c"]


def test_an_invalid_update_does_not_replace_the_good_one(env: Env) -> None:
    good = env.cache.get()
    env.put(json.dumps({"clients": [{"name": "x", "match": {}, "routes": []}]}).encode())
    env.clock.advance(TTL)
    served = env.cache.get()
    assert served.stale and served.value is good.value
    assert isinstance(served.error, ConfigError)
    assert served.error.reason is Reason.CONFIG_INVALID
    assert served.error.path == "clients[0].match"
    env.put(b"{not json")
    env.clock.advance(5)
    assert env.cache.get().value is good.value
    env.clock.advance(MAX_STALE)
    with pytest.raises(ConfigError):
        env.cache.get()


def test_a_fix_after_an_invalid_update_is_taken(env: Env) -> None:
    env.cache.get()
    env.put(b"[]")
    env.clock.advance(TTL)
    assert env.cache.get().stale
    env.put(doc("fixed"))
    env.clock.advance(5)
    loaded = env.cache.get()
    assert names(loaded.value) == ["fixed"] and not loaded.stale


def test_staleness_counts_from_the_last_revalidation(env: Env) -> None:
    """A 304 is a successful revalidation: the max_stale window restarts from it."""
    env.cache.get()
    env.clock.advance(MAX_STALE - 10)
    assert not env.cache.get().stale  # revalidated (304) at t0 + MAX_STALE - 10
    env.break_bucket()
    env.clock.advance(MAX_STALE - 5)  # t0 + 2*MAX_STALE - 15: long after the first load
    assert env.cache.get().stale
    env.clock.advance(10)
    with pytest.raises(SourceError):
        env.cache.get()


def test_never_a_good_document_raises(env: Env) -> None:
    env.break_bucket()
    with pytest.raises(SourceError) as info:
        env.cache.get()
    assert "S3" in info.value.detail


def test_an_invalid_first_document_raises_config_invalid(env: Env) -> None:
    env.put(b'{"clients": 3}')
    with pytest.raises(ConfigError) as info:
        env.cache.get()
    assert info.value.reason is Reason.CONFIG_INVALID
    assert info.value.detail == "clients: expected a list"


def test_after_staleness_expired_a_recovered_source_loads_unconditionally(env: Env) -> None:
    env.cache.get()
    env.break_bucket()
    env.clock.advance(MAX_STALE + 1)
    with pytest.raises(SourceError):
        env.cache.get()
    env.restore_bucket(doc("back"))
    env.clock.advance(5)
    assert names(env.cache.get().value) == ["back"]
    assert env.wire.requests[-1] is None  # no ETag to revalidate against any more


def test_invalidate_forces_a_revalidation(env: Env) -> None:
    env.cache.get()
    env.cache.invalidate()
    env.cache.get()
    assert len(env.wire.requests) == 2


# --------------------------------------------------------------------------- fake fetchers


@dataclass
class FlakyFetcher:
    """Serves one blob, then fails with the configured error."""

    data: bytes
    error: AuthorizerError | None = None
    calls: int = 0

    def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if etag == "v1":
            return None
        return Blob(uri, self.data, "v1", version)


def test_a_raising_fetcher_is_an_outage() -> None:
    clock = FakeClock()
    fetcher = FlakyFetcher(doc("a"))
    cache = CachedBlob(URI, Parser(), fetcher, ttl=TTL, max_stale=MAX_STALE, clock=clock)
    good = cache.get().value
    fetcher.error = SourceError(URI, "S3 unreachable: timeout")
    clock.advance(TTL)
    stale = cache.get()
    assert stale.stale and stale.value is good and stale.error is fetcher.error
    clock.advance(MAX_STALE)
    with pytest.raises(SourceError, match="timeout"):
        cache.get()


def test_stale_value_is_never_served_after_max_stale() -> None:
    clock = FakeClock()
    fetcher = FlakyFetcher(doc("a"))
    cache = CachedBlob(URI, Parser(), fetcher, ttl=TTL, max_stale=MAX_STALE, clock=clock)
    cache.get()  # good at t0
    fetcher.error = SourceError(URI, "down")
    clock.advance(MAX_STALE - 1)  # t0 + 599: refresh fails, stale served, next try at t0 + 604
    assert cache.get().stale
    clock.advance(3)  # t0 + 602: 2 s past max_stale
    with pytest.raises(SourceError):
        cache.get()


def test_a_parser_bug_keeps_the_last_good_value() -> None:
    """Only ConfigError was planned for; any other parser exception must not drop the good copy."""

    class VersionedFetcher:
        def __init__(self) -> None:
            self.data = doc("a")

        def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
            tag = str(len(self.data)) + self.data.decode()[-8:]
            return None if etag == tag else Blob(uri, self.data, tag, version)

    parser = Parser()
    calls = {"n": 0}

    def flaky_parse(data: bytes) -> AccessPolicy:
        calls["n"] += 1
        if calls["n"] > 1:
            raise TypeError("parser bug")
        return parser(data)

    clock = FakeClock()
    fetcher = VersionedFetcher()
    cache = CachedBlob(URI, flaky_parse, fetcher, ttl=TTL, max_stale=MAX_STALE, clock=clock)
    good = cache.get().value
    fetcher.data = doc("a", "b")
    clock.advance(TTL)
    stale = cache.get()
    assert stale.stale and stale.value is good
    assert stale.error is not None and stale.error.reason is Reason.CONFIG_INVALID
    assert "TypeError" in stale.error.detail


def test_a_source_that_never_answered_is_not_asked_on_every_request() -> None:
    clock = FakeClock()
    fetcher = FlakyFetcher(doc("a"))
    fetcher.error = SourceError(URI, "down")
    cache = CachedBlob(URI, Parser(), fetcher, ttl=TTL, max_stale=MAX_STALE, clock=clock)
    for _ in range(50):
        with pytest.raises(SourceError):
            cache.get()
    assert cache.fetches == 1
    clock.advance(5)
    fetcher.error = None
    assert names(cache.get().value) == ["a"]
    assert cache.fetches == 2


def test_a_pinned_object_version_ignores_newer_puts(env: Env) -> None:
    """``truststore.version``: like API Gateway's truststoreVersion, a named version stays put."""
    env.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = env.s3.put_object(Bucket=BUCKET, Key=KEY, Body=doc("v1"))["VersionId"]
    env.put(doc("v2"))
    pinned = CachedBlob(URI, Parser(), S3Fetcher(client_factory=lambda: env.s3), ttl=TTL, version=v1, clock=env.clock)
    first = pinned.get()
    assert names(first.value) == ["v1"] and first.blob.version == v1
    env.put(doc("v3"))
    env.clock.advance(TTL)
    assert pinned.get().value is first.value  # revalidated (304) against the same version
    assert names(env.cache.get().value) == ["v3"]  # the unpinned cache follows the latest


def test_local_file_is_revalidated_by_size_and_mtime(tmp_path: Any) -> None:
    from authorizer.sources.blob import FileFetcher

    path = tmp_path / "policy.json"
    path.write_bytes(doc("a"))
    clock = FakeClock()
    parser = Parser()
    cache = CachedBlob(str(path), parser, FileFetcher(), ttl=TTL, clock=clock)
    assert names(cache.get().value) == ["a"]
    clock.advance(TTL)
    cache.get()
    assert parser.calls == 1  # unchanged file: not re-read or re-parsed
    path.write_bytes(doc("a", "bb"))
    clock.advance(TTL)
    assert names(cache.get().value) == ["a", "bb"]
    path.unlink()
    clock.advance(TTL)
    loaded = cache.get()
    assert loaded.stale and isinstance(loaded.error, SourceError)
