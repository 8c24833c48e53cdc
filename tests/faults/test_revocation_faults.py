"""CRL and OCSP servers that misbehave, through the real handler (issue 10, fault injection).

Every peer is real and on 127.0.0.1: ``CrlServer`` (status, delay, trickle, oversized bodies),
raw sockets that refuse, hang or answer garbage (:mod:`tests.faults.servers`), answers signed by
the wrong key, stale and far-future ones, and a real ``openssl ocsp`` for the baseline. Each
case must end in the configured answer (REVOCATION_UNKNOWN with ``on_unknown: deny``, ALLOWED
with ``allow``), within the revocation budget plus a generous margin, and the decision's log
line must say why.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from authorizer.app import handle
from authorizer.devpki import make_crl
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import Runtime
from tests.faults.servers import FaultServer, closed_port
from tests.fuzz.support import captured_log
from tests.pki import CA, NOW, Issued
from tests.revocation_servers import CrlServer, OpenSslOcspResponder, Route, free_port

DAY = dt.timedelta(days=1)
FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
BUDGET_MS = 1500
#: The budget plus a generous margin for a loaded 2-core machine.
UPPER_BOUND_S = BUDGET_MS / 1000 + 1.5
CAP = 64 * 1024


@dataclass
class Pki:
    root: CA
    issuing: CA
    stranger: CA  # same name as ``issuing``, another key: its signatures are wrong ones


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = CA.root("Faults Root")
    issuing = root.intermediate("Faults Issuing")
    stranger = CA.root("Faults Issuing")
    return Pki(root, issuing, stranger)


@pytest.fixture(scope="module")
def web() -> Iterator[CrlServer]:
    server = CrlServer()
    yield server
    server.close()


def crl(
    pki: Pki, *, next_update: dt.datetime = NOW + DAY, signer: CA | None = None, revoked: tuple[int, ...] = ()
) -> bytes:
    made = make_crl(
        pki.issuing,
        revoked,
        this_update=NOW - DAY,
        next_update=next_update,
        signer=signer.key if signer else None,
    )
    return made.public_bytes(serialization.Encoding.DER)


def ocsp_answer(
    pki: Pki, leaf: x509.Certificate, *, next_update: dt.datetime = NOW + DAY, signer: CA | None = None
) -> bytes:
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=pki.issuing.cert,
        algorithm=hashes.SHA256(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=NOW - DAY,
        next_update=next_update,
        revocation_time=None,
        revocation_reason=None,
    )
    # a wrong signer has the issuing CA's name: the answer claims to come from it
    signed_by = signer or pki.issuing
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, signed_by.cert)
    return builder.sign(signed_by.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def runtime(tmp_path: Path, pki: Pki, revocation: dict[str, Any]) -> Runtime:
    (tmp_path / "truststore.pem").write_bytes(pki.issuing.cert_pem + pki.root.cert_pem)
    policy = {"version": 1, "truststore": {"uri": "truststore.pem"}, "revocation": revocation}
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    return Runtime(str(tmp_path / "policy.json"))


def crl_section(url: str, hosts: list[str], on_unknown: str = "deny") -> dict[str, Any]:
    return {
        "scope": "leaf",
        "on_unknown": on_unknown,
        "ocsp": {"enabled": False},
        "crl": {"urls": [url], "use_distribution_points": False, "timeout_ms": 1000, "max_bytes": CAP},
        "allowed_hosts": hosts,
        "budget_ms": BUDGET_MS,
    }


def ocsp_section(hosts: list[str], on_unknown: str = "deny", nonce: bool = False) -> dict[str, Any]:
    return {
        "scope": "leaf",
        "on_unknown": on_unknown,
        "ocsp": {"enabled": True, "nonce": nonce, "timeout_ms": 1000, "max_bytes": CAP},
        "crl": {"enabled": False},
        "allowed_hosts": hosts,
        "budget_ms": BUDGET_MS,
    }


@dataclass
class Result:
    reason: Reason
    elapsed: float
    line: dict[str, Any]
    warnings: list[dict[str, Any]]

    @property
    def why(self) -> str:
        return json.dumps(self.line.get("revocation", "")) + " " + str(self.line.get("detail", ""))


def decide(rt: Runtime, leaf: Issued, at: dt.datetime = NOW) -> Result:
    event = make_event(leaf.cert_pem.decode(), when=at, request_id="faults")
    with captured_log() as log:
        start = time.monotonic()
        outcome = handle(event, rt, at)
        elapsed = time.monotonic() - start
    [line] = log.decisions()
    assert line["reason"] == outcome.decision.reason.value
    warnings = [json.loads(x) for x in log.lines() if '"level":"WARNING"' in x]
    return Result(outcome.decision.reason, elapsed, line, warnings)


# -- CRL ----------------------------------------------------------------------------------------------


def _crl_source(kind: str, pki: Pki, web: CrlServer, stack: list[Any]) -> tuple[str, list[str]]:
    """(CRL URL, allowed hosts) for one fault."""
    if kind == "refused":
        port = closed_port()
        return f"http://127.0.0.1:{port}/issuing.crl", [f"127.0.0.1:{port}"]
    if kind in ("hang", "garbage", "reset"):
        server = FaultServer(kind)
        stack.append(server)
        return server.url + "/issuing.crl", [server.host]
    good = crl(pki)
    routes = {
        "not-found": Route(status=404),
        "server-error": Route(status=503, body=b"busy"),
        "delayed": Route(body=good, delay=5.0),
        "trickle": Route(body=good, trickle=0.05),
        "oversized": Route(body=good + b"\x00" * (CAP * 4)),
        "oversized-no-length": Route(body=b"\x30" * (CAP * 4), content_length=False),
        "not-a-crl": Route(body=b"<html>captive portal</html>"),
        "wrongly-signed": Route(body=crl(pki, signer=pki.stranger)),
        "stale": Route(body=crl(pki, next_update=NOW - 2 * DAY)),
    }
    path = f"/{kind}-{len(web.routes)}.crl"
    return web.add(path, routes[kind]), [web.host]


CRL_FAULTS = {
    "refused": "refused",
    "hang": "timed out",
    "garbage": "BadStatusLine",
    "reset": "reset",
    "not-found": "404",
    "server-error": "503",
    "delayed": "timed out",
    "trickle": "timed out",
    "oversized": "cap",
    "oversized-no-length": "cap",
    "not-a-crl": "not a CRL",
    "wrongly-signed": "signature",
    "stale": "expired",
}


@pytest.mark.parametrize("kind", sorted(CRL_FAULTS))
def test_crl_fault_ends_in_revocation_unknown_within_the_budget(
    tmp_path: Path, pki: Pki, web: CrlServer, kind: str
) -> None:
    stack: list[Any] = []
    try:
        url, hosts = _crl_source(kind, pki, web, stack)
        rt = runtime(tmp_path, pki, crl_section(url, hosts))
        result = decide(rt, pki.issuing.issue("CN=crl fault client"))
    finally:
        for server in stack:
            server.close()
    assert result.reason is Reason.REVOCATION_UNKNOWN, result.line
    assert result.elapsed < UPPER_BOUND_S, result.elapsed
    assert url in result.why, result.why  # the log names the source ...
    assert CRL_FAULTS[kind].lower() in result.why.lower(), result.why  # ... and what went wrong with it


def test_crl_fault_with_on_unknown_allow_is_allowed_and_says_so(tmp_path: Path, pki: Pki) -> None:
    with FaultServer("hang") as server:
        rt = runtime(tmp_path, pki, crl_section(server.url + "/issuing.crl", [server.host], on_unknown="allow"))
        result = decide(rt, pki.issuing.issue("CN=crl allow client"))
    assert result.reason is Reason.ALLOWED, result.line
    assert result.elapsed < UPPER_BOUND_S, result.elapsed
    assert result.line.get("revocation_status") == "UNKNOWN"
    assert any("on_unknown=allow" in w.get("message", "") for w in result.warnings), result.warnings


def test_good_crl_baseline_allows_and_revoked_is_refused(tmp_path: Path, pki: Pki, web: CrlServer) -> None:
    leaf = pki.issuing.issue("CN=crl baseline")
    revoked = pki.issuing.issue("CN=crl revoked")
    url = web.add("/baseline.crl", Route(body=crl(pki, revoked=(revoked.cert.serial_number,))))
    rt = runtime(tmp_path, pki, crl_section(url, [web.host]))
    assert decide(rt, leaf).reason is Reason.ALLOWED
    assert decide(rt, revoked).reason is Reason.REVOKED


def test_far_future_crl_is_a_valid_crl(tmp_path: Path, pki: Pki, web: CrlServer) -> None:
    url = web.add("/far-future.crl", Route(body=crl(pki, next_update=FAR_FUTURE)))
    rt = runtime(tmp_path, pki, crl_section(url, [web.host]))
    result = decide(rt, pki.issuing.issue("CN=far future crl"))
    assert result.reason is Reason.ALLOWED, result.line


# -- OCSP ---------------------------------------------------------------------------------------------

OCSP_FAULTS = {
    "refused": "refused",
    "hang": "timed out",
    "garbage": "BadStatusLine",
    "reset": "reset",
    "server-error": "503",
    "delayed": "timed out",
    "trickle": "timed out",
    "oversized": "cap",
    "not-ocsp": "malformed",
    "wrongly-signed": "signature",
    "stale": "stale",
}


def _ocsp_leaf(kind: str, pki: Pki, web: CrlServer, stack: list[Any]) -> tuple[Issued, str, list[str]]:
    if kind == "refused":
        port = closed_port()
        url, hosts = f"http://127.0.0.1:{port}/ocsp", [f"127.0.0.1:{port}"]
        return pki.issuing.issue("CN=ocsp refused", ocsp_url=url), url, hosts
    if kind in ("hang", "garbage", "reset"):
        server = FaultServer(kind)
        stack.append(server)
        url = server.url + "/ocsp"
        return pki.issuing.issue(f"CN=ocsp {kind}", ocsp_url=url), url, [server.host]
    path = f"/ocsp-{kind}-{len(web.routes)}"
    url = web.url(path)
    leaf = pki.issuing.issue(f"CN=ocsp {kind}", ocsp_url=url)
    good = ocsp_answer(pki, leaf.cert)
    routes = {
        "server-error": Route(status=503, body=b"busy"),
        "delayed": Route(body=good, delay=5.0),
        "trickle": Route(body=good, trickle=0.05),
        "oversized": Route(body=good + b"\x00" * (CAP * 4)),
        "not-ocsp": Route(body=b"<html>captive portal</html>"),
        "wrongly-signed": Route(body=ocsp_answer(pki, leaf.cert, signer=pki.stranger)),
        "stale": Route(body=ocsp_answer(pki, leaf.cert, next_update=NOW - 2 * DAY)),
    }
    web.add(path, routes[kind])
    return leaf, url, [web.host]


@pytest.mark.parametrize("kind", sorted(OCSP_FAULTS))
def test_ocsp_fault_ends_in_revocation_unknown_within_the_budget(
    tmp_path: Path, pki: Pki, web: CrlServer, kind: str
) -> None:
    stack: list[Any] = []
    try:
        leaf, url, hosts = _ocsp_leaf(kind, pki, web, stack)
        rt = runtime(tmp_path, pki, ocsp_section(hosts))
        result = decide(rt, leaf)
    finally:
        for server in stack:
            server.close()
    assert result.reason is Reason.REVOCATION_UNKNOWN, result.line
    assert result.elapsed < UPPER_BOUND_S, result.elapsed
    assert url in result.why, result.why
    assert OCSP_FAULTS[kind].lower() in result.why.lower(), result.why


def test_real_openssl_ocsp_baseline(tmp_path: Path, pki: Pki) -> None:
    """The faults above are judged against a real responder that answers good and revoked."""
    port = free_port()  # the certificates must name the responder's URL before it starts
    url = f"http://127.0.0.1:{port}/"
    good = pki.issuing.issue("CN=ocsp good", ocsp_url=url)
    revoked = pki.issuing.issue("CN=ocsp revoked", ocsp_url=url)
    # openssl signs with the real clock, so this one decision is made at the real time
    now = dt.datetime.now(dt.UTC)
    responder = OpenSslOcspResponder(pki.issuing, [(good.cert, None), (revoked.cert, now - DAY)], port=port, nmin=60)
    try:
        rt = runtime(tmp_path, pki, ocsp_section([f"127.0.0.1:{port}"], nonce=True))
        assert decide(rt, good, now).reason is Reason.ALLOWED
        assert decide(rt, revoked, now).reason is Reason.REVOKED
    finally:
        responder.close()


def test_far_future_ocsp_answer_is_a_valid_answer(tmp_path: Path, pki: Pki, web: CrlServer) -> None:
    url = web.url("/ocsp-far-future")
    leaf = pki.issuing.issue("CN=ocsp far future", ocsp_url=url)
    web.add("/ocsp-far-future", Route(body=ocsp_answer(pki, leaf.cert, next_update=FAR_FUTURE)))
    result = decide(runtime(tmp_path, pki, ocsp_section([web.host])), leaf)
    assert result.reason is Reason.ALLOWED, result.line
