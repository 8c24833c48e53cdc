"""The CRL indexer function against moto S3: the events S3 and EventBridge send, the schedule."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer import indexer
from authorizer.devpki import make_crl, to_pem
from authorizer.indexer import Indexer
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl_idx import Header, load_index
from authorizer.revocation.crl_idx_sig import public_key_from_der, verify
from authorizer.revocation.status import RevocationStatus
from authorizer.sources.blob import Fetchers, FileFetcher, S3Fetcher
from authorizer.sources.http import HttpClient
from authorizer.sources.s3_write import S3Objects
from tests.index_keys import ATTACKER, PUBLIC_KEY_B64, SIGNER
from tests.pki import CA, NOW
from tests.revocation_servers import Route, crl_server

DAY = dt.timedelta(days=1)
BUCKET = "mtls-config"
PREFIX = "authorizer/crls/"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, x509.Certificate]:
    root = CA.root("Indexer Root")
    issuing = root.intermediate("Indexer Issuing")
    return root, issuing, issuing.issue("CN=indexer leaf", serial=0xABC).cert


def crl_der(ca: CA, revoked: tuple[int, ...] = (), number: int = 1, signer: Any = None) -> bytes:
    crl = make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY, crl_number=number, signer=signer)
    return crl.public_bytes(serialization.Encoding.DER)


def make_indexer(s3: Any, root: CA, issuing: CA, policy: str | None = None, **kw: Any) -> Indexer:
    s3.put_object(Bucket=BUCKET, Key="truststore.pem", Body=to_pem([root.cert, issuing.cert]))
    return Indexer(
        f"s3://{BUCKET}/{PREFIX}",
        policy,
        f"s3://{BUCKET}/truststore.pem",
        fetchers=Fetchers(FileFetcher(), S3Fetcher(client_factory=lambda: s3)),
        objects=S3Objects(lambda: s3),
        clock=lambda: NOW,
        signer=SIGNER,
        **kw,
    )


def notification(key: str, put: dict[str, Any], size: int) -> dict[str, Any]:
    """What S3 sends a Lambda function for a PutObject (the key URL-encoded, '+' for spaces)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2027-06-01T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "crl-uploaded",
                    "bucket": {
                        "name": BUCKET,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{BUCKET}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": put["ETag"].strip('"'),
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def eventbridge(key: str, put: dict[str, Any], size: int) -> dict[str, Any]:
    """What EventBridge delivers for the same upload (bucket with EventBridge notifications on)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2027-06-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": size, "etag": put["ETag"].strip('"'), "sequencer": "617f08299329d189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def upload(s3: Any, key: str, body: bytes) -> dict[str, Any]:
    put: dict[str, Any] = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return put


@pytest.mark.parametrize("shape", [notification, eventbridge])
def test_an_uploaded_crl_is_indexed_and_the_authorizer_uses_the_index(
    s3: Any, pki: tuple[CA, CA, x509.Certificate], shape: Any
) -> None:
    root, issuing, leaf = pki
    key = PREFIX + "issuing ca.crl"
    data = crl_der(issuing, (leaf.serial_number,))
    event = shape(key, upload(s3, key, data), len(data))
    results = make_indexer(s3, root, issuing).handle(event)
    assert [(r.outcome, r.index) for r in results] == [("written", f"s3://{BUCKET}/{key}.idx")]
    stored = s3.get_object(Bucket=BUCKET, Key=key + ".idx")["Body"].read()
    assert load_index(stored, "x").crl.number == 1
    config = RevocationConfig.from_dict(
        {
            "scope": "leaf",
            "ocsp": {"enabled": False},
            "crl": {"urls": [f"s3://{BUCKET}/{key}"], "index": {"public_key": PUBLIC_KEY_B64}},
        }
    )
    chk = RevocationChecker(
        config, fetchers=Fetchers(s3=S3Fetcher(client_factory=lambda: s3)), signer_pool=[root.cert, issuing.cert]
    )
    assert chk.check([leaf, issuing.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    assert chk.crl_cache.parses == 0


def test_what_the_indexer_leaves_alone(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    idx = make_indexer(s3, root, issuing)
    data = crl_der(issuing)
    outside = upload(s3, "elsewhere/issuing.crl", data)
    assert idx.handle(notification("elsewhere/issuing.crl", outside, len(data)))[0].outcome == "skipped"
    own = upload(s3, PREFIX + "x.crl.idx", b"index")
    assert idx.handle(eventbridge(PREFIX + "x.crl.idx", own, 5))[0].outcome == "skipped"  # its own writes
    deleted = notification(PREFIX + "x.crl", own, 5)
    deleted["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert idx.handle(deleted) == []
    put = upload(s3, PREFIX + "i.crl", data)
    assert idx.handle(notification(PREFIX + "i.crl", put, len(data)))[0].outcome == "written"
    assert idx.handle(notification(PREFIX + "i.crl", put, len(data)))[0].outcome == "unchanged"


def test_forged_older_and_replaced_crls(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    idx = make_indexer(s3, root, issuing)
    key = PREFIX + "issuing.crl"

    def put(body: bytes) -> str:
        event = notification(key, upload(s3, key, body), len(body))
        result = idx.handle(event)[0]
        return f"{result.outcome}: {result.detail}"

    assert put(crl_der(issuing, (), number=5)).startswith("written")
    assert put(crl_der(issuing, (leaf.serial_number,), number=4)).startswith("refused: CRL number 4 is lower")
    assert Header.unpack(s3.get_object(Bucket=BUCKET, Key=key + ".idx")["Body"].read()).number == 5  # kept
    assert put(crl_der(issuing, (leaf.serial_number,), number=6)).startswith("written")
    # A CRL the truststore cannot vouch for: refused, and the index of the previous CRL goes, so
    # that authorizers read the CRL itself (and find it forged) rather than a stale index.
    assert put(crl_der(issuing, (), number=7, signer=root.key)).startswith("refused: CRL is not signed")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=BUCKET, Key=key + ".idx")


def test_schedule_pulls_the_http_crls_the_policy_lists(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "local.crl", Body=crl_der(root))
    with crl_server() as server:
        url = server.add("/issuing.crl", Route(body=crl_der(issuing, (leaf.serial_number,))))
        target = f"s3://{BUCKET}/{PREFIX}http/issuing.crl.idx"
        policy = {
            "version": 1,
            "truststore": {"uri": f"s3://{BUCKET}/truststore.pem"},
            "clients": [{"name": "any", "match": {"subject": "CN=indexer leaf"}, "routes": ["GET /pets"]}],
            "revocation": {
                "crl": {
                    "urls": [url, f"s3://{BUCKET}/{PREFIX}local.crl", "http://127.0.0.1:9/unlisted.crl"],
                    "index": {"urls": {url: target}},
                },
                "allowed_hosts": [server.host],
            },
        }
        s3.put_object(Bucket=BUCKET, Key="authorizer/policy.json", Body=json.dumps(policy).encode())
        idx = make_indexer(s3, root, issuing, f"s3://{BUCKET}/authorizer/policy.json", http_factory=HttpClient)
        scheduled = {
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2027-06-01T12:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/crl-index"],
            "detail": {},
        }
        results = {r.crl: r.outcome for r in idx.handle(scheduled)}
        assert results == {
            url: "written",
            f"s3://{BUCKET}/{PREFIX}local.crl": "written",
            "http://127.0.0.1:9/unlisted.crl": "skipped",
        }
        index = load_index(s3.get_object(Bucket=BUCKET, Key=PREFIX + "http/issuing.crl.idx")["Body"].read(), url)
        assert leaf.serial_number in index.crl.serials
        assert {r.outcome for r in idx.handle(scheduled)} == {"unchanged", "skipped"}


def test_lambda_handler_reads_its_environment(
    s3: Any, pki: tuple[CA, CA, x509.Certificate], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, issuing, _ = pki
    s3.put_object(Bucket=BUCKET, Key="truststore.pem", Body=to_pem([root.cert, issuing.cert]))
    monkeypatch.setenv("CRL_PREFIX_URI", f"s3://{BUCKET}/{PREFIX}")
    monkeypatch.setenv("TRUSTSTORE_URI", f"s3://{BUCKET}/truststore.pem")
    monkeypatch.delenv("AUTHORIZER_CONFIG", raising=False)
    monkeypatch.setattr(indexer, "_instance", [])
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("CRL_INDEX_KEY_ID", key_id)
    now = dt.datetime.now(dt.UTC)  # the deployed handler indexes at the current time
    data = make_crl(issuing, (), this_update=now - DAY, next_update=now + DAY).public_bytes(serialization.Encoding.DER)
    out = indexer.lambda_handler(notification(PREFIX + "a.crl", upload(s3, PREFIX + "a.crl", data), len(data)), None)
    assert out["counts"] == {"written": 1}
    # Signed with the KMS key: its public key (as the authorizer fetches it) verifies the index.
    stored = load_index(s3.get_object(Bucket=BUCKET, Key=PREFIX + "a.crl.idx")["Body"].read(), "a")
    public = public_key_from_der(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert stored.signature is not None and verify(public, stored.body_sha256, stored.signature)
    assert not verify(ATTACKER.public_key(), stored.body_sha256, stored.signature)
    missing = notification(PREFIX + "gone.crl", {"ETag": '"0"'}, 1)
    assert indexer.lambda_handler(missing, None)["counts"] == {"failed": 1}


class Interleaved(S3Objects):
    """Real S3 (moto); the first header read lets another indexer run finish in between."""

    def __init__(self, s3: Any, meanwhile: Any) -> None:
        super().__init__(lambda: s3)
        self.meanwhile = meanwhile

    def head_bytes(self, uri: str, count: int) -> tuple[bytes | None, str | None]:
        got = super().head_bytes(uri, count)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return got


@pytest.mark.parametrize(("mine", "theirs", "kept"), [(5, 6, 6), (6, 5, 6)])
def test_racing_runs_never_put_back_an_older_index(
    s3: Any, pki: tuple[CA, CA, x509.Certificate], mine: int, theirs: int, kept: int
) -> None:
    root, issuing, _ = pki
    key = PREFIX + "raced.crl"
    other = make_indexer(s3, root, issuing)
    racing = make_indexer(s3, root, issuing)
    racing.objects = Interleaved(
        s3,
        lambda: other.index(
            f"s3://{BUCKET}/{key}", f"s3://{BUCKET}/{key}.idx", other._pool(), crl_der(issuing, (), theirs)
        ),
    )
    result = racing.index(
        f"s3://{BUCKET}/{key}", f"s3://{BUCKET}/{key}.idx", racing._pool(), crl_der(issuing, (), mine)
    )
    assert result.outcome == ("written" if mine > theirs else "refused")
    assert Header.unpack(s3.get_object(Bucket=BUCKET, Key=key + ".idx")["Body"].read()).number == kept


def test_events_that_name_no_crl(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    idx = make_indexer(s3, root, issuing)
    for event in (
        {},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]},
        {"Records": ["not a record"]},
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {}}},
        {"source": "aws.sqs", "Records": []},
    ):
        assert idx.handle(event) == []
