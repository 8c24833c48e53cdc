"""The shared OCSP cache: moto DynamoDB in front of a real ``openssl ocsp`` responder.

openssl stamps its answers with the real current time, so these tests validate at the real now.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.ocsp_shared import SharedOcspCache, cache_key
from authorizer.revocation.status import RevocationStatus
from authorizer.sources.dynamo import OcspTable
from tests.pki import CA
from tests.revocation_servers import OpenSslOcspResponder, free_port

GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN
TABLE = "ocsp-cache"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, dict[str, x509.Certificate]]:
    root = CA.root("Shared OCSP Root")
    issuing = root.intermediate("Shared OCSP Issuing")
    return root, issuing, {n: issuing.issue(f"CN=shared {n}").cert for n in ("good", "revoked", "unknown")}


@pytest.fixture(scope="module")
def responder(pki: tuple[CA, CA, dict[str, x509.Certificate]]) -> Iterator[OpenSslOcspResponder]:
    _, issuing, leaves = pki
    entries = [(leaves["good"], None), (leaves["revoked"], now() - dt.timedelta(hours=1))]
    r = OpenSslOcspResponder(issuing, entries, nmin=60)
    yield r
    r.close()


def container(url: str, host: str, table: OcspTable, **kw: Any) -> RevocationChecker:
    """One authorizer container: its own checker and memory, the fleet's table."""
    doc: dict[str, Any] = {
        "scope": "leaf",
        "ocsp": {"responder_url": url},
        "crl": {"enabled": False},
        "allowed_hosts": [host],
        "retry_seconds": 30,
        **kw,
    }
    return RevocationChecker(RevocationConfig.from_dict(doc), shared_ocsp=SharedOcspCache(table, retry_seconds=30))


def decide(chk: RevocationChecker, pki: tuple[CA, CA, dict[str, x509.Certificate]], name: str) -> Any:
    root, issuing, leaves = pki
    return chk.check([leaves[name], issuing.cert, root.cert], now()).certs[0]


def table(dynamodb: Any) -> OcspTable:
    return OcspTable(TABLE, client_factory=lambda: dynamodb)


def answer(
    issuing: CA, cert: x509.Certificate, status: ocsp.OCSPCertStatus, *, signer: CA | None = None, hours: int = 1
) -> bytes:
    """An OCSP answer made with cryptography: signed by the issuing CA unless ``signer``."""
    signer = signer or issuing
    at = now() - dt.timedelta(hours=2) if hours < 0 else now() - dt.timedelta(minutes=1)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=issuing.cert,
            algorithm=hashes.SHA1(),
            cert_status=status,
            this_update=at,
            next_update=at + dt.timedelta(hours=abs(hours)),
            revocation_time=at if status is ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
    )
    return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_one_responder_query_per_certificate_across_containers(
    dynamodb: Any, responder: OpenSslOcspResponder, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    first = container(responder.url, responder.host, table(dynamodb))
    assert [decide(first, pki, n).status for n in ("good", "revoked")] == [GOOD, REVOKED]
    assert first.shared_ocsp is not None
    first.shared_ocsp.wait(5)
    assert first.shared_ocsp.writes == 2
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": cache_key(pki[2]["good"], pki[1].cert)}})["Item"]
    assert int(item["expires"]["N"]) > now().timestamp()  # the TTL attribute: the answer's nextUpdate
    # Another container, with the responder unreachable: the table answers, verified again.
    dead = f"http://127.0.0.1:{free_port()}/"
    second = container(dead, "127.0.0.1", table(dynamodb))
    good, revoked = decide(second, pki, "good"), decide(second, pki, "revoked")
    assert (good.status, revoked.status) == (GOOD, REVOKED)
    assert good.source == f"ocsp:{dead} via dynamodb:{TABLE}"
    assert second.shared_ocsp is not None and second.shared_ocsp.hits == 2
    # Warm: the in-memory layer answers, the table is not read again.
    gets = second.shared_ocsp.table.gets  # type: ignore[attr-defined]
    assert decide(second, pki, "good").status is GOOD
    assert second.shared_ocsp.table.gets == gets  # type: ignore[attr-defined]


def test_failures_are_never_cached(
    dynamodb: Any, responder: OpenSslOcspResponder, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    chk = container(responder.url, responder.host, table(dynamodb))
    assert decide(chk, pki, "unknown").status is UNKNOWN
    assert chk.shared_ocsp is not None
    chk.shared_ocsp.wait(5)
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_a_forged_answer_planted_in_the_table_is_refused_and_replaced(
    dynamodb: Any, responder: OpenSslOcspResponder, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    root, issuing, leaves = pki
    forged = answer(issuing, leaves["revoked"], ocsp.OCSPCertStatus.GOOD, signer=root)  # "good", not the issuer
    key = cache_key(leaves["revoked"], issuing.cert)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "response": {"B": forged}, "expires": {"N": "1"}})
    chk = container(responder.url, responder.host, table(dynamodb))
    result = decide(chk, pki, "revoked")
    assert result.status is REVOKED and result.source == f"ocsp:{responder.url}"
    assert chk.shared_ocsp is not None and chk.shared_ocsp.refused == 1
    chk.shared_ocsp.wait(5)
    stored = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}})["Item"]["response"]["B"]
    assert ocsp.load_der_ocsp_response(bytes(stored)).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_a_stale_cached_answer_with_the_responder_down_is_unknown(
    dynamodb: Any, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    _, issuing, leaves = pki
    stale = answer(issuing, leaves["good"], ocsp.OCSPCertStatus.GOOD, hours=-1)  # genuine, expired
    key = cache_key(leaves["good"], issuing.cert)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "response": {"B": stale}, "expires": {"N": "1"}})
    chk = container(f"http://127.0.0.1:{free_port()}/", "127.0.0.1", table(dynamodb))
    result = decide(chk, pki, "good")
    assert result.status is UNKNOWN
    assert chk.shared_ocsp is not None and chk.shared_ocsp.refused == 1


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A DynamoDB endpoint that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    sock.close()


def test_dynamodb_down_falls_back_to_the_responder_within_the_budget(
    blackhole: int,
    responder: OpenSslOcspResponder,
    pki: tuple[CA, CA, dict[str, x509.Certificate]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from authorizer.sources import dynamo

    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = dynamo._default_client()  # the production timeouts, pointed at the black hole
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{blackhole}", config=client.meta.config)
    down = OcspTable(TABLE, client_factory=lambda: client)
    chk = container(responder.url, responder.host, down, budget_ms=1500)
    good = decide(chk, pki, "good")
    assert good.status is GOOD and good.source == f"ocsp:{responder.url}"
    assert decide(chk, pki, "revoked").status is REVOKED
    assert down.gets == 1  # the failure is remembered: one timeout, then straight to the responder


def test_the_write_back_never_replaces_an_answer_it_did_not_read(
    dynamodb: Any, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    _, issuing, leaves = pki
    t = table(dynamodb)
    first = answer(issuing, leaves["good"], ocsp.OCSPCertStatus.GOOD)
    other = answer(issuing, leaves["good"], ocsp.OCSPCertStatus.GOOD, hours=2)
    assert t.put("k", first, 10, None) is True
    assert t.put("k", other, 10, None) is False  # someone else wrote since we found nothing
    assert t.put("k", other, 10, b"not what is there") is False
    assert t.put("k", other, 10, first) is True
    assert t.get("k") == other


def test_one_table_call_per_decision_for_the_whole_chain(
    dynamodb: Any, responder: OpenSslOcspResponder, pki: tuple[CA, CA, dict[str, x509.Certificate]]
) -> None:
    root, issuing, leaves = pki
    t = table(dynamodb)
    chk = container(responder.url, responder.host, t, scope="chain")
    out = chk.check([leaves["good"], issuing.cert, root.cert], now())
    # The responder knows the leaf only (the intermediate is UNKNOWN to it): two certificates
    # checked, one BatchGetItem.
    assert [c.status for c in out.certs] == [GOOD, UNKNOWN]
    assert t.gets == 1
