"""Revocation of a verified chain: per certificate OCSP and/or CRL, cached, within one budget.

The checker is long-lived (one per cold start) and holds the caches. ``check`` is called only
after the chain verified, so URLs taken from the certificates may be fetched. It never raises:
a source that is slow, down, malformed, stale or badly signed makes that certificate UNKNOWN,
with a detail that says which source failed and why; it can never make it GOOD.

Per certificate the methods run in the configured order (OCSP then CRL by default); the first
GOOD or REVOKED answer decides. Across sources of one method, REVOKED wins over GOOD. The
certificates of one chain are checked concurrently in a small thread pool; whatever is not
answered when ``budget_ms`` runs out is UNKNOWN. Warm requests are answered from the status
cache without touching the pool.

Building a checker for the CLI:

* ``RevocationChecker.from_crl_files(paths)`` (``verify --crl FILE...``): the given CRLs (PEM or
  DER) are the only sources, nothing is fetched, and every certificate below the anchor must
  be covered by a valid CRL from its issuer, or it is UNKNOWN (a Deny with the default
  ``on_unknown``).
* ``RevocationChecker.online()`` (``verify --online``): the certificates' own CDP and AIA with
  the default configuration (whole chain, OCSP then CRL, deny when unknown).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..reasons import AuthorizerError, ConfigError, Reason
from .cache import Cached, CrlSourceCache, CrlUnavailable, Fetched, StatusCache
from .config import CrlConfig, OcspConfig, RevocationConfig
from .crl import CrlError, CrlIndex
from .crl_status import CrlAnswer, SignerValidator
from .outcome import CertStatus, RevocationOutcome
from .status import RevocationStatus
from .urls import cdp_urls, is_http, ocsp_urls, subject_of

if TYPE_CHECKING:
    from ..sources.blob import Fetchers
    from ..sources.http import HttpClient
    from .crl_idx_source import IndexLoader
    from .ocsp_shared import SharedOcspCache

__all__ = ["CertStatus", "RevocationChecker", "RevocationOutcome", "RevocationStatus", "cdp_urls", "ocsp_urls"]

log = logging.getLogger(__name__)
#: Failed OCSP responders remembered at most (one per URL).
MAX_OCSP_FAILURES = 1024


class RevocationChecker:
    """See the module docstring. ``fetchers`` serve ``s3://`` and local CRL sources (made on
    first use when None, with the CRL size cap); ``http`` is the safe HTTP client (made from
    ``allowed_hosts`` when None); ``clock`` is monotonic seconds (budget and refresh timing)."""

    def __init__(
        self,
        config: RevocationConfig,
        *,
        fetchers: Fetchers | None = None,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        static_crls: Sequence[CrlIndex] = (),
        signer_validator: SignerValidator | None = None,
        signer_pool: Sequence[x509.Certificate] | Callable[[], Sequence[x509.Certificate]] = (),
        shared_ocsp: SharedOcspCache | None = None,
    ) -> None:
        self.config = config
        #: The fleet's OCSP cache (DynamoDB), read before asking a responder (:mod:`.ocsp_shared`).
        self.shared_ocsp = shared_ocsp
        #: RFC 5280 6.3.3 (f): validates the path of a CRL signer that is not the certificate's
        #: issuer (``ChainValidator.validate_signer``'s shape); without it such CRLs are unused.
        self._signer_validator = signer_validator
        #: Certificates that may sign CRLs or lie on a CRL signer's path (the truststore's): a
        #: sequence, or a callable for a truststore that changes under a long-lived checker.
        pool = signer_pool
        self._signer_pool: Callable[[], Sequence[x509.Certificate]] = pool if callable(pool) else (lambda: tuple(pool))
        self._fetchers = fetchers
        self._http = http
        self.clock = clock
        self.skew = dt.timedelta(seconds=config.skew_seconds)
        self.status_cache: StatusCache[CertStatus] = StatusCache(skew=self.skew)
        self.crl_cache = CrlSourceCache(
            refresh_seconds=config.crl.refresh_seconds,
            retry_seconds=config.retry_seconds,
            clock=clock,
            indexes=self._index_loader(config),
            on_change=self.status_cache.clear,
        )
        self._static = tuple(f"static:{i.source}" for i in static_crls)
        for index in static_crls:
            self.crl_cache.put_static(f"static:{index.source}", index)
        self._ocsp_failures: dict[str, tuple[float, str]] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _index_loader(self, config: RevocationConfig) -> IndexLoader | None:
        """CRL indexes (docs/crl-index-format.md) when the policy lets them be used."""
        idx = config.crl.index
        if not config.crl.enabled or not (idx.beside or idx.urls):
            return None
        from .crl_idx_source import IndexLoader

        def audit_fetch() -> Callable[[str, str | None, str | None], Fetched]:
            return self._fetch_crl(self.clock() + config.crl.timeout_ms / 1000.0)

        return IndexLoader(idx, self._signer_pool, self.skew, audit_fetch, self._index_key(config))

    def _index_key(self, config: RevocationConfig) -> Callable[[], ec.EllipticCurvePublicKey | None]:
        """Where the index key comes from: the policy's ``crl.index.public_key``, else the KMS key
        named by ``CRL_INDEX_KEY_ID`` (fetched once, on first use), else none (no index is used)."""
        from .crl_idx_sig import public_key_from_der

        der = config.crl.index.public_key
        if der is not None:
            key = public_key_from_der(der)
            return lambda: key
        key_id = os.environ.get("CRL_INDEX_KEY_ID", "")
        if key_id:
            from ..sources.kms import KmsPublicKey

            return KmsPublicKey(key_id, retry_seconds=max(float(config.retry_seconds), 1.0))
        log.warning("CRL indexes: no index key (crl.index.public_key or CRL_INDEX_KEY_ID); CRLs are read")
        return lambda: None

    # -- construction helpers for the CLI ----------------------------------------------------

    @classmethod
    def from_crl_bytes(
        cls,
        crls: Sequence[tuple[str, bytes]],
        *,
        scope: str = "chain",
        skew_seconds: int = 300,
        signer_validator: SignerValidator | None = None,
        signer_pool: Sequence[x509.Certificate] = (),
    ) -> RevocationChecker:
        """A checker whose only sources are the given ``(name, PEM-or-DER bytes)`` CRLs, and
        which requires every certificate in scope to be covered by a valid one. Raises
        ConfigError(name, ...) for bytes that are not a CRL."""
        indexes: list[CrlIndex] = []
        for name, data in crls:
            try:
                indexes.append(CrlIndex.from_bytes(data, name))
            except CrlError as exc:
                raise ConfigError(name, str(exc)) from None
        config = RevocationConfig(
            scope="leaf" if scope == "leaf" else "chain",
            on_unknown="deny",
            prefer="crl",
            ocsp=OcspConfig(enabled=False),
            crl=CrlConfig(enabled=True, urls=(), use_distribution_points=False, refresh_seconds=None),
            skew_seconds=skew_seconds,
            require_crl_coverage=True,
        )
        return cls(config, static_crls=indexes, signer_validator=signer_validator, signer_pool=signer_pool)

    @classmethod
    def from_crl_files(cls, paths: Sequence[str], **kwargs: Any) -> RevocationChecker:
        """``verify --crl FILE...``: see :meth:`from_crl_bytes`; unreadable files raise
        ConfigError(path, ...)."""
        blobs: list[tuple[str, bytes]] = []
        for path in paths:
            try:
                with open(path, "rb") as fh:
                    blobs.append((path, fh.read()))
            except OSError as exc:
                raise ConfigError(path, exc.strerror or type(exc).__name__) from None
        return cls.from_crl_bytes(blobs, **kwargs)

    @classmethod
    def online(cls, config: RevocationConfig | None = None, **kwargs: Any) -> RevocationChecker:
        """``verify --online``: the certificates' CDP and AIA with the default configuration."""
        return cls(config or RevocationConfig(), **kwargs)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            from ..sources.http import HttpClient

            self._http = HttpClient(self.config.allowed_hosts, max_redirects=self.config.max_redirects)
        return self._http

    @property
    def fetchers(self) -> Fetchers:
        if self._fetchers is None:
            from ..sources.blob import Fetchers, FileFetcher, S3Fetcher

            cap = self.config.crl.max_bytes
            self._fetchers = Fetchers(FileFetcher(cap), S3Fetcher(cap))
        return self._fetchers

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        max_workers=self.config.max_workers, thread_name_prefix="revocation"
                    )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the check -----------------------------------------------------------------------------

    def check(
        self, chain: Sequence[x509.Certificate], at: dt.datetime, time_left: float | None = None
    ) -> RevocationOutcome:
        """Revocation status of the verified ``chain`` (leaf first, anchor last) at ``at``.

        ``time_left`` (seconds) caps ``budget_ms`` when the decision has less time than that
        before the function's timeout."""
        try:
            return self._check(chain, at, time_left)
        except Exception as exc:  # never let a bug turn into an exception or a GOOD
            log.exception("revocation check failed")
            return RevocationOutcome(
                RevocationStatus.UNKNOWN,
                (CertStatus("(chain)", "", RevocationStatus.UNKNOWN, "none", f"internal error: {type(exc).__name__}"),),
            )

    def _check(
        self, chain: Sequence[x509.Certificate], at: dt.datetime, time_left: float | None = None
    ) -> RevocationOutcome:
        count = min(1, len(chain) - 1) if self.config.scope == "leaf" else len(chain) - 1
        if count <= 0:
            return RevocationOutcome(RevocationStatus.GOOD, ())
        mono = self.clock()
        generation = self.status_cache.generation  # read before any CRL is looked at
        results: list[CertStatus | None] = [None] * count
        pending: list[int] = []
        get = self.status_cache.get
        anchor = chain[-1]  # a status decided through one anchor says nothing for another
        for i in range(count):
            hit = get((chain[i], anchor), at, mono)
            if hit is None:
                pending.append(i)
            else:
                results[i] = hit
        if pending:
            budget = self.config.budget_ms / 1000.0
            if time_left is not None:
                budget = max(0.0, min(budget, time_left))
            deadline = mono + budget
            prefetched = None
            if self.shared_ocsp is not None and self.config.order[:1] == ("ocsp",):
                prefetched = self.shared_ocsp.prefetch([(chain[i], chain[i + 1]) for i in pending])
            pool = self._executor()
            futures = {
                i: pool.submit(self._check_one, chain[i:], at, deadline, prefetched, generation) for i in pending
            }
            done, _ = concurrent.futures.wait(futures.values(), timeout=max(0.0, deadline - self.clock()))
            for i, future in futures.items():
                if future in done:
                    results[i] = future.result()
                else:
                    future.cancel()
                    cert = chain[i]
                    results[i] = CertStatus(
                        subject_of(cert),
                        format(cert.serial_number, "x"),
                        RevocationStatus.UNKNOWN,
                        "budget",
                        f"revocation budget of {self.config.budget_ms} ms exhausted",
                    )
        outcome = RevocationOutcome.of(r for r in results if r is not None)
        if pending and outcome.status != RevocationStatus.GOOD:
            log.warning("revocation %s: %s", outcome.status.value, outcome.detail)
        return outcome

    def _check_one(
        self,
        chain: Sequence[x509.Certificate],
        at: dt.datetime,
        deadline: float,
        prefetched: Mapping[str, bytes] | None = None,
        generation: int | None = None,
    ) -> CertStatus:
        """``chain[0]``'s status; ``chain`` is the rest of its verified path (issuer, ..., anchor)."""
        cert, issuer = chain[0], chain[1]
        subject, serial = subject_of(cert), format(cert.serial_number, "x")
        details: list[str] = []
        sources: list[str] = []
        for method in self.config.order:
            try:  # one method failing (a bug, a surprise) must not skip the next one
                if method == "ocsp":
                    found = self._ocsp(cert, issuer, at, deadline, prefetched)
                else:
                    found = self._crl(chain, at, deadline)
            except Exception as exc:
                log.exception("revocation check of %s by %s failed", subject, method)
                details.append(f"{method}: internal error: {type(exc).__name__}")
                continue
            status, source, detail, window = found
            if status != RevocationStatus.UNKNOWN:
                result = CertStatus(subject, serial, status, source, detail)
                if window is not None:
                    self.status_cache.put((cert, chain[-1]), window(result), generation)
                return result
            details.append(f"{method}: {detail}")
            if source not in ("none", *sources):
                sources.append(source)
        return CertStatus(
            subject,
            serial,
            RevocationStatus.UNKNOWN,
            ", ".join(sources) or "none",
            "; ".join(details) or "no method enabled",
        )

    def _remaining(self, deadline: float, timeout_ms: int) -> float:
        return min(timeout_ms / 1000.0, deadline - self.clock())

    # -- OCSP ----------------------------------------------------------------------------------

    def _ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
        deadline: float,
        prefetched: Mapping[str, bytes] | None = None,
    ) -> _Found:
        """The OCSP step (:mod:`.ocsp_step`, imported on first use: a CRL-only policy never loads
        the OCSP machinery)."""
        from .ocsp_step import ocsp_step

        return ocsp_step(self, cert, issuer, at, deadline, prefetched)

    def _ocsp_failed(self, url: str, mono: float, detail: str) -> None:
        """Remember a failed responder for retry_seconds; bounded (oldest dropped first)."""
        failures = self._ocsp_failures
        failures.pop(url, None)
        failures[url] = (mono, detail)
        while len(failures) > MAX_OCSP_FAILURES:
            failures.pop(next(iter(failures)), None)

    # -- CRL -----------------------------------------------------------------------------------

    def _crl_sources(self, cert: x509.Certificate) -> list[str]:
        cfg = self.config.crl
        sources = list(self._static) + list(cfg.urls)
        if cfg.use_distribution_points:
            sources.extend(u for u in cdp_urls(cert) if u not in sources)
        return sources

    def _fetch_crl(self, deadline: float) -> Callable[[str, str | None, str | None], Fetched]:
        def fetch(uri: str, etag: str | None, last_modified: str | None) -> Fetched:
            if is_http(uri):
                timeout = self._remaining(deadline, self.config.crl.timeout_ms)
                if timeout <= 0:
                    raise AuthorizerError(Reason.REVOCATION_UNKNOWN, "no time left in the budget")
                resp = self.http.request(
                    uri,
                    max_bytes=self.config.crl.max_bytes,
                    timeout=timeout,
                    etag=etag,
                    last_modified=last_modified,
                    headers={"Accept": "application/pkix-crl, */*"},
                )
                if resp.not_modified:
                    return Fetched(None, etag, last_modified)
                return Fetched(resp.data, resp.etag, resp.last_modified)
            blob = self.fetchers.fetch(uri, etag=etag)
            if blob is None:
                return Fetched(None, etag, None)
            return Fetched(blob.data, blob.etag, None)

        return fetch

    def _crl_indexes(
        self, cert: x509.Certificate, at: dt.datetime, deadline: float, sources: Sequence[str] | None = None
    ) -> tuple[list[CrlIndex], list[str]]:
        """Every CRL the sources of ``cert`` hold now, and the sources that failed."""
        fetch = self._fetch_crl(deadline)
        indexes: list[CrlIndex] = []
        problems: list[str] = []
        for uri in self._crl_sources(cert) if sources is None else sources:
            try:
                indexes.append(self.crl_cache.get(uri, at, fetch))
            except CrlUnavailable as exc:
                problems.append(f"{uri}: {exc.detail}")
            except Exception as exc:  # one source's surprise must not cost the others
                log.exception("CRL source %s failed", uri)
                problems.append(f"{uri}: internal error ({type(exc).__name__})")
        return indexes, problems

    def _crl(self, chain: Sequence[x509.Certificate], at: dt.datetime, deadline: float) -> _Found:
        """RFC 5280 6.3.3 over every CRL at hand for ``chain[0]`` (see :mod:`.crl_status`)."""
        from .crl_status import CrlContext, decide

        cert = chain[0]
        sources = self._crl_sources(cert)
        if not sources:
            return RevocationStatus.UNKNOWN, "none", "no CRL source", None
        indexes, problems = self._crl_indexes(cert, at, deadline, sources)

        def crls_for(other: x509.Certificate) -> Sequence[CrlIndex]:
            return self._crl_indexes(other, at, deadline)[0]

        ctx = CrlContext(at, self.skew, self._signer_validator, tuple(self._signer_pool()), crls_for)
        answer = decide(cert, chain, indexes, ctx)
        if answer.status is RevocationStatus.UNKNOWN:
            configured = {f"{u}: CRL names another issuer" for u in self.config.crl.urls}
            shown = [p for p in [*problems, *answer.detail.split("; ")] if p and p not in configured]
            return RevocationStatus.UNKNOWN, "crl", "; ".join(shown) or "no CRL from this certificate's issuer", None
        return answer.status, f"crl:{answer.source}", answer.detail, self._crl_window(answer)

    def _crl_window(self, answer: CrlAnswer) -> Callable[[CertStatus], Cached[CertStatus]] | None:
        """The status cache entry of a CRL answer: valid while every CRL (and signer path) that
        made it is, and, when refresh_seconds is set and a fetched source took part, no longer
        than that."""
        start, end = answer.valid_from, answer.valid_until
        if start is None or end is None:
            return None
        refresh = self.config.crl.refresh_seconds
        fetched = any(not uri.startswith("static:") for uri in self._static_or_urls())
        # Counted from the fetch of the oldest CRL that decided, not from now: a CRL fetched
        # long ago must not extend its answer by another refresh_seconds.
        times = [t for u in answer.source.split(",") if (t := self.crl_cache.fetched_at(u)) is not None]
        since = min(times, default=self.clock())
        refresh_by = None if refresh is None or not fetched else since + refresh

        def window(result: CertStatus) -> Cached[CertStatus]:
            return Cached(replace(result, source=f"cache ({result.source})"), start, end, refresh_by)

        return window

    def _static_or_urls(self) -> list[str]:
        cfg = self.config.crl
        return [*self._static, *cfg.urls, *(["cdp"] if cfg.use_distribution_points else [])]


_Found = tuple[RevocationStatus, str, str, Callable[[CertStatus], Cached[CertStatus]] | None]
