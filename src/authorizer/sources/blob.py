"""Blobs named by URI (a path, ``file://`` or ``s3://``), fetched with a size cap and revalidated.

Two layers, in the spirit of Powertools' ``utilities/parameters``:

* a :class:`BlobFetcher` does one conditional fetch (``If-None-Match`` on the S3 ETag, size and
  mtime for local files) and knows nothing about caching;
* a :class:`CachedBlob` keeps the parsed value of one URI, revalidates it at most once per TTL,
  and serves the last good value for up to ``max_stale`` seconds when the source fails or the
  new content does not parse. Staleness counts from the last successful load or revalidation.

The boto3 client is created lazily and once per process: importing boto3 and building a client
costs more than half a second of cold start, and a policy held in a local file never pays it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from ..reasons import AuthorizerError, ConfigError, SourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Largest policy document or truststore bundle accepted (API Gateway's truststore limit is 1 MB).
DEFAULT_MAX_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Blob:
    """The bytes of one URI and the validators that let the next fetch be conditional."""

    uri: str
    data: bytes
    etag: str | None = None
    version: str | None = None


class BlobFetcher(Protocol):
    def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
        """Return the blob, or ``None`` when ``etag`` still matches (not modified).

        Raises :class:`SourceError` when the blob cannot be had.
        """
        ...


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise SourceError(uri, "an S3 URI needs a bucket and a key: s3://bucket/key")
    return bucket, unquote(key)


def local_path(uri: str) -> str:
    """``file:///x`` or a plain path to a filesystem path."""
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise SourceError(uri, "file:// URIs must be local (file:///path)")
        return unquote(parts.path)
    if "://" in uri:
        raise SourceError(uri, "unsupported scheme: use a path, file:// or s3://")
    return uri


class FileFetcher:
    """Reads local files; the ETag is size and mtime, so an unchanged file is not re-parsed."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
        path = local_path(uri)
        try:
            st = os.stat(path)
            tag = f"{st.st_size}-{st.st_mtime_ns}"
            if etag is not None and etag == tag:
                return None
            if st.st_size > self.max_bytes:
                raise SourceError(uri, f"{st.st_size} bytes is over the {self.max_bytes}-byte cap")
            with open(path, "rb") as fh:
                data = fh.read(self.max_bytes + 1)
        except OSError as exc:
            raise SourceError(uri, exc.strerror or type(exc).__name__) from None
        if len(data) > self.max_bytes:
            raise SourceError(uri, f"over the {self.max_bytes}-byte cap")
        return Blob(uri, data, tag, version)


class S3Fetcher:
    """Conditional ``GetObject`` with a size cap; one boto3 client per process, made on first use."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        client_factory: Callable[[], S3Client] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._factory = client_factory or _default_s3_client
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = parse_s3_uri(uri)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            kwargs["IfNoneMatch"] = etag
        if version:
            kwargs["VersionId"] = version
        try:
            resp = self.client.get_object(**kwargs)
            length = int(resp.get("ContentLength", 0))
            body = resp["Body"]
            try:
                if length > self.max_bytes:
                    raise SourceError(uri, f"{length} bytes is over the {self.max_bytes}-byte cap")
                data = body.read(self.max_bytes + 1)
            finally:
                body.close()
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("304", "NotModified") or status == 304:
                return None
            raise SourceError(uri, f"S3 {code or status}: {err.get('Message', '')}".strip()) from None
        except BotoCoreError as exc:
            raise SourceError(uri, f"S3 unreachable: {exc}") from None
        if len(data) > self.max_bytes:
            raise SourceError(uri, f"over the {self.max_bytes}-byte cap")
        return Blob(uri, data, resp.get("ETag"), resp.get("VersionId") or version)


def _default_s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    # Short timeouts and one retry: a refresh happens inside an authorizer call. The caller's
    # deadline (CachedBlob) is what bounds a decision; these bound the background fetch itself.
    cfg = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.client("s3", config=cfg)


class Fetchers:
    """Dispatches a URI to the fetcher of its scheme."""

    def __init__(self, file: BlobFetcher | None = None, s3: BlobFetcher | None = None) -> None:
        self.file = file or FileFetcher()
        self.s3 = s3 or S3Fetcher()

    def fetch(self, uri: str, *, etag: str | None = None, version: str | None = None) -> Blob | None:
        fetcher = self.s3 if is_s3(uri) else self.file
        return fetcher.fetch(uri, etag=etag, version=version)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A parsed value with where it came from; ``stale`` is set while serving a last-known-good."""

    value: T
    blob: Blob
    stale: bool = False
    error: AuthorizerError | None = None


class _Attempt:
    """One fetch, run in a daemon thread when the caller may only wait a bounded time.

    A fetch that outlives the caller's deadline keeps running (botocore's own timeouts end it);
    its outcome is used by the next refresh instead of starting another request.
    """

    def __init__(self, fetch: Callable[[], Blob | None], uri: str, background: bool) -> None:
        self.blob: Blob | None = None
        self.error: AuthorizerError | None = None
        self.done = threading.Event()
        self._fetch, self._uri = fetch, uri
        if background:
            threading.Thread(target=self._run, name=f"refresh {uri[:60]}", daemon=True).start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            self.blob = self._fetch()
        except AuthorizerError as exc:
            self.error = exc
        except Exception as exc:  # a fetcher bug: a failed fetch like any other, never lost
            self.error = SourceError(self._uri, f"fetch failed ({type(exc).__name__}: {str(exc)[:200]})")
        finally:
            self.done.set()


class CachedBlob(Generic[T]):
    """One URI's parsed value: revalidated at most once per ``ttl``, last-known-good on failure.

    ``parse`` turns bytes into the value and raises :class:`AuthorizerError` (usually a
    ``ConfigError``) when the content is unusable; a bad update never replaces a good value.

    ``ttl`` and ``max_stale`` may be changed at any time and apply at once: the next check is
    computed from the last good load, not scheduled when it happened (a document's own
    ``cache.ttl_seconds`` governs from its first load). With ``deadline`` set, a refresh waits
    at most that many seconds for the source: past it the last good copy answers (or, with no
    copy yet, the refresh fails), and the next attempt waits ``min(ttl, 5)`` seconds counted
    from that failure.
    """

    def __init__(
        self,
        uri: str,
        parse: Callable[[bytes], T],
        fetcher: BlobFetcher,
        *,
        ttl: float = 60.0,
        max_stale: float = 3600.0,
        version: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float | None = None,
        first_deadline: float | None = None,
    ) -> None:
        self.uri = uri
        self.version = version
        self.ttl = ttl
        self.max_stale = max_stale
        self.deadline = deadline
        #: The wait while there is no copy at all (a cold start pays for boto3's client and a
        #: new connection, and there is nothing else to answer with); ``deadline`` if unset.
        self.first_deadline = first_deadline
        self._parse = parse
        self._fetcher = fetcher
        self._clock = clock
        self._current: Loaded[T] | None = None
        self._last_error: AuthorizerError | None = None
        self._good_at = 0.0  # last successful load or revalidation
        self._retry_at: float | None = None  # set while the last attempt failed
        self._forced = True  # the next get must check the source (first use, invalidate)
        self._inflight: _Attempt | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # requests made to the source, for tests and benchmarks

    @property
    def has_copy(self) -> bool:
        return self._current is not None

    @property
    def good_at(self) -> float:
        """When the value served was last loaded or revalidated (the clock's time)."""
        return self._good_at

    def _due(self, now: float) -> bool:
        if self._forced:
            return True
        attempt = self._inflight
        if attempt is not None and attempt.done.is_set():
            return True  # a fetch that finished after its wait: use its answer now, not at the retry

        if self._retry_at is not None:
            # Never serve a stale copy past max_stale, even between retries.
            stale_too_long = self._current is not None and now - self._good_at > self.max_stale
            return now >= self._retry_at or stale_too_long
        return now >= self._good_at + self.ttl

    def get(self, wait: float | None = None) -> Loaded[T]:
        """The value to use now; raises the last error when there is no usable value.

        ``wait`` caps this call's wait for the source below ``deadline`` (a caller with two
        blobs to refresh shares one budget between them)."""
        now = self._clock()
        current = self._current
        if current is not None and not self._due(now):
            return current
        with self._lock:
            now = self._clock()
            if not self._due(now):
                if self._current is not None:
                    return self._current
                if self._last_error is not None:
                    # Never had a good value and the source just failed: do not make every
                    # request wait for the same timeout again before the retry interval.
                    raise self._last_error
            return self._refresh(now, wait)

    def _refresh(self, now: float, wait: float | None) -> Loaded[T]:
        current = self._current
        attempt = self._inflight
        if attempt is None:
            self.fetches += 1
            etag = current.blob.etag if current is not None else None
            attempt = _Attempt(
                lambda: self._fetcher.fetch(self.uri, etag=etag, version=self.version),
                self.uri,
                background=self.deadline is not None or self.first_deadline is not None,
            )
            self._inflight = attempt
        limit = self.deadline
        if current is None and self.first_deadline is not None:
            limit = self.first_deadline
        if wait is not None and limit is not None:
            limit = max(0.0, min(wait, limit))
        self._forced = False
        try:
            if not attempt.done.wait(limit):
                raise SourceError(self.uri, f"no answer within {limit:g} s (the fetch goes on in the background)")
            self._inflight = None
            if attempt.error is not None:
                raise attempt.error
            blob = attempt.blob
            if blob is None:
                if current is None:  # a fetcher may only say "not modified" when it was given an ETag
                    raise SourceError(self.uri, "source answered 'not modified' to an unconditional fetch")
                fresh = Loaded(current.value, current.blob)
            else:
                fresh = Loaded(self._parse_safely(blob.data), blob)
        except AuthorizerError as exc:
            failed_at = self._clock()  # the retry interval counts from the failure, not the start
            self._retry_at = failed_at + min(self.ttl, 5.0)  # retry soon, but not on every request
            if current is not None and failed_at - self._good_at <= self.max_stale:
                self._current = Loaded(current.value, current.blob, stale=True, error=exc)
                return self._current
            self._current = None
            self._last_error = exc
            raise
        self._current = fresh
        self._last_error = None
        self._good_at = now
        self._retry_at = None
        return fresh

    def _parse_safely(self, data: bytes) -> T:
        """A parser bug must not throw away the last good value: any error is a ConfigError."""
        try:
            return self._parse(data)
        except AuthorizerError:
            raise
        except Exception as exc:
            raise ConfigError("", f"{self.uri}: could not be parsed ({type(exc).__name__}: {exc})") from None

    def invalidate(self) -> None:
        """Force the next ``get`` to revalidate (the cached value stays as last-known-good)."""
        self._forced = True
