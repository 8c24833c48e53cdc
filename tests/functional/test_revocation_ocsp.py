"""OCSP against a real ``openssl ocsp`` responder on 127.0.0.1.

openssl stamps its answers with the real current time, so these tests validate at the real
``now`` (the certificates from devpki are valid 2025-2045).
"""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import make_crl, ocsp_responder_cert
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.status import RevocationStatus
from tests.pki import CA
from tests.revocation_servers import CrlServer, NonceRewritingProxy, OpenSslOcspResponder, Route, crl_server, free_port

GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("OCSP Root")
    return root, root.intermediate("OCSP Issuing")


@pytest.fixture(scope="module")
def leaves(pki: tuple[CA, CA]) -> dict[str, x509.Certificate]:
    _, issuing = pki
    return {name: issuing.issue(f"CN={name}").cert for name in ("good", "revoked", "unknown")}


def responder(pki: tuple[CA, CA], leaves: dict[str, x509.Certificate], **kw: Any) -> OpenSslOcspResponder:
    _, issuing = pki
    entries = [(leaves["good"], None), (leaves["revoked"], now() - dt.timedelta(hours=1))]
    return OpenSslOcspResponder(issuing, entries, **kw)


@pytest.fixture(scope="module")
def ca_signed(pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]) -> Iterator[OpenSslOcspResponder]:
    r = responder(pki, leaves, nmin=60)
    yield r
    r.close()


def cfg(url: str, host: str, **kw: Any) -> RevocationConfig:
    doc: dict[str, Any] = {
        "scope": "leaf",
        "ocsp": {"responder_url": url},
        "crl": {"enabled": False},
        "allowed_hosts": [host],
        "retry_seconds": 0,
    }
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return RevocationConfig.from_dict(doc)


def check(config: RevocationConfig, pki: tuple[CA, CA], leaf: x509.Certificate, at: dt.datetime | None = None) -> Any:
    root, issuing = pki
    return RevocationChecker(config).check([leaf, issuing.cert, root.cert], at or now())


@pytest.mark.parametrize(("name", "status"), [("good", GOOD), ("revoked", REVOKED), ("unknown", UNKNOWN)])
def test_good_revoked_unknown(
    ca_signed: OpenSslOcspResponder, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate], name: str, status: Any
) -> None:
    out = check(cfg(ca_signed.url, ca_signed.host), pki, leaves[name])
    assert out.status is status, out.detail
    assert out.certs[0].source == f"ocsp:{ca_signed.url}"


def test_answers_are_cached_until_next_update(
    ca_signed: OpenSslOcspResponder, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]
) -> None:
    root, issuing = pki
    chk = RevocationChecker(cfg(ca_signed.url, ca_signed.host))
    chain = [leaves["revoked"], issuing.cert, root.cert]
    assert chk.check(chain, now()).status is REVOKED
    requests = chk.http.requests
    again = chk.check(chain, now())
    assert again.status is REVOKED and again.certs[0].source.startswith("cache")
    assert chk.http.requests == requests
    # past nextUpdate (60 min) the cached answer is not used; the responder is asked again (and
    # its fresh answer, stamped with the real time, is itself stale at that validation time)
    later = now() + dt.timedelta(minutes=90)
    out = chk.check(chain, later)
    assert out.status is UNKNOWN and "stale" in out.certs[0].detail
    assert chk.http.requests == requests + 1


def test_delegated_responder_with_ocsp_signing_eku(pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]) -> None:
    r = responder(pki, leaves, signer=ocsp_responder_cert(pki[1]), nmin=10)
    try:
        assert check(cfg(r.url, r.host), pki, leaves["good"]).status is GOOD
        assert check(cfg(r.url, r.host), pki, leaves["revoked"]).status is REVOKED
    finally:
        r.close()


@pytest.mark.parametrize(
    ("signer", "detail"),
    [
        (lambda root, issuing: ocsp_responder_cert(issuing, eku=False), "EKU"),
        (lambda root, issuing: ocsp_responder_cert(root), "not issued by"),
        (lambda root, issuing: ocsp_responder_cert(CA.root("Stranger")), "not issued by"),
        (lambda root, issuing: root, "not issued by"),
    ],
    ids=["no-eku", "issued-by-root", "foreign-ca", "root-signs"],
)
def test_unauthorized_signers_are_unknown(
    pki: tuple[CA, CA], leaves: dict[str, x509.Certificate], signer: Any, detail: str
) -> None:
    root, issuing = pki
    r = responder(pki, leaves, signer=signer(root, issuing), nmin=10)
    try:
        for name in ("good", "revoked"):
            out = check(cfg(r.url, r.host), pki, leaves[name])
            assert out.status is UNKNOWN, out.detail
            assert detail in out.certs[0].detail
    finally:
        r.close()


def test_stale_answers_are_unknown(pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]) -> None:
    short = responder(pki, leaves, nmin=1)
    try:
        config = cfg(short.url, short.host)
        assert check(config, pki, leaves["good"]).status is GOOD
        out = check(config, pki, leaves["good"], now() + dt.timedelta(minutes=10))
        assert out.status is UNKNOWN and "stale" in out.certs[0].detail
    finally:
        short.close()
    # without nextUpdate the configured max age applies
    undated = responder(pki, leaves)
    try:
        config = cfg(undated.url, undated.host, ocsp={"max_age_seconds": 600})
        assert check(config, pki, leaves["good"]).status is GOOD
        out = check(config, pki, leaves["good"], now() + dt.timedelta(minutes=20))
        assert out.status is UNKNOWN and "stale" in out.certs[0].detail
    finally:
        undated.close()


def test_wrong_nonce_is_unknown(
    ca_signed: OpenSslOcspResponder, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]
) -> None:
    proxy = NonceRewritingProxy(ca_signed.url)
    try:
        out = check(cfg(proxy.url("/"), proxy.host), pki, leaves["good"])
        assert out.status is UNKNOWN and "nonce" in out.certs[0].detail
        # the same answer is accepted when no nonce was asked for
        relaxed = cfg(proxy.url("/"), proxy.host, ocsp={"nonce": False})
        assert check(relaxed, pki, leaves["good"]).status is GOOD
    finally:
        proxy.close()


def test_chain_over_aia_and_revoked_intermediate() -> None:
    root = CA.root("AIA Root")
    root_port, issuing_port = free_port(), free_port()
    issuing = root.intermediate("AIA Issuing", ocsp_url=f"http://127.0.0.1:{root_port}/")
    leaf = issuing.issue("CN=aia leaf", ocsp_url=f"http://127.0.0.1:{issuing_port}/").cert
    chain = [leaf, issuing.cert, root.cert]
    hosts = {"allowed_hosts": [f"127.0.0.1:{root_port}", f"127.0.0.1:{issuing_port}"], "crl": {"enabled": False}}
    leaf_r = OpenSslOcspResponder(issuing, [(leaf, None)], nmin=10, port=issuing_port)
    root_r = OpenSslOcspResponder(root, [(issuing.cert, None)], nmin=10, port=root_port)
    try:
        out = RevocationChecker(RevocationConfig.from_dict(hosts)).check(chain, now())
        assert out.status is GOOD, out.detail
        assert [c.source for c in out.certs] == [f"ocsp:{leaf_r.url}", f"ocsp:{root_r.url}"]
    finally:
        root_r.close()
    root_r = OpenSslOcspResponder(root, [(issuing.cert, now() - dt.timedelta(hours=1))], nmin=10, port=root_port)
    try:
        out = RevocationChecker(RevocationConfig.from_dict(hosts)).check(chain, now())
        assert out.status is REVOKED
        assert out.certs[1].status is REVOKED and out.certs[0].status is GOOD
    finally:
        root_r.close()
        leaf_r.close()


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


def test_ocsp_unknown_falls_back_to_crl_and_revoked_wins(
    ca_signed: OpenSslOcspResponder, server: CrlServer, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]
) -> None:
    _, issuing = pki
    at = now()
    crl = make_crl(
        issuing,
        [leaves["revoked"].serial_number],
        this_update=at - dt.timedelta(hours=1),
        next_update=at + dt.timedelta(days=1),
    )
    url = server.add("/issuing.crl", Route(body=crl.public_bytes(serialization.Encoding.DER)))
    config = cfg(
        ca_signed.url, ca_signed.host, crl={"enabled": True, "urls": [url]}, allowed_hosts=[ca_signed.host, server.host]
    )
    out = check(config, pki, leaves["unknown"], at)  # OCSP: unknown; CRL: not listed
    assert out.status is GOOD and out.certs[0].source == f"crl:{url}"
    out = check(config, pki, leaves["revoked"], at)  # OCSP decides first
    assert out.status is REVOKED and out.certs[0].source.startswith("ocsp:")
    crl_first = cfg(
        ca_signed.url,
        ca_signed.host,
        prefer="crl",
        crl={"enabled": True, "urls": [url]},
        allowed_hosts=[ca_signed.host, server.host],
    )
    assert check(crl_first, pki, leaves["revoked"], at).certs[0].source == f"crl:{url}"


@pytest.mark.parametrize(
    ("route", "detail"),
    [
        (Route(body=b"\x30\x03\x0a\x01\x00"), "malformed"),
        (Route(body=b"garbage"), "malformed"),
        (Route(body=b"\x30\x03\x0a\x01\x01"), "MALFORMED_REQUEST"),
        (Route(body=b"x" * 70_000), "cap"),
        (Route(status=500), "HTTP 500"),
        (Route(body=b"", delay=1.5), "timed out"),
    ],
    ids=["no-bytes", "garbage", "error-status", "oversized", "500", "slow"],
)
def test_bad_responders_are_unknown(
    server: CrlServer, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate], route: Route, detail: str
) -> None:
    url = server.add("/ocsp", route)
    out = check(cfg(url, server.host), pki, leaves["good"])
    assert out.status is UNKNOWN and detail in out.certs[0].detail, out.certs[0].detail
    seen = server.requests_to("/ocsp")[0]
    assert seen.method == "POST" and seen.headers["Content-Type"] == "application/ocsp-request"


def test_answer_for_another_certificate_is_unknown(
    ca_signed: OpenSslOcspResponder, server: CrlServer, pki: tuple[CA, CA], leaves: dict[str, x509.Certificate]
) -> None:
    """A genuine, well-signed answer about another serial must not be taken for this one."""
    from authorizer.revocation import ocsp as ocsp_mod

    _, issuing = pki
    body = ocsp_mod.build_request(leaves["good"], issuing.cert, None)
    req = urllib.request.Request(ca_signed.url, data=body, headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer = resp.read()
    url = server.add("/replay", Route(body=answer))
    out = check(cfg(url, server.host, ocsp={"nonce": False}), pki, leaves["revoked"])
    assert out.status is UNKNOWN and "CertID" in out.certs[0].detail
