"""Where the CRL source cache gets an index instead of a CRL, and how it keeps indexes honest.

For a CRL source with an index (named by the policy's ``crl.index.urls``, or ``<crl>.idx``
beside an ``s3://`` or local CRL), a refresh first fetches the index (conditionally, by ETag)
and uses it only when:

* it reads as an index of format version 2 whose header agrees with the CRL shell it carries;
* its signature verifies with the index key (``crl.index.public_key``, or the KMS key named by
  ``CRL_INDEX_KEY_ID``): the indexer's, which validated the CRL before indexing it. No key (not
  configured, or its fetch failed) means no index is used;
* it is current (``thisUpdate``/``nextUpdate`` with the skew, as for a CRL);
* its issuer is a truststore CA and that CA's key verifies the CRL signature it carries;
* it does not go backwards from what the source holds (cRLNumber, thisUpdate, signing key);
* this container has not caught it lying before (see the audit below).

Otherwise the source reads the CRL itself, as it always did; an index is never required.

The audit (``crl.index.audit``, on by default): a second line behind the signature, the
first time a container uses an index it fetches the CRL the index names in the background
and checks the index against it entry by entry (:func:`.crl_idx_write.audit_problem`); any
difference (tampered, or the CRL has
moved on since) blacklists that index in this container and puts the CRL itself in its place.
docs/crl-index-format.md ("Trust") says what this does and does not protect against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..reasons import AuthorizerError
from .config import CrlIndexConfig as IndexSettings
from .crl import CrlError, CrlIndex
from .crl_idx import LoadedIndex, issuing_ca, load_index
from .crl_idx_sig import verify

log = logging.getLogger(__name__)

#: ``fetch(uri, etag, last_modified)``, as :data:`.cache.FetchFn` (not imported: no cycle).
Fetch = Callable[[str, str | None, str | None], object]


@dataclass
class Offer:
    """An index accepted for a source: the parsed CRL it stands for and its validators."""

    loaded: LoadedIndex
    etag: str | None


class IndexLoader:
    """Fetches, checks and audits indexes for :class:`.cache.CrlSourceCache`."""

    def __init__(
        self,
        settings: IndexSettings,
        pool: Callable[[], Sequence[x509.Certificate]],
        skew: dt.timedelta,
        audit_fetch: Callable[[], Callable[[str, str | None, str | None], object]] | None = None,
        key: Callable[[], ec.EllipticCurvePublicKey | None] = lambda: None,
    ) -> None:
        self.settings = settings
        #: The index key (None: unavailable now, every index is refused).
        self.key = key
        self.pool = pool
        self.skew = skew
        self.audit_fetch = audit_fetch
        #: SHA-256 of indexes this container caught disagreeing with their CRL.
        self.refused: set[bytes] = set()
        #: Indexes this container has seen match the CRL object in the bucket at least once
        #: (by body SHA-256): only those keep answering while that CRL cannot be read.
        self.confirmed: set[bytes] = set()
        #: Indexes audited or being audited (by identity: hashing 24 MiB is for the audit thread).
        self.audited: weakref.WeakSet[LoadedIndex] = weakref.WeakSet()
        #: Indexes whose signature verified (by identity: a 304 reuses the same object).
        self.authentic: weakref.WeakSet[LoadedIndex] = weakref.WeakSet()
        self.loads = 0  # index files read (not counting "not modified")
        self.audit_parses = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def offer(
        self,
        crl_uri: str,
        at: dt.datetime,
        fetch: Callable[[str, str | None, str | None], object],
        held: CrlIndex | None,
        held_index: Offer | None,
    ) -> tuple[Offer | None, str | None]:
        """``(index to use, why not)`` for ``crl_uri``: None with a reason when the CRL must be read."""
        idx_uri = self.settings.uri_for(crl_uri)
        if idx_uri is None:
            return None, None
        key = self.key()
        if key is None:  # not even fetched: an index could not be authenticated
            return None, f"index {idx_uri}: no index key to verify it with"
        try:
            got = fetch(idx_uri, held_index.etag if held_index else None, None)
        except AuthorizerError as exc:
            return None, f"index {idx_uri}: {exc.detail}"
        data: bytes | None = getattr(got, "data", None)
        etag: str | None = getattr(got, "etag", None)
        if data is None:
            if held_index is None:
                return None, f"index {idx_uri}: 'not modified' to an unconditional fetch"
            loaded = held_index.loaded
        else:
            try:
                loaded = load_index(data, idx_uri)
            except Exception as exc:  # CrlError, or a reader bug: either way not this index
                return None, f"index {idx_uri}: {exc}"
            self.loads += 1
        why = self._unsigned(loaded, key) or self._problem(loaded, at, held if held is not loaded.crl else None)
        if why:
            log.warning("CRL index %s refused: %s", idx_uri, why)
            return None, f"index {idx_uri}: {why}"
        return Offer(loaded, etag), None

    def crl_moved_on(self, crl_uri: str, loaded: LoadedIndex, fetch: Fetch) -> str | None:
        """Why the CRL at ``crl_uri`` is no longer the one ``loaded`` was made from, or None.

        Asked at every index refresh, cheaply: a conditional GET of the CRL with the ETag the
        indexer recorded ("not modified" is the usual answer). A CRL uploaded without a
        successful indexer run (event lost, indexer failed) is thus seen within one
        ``refresh_seconds``, as without indexes. An index that records no ETag (an http CRL
        pulled on the schedule) cannot be checked this way: the audit and the schedule cover
        it. A CRL source that fails leaves an index in use only if this container saw it match its
        CRL before (as a failing source leaves a cached CRL); anything unexpected refuses it.
        """
        etag = loaded.header.crl_etag.decode("ascii", "replace")
        if not etag:
            return None
        try:
            got = fetch(crl_uri, etag, None)
        except AuthorizerError as exc:
            if loaded.body_sha256 in self.confirmed:
                log.warning("CRL %s not revalidated against its index: %s", crl_uri, exc.detail)
                return None
            # Never confirmed here: an older signed index put back beside a CRL made unreadable
            # must not answer GOOD in a new container. Read the CRL (UNKNOWN while it fails).
            return f"its CRL could not be read to confirm it ({exc.detail})"
        except Exception as exc:  # a bug: do not keep an index we could not check
            log.exception("CRL %s: revalidation against its index failed", crl_uri)
            return f"the CRL could not be revalidated ({type(exc).__name__})"
        data: bytes | None = getattr(got, "data", None)
        if data is None or hashlib.sha256(data).digest() == loaded.header.crl_sha256:
            with self._lock:
                if len(self.confirmed) >= 4096:
                    self.confirmed.clear()
                self.confirmed.add(loaded.body_sha256)
            return None
        with self._lock:
            self.refused.add(loaded.body_sha256)
        return "the CRL changed since this index was made (not re-indexed yet)"

    def _unsigned(self, loaded: LoadedIndex, key: ec.EllipticCurvePublicKey) -> str | None:
        """Why ``loaded`` is not the indexer's (checked before anything in it is believed)."""
        if loaded in self.authentic:
            return None
        if loaded.signature is None:
            return "index is not signed"
        if not verify(key, loaded.body_sha256, loaded.signature):
            return "index signature does not verify with the index key"
        with self._lock:
            self.authentic.add(loaded)
        return None

    def _problem(self, loaded: LoadedIndex, at: dt.datetime, held: CrlIndex | None) -> str | None:
        crl = loaded.crl
        # by the signed body: an ECDSA signature has a twin (r, n-s), the body has one form
        if self.refused and loaded.body_sha256 in self.refused:
            return "this index was found not to match its CRL"
        why = crl.is_current(at, self.skew)
        if why:
            return why.replace("CRL ", "index ", 1)
        if issuing_ca(crl, self.pool()) is None:
            return "issuer is not a truststore CA whose key verifies the CRL signature it carries"
        if held is not None:
            if held.number is not None and (crl.number is None or crl.number < held.number):
                return f"CRL number {crl.number} is lower than the {held.number} held"
            problem = held.replacement_problem(crl, at)
            if problem:
                return problem
        return None

    # -- audit -------------------------------------------------------------------------------

    def audit(self, crl_uri: str, loaded: LoadedIndex, on_fail: Callable[[LoadedIndex, CrlIndex | None], None]) -> None:
        """Check ``loaded`` against the CRL at ``crl_uri`` in the background (once per index
        per container); ``on_fail(loaded, crl)`` when they disagree (``crl``: the CRL parsed,
        when it could be)."""
        if not self.settings.audit or self.audit_fetch is None:
            return
        with self._lock:
            if loaded in self.audited:
                return
            self.audited.add(loaded)
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(
                target=self._audit, args=(crl_uri, loaded, on_fail), name=f"audit {crl_uri[:60]}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def _audit(
        self, crl_uri: str, loaded: LoadedIndex, on_fail: Callable[[LoadedIndex, CrlIndex | None], None]
    ) -> None:
        from .crl_idx_write import audit_problem

        assert self.audit_fetch is not None
        try:
            got = self.audit_fetch()(crl_uri, None, None)
            data: bytes | None = getattr(got, "data", None)
            if data is None:
                raise CrlError("no CRL to audit against")
        except (AuthorizerError, CrlError) as exc:
            with self._lock:
                self.audited.discard(loaded)  # try again on the next load
            log.warning("CRL index audit of %s postponed: %s", crl_uri, getattr(exc, "detail", exc))
            return
        self.audit_parses += 1
        try:
            why = audit_problem(data, loaded)
        except Exception as exc:  # a bug must not leave an unaudited index trusted: fail closed
            why = f"audit failed: {type(exc).__name__}: {exc}"
        if why is None:
            return
        crl = None  # the CRL is read again by the CRL path, with its replacement checks
        log.error("CRL index for %s refused after audit: %s", crl_uri, why)
        with self._lock:
            self.refused.add(loaded.body_sha256)
        on_fail(loaded, crl)

    def vouched(self, loaded: LoadedIndex) -> bool:
        """Whether ``loaded`` is authentic (its signature verified with the index key), so that it
        may serve as a mark against rollback."""
        return loaded in self.authentic

    def wait_audits(self, timeout: float) -> None:
        """Wait for the running audits (tests and the benchmark)."""
        for thread in list(self._threads):
            thread.join(timeout)
