"""Long-lived dependencies of a warm function: policy document, truststore, validator, revocation.

Each is loaded through a :class:`CachedBlob` (TTL, ETag revalidation, last-known-good) and the
objects derived from it are rebuilt only when what they depend on changes: a new truststore
bundle gets a new :class:`ChainValidator` (and so an empty path cache), a new revocation section
a new checker, while an unchanged document revalidated by ETag costs one small request per TTL
and nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import CacheSettings, Http2Response, PolicyConfig
from .pipeline import Dependencies
from .reasons import AuthorizerError, ConfigError, Reason
from .sources.blob import BlobFetcher, CachedBlob, Fetchers, FileFetcher, S3Fetcher
from .validation import ChainValidator, TrustStore

if TYPE_CHECKING:
    import datetime as dt

    from cryptography import x509

    from .revocation.checker import RevocationChecker
    from .revocation.config import RevocationConfig
    from .revocation.ocsp_shared import SharedOcspCache

CONFIG_ENV = "AUTHORIZER_CONFIG"
#: The longest a decision waits for the document and truststore while there is no copy of one
#: of them (cold start): there is nothing else to answer with, but a Deny must still be answered
#: before Lambda's timeout (6 s in the template) turns it into API Gateway's 500.
FIRST_LOAD_WAIT_S = 4.0
#: What a load leaves of the function's time for the rest of a decision: the revocation budget
#: (the default's 2.5 s until a document says otherwise) and a margin for everything else.
_MARGIN_S = 0.5
_REVOCATION_RESERVE_S = 2.5 + _MARGIN_S
#: The embedded default: the demo policy and truststore shipped inside the package.
DEFAULT_CONFIG = str(Path(__file__).parent / "data" / "policy.json")


def config_uri_from_env() -> str:
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def _parse_truststore(uri: str) -> Callable[[bytes], TrustStore]:
    def parse(data: bytes) -> TrustStore:
        try:
            return TrustStore.from_pem(data, uri)
        except ValueError as exc:
            raise ConfigError("truststore.uri", str(exc)) from None

    return parse


@dataclass(frozen=True)
class Snapshot:
    """Dependencies for one decision plus whether any of them is served stale."""

    deps: Dependencies
    stale_notes: tuple[str, ...] = ()


class Runtime:
    """Builds :class:`Dependencies` on demand and keeps them warm. Thread-safe."""

    def __init__(
        self,
        config_uri: str,
        *,
        fetcher: BlobFetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
        revocation_factory: Callable[[RevocationConfig], RevocationChecker] | None = None,
        first_load_wait: float = FIRST_LOAD_WAIT_S,
    ) -> None:
        self.config_uri = config_uri
        self._fetcher = fetcher or Fetchers()
        self._clock = clock
        self._revocation_factory = revocation_factory
        self._first_load_wait = first_load_wait
        self._config = CachedBlob(
            config_uri,
            lambda data: PolicyConfig.from_json(data, config_uri),
            self._fetcher,
            clock=clock,
            deadline=CacheSettings().refresh_deadline_seconds,
            first_deadline=first_load_wait,
        )
        self._truststore: CachedBlob[TrustStore] | None = None
        self._validator: ChainValidator | None = None
        self._checker: tuple[RevocationConfig, RevocationChecker] | None = None
        self._lock = threading.Lock()
        #: Whether HTTP API 2.0 answers are IAM policies, as the last good document said: a
        #: refusal before any document loads must still have the shape the API expects.
        self.http2_iam = False
        self._last_good: tuple[Dependencies, float] | None = None

    def load(self, time_left: float | None = None) -> Snapshot:
        """Current dependencies; raises ``AuthorizerError`` (``CONFIG_*``) when none are usable.

        The document and the truststore share one wait: ``cache.refresh_deadline_seconds`` when
        both have a copy to fall back on, ``first_load_wait`` on a cold start. ``time_left``
        (seconds until the function's timeout, from the Lambda context) caps that wait further
        so that the revocation budget still fits: API Gateway turns a timeout into a 500."""
        started = time.monotonic()
        reserve = _REVOCATION_RESERVE_S
        if self._last_good is not None and self._last_good[0].config.revocation is not None:
            reserve = self._last_good[0].config.revocation.budget_ms / 1000 + _MARGIN_S
        cap = None if time_left is None else max(0.0, time_left - reserve)
        cfg = self._config.get(wait=cap)
        config = cfg.value
        # The document's own cache settings govern how often it (and the truststore) is re-read,
        # from this first load on (CachedBlob computes its next check from them).
        cache = config.cache
        self._config.ttl, self._config.max_stale = cache.ttl_seconds, cache.max_stale_seconds
        self._config.deadline = cache.refresh_deadline_seconds
        ts_blob = self._truststore_blob(config)
        # The first-load wait is for a cold start only: with a previous document and truststore
        # to answer with, a new truststore gets the ordinary refresh deadline.
        cold = not ts_blob.has_copy and self._last_good is None
        budget = self._first_load_wait if cold else cache.refresh_deadline_seconds
        if cap is not None:
            budget = min(budget, cap)
        ts_blob.first_deadline = self._first_load_wait if cold else cache.refresh_deadline_seconds
        try:
            ts = ts_blob.get(wait=budget - (time.monotonic() - started))
        except AuthorizerError as exc:
            return self._previous_or_raise(config, exc)
        validator = self._validator_for(ts.value, config)
        checker = self._checker_for(config.revocation)
        notes = tuple(
            f"{loaded.blob.uri}: serving the last good copy ({loaded.error.detail if loaded.error else 'error'})"
            for loaded in (cfg, ts)
            if loaded.stale
        )
        deps = Dependencies(config, validator, checker)
        # max_stale counts from the older of the two copies' last good load, not from now: a
        # stale copy served now must not become "fresh" for a later fallback.
        self._last_good = (deps, min(self._config.good_at, ts_blob.good_at))
        self.http2_iam = config.http2_response is Http2Response.IAM
        return Snapshot(deps, notes)

    def _previous_or_raise(self, config: PolicyConfig, error: AuthorizerError) -> Snapshot:
        """A new document whose truststore cannot be read is a failed update like any other:
        keep deciding with the previous document and its truststore for up to max_stale."""
        previous = self._last_good
        if previous is None or previous[0].config is config:
            raise error
        deps, good_at = previous
        if self._clock() - good_at > deps.config.cache.max_stale_seconds:
            raise error
        note = f"the new policy document's truststore is unusable ({error.detail}); serving the previous document"
        return Snapshot(deps, (note,))

    def _truststore_blob(self, config: PolicyConfig) -> CachedBlob[TrustStore]:
        ref = config.truststore
        blob = self._truststore
        if blob is None or blob.uri != ref.uri or blob.version != ref.version:
            with self._lock:
                blob = CachedBlob(
                    ref.uri,
                    _parse_truststore(ref.uri),
                    self._fetcher,
                    ttl=config.cache.ttl_seconds,
                    max_stale=config.cache.max_stale_seconds,
                    version=ref.version,
                    clock=self._clock,
                    deadline=config.cache.refresh_deadline_seconds,
                    first_deadline=self._first_load_wait,
                )
                self._truststore = blob
        else:
            blob.ttl, blob.max_stale = config.cache.ttl_seconds, config.cache.max_stale_seconds
            blob.deadline = config.cache.refresh_deadline_seconds
        return blob

    def _validator_for(self, truststore: TrustStore, config: PolicyConfig) -> ChainValidator:
        v = self._validator
        settings = config.validation
        if (
            v is None
            or v.truststore.id != truststore.id
            or v.eku is not settings.eku
            or v.max_chain_length != settings.max_chain_length
            or v.policies != settings.policies
        ):
            v = ChainValidator(
                truststore, eku=settings.eku, max_chain_length=settings.max_chain_length, policies=settings.policies
            )
            self._validator = v
        return v

    def _validate_signer(
        self, cert: x509.Certificate, pool: Sequence[x509.Certificate], at: dt.datetime
    ) -> Sequence[x509.Certificate]:
        """RFC 5280 6.3.3 (f) for the revocation checker: a CRL signer's path by the current
        truststore's validator (the checker outlives truststore updates)."""
        v = self._validator
        if v is None:
            raise AuthorizerError(Reason.ISSUER_NOT_FOUND, "no truststore loaded yet")
        return v.validate_signer(cert, at, pool).chain

    def _signer_pool(self) -> Sequence[x509.Certificate]:
        v = self._validator
        return () if v is None else (*v.truststore.anchors, *v.truststore.intermediates)

    def _crl_fetchers(self, revocation: RevocationConfig) -> Fetchers | None:
        """CRL fetchers with the revocation section's own size cap that share the policy
        loader's boto3 client (creating one costs a few hundred ms of cold start)."""
        shared = self._fetcher.s3 if isinstance(self._fetcher, Fetchers) else None
        if not isinstance(shared, S3Fetcher):
            return None
        cap = revocation.crl.max_bytes
        return Fetchers(
            file=FileFetcher(max_bytes=cap), s3=S3Fetcher(max_bytes=cap, client_factory=lambda: shared.client)
        )

    def _checker_for(self, revocation: RevocationConfig | None) -> RevocationChecker | None:
        if revocation is None:
            return None
        current = self._checker
        if current is not None and current[0] == revocation:
            return current[1]
        if self._revocation_factory is not None:
            checker = self._revocation_factory(revocation)
        else:
            from .revocation.checker import RevocationChecker

            checker = RevocationChecker(
                revocation,
                fetchers=self._crl_fetchers(revocation),
                signer_validator=self._validate_signer,
                signer_pool=self._signer_pool,
                shared_ocsp=_shared_ocsp(revocation),
            )
        if current is not None:
            current[1].close()  # a changed revocation section: release the old checker's threads
        self._checker = (revocation, checker)
        return checker


#: The fleet's OCSP cache table (template parameter SharedOcspCache); unset: no shared cache.
OCSP_CACHE_TABLE_ENV = "OCSP_CACHE_TABLE"


def _shared_ocsp(revocation: RevocationConfig) -> SharedOcspCache | None:
    """The DynamoDB OCSP cache when the stack has one and the policy uses OCSP."""
    table = os.environ.get(OCSP_CACHE_TABLE_ENV, "")
    if not table or not revocation.ocsp.enabled:
        return None
    from .revocation.ocsp_shared import SharedOcspCache
    from .sources.dynamo import OcspTable

    return SharedOcspCache(OcspTable(table), retry_seconds=revocation.retry_seconds)
