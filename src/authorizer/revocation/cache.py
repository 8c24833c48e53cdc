"""The two caches a long-lived checker keeps between requests.

* :class:`StatusCache`: the decided status of one certificate (GOOD or REVOKED, never UNKNOWN),
  keyed by the certificate itself and its chain's trust anchor (a status decided through one
  anchor is not reused for another; the certificate fixes issuer and serial: a serial alone would
  collide across CAs), valid until the deciding answer's nextUpdate. This is the warm path: one
  dict lookup per certificate, a few microseconds.
* :class:`CrlSourceCache`: one parsed and indexed CRL per source URI with the validators of its
  last fetch (HTTP ETag/Last-Modified, S3 ETag), refetched conditionally when it reaches
  nextUpdate or ``refresh_seconds``; a failed fetch is remembered for ``retry_seconds`` so a
  dead source does not cost every request a timeout, and a still-current CRL keeps serving
  while its source is failing.

Both are bounded (oldest entries are dropped first) and thread-safe.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ..dn import DNKey
from ..reasons import AuthorizerError
from .crl import CrlError, CrlIndex

if TYPE_CHECKING:
    from .crl_idx import LoadedIndex
    from .crl_idx_source import IndexLoader, Offer

V = TypeVar("V")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cached(Generic[V]):
    value: V
    valid_from: dt.datetime
    valid_until: dt.datetime
    #: Monotonic time after which the entry is ignored (forces a revalidation), or None.
    refresh_by: float | None = None


class StatusCache(Generic[V]):
    """Bounded map from a hashable key to a value valid over a time window."""

    def __init__(self, max_entries: int = 50_000, skew: dt.timedelta = dt.timedelta(0)) -> None:
        self.max_entries = max_entries
        self.skew = skew
        self._data: dict[Hashable, Cached[V]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, at: dt.datetime, mono: float) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.refresh_by is not None and mono >= entry.refresh_by:
            return None
        # Skew applied to ``at``, never to the stored dates: 9999-12-31T23:59:59Z is a valid
        # nextUpdate and adding a skew to it would overflow.
        if entry.valid_from > at + self.skew or at - self.skew > entry.valid_until:
            return None
        return entry.value

    @property
    def generation(self) -> int:
        """Bumped by every :meth:`clear`: a decision reads it before it starts and passes it to
        :meth:`put`, so an answer made with a CRL withdrawn meanwhile is not stored after the clear."""
        return self._generation

    def put(self, key: Hashable, entry: Cached[V], generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # decided before a clear: possibly from what the clear withdrew
            self._data.pop(key, None)
            self._data[key] = entry
            while len(self._data) > self.max_entries:
                del self._data[next(iter(self._data))]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Fetched:
    """One conditional fetch: ``data`` None means "not modified"."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None


#: ``fetch(uri, etag, last_modified) -> Fetched``; raises AuthorizerError (SourceError).
FetchFn = Callable[[str, str | None, str | None], Fetched]


@dataclass
class _Source:
    index: CrlIndex | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: float = float("-inf")  # monotonic time of the last successful fetch
    attempted_at: float = float("-inf")  # monotonic time of the last attempt
    error: str | None = None
    #: Set while ``index`` came from a CRL index file (:mod:`.crl_idx_source`).
    offer: Offer | None = None


class CrlSourceCache:
    """One indexed CRL per source URI; see the module docstring."""

    def __init__(
        self,
        *,
        refresh_seconds: float | None,
        retry_seconds: float,
        clock: Callable[[], float],
        max_sources: int = 256,
        indexes: IndexLoader | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.max_sources = max_sources
        self._sources: dict[str, _Source] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0
        self.parses = 0  # CRLs parsed (an index load is not one)
        #: Where CRL indexes come from; None: CRLs only.
        self.indexes = indexes
        #: Called when a CRL in use is withdrawn (an index failed its audit): the status cache
        #: may hold answers made with it.
        self.on_change = on_change
        #: The newest authentic CRL seen per issuer, scope and signing key: anti-rollback that
        #: outlives the cached CRL's nextUpdate and the source's eviction.
        self.newest = NewestSeen()

    def _stale(self, src: _Source, at: dt.datetime, mono: float) -> bool:
        index = src.index
        if index is None or index.next_update is None or at >= index.next_update:
            return True
        return self.refresh_seconds is not None and mono - src.fetched_at >= self.refresh_seconds

    def get(self, uri: str, at: dt.datetime, fetch: FetchFn) -> CrlIndex:
        """The CRL of ``uri`` to use at ``at``; raises CrlUnavailable when there is none."""
        src = self._sources.get(uri)
        mono = self.clock()
        if src is not None and not self._stale(src, at, mono):
            assert src.index is not None
            return src.index
        with self._guard:
            lock = self._locks.setdefault(uri, threading.Lock())
        with lock:
            src = self._sources.get(uri)
            mono = self.clock()
            if src is None:
                src = _Source()
            elif not self._stale(src, at, mono):
                assert src.index is not None
                return src.index
            if mono - src.attempted_at < self.retry_seconds:
                return self._fallback(uri, src)
            src.attempted_at = mono
            if self._from_index(uri, src, at, fetch, mono):
                return src.index  # type: ignore[return-value]
            self.fetches += 1
            try:
                got = fetch(uri, src.etag if src.index else None, src.last_modified if src.index else None)
                if got.data is None:
                    if src.index is None:
                        raise CrlUnavailable(uri, "source answered 'not modified' to an unconditional fetch")
                else:
                    self.parses += 1
                    fresh = CrlIndex.from_bytes(got.data, uri)
                    held = self._trusted(src)
                    problem = held.replacement_problem(fresh, at) if held is not None else None
                    for other in list(self._sources.values()):  # the same scope from elsewhere
                        trusted = self._trusted(other)
                        if trusted is not None and trusted.issuer_key == fresh.issuer_key:
                            self.newest.note(trusted)
                    if held is not None:
                        self.newest.note(held)
                    problem = problem or self.newest.rollback(fresh)
                    if problem is not None:
                        # Keep the current CRL; the validators stay those of the CRL we kept.
                        raise CrlError(f"refused a replacement CRL that {problem}")
                    src.index = fresh
                    src.offer = None
                src.etag, src.last_modified = got.etag, got.last_modified
                src.fetched_at = mono
                src.error = None
            except (AuthorizerError, CrlError) as exc:
                src.error = exc.detail if isinstance(exc, AuthorizerError) else str(exc)
            except Exception as exc:  # a surprise (a bug, a parser): this source fails, no other
                log.exception("CRL source %s failed", uri)
                src.error = f"internal error fetching the CRL ({type(exc).__name__})"
            self._store(uri, src)
            return self._fallback(uri, src)

    def _from_index(self, uri: str, src: _Source, at: dt.datetime, fetch: FetchFn, mono: float) -> bool:
        """Use the source's CRL index when it has a usable one (then True)."""
        if self.indexes is None:
            return False
        offer, why = self.indexes.offer(uri, at, fetch, self._trusted(src), src.offer)
        if offer is not None:
            rollback = self.newest.rollback(offer.loaded.crl)  # the same anti-rollback as a CRL's
            if rollback is not None:
                log.warning("CRL index for %s refused: it %s", uri, rollback)
                offer, why = None, rollback
        if offer is not None:
            moved = self.indexes.crl_moved_on(uri, offer.loaded, fetch)
            if moved is not None:
                # Authentic, only no longer its CRL's: the CRL now there must not be older.
                self.newest.note(offer.loaded.crl)
                log.warning("CRL index for %s refused: %s", uri, moved)
                offer, why = None, moved
        if offer is None:
            if why and src.offer is not None:
                src.etag = src.last_modified = None  # the CRL validators are not the index's
            return False
        held = self._trusted(src)
        if held is not None:
            self.newest.note(held)
        src.index, src.offer, src.etag, src.last_modified = offer.loaded.crl, offer, None, None
        src.fetched_at, src.error = mono, None
        self._store(uri, src)
        self.indexes.audit(uri, offer.loaded, lambda loaded, crl: self._audit_failed(uri, loaded, crl))
        return True

    def _audit_failed(self, uri: str, loaded: LoadedIndex, crl: CrlIndex | None) -> None:
        """An index in use disagrees with its CRL: drop it. The CRL the audit read is not put in
        its place: the next request fetches the CRL through :meth:`get`, with every check a CRL
        replacement gets (anti-rollback included); until then nothing answers (UNKNOWN)."""
        with self._guard:
            lock = self._locks.setdefault(uri, threading.Lock())
        with lock:
            src = self._sources.get(uri)
            if src is None or src.offer is None or src.offer.loaded is not loaded:
                return
            trusted = self._trusted(src)
            if trusted is not None:  # authentic (signed) though not its CRL's: still a rollback mark
                self.newest.note(trusted)
            src.offer, src.etag, src.last_modified = None, None, None
            src.index = None
            src.fetched_at = src.attempted_at = float("-inf")
        if self.on_change is not None:
            self.on_change()

    def _trusted(self, src: _Source) -> CrlIndex | None:
        """The source's CRL when it may stand for anti-rollback (``held``, :class:`NewestSeen`):
        a CRL read as such (its signature is checked when it is used), or an index that proved
        itself (:meth:`.crl_idx_source.IndexLoader.vouched`). An index not proven yet is never a
        mark: a forged one with a huge cRLNumber would otherwise lock out every genuine CRL."""
        if src.index is None or src.offer is None:
            return src.index
        if self.indexes is not None and self.indexes.vouched(src.offer.loaded):
            return src.index
        return None

    @staticmethod
    def _fallback(uri: str, src: _Source) -> CrlIndex:
        """The CRL we have (a failing source keeps serving one that is still current: the
        verdict checks currency), or the error."""
        if src.index is not None:
            return src.index
        raise CrlUnavailable(uri, src.error or "not fetched yet")

    def _store(self, uri: str, src: _Source) -> None:
        with self._guard:
            self._sources[uri] = src
            while len(self._sources) > self.max_sources:
                old = next(iter(self._sources))
                evicted = self._sources.pop(old)
                self._locks.pop(old, None)
                trusted = self._trusted(evicted)
                if trusted is not None:
                    self.newest.note(trusted)

    def fetched_at(self, uri: str) -> float | None:
        """Monotonic time of the last successful fetch of ``uri`` (None: unknown or static)."""
        src = self._sources.get(uri)
        if src is None or src.fetched_at in (float("inf"), float("-inf")):
            return None
        return src.fetched_at

    def put_static(self, uri: str, index: CrlIndex) -> None:
        """Preload a CRL that is never refetched (the CLI's --crl files)."""
        self._sources[uri] = _Source(index=index, fetched_at=float("inf"), attempted_at=float("inf"))


_Scope = tuple[DNKey, object, bool, bytes]


class NewestSeen:
    """The highest (cRLNumber, thisUpdate) seen per CRL issuer, scope (IDP), kind (complete
    or delta: both share one numbering, RFC 5280 5.2.3, but are fetched from different places)
    and signing key, for CRLs whose signature verified when used (a forged CRL must not raise
    the mark). A CRL of the same scope signed by that key but older is a replay: refused
    whatever the state of the cached CRL (expired, evicted, or from another source). Bounded;
    a cold start forgets it."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._marks: dict[_Scope, tuple[int, dt.datetime]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _scope(index: CrlIndex) -> tuple[DNKey, object, bool]:
        return index.issuer_key, index.idp, index.delta

    def note(self, index: CrlIndex) -> None:
        """Remember ``index`` as seen, under every key its signature verified with."""
        mark = (index.number if index.number is not None else -1, index.this_update)
        with self._lock:
            for spki in index.verified_keys():
                key = (*self._scope(index), spki)
                old = self._marks.pop(key, None)
                self._marks[key] = mark if old is None else (max(old[0], mark[0]), max(old[1], mark[1]))
                while len(self._marks) > self.max_entries:
                    del self._marks[next(iter(self._marks))]

    def rollback(self, new: CrlIndex) -> str | None:
        """Why ``new`` is older than a CRL of its scope and signing key already seen, or None."""
        scope = self._scope(new)
        with self._lock:
            marks = [(k[3], m) for k, m in self._marks.items() if k[:3] == scope]
        for spki, (number, this_update) in marks:
            older = new.this_update < this_update or (new.number is not None and new.number < number)
            if older and new.signed_by_spki(spki):
                return (
                    f"is older (cRLNumber {new.number}, thisUpdate {new.this_update:%Y-%m-%dT%H:%M:%SZ}) than "
                    f"one already seen (cRLNumber {number}, thisUpdate {this_update:%Y-%m-%dT%H:%M:%SZ})"
                )
        return None


class CrlUnavailable(Exception):
    def __init__(self, uri: str, detail: str) -> None:
        super().__init__(f"{uri}: {detail}")
        self.uri = uri
        self.detail = detail
