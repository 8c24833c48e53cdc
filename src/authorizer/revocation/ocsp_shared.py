"""A fleet-wide OCSP cache on DynamoDB: one responder query per certificate per nextUpdate.

The table is a cache, never a trust root. Every answer read from it goes through the same
:func:`.ocsp.evaluate` as a fresh one (signature by the issuer or a responder it authorized,
CertID, currency), so a planted, altered, foreign or stale item is simply a miss. The nonce:
an answer in the table was fetched with a fresh nonce (when ``ocsp.nonce`` is on) and checked
then; read back, it is by definition a replay, accepted on the same terms as the in-memory
status cache: while it is current.

Budget: one ``BatchGetItem`` per decision at most (every certificate of the chain the decision
checks, read before the checks start, only when OCSP is the first method), with sub-second
timeouts, and none while the table failed in the last ``retry_seconds`` (a table that is
down costs one timeout, then the responder is asked directly). The write-back is a
conditional ``PutItem`` made in the background, off the decision's path: it only replaces
what this container read (or nothing).
Failures (UNKNOWN answers, errors) are never written. The in-memory layer in front is the
checker's status cache: a warm container never reaches the table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509

from ..reasons import AuthorizerError
from . import ocsp
from .status import RevocationStatus

log = logging.getLogger(__name__)


class Table(Protocol):
    """What the cache needs of the table (``authorizer.sources.dynamo.OcspTable``)."""

    table: str

    def get_many(self, keys: list[str]) -> dict[str, bytes]: ...

    def put(self, key: str, response: bytes, expires: int, replaces: bytes | None) -> bool: ...


def cache_key(cert: x509.Certificate, issuer: x509.Certificate) -> str:
    """SHA-1 of the issuer's public key bits (the CertID's issuerKeyHash) and the serial."""
    bits = ocsp._key_bits(issuer)
    return f"{hashlib.sha1(bits).hexdigest()}:{cert.serial_number:x}"  # noqa: S324 - an identifier, as in OCSP


@dataclass(frozen=True)
class Lookup:
    """One read: the answer when the table held a usable one, and the bytes seen (for the
    conditional write-back)."""

    answer: ocsp.OcspAnswer | None
    seen: bytes | None
    note: str = ""


class SharedOcspCache:
    """See the module docstring."""

    def __init__(
        self, table: Table, *, retry_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table = table
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._failed_at: float | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.hits = 0
        self.refused = 0
        self.writes = 0

    @property
    def name(self) -> str:
        return f"dynamodb:{getattr(self.table, 'table', '?')}"

    def prefetch(self, pairs: Sequence[tuple[x509.Certificate, x509.Certificate]]) -> Mapping[str, bytes] | None:
        """One read for every ``(cert, issuer)`` a decision is about to check (a single
        BatchGetItem: the "one table call per decision"); None when the table is not asked
        (it failed recently, or just now)."""
        failed = self._failed_at
        if not pairs or (failed is not None and self.clock() - failed < self.retry_seconds):
            return None
        try:
            found = self.table.get_many([cache_key(c, i) for c, i in pairs][:100])
        except AuthorizerError as exc:
            self._failed_at = self.clock()
            log.warning("shared OCSP cache unavailable: %s", exc.detail)
            return None
        except Exception:  # a bug or a surprise: no table answer (the responder, then the CRL, still run)
            self._failed_at = self.clock()
            log.exception("shared OCSP cache read failed")
            return None
        self._failed_at = None
        return found

    def lookup(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        prefetched: Mapping[str, bytes] | None,
        *,
        at: dt.datetime,
        skew: dt.timedelta,
        max_age: dt.timedelta,
    ) -> Lookup:
        """The table's answer for ``cert`` (from :meth:`prefetch`) when it is usable; never raises."""
        if prefetched is None:
            return Lookup(None, None, "shared OCSP cache not read")
        data = prefetched.get(cache_key(cert, issuer))
        if data is None:
            return Lookup(None, None, "not in the shared OCSP cache")
        answer = ocsp.evaluate(data, cert, issuer, nonce=None, at=at, skew=skew, max_age=max_age)
        if answer.status is RevocationStatus.UNKNOWN:
            self.refused += 1
            log.warning("shared OCSP cache item for serial %x refused: %s", cert.serial_number, answer.detail)
            return Lookup(None, data, f"shared OCSP cache item refused: {answer.detail}")
        self.hits += 1
        return Lookup(answer, data)

    def store(
        self, cert: x509.Certificate, issuer: x509.Certificate, der: bytes, answer: ocsp.OcspAnswer, seen: bytes | None
    ) -> None:
        """Write a verified GOOD/REVOKED answer back, in the background."""
        if answer.status is RevocationStatus.UNKNOWN or answer.valid_until is None or der == seen:
            return
        key, expires = cache_key(cert, issuer), int(answer.valid_until.timestamp())

        def put() -> None:
            try:
                if self.table.put(key, der, expires, seen):
                    self.writes += 1
            except AuthorizerError as exc:
                log.warning("shared OCSP cache write failed: %s", exc.detail)

        thread = threading.Thread(target=put, name="ocsp-cache-put", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float) -> None:
        """Wait for the background writes (tests and the benchmark)."""
        for thread in list(self._threads):
            thread.join(timeout)
