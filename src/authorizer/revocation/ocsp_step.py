"""The checker's OCSP step for one certificate: the fleet's shared cache, then the responder.

Kept apart from :mod:`.checker` so that a policy without OCSP never imports the OCSP code.
The shared cache (:mod:`.ocsp_shared`) is consulted through what the decision prefetched; a
verified GOOD/REVOKED answer from the responder is written back to it in the background.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from cryptography import x509

from ..reasons import AuthorizerError
from . import ocsp
from .cache import Cached
from .outcome import CertStatus
from .status import RevocationStatus
from .urls import ocsp_urls, subject_of

if TYPE_CHECKING:
    from .checker import RevocationChecker

log = logging.getLogger("authorizer.revocation.checker")

Found = tuple[RevocationStatus, str, str, Callable[[CertStatus], Cached[CertStatus]] | None]


def ocsp_step(
    chk: RevocationChecker,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    at: dt.datetime,
    deadline: float,
    prefetched: Mapping[str, bytes] | None,
) -> Found:
    """``cert``'s OCSP status (issued by ``issuer``, a verified link) within ``deadline``."""
    cfg = chk.config.ocsp
    urls = [cfg.responder_url] if cfg.responder_url else ocsp_urls(cert)
    if not urls:
        return RevocationStatus.UNKNOWN, "none", "no OCSP responder", None
    url = urls[0]
    max_age = dt.timedelta(seconds=cfg.max_age_seconds)
    seen: bytes | None = None
    shared = chk.shared_ocsp
    if shared is not None:
        found = shared.lookup(cert, issuer, prefetched, at=at, skew=chk.skew, max_age=max_age)
        if found.answer is not None:
            return answered(found.answer, f"ocsp:{url} via {shared.name}")
        seen = found.seen
    failed = chk._ocsp_failures.get(url)
    mono = chk.clock()
    if failed is not None and mono - failed[0] < chk.config.retry_seconds:
        return RevocationStatus.UNKNOWN, f"ocsp:{url}", f"responder failed recently: {failed[1]}", None
    timeout = chk._remaining(deadline, cfg.timeout_ms)
    if timeout <= 0:
        return RevocationStatus.UNKNOWN, f"ocsp:{url}", "no time left in the budget", None
    nonce = ocsp.new_nonce() if cfg.nonce else None
    try:
        resp = chk.http.request(
            url,
            method="POST",
            body=ocsp.build_request(cert, issuer, nonce),
            headers={"Content-Type": ocsp.CONTENT_TYPE, "Accept": "application/ocsp-response"},
            max_bytes=cfg.max_bytes,
            timeout=timeout,
        )
    except AuthorizerError as exc:
        chk._ocsp_failed(url, mono, exc.detail)
        return RevocationStatus.UNKNOWN, f"ocsp:{url}", exc.detail, None
    except Exception as exc:  # a surprise: this responder fails, and is not asked again soon
        chk._ocsp_failed(url, mono, f"internal error ({type(exc).__name__})")
        raise
    answer = ocsp.evaluate(resp.data, cert, issuer, nonce=nonce, at=at, skew=chk.skew, max_age=max_age)
    if answer.status == RevocationStatus.UNKNOWN:
        log.warning("OCSP %s for %s: %s", url, subject_of(cert), answer.detail)
        return answer.status, f"ocsp:{url}", answer.detail, None
    if shared is not None:
        shared.store(cert, issuer, resp.data, answer, seen)
    return answered(answer, f"ocsp:{url}")


def answered(answer: ocsp.OcspAnswer, source: str) -> Found:
    """A GOOD or REVOKED OCSP answer, cached in memory until its nextUpdate."""
    this_update, valid_until = answer.this_update, answer.valid_until
    assert this_update is not None and valid_until is not None

    def window(result: CertStatus) -> Cached[CertStatus]:
        return Cached(replace(result, source=f"cache ({result.source})"), this_update, valid_until)

    return answer.status, source, answer.detail, window
