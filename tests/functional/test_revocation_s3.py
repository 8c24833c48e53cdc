"""CRLs configured as ``s3://`` sources (moto) and local files, with ETag revalidation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import make_crl
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.status import RevocationStatus
from authorizer.sources.blob import Fetchers, FileFetcher, S3Fetcher
from tests.clock import Clock
from tests.pki import CA, NOW

DAY = dt.timedelta(days=1)
BUCKET = "revocation-crls"


def crl_der(ca: CA, revoked: tuple[int, ...] = ()) -> bytes:
    crl = make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY)
    return crl.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, x509.Certificate]:
    root = CA.root("S3 Root")
    issuing = root.intermediate("S3 Issuing")
    return root, issuing, issuing.issue("CN=s3 leaf", serial=0x5151).cert


def checker(urls: list[str], client: Any = None, clock: Any = None, **kw: Any) -> RevocationChecker:
    doc: dict[str, Any] = {
        "ocsp": {"enabled": False},
        "crl": {"urls": urls, "use_distribution_points": False, "refresh_seconds": 60},
        "retry_seconds": 0,
    }
    doc.update(kw)
    fetchers = Fetchers(FileFetcher(), S3Fetcher(client_factory=lambda: client)) if client is not None else None
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return RevocationChecker(RevocationConfig.from_dict(doc), fetchers=fetchers, **extra)


def test_s3_crls_good_revoked_and_revalidated_by_etag(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    s3.put_object(Bucket=BUCKET, Key="root.crl", Body=crl_der(root))
    s3.put_object(Bucket=BUCKET, Key="issuing.crl", Body=crl_der(issuing))
    urls = [f"s3://{BUCKET}/root.crl", f"s3://{BUCKET}/issuing.crl"]
    clock = Clock()
    chk = checker(urls, s3, clock)
    chain = [leaf, issuing.cert, root.cert]
    out = chk.check(chain, NOW)
    assert out.status is RevocationStatus.GOOD, out.detail
    assert out.certs[0].source == f"crl:s3://{BUCKET}/issuing.crl"
    fetches = chk.crl_cache.fetches
    clock.t += 61  # revalidation: unchanged objects answer "not modified"
    assert chk.check(chain, NOW).status is RevocationStatus.GOOD
    assert chk.crl_cache.fetches > fetches
    s3.put_object(Bucket=BUCKET, Key="issuing.crl", Body=crl_der(issuing, (leaf.serial_number,)))
    clock.t += 61
    assert chk.check(chain, NOW).status is RevocationStatus.REVOKED


def test_s3_crl_of_another_ca_does_not_cover(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    other = root.intermediate("S3 Other")
    s3.put_object(Bucket=BUCKET, Key="root.crl", Body=crl_der(root))
    s3.put_object(Bucket=BUCKET, Key="other.crl", Body=crl_der(other, (leaf.serial_number,)))
    chk = checker([f"s3://{BUCKET}/root.crl", f"s3://{BUCKET}/other.crl"], s3)
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.UNKNOWN
    assert out.certs[0].status is RevocationStatus.UNKNOWN and out.certs[1].status is RevocationStatus.GOOD


def test_missing_s3_object_is_unknown(s3: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    out = checker([f"s3://{BUCKET}/nope.crl"], s3, scope="leaf").check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.UNKNOWN and "nope.crl" in out.certs[0].detail


def test_local_file_sources(tmp_path: Any, pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    (tmp_path / "root.crl").write_bytes(crl_der(root))
    (tmp_path / "issuing.pem").write_bytes(
        x509.load_der_x509_crl(crl_der(issuing, (leaf.serial_number,))).public_bytes(serialization.Encoding.PEM)
    )
    chk = checker([str(tmp_path / "root.crl"), f"file://{tmp_path / 'issuing.pem'}"])
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.REVOKED


def test_a_certificate_cdp_never_names_a_local_file(tmp_path: Any) -> None:
    root = CA.root("File CDP Root")
    crl_path = tmp_path / "issuing.crl"
    issuing = root.intermediate("File CDP Issuing")
    crl_path.write_bytes(crl_der(issuing))
    leaf = issuing.issue("CN=file cdp", crl_urls=[f"file://{crl_path}"]).cert
    chk = RevocationChecker(RevocationConfig.from_dict({"ocsp": {"enabled": False}, "scope": "leaf"}))
    out = chk.check([leaf, issuing.cert, root.cert], NOW)
    assert out.status is RevocationStatus.UNKNOWN and "no CRL source" in out.certs[0].detail
