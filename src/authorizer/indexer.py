"""The CRL indexer function: one CRL parse per CRL update for the whole fleet.

Triggered by

* S3 ``ObjectCreated`` under the CRL prefix, in either shape S3 delivers it: a notification
  (``{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {...}}]}``,
  keys URL-encoded) or an EventBridge event (``"source": "aws.s3"``, ``"detail-type": "Object
  Created"``); it writes ``<key>.idx`` beside the CRL;
* an EventBridge schedule (``"detail-type": "Scheduled Event"``): it reads the policy document
  and indexes every CRL source it lists: ``s3://`` CRLs under the prefix (beside them), and
  http(s) CRLs whose index the policy names in ``crl.index.urls`` (an ``s3://`` URI under the
  prefix). Unchanged CRLs (same SHA-256 as the index records) are not re-indexed.

Each CRL is validated exactly as the authorizer would (:func:`build_index`): parse and usability,
currency, a signature by a truststore CA, cRLNumber not lower than the index's. A CRL that is
refused removes a stale index of its own (unless it is the older one), so authorizers fall back
to reading the CRL rather than keep an index that no longer describes it.

Every index is signed (format v2, :mod:`.revocation.crl_idx_sig`) with the KMS key only this
function may use; the index already there counts (for "unchanged" and for "not lower") only when
its signature verifies: one written by anybody else is simply overwritten.

Environment: ``AUTHORIZER_CONFIG`` (the policy document), ``CRL_PREFIX_URI``
(``s3://bucket/prefix/``), ``TRUSTSTORE_URI`` (optional: the policy's truststore otherwise),
``CRL_INDEX_KEY_ID`` (the KMS signing key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from cryptography import x509

from .reasons import AuthorizerError
from .revocation.crl import CrlError
from .revocation.crl_idx import Header, IndexError_, etag_field, load_index
from .revocation.crl_idx_sig import IndexSigner, sign_index, verify
from .revocation.crl_idx_write import IndexRefused, build_index
from .sources.blob import Fetchers, S3Fetcher, parse_s3_uri
from .sources.kms import KmsSigner
from .sources.s3_write import S3Objects

log = logging.getLogger(__name__)

#: The largest CRL the indexer reads (a million entries is ~50 MiB).
MAX_CRL_BYTES = 256 * 1024 * 1024
SKEW = dt.timedelta(seconds=300)
#: A CA's CRL over the internet (no decision waits for the indexer: the function's own timeout
#: bounds a run).
FETCH_TIMEOUT = 60.0
#: The largest index read back (a million entries is ~24 MiB; an index is at most ~half its CRL).
MAX_INDEX_BYTES = MAX_CRL_BYTES


@dataclass(frozen=True)
class Result:
    crl: str
    index: str | None
    outcome: str  # written, unchanged, refused, skipped, failed
    detail: str = ""


class Indexer:
    """Indexes CRLs into ``.idx`` objects; see the module docstring."""

    def __init__(
        self,
        prefix_uri: str,
        policy_uri: str | None,
        truststore_uri: str | None,
        *,
        signer: IndexSigner,
        fetchers: Fetchers | None = None,
        objects: S3Objects | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        http_factory: Callable[[Sequence[str]], Any] | None = None,
    ) -> None:
        self.bucket, self.prefix = parse_s3_uri(prefix_uri)
        self.signer = signer
        self.policy_uri = policy_uri
        self.truststore_uri = truststore_uri
        self.fetchers = fetchers or Fetchers(s3=S3Fetcher(MAX_CRL_BYTES))
        self.objects = objects or S3Objects()
        self.clock = clock
        self.http_factory = http_factory

    # -- events ------------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any]) -> list[Result]:
        if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
            return self.on_schedule()
        return [self.on_object(bucket, key) for bucket, key in created_objects(event)]

    def on_object(self, bucket: str, key: str) -> Result:
        uri = f"s3://{bucket}/{key}"
        if bucket != self.bucket or not key.startswith(self.prefix) or key.endswith(".idx"):
            return Result(uri, None, "skipped", "not a CRL under the CRL prefix")
        return self.index(uri, uri + ".idx", self._pool())

    def on_schedule(self) -> list[Result]:
        if not self.policy_uri:
            return [Result("(schedule)", None, "skipped", "no policy document configured")]
        from .config import PolicyConfig

        policy = PolicyConfig.from_json(self._read(self.policy_uri), self.policy_uri)
        rev = policy.revocation
        if rev is None or not rev.crl.enabled:
            return []
        pool = self._pool(policy.truststore.uri)
        http = self.http_factory(rev.allowed_hosts) if self.http_factory else _http(rev.allowed_hosts)
        results = []
        for url in rev.crl.urls:
            target = rev.crl.index.uri_for(url)
            if target is None or not self._mine(target):
                results.append(Result(url, target, "skipped", "no index location under the CRL prefix"))
                continue
            if url.lower().startswith(("http://", "https://")):
                try:
                    data = http.request(url, max_bytes=MAX_CRL_BYTES, timeout=FETCH_TIMEOUT).data
                except AuthorizerError as exc:
                    results.append(Result(url, target, "failed", exc.detail))
                    continue
                results.append(self.index(url, target, pool, data))
            else:
                results.append(self.index(url, target, pool))
        return results

    # -- one CRL -----------------------------------------------------------------------------

    def index(
        self, crl_uri: str, index_uri: str, pool: Sequence[x509.Certificate], data: bytes | None = None
    ) -> Result:
        """Index one CRL. The write is conditional on the index read at the start (S3
        ``If-Match``/``If-None-Match``): when another run wrote meanwhile, the header is read
        again and the CRL judged against it, so a slow run can never put back an older index."""
        try:
            crl_etag = None
            if data is None:
                blob = self.fetchers.fetch(crl_uri)
                assert blob is not None  # an unconditional fetch never answers "not modified"
                data, crl_etag = blob.data, blob.etag
            digest = hashlib.sha256(data).digest()
            for _ in range(3):
                previous, etag = self._previous(index_uri)
                if previous is not None and previous.crl_sha256 == digest and previous.crl_etag == etag_field(crl_etag):
                    return Result(crl_uri, index_uri, "unchanged")
                try:
                    index = sign_index(
                        build_index(data, crl_uri, pool, self.clock(), SKEW, previous, crl_etag), self.signer
                    )
                except CrlError as exc:
                    older = isinstance(exc, IndexRefused) and "lower than the indexed" in str(exc)
                    if (previous is not None and not older) or (previous is None and etag is not None):
                        self.objects.delete(index_uri)  # it no longer describes the CRL there
                    log.warning("CRL %s not indexed: %s", crl_uri, exc)
                    return Result(crl_uri, index_uri, "refused", str(exc))
                if self.objects.put(index_uri, index, if_match=etag):
                    log.info("CRL %s indexed into %s (%d bytes)", crl_uri, index_uri, len(index))
                    return Result(crl_uri, index_uri, "written", f"{len(index)} bytes")
            return Result(crl_uri, index_uri, "failed", "the index kept changing under this run")
        except AuthorizerError as exc:
            log.error("CRL %s: %s", crl_uri, exc.detail)
            return Result(crl_uri, index_uri, "failed", exc.detail)
        except Exception as exc:  # a bug or a surprise on this CRL: the others still run
            log.exception("CRL %s: indexing failed", crl_uri)
            detail = f"internal error: {type(exc).__name__}: {exc}"
            try:  # an index left there would describe a CRL that is no longer the one beside it
                self.objects.delete(index_uri)
            except Exception as again:
                detail += f"; the stale index could not be deleted: {type(again).__name__}"
            return Result(crl_uri, index_uri, "failed", detail)

    def _previous(self, index_uri: str) -> tuple[Header | None, str | None]:
        """The current index's header and ETag (``(None, None)``: there is none). Its header is
        believed only when its signature verifies with our key: a forged index (a huge cRLNumber,
        the CRL's SHA-256) must not make us keep it; it is overwritten (``(None, etag)``)."""
        data, etag = self.objects.head_bytes(index_uri, MAX_INDEX_BYTES)
        if data is None:
            return None, None
        try:
            loaded = load_index(data, index_uri)
        except (IndexError_, CrlError):
            return None, etag  # unreadable: overwritten by a good one
        if loaded.signature is None or not verify(self.signer.public_key(), loaded.body_sha256, loaded.signature):
            log.warning("CRL index %s is not signed by the index key: replaced", index_uri)
            return None, etag
        return loaded.header, etag

    def _mine(self, uri: str) -> bool:
        if not uri.startswith("s3://"):
            return False
        bucket, key = parse_s3_uri(uri)
        return bucket == self.bucket and key.startswith(self.prefix) and key.endswith(".idx")

    def _read(self, uri: str) -> bytes:
        blob = self.fetchers.fetch(uri)
        assert blob is not None  # an unconditional fetch never answers "not modified"
        return blob.data

    def _pool(self, fallback: str | None = None) -> list[x509.Certificate]:
        from .validation.truststore import TrustStore

        uri = self.truststore_uri or fallback
        if uri is None and self.policy_uri:
            from .config import PolicyConfig

            uri = PolicyConfig.from_json(self._read(self.policy_uri), self.policy_uri).truststore.uri
        if uri is None:
            return []
        store = TrustStore.from_pem(self._read(uri), uri)
        return [*store.anchors, *store.intermediates]


def created_objects(event: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(bucket, key)`` of every ObjectCreated in an S3 notification or EventBridge event
    (anything else, malformed records included, names nothing)."""
    if event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created":
        detail = event.get("detail") or {}
        bucket, key = (detail.get("bucket") or {}).get("name"), (detail.get("object") or {}).get("key")
        if isinstance(bucket, str) and isinstance(key, str):
            yield bucket, key
        return
    for record in event.get("Records") or ():
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        bucket, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
        if isinstance(bucket, str) and isinstance(key, str):
            yield bucket, unquote_plus(key)  # S3 notifications URL-encode keys ("+" for a space)


def _http(allowed_hosts: Sequence[str]) -> Any:
    from .sources.http import HttpClient

    return HttpClient(allowed_hosts)


_instance: list[Indexer] = []  # one per process (boto3 clients are reused across invocations)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Index what the event names; never raises for one bad CRL (the others still run)."""
    if not _instance:
        # Lambda's root logger only passes warnings: this function's one line per CRL is INFO.
        logging.getLogger("authorizer").setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
        _instance.append(
            Indexer(
                os.environ["CRL_PREFIX_URI"],
                os.environ.get("AUTHORIZER_CONFIG"),
                os.environ.get("TRUSTSTORE_URI") or None,
                signer=KmsSigner(os.environ["CRL_INDEX_KEY_ID"]),
            )
        )
    try:
        results = _instance[0].handle(event)
    except (AuthorizerError, ValueError) as exc:  # policy or truststore unusable: nothing to do
        detail = exc.detail if isinstance(exc, AuthorizerError) else str(exc)
        log.error("indexer: %s", detail)
        return {"results": [], "error": detail}
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return {"results": [r.__dict__ for r in results], "counts": counts}
