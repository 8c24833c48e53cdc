"""The authorizer's revocation checker with CRL indexes beside its CRLs (moto S3, local HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import make_crl, to_pem
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl_idx import HEADER, Header, layout
from authorizer.revocation.crl_idx_write import build_index
from authorizer.revocation.status import RevocationStatus
from authorizer.sources.blob import Fetchers, FileFetcher, S3Fetcher
from tests.clock import Clock
from tests.index_keys import ATTACKER, PUBLIC_KEY_B64, SIGNER, signed
from tests.pki import CA, NOW
from tests.revocation_servers import Route, crl_server

DAY = dt.timedelta(days=1)
BUCKET = "revocation-index"
CRL_KEY = "crls/issuing.crl"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, x509.Certificate]:
    root = CA.root("Index Root")
    issuing = root.intermediate("Index Issuing")
    return root, issuing, issuing.issue("CN=index leaf", serial=0x1D1D).cert


def crl_der(ca: CA, revoked: tuple[int, ...] = (), number: int = 1, at: dt.datetime = NOW) -> bytes:
    crl = make_crl(ca, revoked, this_update=at - DAY, next_update=at + DAY, crl_number=number)
    return crl.public_bytes(serialization.Encoding.DER)


def publish(
    s3: Any, ca: CA, pool: list[x509.Certificate], data: bytes, at: dt.datetime = NOW, signer: Any = SIGNER
) -> None:
    """Upload the CRL and run the indexer on it, as its S3 event would."""
    from authorizer.indexer import Indexer
    from authorizer.sources.s3_write import S3Objects

    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=data)
    s3.put_object(Bucket=BUCKET, Key="truststore.pem", Body=to_pem(pool))
    indexer = Indexer(
        f"s3://{BUCKET}/crls/",
        None,
        f"s3://{BUCKET}/truststore.pem",
        fetchers=Fetchers(s3=S3Fetcher(client_factory=lambda: s3)),
        objects=S3Objects(lambda: s3),
        clock=lambda: at,
        signer=signer,
    )
    assert indexer.on_object(BUCKET, CRL_KEY).outcome == "written"


def checker(
    s3: Any, clock: Clock, pool: list[x509.Certificate], public_key: str | None = PUBLIC_KEY_B64, **index: Any
) -> RevocationChecker:
    """A checker of the CRL at CRL_KEY; ``public_key`` None: the key comes from CRL_INDEX_KEY_ID."""
    if public_key is not None:
        index = {"public_key": public_key, **index}
    doc: dict[str, Any] = {
        "scope": "leaf",
        "ocsp": {"enabled": False},
        "crl": {
            "urls": [f"s3://{BUCKET}/{CRL_KEY}"],
            "use_distribution_points": False,
            "refresh_seconds": 60,
            "index": index,
        },
        "retry_seconds": 0,
    }
    fetchers = Fetchers(FileFetcher(), S3Fetcher(client_factory=lambda: s3))
    return RevocationChecker(RevocationConfig.from_dict(doc), fetchers=fetchers, clock=clock, signer_pool=pool)


def status(chk: RevocationChecker, leaf: x509.Certificate, issuing: CA, root: CA) -> RevocationStatus:
    return chk.check([leaf, issuing.cert, root.cert], NOW).status


def drop_entry(index: bytes, position: int) -> bytes:
    """An attacker's edit: one row less, the header's count fixed up, nothing else touched."""
    header = Header.unpack(index)
    low, high, times, reasons, _ = layout(header)
    n, extra = header.count, header.key_width - 8
    cols = [
        (low, 8),
        (high, extra),
        (times, 4),
        (reasons, 1),
    ]
    body = b""
    for start, width in cols:
        column = index[start : start + n * width]
        body += column[: position * width] + column[(position + 1) * width :]
    fewer = Header(**{**header.__dict__, "count": n - 1})
    return fewer.pack() + index[HEADER.size : low] + body


def test_index_replaces_the_crl_parse_and_a_new_crl_is_picked_up_within_one_ttl(
    s3: Any, pki: tuple[CA, CA, x509.Certificate]
) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    publish(s3, issuing, pool, crl_der(issuing, (7,), number=1))
    clock = Clock()
    chk = checker(s3, clock, pool)
    assert status(chk, leaf, issuing, root) is RevocationStatus.GOOD
    loader = chk.crl_cache.indexes
    assert loader is not None
    assert (chk.crl_cache.parses, loader.loads) == (0, 1)
    loader.wait_audits(10)
    assert loader.audit_parses == 1 and not loader.refused  # the audit agreed
    publish(s3, issuing, pool, crl_der(issuing, (7, leaf.serial_number), number=2))
    clock.t += 30
    assert status(chk, leaf, issuing, root) is RevocationStatus.GOOD  # within the TTL: cached
    clock.t += 31
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.REVOKED and ".idx" in out.certs[0].source
    assert (chk.crl_cache.parses, loader.loads) == (0, 2)


def test_without_audit_a_container_never_parses_the_crl(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,)))
    chk = checker(s3, Clock(), pool, audit=False)
    assert status(chk, leaf, issuing, root) is RevocationStatus.REVOKED
    assert chk.crl_cache.indexes is not None
    chk.crl_cache.indexes.wait_audits(10)
    assert chk.crl_cache.parses == 0 and chk.crl_cache.indexes.audit_parses == 0


def test_an_older_index_is_refused_and_the_crl_read_instead(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    newer = crl_der(issuing, (leaf.serial_number,), number=5)
    publish(s3, issuing, pool, newer)
    clock = Clock()
    chk = checker(s3, clock, pool, audit=False)
    assert status(chk, leaf, issuing, root) is RevocationStatus.REVOKED
    # An attacker (or a lagging writer) puts back the index of CRL 4, which does not list the leaf.
    s3.put_object(
        Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(build_index(crl_der(issuing, (), number=4), "x", pool, NOW))
    )
    chk.status_cache.clear()
    clock.t += 61
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.REVOKED
    assert out.certs[0].source == f"crl:s3://{BUCKET}/{CRL_KEY}"  # the CRL itself, parsed once
    assert chk.crl_cache.parses == 1


def test_a_tampered_index_is_refused_on_load(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    """An entry removed: the signature (the indexer's, or anybody else's over the new bytes) fails."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    data = crl_der(issuing, (3, leaf.serial_number))
    publish(s3, issuing, pool, data)
    genuine = s3.get_object(Bucket=BUCKET, Key=CRL_KEY + ".idx")["Body"].read()
    body = genuine[: layout(Header.unpack(genuine))[4]]  # the stored index: this body, then its signature
    tampered = drop_entry(body, 1 if leaf.serial_number > 3 else 0)
    for forged in (signed(tampered, ATTACKER), tampered + genuine[len(body) :], tampered):
        s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=forged)
        chk = checker(s3, Clock(), pool, audit=False)
        out = chk.check([leaf, issuing.cert, root.cert], NOW)
        assert out.status is RevocationStatus.REVOKED and out.certs[0].source == f"crl:s3://{BUCKET}/{CRL_KEY}"
        assert chk.crl_cache.parses == 1


def test_a_signed_index_that_disagrees_with_its_crl_is_caught_by_the_audit(
    s3: Any, pki: tuple[CA, CA, x509.Certificate]
) -> None:
    """The audit is the second line: an index the key signed that is not its CRL's (an indexer
    bug, a misused key) is found out and the CRL read instead."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    data = crl_der(issuing, (3, leaf.serial_number, 2**70))
    publish(s3, issuing, pool, data)
    index = build_index(data, CRL_KEY, pool, NOW)
    row = sorted([(s & (2**64 - 1), s) for s in (3, leaf.serial_number, 2**70)]).index(
        (leaf.serial_number, leaf.serial_number)
    )
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(drop_entry(index, row)))
    chk = checker(s3, Clock(), pool)
    chk.check([leaf, issuing.cert, root.cert], NOW)  # served from the forged index until the audit ends
    assert chk.crl_cache.indexes is not None
    chk.crl_cache.indexes.wait_audits(10)
    assert len(chk.crl_cache.indexes.refused) == 1
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.REVOKED and out.certs[0].source == f"crl:s3://{BUCKET}/{CRL_KEY}"


def test_a_changed_header_is_refused_on_load(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    data = crl_der(issuing, (leaf.serial_number,))
    publish(s3, issuing, pool, data)
    index = build_index(data, CRL_KEY, pool, NOW)
    header = Header.unpack(index)
    longer = Header(**{**header.__dict__, "next_update": header.next_update + 365 * 86400})
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(longer.pack() + index[HEADER.size :]))
    chk = checker(s3, Clock(), pool, audit=False)
    assert status(chk, leaf, issuing, root) is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 1 and chk.crl_cache.indexes is not None and chk.crl_cache.indexes.loads == 0


def test_a_stale_index_gives_unknown(
    s3: Any, pki: tuple[CA, CA, x509.Certificate], caplog: pytest.LogCaptureFixture
) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    earlier = NOW - 5 * DAY
    publish(s3, issuing, pool, crl_der(issuing, (), at=earlier), at=earlier)
    chk = checker(s3, Clock(), pool)
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.UNKNOWN
    assert "CRL expired" in out.certs[0].detail  # the index was refused, then the CRL itself
    assert "issuing.crl.idx refused: index expired" in caplog.text


def test_an_index_not_tied_to_a_truststore_ca_is_not_used(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    publish(s3, issuing, [root.cert, issuing.cert], crl_der(issuing, (leaf.serial_number,)))
    chk = checker(s3, Clock(), [root.cert])  # the issuing CA is not in this truststore
    assert status(chk, leaf, issuing, root) is RevocationStatus.REVOKED  # the CRL, read as before
    assert chk.crl_cache.parses == 1


def test_policy_names_an_index_for_an_http_crl(tmp_path: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    data = crl_der(issuing, (leaf.serial_number,))
    (tmp_path / "issuing.idx").write_bytes(signed(build_index(data, "http", pool, NOW)))
    with crl_server() as server:
        url = server.add("/issuing.crl", Route(body=data))
        doc: dict[str, Any] = {
            "scope": "leaf",
            "ocsp": {"enabled": False},
            "crl": {
                "urls": [url],
                "use_distribution_points": False,
                "index": {"urls": {url: str(tmp_path / "issuing.idx")}, "public_key": PUBLIC_KEY_B64},
            },
            "allowed_hosts": [server.host],
        }
        chk = RevocationChecker(RevocationConfig.from_dict(doc), signer_pool=pool)
        assert status(chk, leaf, issuing, root) is RevocationStatus.REVOKED
        assert chk.crl_cache.parses == 0
        assert chk.crl_cache.indexes is not None
        chk.crl_cache.indexes.wait_audits(10)
        assert len(server.requests_to("/issuing.crl")) == 1 and not chk.crl_cache.indexes.refused


def test_the_runtime_uses_an_index_beside_a_local_crl_and_its_truststore(
    tmp_path: Any, pki: tuple[CA, CA, x509.Certificate]
) -> None:
    import json

    from authorizer.runtime import Runtime

    root, issuing, leaf = pki
    data = crl_der(issuing, (leaf.serial_number,))
    (tmp_path / "issuing.crl").write_bytes(data)
    (tmp_path / "issuing.crl.idx").write_bytes(signed(build_index(data, "issuing.crl", [root.cert, issuing.cert], NOW)))
    (tmp_path / "bundle.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    crl = {"urls": ["issuing.crl"], "index": {"public_key": PUBLIC_KEY_B64}}
    revocation = {"scope": "leaf", "ocsp": {"enabled": False}, "crl": crl}
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "bundle.pem"}, "revocation": revocation}))
    deps = Runtime(str(policy)).load().deps
    assert deps.revocation is not None
    try:
        path = deps.validator.validate_pem((tmp_path / "leaf.pem").read_text(), NOW)
        out = deps.revocation.check(path.chain, NOW)
        assert out.status is RevocationStatus.REVOKED
        assert out.certs[0].source == f"crl:{tmp_path / 'issuing.crl.idx'}"
        assert deps.revocation.crl_cache.parses == 0
    finally:
        deps.revocation.close()
