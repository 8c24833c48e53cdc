"""CRLs from a real HTTP server on 127.0.0.1, reached through the certificates' CDPs."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import make_crl
from authorizer.reasons import Reason
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.status import RevocationStatus
from tests.pki import CA, NOW
from tests.revocation_servers import CrlServer, Route, crl_server

DAY = dt.timedelta(days=1)
GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def current(ca: CA, revoked: tuple[int, ...] = (), **kw: Any) -> bytes:
    return der(make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY, **kw))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


@pytest.fixture
def pki(server: CrlServer) -> tuple[CA, CA]:
    root = CA.root("HTTP Root")
    issuing = root.intermediate("HTTP Issuing", crl_urls=[server.url("/root.crl")])
    server.add("/root.crl", Route(body=current(root)))
    return root, issuing


def cfg(server: CrlServer, **kw: Any) -> RevocationConfig:
    doc: dict[str, Any] = {"ocsp": {"enabled": False}, "allowed_hosts": [server.host], "retry_seconds": 0}
    doc.update(kw)
    return RevocationConfig.from_dict(doc)


def leaf_chain(pki: tuple[CA, CA], url: str, **kw: Any) -> list[x509.Certificate]:
    root, issuing = pki
    return [issuing.issue("CN=http leaf", crl_urls=[url], **kw).cert, issuing.cert, root.cert]


def test_current_crl_good_then_cached(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(body=current(pki[1], (12345,))))
    chk = RevocationChecker(cfg(server))
    chain = leaf_chain(pki, url)
    out = chk.check(chain, NOW)
    assert out.status is GOOD, out.detail
    assert out.certs[0].source == f"crl:{url}"
    assert chk.check(chain, NOW).status is GOOD
    assert len(server.requests_to("/issuing.crl")) == 1 and len(server.requests_to("/root.crl")) == 1
    # another leaf under the same CA: no new fetch either (CRL cached per source)
    assert chk.check(leaf_chain(pki, url), NOW).status is GOOD
    assert len(server.requests_to("/issuing.crl")) == 1


def test_revoked_leaf(server: CrlServer, pki: tuple[CA, CA]) -> None:
    chain = leaf_chain(pki, server.url("/issuing.crl"), serial=0x4242)
    server.add("/issuing.crl", Route(body=current(pki[1], (0x4242,))))
    out = RevocationChecker(cfg(server)).check(chain, NOW)
    assert out.status is REVOKED
    err = out.error("allow")
    assert err is not None and err.reason is Reason.REVOKED


def test_revoked_intermediate_refuses_every_leaf(server: CrlServer, pki: tuple[CA, CA]) -> None:
    root, issuing = pki
    server.add("/root.crl", Route(body=current(root, (issuing.cert.serial_number,))))
    url = server.add("/issuing.crl", Route(body=current(issuing)))
    chk = RevocationChecker(cfg(server))
    for _ in range(3):
        out = chk.check(leaf_chain(pki, url), NOW)
        assert out.status is REVOKED
        assert out.certs[1].status is REVOKED


def test_revalidation_uses_etag(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(body=current(pki[1]), etag='"crl-1"'))
    clock = Clock()
    chk = RevocationChecker(cfg(server, crl={"refresh_seconds": 60}), clock=clock)
    chain = leaf_chain(pki, url)
    assert chk.check(chain, NOW).status is GOOD
    clock.t += 61
    assert chk.check(chain, NOW).status is GOOD
    seen = server.requests_to("/issuing.crl")
    assert len(seen) == 2 and seen[1].headers.get("If-None-Match") == '"crl-1"'
    # a revocation published at the source is seen at the next revalidation
    server.add("/issuing.crl", Route(body=current(pki[1], (chain[0].serial_number,)), etag='"crl-2"'))
    clock.t += 61
    assert chk.check(chain, NOW).status is REVOKED


def test_refetched_at_next_update(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(body=current(pki[1])))
    chk = RevocationChecker(cfg(server, crl={"refresh_seconds": None}))
    chain = leaf_chain(pki, url)
    assert chk.check(chain, NOW).status is GOOD
    later = NOW + 2 * DAY
    fresh = make_crl(pki[1], (), this_update=later - DAY, next_update=later + DAY)
    server.add("/issuing.crl", Route(body=der(fresh)))
    server.add("/root.crl", Route(body=der(make_crl(pki[0], (), this_update=later - DAY, next_update=later + DAY))))
    assert chk.check(chain, later).status is GOOD
    assert len(server.requests_to("/issuing.crl")) == 2


@pytest.mark.parametrize(
    ("route", "detail"),
    [
        (
            lambda r, i: Route(body=der(make_crl(i, (), this_update=NOW - 3 * DAY, next_update=NOW - 2 * DAY))),
            "expired",
        ),
        (lambda r, i: Route(body=current(i, signer=r.key)), "signature"),
        (lambda r, i: Route(body=b"\x30\x03\x02\x01\x01"), "not a CRL"),
        (lambda r, i: Route(body=b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), "not a CRL"),
        (lambda r, i: Route(body=current(i) + b"\x00" * 5000), "cap"),
        (lambda r, i: Route(body=current(i), delay=1.5), "timed out"),
        (lambda r, i: Route(body=current(i), trickle=0.05), "timed out"),
        (lambda r, i: Route(status=500, body=b"oops"), "HTTP 500"),
        (lambda r, i: Route(status=404), "HTTP 404"),
    ],
    ids=["expired", "wrong-signer", "malformed-der", "malformed-pem", "oversized", "slow", "trickle", "500", "404"],
)
def test_bad_sources_are_unknown(server: CrlServer, pki: tuple[CA, CA], route: Any, detail: str) -> None:
    root, issuing = pki
    url = server.add("/issuing.crl", route(root, issuing))
    chain = leaf_chain(pki, url, serial=0x77)
    config = cfg(server, crl={"max_bytes": 4096, "timeout_ms": 400}, budget_ms=1500)
    started = time.monotonic()
    out = RevocationChecker(config).check(chain, NOW)
    assert time.monotonic() - started < 1.6
    assert out.status is UNKNOWN
    assert out.certs[0].status is UNKNOWN and detail in out.certs[0].detail, out.certs[0].detail
    err = out.error("deny")
    assert err is not None and err.reason is Reason.REVOCATION_UNKNOWN
    assert out.error("allow") is None


def test_redirect_to_a_host_not_allowed_is_refused(server: CrlServer, pki: tuple[CA, CA]) -> None:
    with crl_server() as elsewhere:
        target = elsewhere.add("/issuing.crl", Route(body=current(pki[1])))
        url = server.add("/issuing.crl", Route(location=target))
        out = RevocationChecker(cfg(server)).check(leaf_chain(pki, url), NOW)
        assert out.status is UNKNOWN and "allowed_hosts" in out.certs[0].detail
        assert elsewhere.seen == []
        # the same redirect to an allowed host:port is followed
        both = cfg(server, allowed_hosts=[server.host, elsewhere.host])
        assert RevocationChecker(both).check(leaf_chain(pki, url), NOW).status is GOOD


def test_loopback_cdp_is_not_contacted_without_allowed_hosts(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(body=current(pki[1])))
    config = RevocationConfig.from_dict({"ocsp": {"enabled": False}})
    out = RevocationChecker(config).check(leaf_chain(pki, url), NOW)
    assert out.status is UNKNOWN and "loopback" in out.certs[0].detail
    assert server.seen == []


def test_non_http_cdp_counts_as_no_source(server: CrlServer, pki: tuple[CA, CA]) -> None:
    chain = leaf_chain(pki, "ldap://ldap.example/cn=Issuing?certificateRevocationList")
    out = RevocationChecker(cfg(server)).check(chain, NOW)
    assert out.certs[0].status is UNKNOWN and "no CRL source" in out.certs[0].detail


def test_budget_bounds_the_whole_step_and_certs_run_concurrently(server: CrlServer) -> None:
    root = CA.root("Slow Root")
    issuing = root.intermediate("Slow Issuing", crl_urls=[server.url("/root.crl")])
    server.add("/root.crl", Route(body=current(root), delay=0.4))
    url = server.add("/issuing.crl", Route(body=current(issuing), delay=0.4))
    chain = [issuing.issue("CN=slow", crl_urls=[url]).cert, issuing.cert, root.cert]
    started = time.monotonic()
    out = RevocationChecker(cfg(server, budget_ms=1500)).check(chain, NOW)
    elapsed = time.monotonic() - started
    assert out.status is GOOD and elapsed < 0.75  # two 0.4 s fetches, concurrently
    server.add("/root.crl", Route(body=current(root), delay=2))
    server.add("/issuing.crl", Route(body=current(issuing), delay=2))
    started = time.monotonic()
    out = RevocationChecker(cfg(server, budget_ms=300, crl={"timeout_ms": 5000})).check(chain, NOW)
    assert time.monotonic() - started < 0.6
    # Each certificate ends at the budget: cut off by the checker ("budget") or by the fetch's
    # own whole-call deadline, which is the remaining budget ("timed out"), whichever fires first.
    assert out.status is UNKNOWN and all("budget" in c.detail or "timed out" in c.detail for c in out.certs)


def test_configured_http_url_and_cdp_together(server: CrlServer, pki: tuple[CA, CA]) -> None:
    _root, issuing = pki
    configured = server.add("/configured.crl", Route(body=current(issuing, (0x99,))))
    cdp = server.add("/issuing.crl", Route(body=current(issuing)))
    chain = leaf_chain(pki, cdp, serial=0x99)
    out = RevocationChecker(cfg(server, crl={"urls": [configured]})).check(chain, NOW)
    assert out.status is REVOKED  # REVOKED from any authentic source wins over another's GOOD


def test_failed_source_is_not_hammered(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(status=500))
    clock = Clock()
    chk = RevocationChecker(cfg(server, retry_seconds=30), clock=clock)
    chain = leaf_chain(pki, url)
    for _ in range(3):
        assert chk.check(chain, NOW).status is UNKNOWN
    assert len(server.requests_to("/issuing.crl")) == 1
    clock.t += 31
    server.add("/issuing.crl", Route(body=current(pki[1])))
    assert chk.check(chain, NOW).status is GOOD


def test_prefer_ocsp_falls_back_to_crl(server: CrlServer, pki: tuple[CA, CA]) -> None:
    url = server.add("/issuing.crl", Route(body=current(pki[1])))
    config = RevocationConfig.from_dict({"allowed_hosts": [server.host], "retry_seconds": 0})
    out = RevocationChecker(config).check(leaf_chain(pki, url), NOW)  # no AIA: OCSP has no responder
    assert out.status is GOOD and out.certs[0].source == f"crl:{url}"


def test_an_older_or_forged_crl_never_replaces_a_current_one(server: CrlServer, pki: tuple[CA, CA]) -> None:
    """A CDP is usually plain http: a replayed older CRL (still within its dates, not listing a
    recent revocation) or a forged one must not bring a revoked certificate back to GOOD."""
    issuing = pki[1]
    url = server.url("/issuing.crl")
    chain = leaf_chain(pki, url)
    hour = dt.timedelta(hours=1)
    older = make_crl(issuing, [], this_update=NOW - DAY, next_update=NOW + DAY)
    newer = make_crl(issuing, [chain[0].serial_number], this_update=NOW - hour, next_update=NOW + DAY)
    forged = make_crl(issuing, [], this_update=NOW, next_update=NOW + DAY, signer=CA.root("Forger").key)
    clock = Clock()
    chk = RevocationChecker(cfg(server, crl={"refresh_seconds": 60}), clock=clock)
    server.add("/issuing.crl", Route(body=der(newer), etag='"2"'))
    assert chk.check(chain, NOW).status is REVOKED
    for replacement, tag in ((older, '"1"'), (forged, '"f"')):
        server.add("/issuing.crl", Route(body=der(replacement), etag=tag))
        clock.t += 61
        out = chk.check(chain, NOW)
        assert out.status is REVOKED, out.detail
        # and for another leaf of the same CA, decided from the kept CRL, not the replacement
        other = leaf_chain(pki, url)
        assert chk.check(other, NOW).status is GOOD
    # once the kept CRL is no longer current, nothing protects it: an expired CRL proves nothing
    assert chk.check(chain, NOW + 2 * DAY).status is UNKNOWN
