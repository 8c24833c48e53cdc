"""Regression tests for the revocation review, with CRLs from a real HTTP server on 127.0.0.1:

* F2: a URL that ``urllib.parse`` refuses (a CDP ``http://[::1/x``, a redirect to
  ``http://[x``) fails that one source: the others still decide, OCSP failing that way still
  lets the CRL decide, and the failed source is not contacted again on every request.
* F5: an older CRL (lower cRLNumber) replayed after the newer one expired, or after its source
  was evicted from the cache, is refused.
* The status cache: an answer decided through one trust anchor is not reused for a chain to
  another; its refresh deadline counts from the CRL's fetch, not from when it was computed.
* Failed OCSP responders are remembered in a bounded map.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from authorizer.devpki import make_crl
from authorizer.revocation import checker as checker_module
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.status import RevocationStatus
from authorizer.validation import ChainValidator, TrustStore
from tests.pki import CA, NOW
from tests.revocation_servers import CrlServer, Route, crl_server

DAY = dt.timedelta(days=1)
GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN
CRL_SIGN_ONLY = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("Review HTTP Root")
    return root, root.intermediate("Review HTTP Issuing")


def cfg(server: CrlServer, **kw: Any) -> RevocationConfig:
    doc: dict[str, Any] = {
        "scope": "leaf",
        "prefer": "crl",
        "on_unknown": "allow",
        "ocsp": {"enabled": False},
        "allowed_hosts": [server.host],
        "retry_seconds": 300,
    }
    doc.update(kw)
    return RevocationConfig.from_dict(doc)


def chain(pki: tuple[CA, CA], serial: int, **kw: Any) -> list[x509.Certificate]:
    root, issuing = pki
    return [issuing.issue("CN=review leaf", serial=serial, **kw).cert, issuing.cert, root.cert]


def listing(issuing: CA, *serials: int, number: int = 1, **kw: Any) -> bytes:
    kw.setdefault("this_update", NOW - DAY)
    kw.setdefault("next_update", NOW + DAY)
    return der(make_crl(issuing, serials, crl_number=number, **kw))


# -- F2 ---------------------------------------------------------------------------------------


def test_bad_redirect_location_fails_only_its_source(server: CrlServer, pki: tuple[CA, CA]) -> None:
    bad = server.add("/redir.crl", Route(status=302, location="http://[not-ipv6/x.crl"))
    good = server.add("/good.crl", Route(body=listing(pki[1], 0x77, 0x78)))
    chk = RevocationChecker(cfg(server, crl={"urls": [bad, good], "use_distribution_points": False}))
    try:
        out = chk.check(chain(pki, 0x77), NOW)
        assert out.status is REVOKED, out.detail
        # the failure is remembered: the bad source is not contacted again within retry_seconds
        assert chk.check(chain(pki, 0x78), NOW).status is REVOKED
    finally:
        chk.close()
    assert len(server.requests_to("/redir.crl")) == 1


def test_unparsable_cdp_url_fails_only_its_source(server: CrlServer, pki: tuple[CA, CA]) -> None:
    good = server.add("/good.crl", Route(body=listing(pki[1], 0x79)))
    leaf = chain(pki, 0x79, crl_urls=["http://[::1/odd.crl"])
    chk = RevocationChecker(cfg(server, crl={"urls": [good], "use_distribution_points": True}))
    try:
        out = chk.check(leaf, NOW)
    finally:
        chk.close()
    assert out.status is REVOKED, out.detail
    assert out.error("allow") is not None  # a Deny even with on_unknown=allow


def test_ocsp_bad_redirect_still_lets_the_crl_decide(server: CrlServer, pki: tuple[CA, CA]) -> None:
    responder = server.add("/ocsp", Route(status=302, location="http://[not-ipv6/"))
    good = server.add("/good.crl", Route(body=listing(pki[1], 0x7A)))
    config = cfg(
        server,
        prefer="ocsp",
        ocsp={"enabled": True, "responder_url": responder},
        crl={"urls": [good], "use_distribution_points": False},
    )
    chk = RevocationChecker(config)
    try:
        out = chk.check(chain(pki, 0x7A), NOW)
        assert out.status is REVOKED, out.detail
        assert chk.check(chain(pki, 0x7A), NOW).status is REVOKED
    finally:
        chk.close()
    assert len(server.requests_to("/ocsp")) == 1  # remembered as failed


def test_failed_responders_are_bounded(server: CrlServer, pki: tuple[CA, CA], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checker_module, "MAX_OCSP_FAILURES", 2)
    chk = RevocationChecker(cfg(server, prefer="ocsp", ocsp={"enabled": True}, crl={"enabled": False}))
    try:
        for i in range(4):
            url = server.add(f"/ocsp{i}", Route(status=500))
            assert chk.check(chain(pki, 0x7B0 + i, ocsp_url=url), NOW).status is UNKNOWN
        assert len(chk._ocsp_failures) == 2
    finally:
        chk.close()


# -- F5 ---------------------------------------------------------------------------------------


def test_older_crl_replayed_after_the_newer_one_expired_is_refused(server: CrlServer, pki: tuple[CA, CA]) -> None:
    issuing = pki[1]
    crl10 = listing(issuing, number=10, next_update=NOW + 7 * DAY)
    crl11 = listing(issuing, 0x55, number=11, this_update=NOW, next_update=NOW + DAY)
    url = server.add("/c.crl", Route(body=crl11))
    clock = Clock()
    chk = RevocationChecker(cfg(server, crl={"urls": [url], "use_distribution_points": False}), clock=clock)
    leaf = chain(pki, 0x55)
    try:
        assert chk.check(leaf, NOW + dt.timedelta(hours=1)).status is REVOKED
        server.add("/c.crl", Route(body=crl10))  # #11 expires; #10 is still within its dates
        clock.t += 30 * 3600
        out = chk.check(leaf, NOW + dt.timedelta(hours=30))
    finally:
        chk.close()
    assert out.status is UNKNOWN, out.detail
    assert len(server.requests_to("/c.crl")) == 2


def test_older_crl_replayed_after_its_source_was_evicted_is_refused(server: CrlServer, pki: tuple[CA, CA]) -> None:
    issuing = pki[1]
    url = server.add("/c.crl", Route(body=listing(issuing, 0x56, 0x57, number=11)))
    other = server.add("/other.crl", Route(body=listing(issuing, 0x56, 0x57, number=11)))
    chk = RevocationChecker(cfg(server, crl={"urls": [url], "use_distribution_points": True}))
    chk.crl_cache.max_sources = 1
    try:
        assert chk.check(chain(pki, 0x56), NOW).status is REVOKED
        assert chk.check(chain(pki, 0x58, crl_urls=[other]), NOW).status is GOOD  # evicts /c.crl
        server.add("/c.crl", Route(body=listing(issuing, number=10)))  # older, current, not listing
        out = chk.check(chain(pki, 0x57), NOW)
    finally:
        chk.close()
    assert out.status is not GOOD, out.detail
    assert "older" in out.detail
    assert len(server.requests_to("/c.crl")) == 2


# -- the status cache -------------------------------------------------------------------------


def test_status_is_not_reused_for_a_chain_to_another_anchor(pki: tuple[CA, CA]) -> None:
    root, issuing = pki
    other_root = CA.root("Review Other Root")
    cross = (  # the issuing CA's name and key, certified by the other root
        x509.CertificateBuilder()
        .subject_name(issuing.cert.subject)
        .issuer_name(other_root.cert.subject)
        .public_key(issuing.key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(issuing.cert.not_valid_before_utc)
        .not_valid_after(issuing.cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(other_root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    # CRLs signed by a separate CRL-signing key whose path ends at the first root only
    crl_key = root.issue(issuing.cert.subject.rfc4514_string(), key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)
    store = TrustStore.from_certs([root.cert, other_root.cert], [issuing.cert, cross])
    validator = ChainValidator(store, max_chain_length=6)
    chk = RevocationChecker.from_crl_bytes(
        [("root.crl", listing(root)), ("issuing.crl", listing(issuing, signer=crl_key.key))],
        scope="leaf",
        signer_validator=lambda c, pool, at: validator.validate_signer(c, at, pool).chain,
        signer_pool=[crl_key.cert, root.cert, other_root.cert, issuing.cert],
    )
    leaf = issuing.issue("CN=cross leaf", serial=0x5A).cert
    try:
        assert chk.check([leaf, issuing.cert, root.cert], NOW).status is GOOD
        out = chk.check([leaf, cross, other_root.cert], NOW)
    finally:
        chk.close()
    assert out.status is UNKNOWN, out.detail
    assert "another trust anchor" in out.detail


def test_status_refresh_counts_from_the_crl_fetch(server: CrlServer, pki: tuple[CA, CA]) -> None:
    issuing = pki[1]
    url = server.add("/c.crl", Route(body=listing(issuing)))
    clock = Clock()
    crl = {"urls": [url], "use_distribution_points": False, "refresh_seconds": 60}
    config = cfg(server, crl=crl, retry_seconds=0)
    chk = RevocationChecker(config, clock=clock)
    first, second = chain(pki, 0x61), chain(pki, 0x62)
    try:
        assert chk.check(first, NOW).status is GOOD  # fetched at t=1000
        clock.t += 50
        assert chk.check(second, NOW).status is GOOD  # from the CRL fetched 50 s ago
        server.add("/c.crl", Route(body=listing(issuing, 0x62, number=2)))  # revoked meanwhile
        clock.t += 20  # 70 s after the fetch, 20 s after the answer was computed
        out = chk.check(second, NOW)
    finally:
        chk.close()
    assert out.status is REVOKED, out.detail
    assert len(server.requests_to("/c.crl")) == 2
