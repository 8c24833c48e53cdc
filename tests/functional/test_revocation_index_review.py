"""Regressions from the hostile review of CRL indexes (reproducers r1..r5): negative and over-wide
serials, an index that is not proven yet used as an anti-rollback mark, the status cache clear
racing a decision, http index locations, reserved header bits."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import replace
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authorizer.devpki import _sign_tbs, make_crl
from authorizer.indexer import Indexer
from authorizer.reasons import ConfigError
from authorizer.revocation.cache import Cached, StatusCache
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl import CrlIndex
from authorizer.revocation.crl_idx import HEADER, Header, IndexError_, load_index
from authorizer.revocation.crl_idx_sig import LocalSigner
from authorizer.revocation.crl_idx_write import IndexRefused, build_index, encode_index
from authorizer.revocation.der import encode_tlv, read_header
from authorizer.revocation.status import RevocationStatus
from authorizer.sources.blob import Fetchers, S3Fetcher
from authorizer.sources.kms import KmsPublicKey, KmsSigner
from authorizer.sources.s3_write import S3Objects
from tests.clock import Clock
from tests.functional.test_revocation_index import (
    BUCKET,
    CRL_KEY,
    DAY,
    checker,
    crl_der,
    publish,
    status,
)
from tests.index_keys import ATTACKER, SIGNER, signed
from tests.pki import CA, NOW

Pki = tuple[CA, CA, x509.Certificate]


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = CA.root("Review Root")
    issuing = root.intermediate("Review Issuing")
    return root, issuing, issuing.issue("CN=review leaf", serial=0x1D1D).cert


def signed_parts(der: bytes) -> tuple[bytes, bytes, bytes]:
    """``(tbs, signatureAlgorithm, signatureValue)`` TLVs of a CRL or certificate."""
    _, pos, end = read_header(der, 0)
    _, _, tbs_end = read_header(der, pos)
    _, _, alg_end = read_header(der, tbs_end)
    return der[pos:tbs_end], der[tbs_end:alg_end], der[alg_end:end]


def forged_index(
    ca: CA, lifted_from: bytes, *, this_update: dt.datetime, next_update: dt.datetime, number: int
) -> bytes:
    """The review's F1 forgery: an index with no entries whose CRL shell says what the attacker
    likes, carrying a genuine signature of the CA lifted from another object (here a certificate
    the CA issued) and that object's TBS digest in the header."""
    tbs, alg, sig = signed_parts(lifted_from)
    junk = ec.generate_private_key(ec.SECP256R1())
    mine = (
        x509.CertificateRevocationListBuilder(
            issuer_name=ca.cert.subject,
            last_update=this_update,
            next_update=next_update,
            extensions=[x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number))],
        )
        .sign(junk, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    mtbs, malg, _ = signed_parts(mine)
    assert malg == alg
    spliced = encode_tlv(0x30, mtbs + alg + sig)
    crl = CrlIndex.from_bytes(spliced, "forged")
    crl = replace(crl, _signed=replace(crl._signed, digest=hashlib.sha256(tbs).digest()))
    return encode_index(spliced, crl)


def negative_serial_crl(issuing: CA, *extra: int) -> bytes:
    """A CRL listing serial -0x62e3 (DER 02 02 9d 1d) and ``extra``, signed by ``issuing``."""
    template = make_crl(issuing, (0x1D1D, *extra), this_update=NOW - DAY, next_update=NOW + DAY)
    tbs, _, _ = signed_parts(template.public_bytes(serialization.Encoding.DER))
    _, pos, _ = read_header(tbs, 0)
    content = tbs[pos:].replace(b"\x02\x02\x1d\x1d", b"\x02\x02\x9d\x1d", 1)
    return _sign_tbs(content, issuing.key, None, template)


# --------------------------------------------------------------------------- F2


@pytest.mark.parametrize("extra", [(), (2**70,)])
def test_the_writer_refuses_serials_the_table_cannot_hold(pki: Pki, extra: tuple[int, ...]) -> None:
    root, issuing, _ = pki
    data = negative_serial_crl(issuing, *extra)
    assert -0x62E3 in CrlIndex.from_bytes(data, "c").serials  # the CRL itself says REVOKED
    with pytest.raises(IndexRefused, match="not a positive integer of at most 32 octets"):
        build_index(data, "c", [root.cert, issuing.cert], NOW)


def test_the_indexer_refuses_such_a_crl_and_deletes_the_stale_index(s3: Any, pki: Pki) -> None:
    root, issuing, _ = pki
    pool = [root.cert, issuing.cert]
    publish(s3, issuing, pool, crl_der(issuing, (), number=1))
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=negative_serial_crl(issuing, 2**70))
    indexer = Indexer(
        f"s3://{BUCKET}/crls/",
        None,
        f"s3://{BUCKET}/truststore.pem",
        fetchers=Fetchers(s3=S3Fetcher(client_factory=lambda: s3)),
        objects=S3Objects(lambda: s3),
        clock=lambda: NOW,
        signer=SIGNER,
    )
    result = indexer.on_object(BUCKET, CRL_KEY)
    assert result.outcome == "refused" and "positive integer" in result.detail
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=CRL_KEY + ".idx")


# --------------------------------------------------------------------------- F3


def test_a_forged_index_is_no_anti_rollback_mark(s3: Any, pki: Pki) -> None:
    """After the forged index (huge cRLNumber) is removed, the genuine index and CRL are used
    again: the forgery never became the mark they are compared with."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    chain = [leaf, issuing.cert, root.cert]
    genuine = crl_der(issuing, (leaf.serial_number,), number=7)
    publish(s3, issuing, pool, genuine)
    genuine_idx = s3.get_object(Bucket=BUCKET, Key=CRL_KEY + ".idx")["Body"].read()
    forged = forged_index(
        issuing,
        leaf.public_bytes(serialization.Encoding.DER),
        this_update=NOW - dt.timedelta(minutes=1),
        next_update=NOW + 365 * DAY,
        number=2**100,
    )
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(forged, ATTACKER))
    s3.delete_object(Bucket=BUCKET, Key=CRL_KEY)
    clock = Clock()
    chk = checker(s3, clock, pool)
    assert chk.check(chain, NOW).status is RevocationStatus.UNKNOWN  # no CRL, and the index is refused
    assert chk.crl_cache.indexes is not None
    chk.crl_cache.indexes.wait_audits(10)
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=genuine)
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=genuine_idx)
    clock.t += 61
    chk.status_cache.clear()
    out = chk.check(chain, NOW + dt.timedelta(minutes=1))
    assert out.status is RevocationStatus.REVOKED, out.certs[0].detail


# --------------------------------------------------------------------------- F6


def test_a_decision_started_before_a_clear_is_not_cached_after_it() -> None:
    cache: StatusCache[str] = StatusCache()
    before = cache.generation
    cache.clear()  # an audit withdrew the CRL the decision used
    cache.put("k", Cached("GOOD", NOW - DAY, NOW + DAY), before)
    assert cache.get("k", NOW, 0.0) is None
    cache.put("k", Cached("GOOD", NOW - DAY, NOW + DAY), cache.generation)
    assert cache.get("k", NOW, 0.0) == "GOOD"


# --------------------------------------------------------------------------- policy and header


@pytest.mark.parametrize("where", ["http://pki.example/ca.crl.idx", "https://pki.example/ca.crl.idx"])
def test_an_index_is_never_read_over_http(where: str) -> None:
    doc = {"crl": {"urls": ["http://pki.example/ca.crl"], "index": {"urls": {"http://pki.example/ca.crl": where}}}}
    with pytest.raises(ConfigError, match="s3:// or a local file only"):
        RevocationConfig.from_dict(doc)


@pytest.mark.parametrize(
    ("offset", "value", "message"), [(14, 1, "reserved"), (10, 4, "reserved"), (10, 2, "indirect")]
)
def test_reserved_and_flag_bits_are_checked(pki: Pki, offset: int, value: int, message: str) -> None:
    root, issuing, _ = pki
    index = bytearray(build_index(crl_der(issuing), "c", [root.cert, issuing.cert], NOW))
    assert Header.unpack(bytes(index)).flags == 0 and HEADER.size > offset
    index[offset : offset + 2] = value.to_bytes(2, "big")
    with pytest.raises(IndexError_, match=message):
        load_index(bytes(index), "c.idx")


# --------------------------------------------------------------------------- F1


def _forged(issuing: CA, leaf: x509.Certificate) -> bytes:
    return forged_index(
        issuing,
        leaf.public_bytes(serialization.Encoding.DER),
        this_update=NOW - DAY,
        next_update=NOW + 36500 * DAY,
        number=2**159 - 1,
    )


@pytest.mark.parametrize("signer", [None, ATTACKER])
@pytest.mark.parametrize("crl_deleted", [False, True])
def test_a_forged_shell_never_makes_a_revoked_leaf_good(
    s3: Any, pki: Pki, signer: LocalSigner | None, crl_deleted: bool
) -> None:
    """The review's F1 reproducer: the forged index is refused (unsigned, or not signed by the
    index key) and the CRL decides: REVOKED while it is there, UNKNOWN once it is deleted."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,), number=7))
    forged = _forged(issuing, leaf)
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=forged if signer is None else signed(forged, signer))
    if crl_deleted:
        s3.delete_object(Bucket=BUCKET, Key=CRL_KEY)
    clock = Clock()
    chk = checker(s3, clock, pool)
    for step in range(3):
        out = chk.check([leaf, issuing.cert, root.cert], NOW + step * DAY / 4)
        want = RevocationStatus.UNKNOWN if crl_deleted else RevocationStatus.REVOKED
        assert out.status is want, out.certs[0].detail
        assert chk.crl_cache.indexes is not None and chk.crl_cache.indexes.loads <= step + 1
        clock.t += 61
        chk.status_cache.clear()


def test_the_indexer_replaces_an_index_it_did_not_sign(s3: Any, pki: Pki) -> None:
    """A forged index claiming a huge cRLNumber does not make the indexer refuse the genuine CRL."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(_forged(issuing, leaf), ATTACKER))
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,), number=7))  # asserts "written"
    chk = checker(s3, Clock(), pool, audit=False)
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 0  # the new, genuine index


def test_a_signed_newer_index_keeps_an_older_crl_out(s3: Any, pki: Pki) -> None:
    """F5: the CRL object is put back to an older (still current) CRL. The index no longer
    describes the CRL there (its recorded ETag no longer matches), and the older CRL is refused
    as a rollback against the verified index: UNKNOWN, never the older CRL's GOOD. The same with
    the ETag check out of the way (an index that records none): the audit finds it, same end."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    chain = [leaf, issuing.cert, root.cert]
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,), number=5))
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=crl_der(issuing, (), number=4, at=NOW - dt.timedelta(hours=6)))
    clock = Clock()
    chk = checker(s3, clock, pool)
    assert chk.check(chain, NOW).status is RevocationStatus.UNKNOWN
    assert chk.crl_cache.indexes is not None and chk.crl_cache.indexes.refused
    # Without the recorded ETag: the index is used, then the audit refuses it.
    body = build_index(crl_der(issuing, (leaf.serial_number,), number=5), CRL_KEY, pool, NOW)
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=signed(body))
    clock = Clock()
    chk = checker(s3, clock, pool)
    assert chk.check(chain, NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.indexes is not None
    chk.crl_cache.indexes.wait_audits(10)
    assert chk.crl_cache.indexes.refused
    for _ in range(2):
        out = chk.check(chain, NOW)
        assert out.status is not RevocationStatus.GOOD, out.certs[0].detail
        clock.t += 61


# --------------------------------------------------------------------------- the key from KMS


def test_kms_signed_indexes_end_to_end(s3: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The indexer signs with KMS (moto), the authorizer fetches the public key once by the key id
    in CRL_INDEX_KEY_ID and uses the index; an unknown key id means the CRL is read."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,)), signer=KmsSigner(key_id))
    monkeypatch.setenv("CRL_INDEX_KEY_ID", key_id)
    chk = checker(s3, Clock(), pool, public_key=None, audit=False)
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 0
    assert chk.crl_cache.indexes is not None
    source = chk.crl_cache.indexes.key
    assert isinstance(source, KmsPublicKey) and source.fetches == 1

    monkeypatch.setenv("CRL_INDEX_KEY_ID", "11111111-2222-3333-4444-555555555555")  # no such key
    chk = checker(s3, Clock(), pool, public_key=None, audit=False)
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 1  # no key: the index is refused, the CRL read


def test_an_index_signed_by_another_kms_key_is_refused(s3: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    kms = boto3.client("kms", region_name="us-east-1")
    ours, theirs = (
        kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"] for _ in range(2)
    )
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,)), signer=KmsSigner(theirs))
    monkeypatch.setenv("CRL_INDEX_KEY_ID", ours)
    chk = checker(s3, Clock(), pool, public_key=None, audit=False)
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 1


def test_the_policy_field_takes_only_a_p256_key() -> None:
    rsa_spki = base64.b64encode(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    for bad in ("not base64!", base64.b64encode(b"junk").decode(), rsa_spki, 42):
        with pytest.raises(ConfigError, match="public_key"):
            RevocationConfig.from_dict({"crl": {"index": {"public_key": bad}}})


# --------------------------------------------------------------------------- F4


def test_a_new_crl_is_seen_within_one_refresh_without_an_indexer_run(s3: Any, pki: Pki) -> None:
    """The CA revokes the leaf; CRL 2 is uploaded but the indexer never runs. The index refresh
    revalidates the CRL by the ETag the index records and reads the new CRL."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    chain = [leaf, issuing.cert, root.cert]
    publish(s3, issuing, pool, crl_der(issuing, (), number=1))
    clock = Clock()
    chk = checker(s3, clock, pool, audit=False)
    assert chk.check(chain, NOW).status is RevocationStatus.GOOD
    assert chk.crl_cache.parses == 0
    clock.t += 61  # refresh_seconds
    chk.status_cache.clear()
    assert chk.check(chain, NOW).status is RevocationStatus.GOOD  # CRL unchanged: 304, index kept
    assert chk.crl_cache.parses == 0
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=crl_der(issuing, (leaf.serial_number,), number=2))
    clock.t += 61
    chk.status_cache.clear()
    out = chk.check(chain, NOW)
    assert out.status is RevocationStatus.REVOKED and out.certs[0].source == f"crl:s3://{BUCKET}/{CRL_KEY}"
    assert chk.crl_cache.parses == 1
    # Once re-indexed, the new index is used again.
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,), number=2))
    clock.t += 61
    chk.status_cache.clear()
    out = chk.check(chain, NOW)
    assert out.status is RevocationStatus.REVOKED and out.certs[0].source.endswith(".idx")


def test_the_same_crl_uploaded_again_keeps_its_index(s3: Any, pki: Pki) -> None:
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    data = crl_der(issuing, (leaf.serial_number,))
    publish(s3, issuing, pool, data)
    clock = Clock()
    chk = checker(s3, clock, pool, audit=False)
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY, Body=data)  # same bytes: same content, index still right
    clock.t += 61
    chk.status_cache.clear()
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.REVOKED and out.certs[0].source.endswith(".idx")
    assert chk.crl_cache.parses == 0


def test_the_key_fetch_is_bounded_and_its_failure_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KMS endpoint that accepts and never answers (loopback): the fetch gives up within its
    timeouts, answers "no key" (indexes refused), and is not retried before ``retry_seconds``."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    env = {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", f"http://127.0.0.1:{listener.getsockname()[1]}")
    clock = Clock()
    try:
        source = KmsPublicKey("11111111-2222-3333-4444-555555555555", clock=clock, retry_seconds=30)
        started = time.monotonic()
        assert source() is None
        assert time.monotonic() - started < 3.0  # one attempt: 0.5 s connect, 1 s read
        assert source() is None and source.fetches == 1  # remembered
        clock.t += 31
        assert source() is None and source.fetches == 2
    finally:
        listener.close()


# -- the last review: an index never confirmed against its CRL, a KMS client that cannot be made,
# -- the twin of an ECDSA signature ---------------------------------------------------------------


def test_a_replayed_index_beside_an_unreadable_crl_is_not_believed(
    s3: Any, pki: tuple[CA, CA, x509.Certificate]
) -> None:
    """An older signed index put back while the CRL is made unreadable: a new container has never
    seen that index match its CRL, so it reads the CRL (UNKNOWN while it fails), never GOOD."""
    root, issuing, leaf = pki
    pool = [root.cert, issuing.cert]
    publish(s3, issuing, pool, crl_der(issuing, (), number=1))
    old_index = s3.get_object(Bucket=BUCKET, Key=CRL_KEY + ".idx")["Body"].read()
    publish(s3, issuing, pool, crl_der(issuing, (leaf.serial_number,), number=2))
    s3.put_object(Bucket=BUCKET, Key=CRL_KEY + ".idx", Body=old_index)  # replayed
    s3.delete_object(Bucket=BUCKET, Key=CRL_KEY)  # and the CRL made unreadable
    cold = checker(s3, Clock(), pool)
    try:
        assert status(cold, leaf, issuing, root) is RevocationStatus.UNKNOWN
    finally:
        cold.close()


def test_a_kms_client_that_cannot_be_made_means_no_key_and_is_not_retried_at_once() -> None:
    made: list[int] = []

    def factory() -> Any:
        from botocore.exceptions import NoRegionError

        made.append(1)
        raise NoRegionError()

    key = KmsPublicKey("alias/index", client_factory=factory, clock=lambda: 0.0, retry_seconds=60)
    assert key() is None and key() is None
    assert len(made) == 1


def test_the_twin_of_a_refused_index_signature_is_refused_too() -> None:
    """(r, s) and (r, n-s) both verify: a refused index is remembered by its signed body."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    from authorizer.revocation.cache import Fetched
    from authorizer.revocation.config import CrlIndexConfig
    from authorizer.revocation.crl_idx_source import IndexLoader

    root = CA.root("Twin Root")
    issuing = root.intermediate("Twin Issuing")
    pool = [root.cert, issuing.cert]
    body = build_index(crl_der(issuing), "s3://b/k", pool, NOW, dt.timedelta(seconds=300), None, '"e"')
    index = signed(body)
    first = load_index(index, "a")
    assert first.signature is not None
    r, s = decode_dss_signature(first.signature)
    twin_sig = encode_dss_signature(r, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 - s)
    twin = index[: -len(first.signature) - 2] + len(twin_sig).to_bytes(2, "big") + twin_sig
    loader = IndexLoader(CrlIndexConfig(beside=True), lambda: pool, dt.timedelta(seconds=300), None, SIGNER.public_key)
    loader.refused.add(first.body_sha256)  # as after a failed audit
    for data in (index, twin):
        offer, why = loader.offer("s3://b/k", NOW, lambda u, e, v, d=data: Fetched(d, '"x"'), None, None)
        assert offer is None and why is not None and "not to match" in why
