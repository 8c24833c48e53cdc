"""AWS Private CA's partitioned CRLs, and an indirect CRL, fetched over HTTP from 127.0.0.1.

AWS Private CA (with partitioned CRLs enabled) puts each certificate in one partition: the
certificate's CDP names that partition's URL, and the partition's CRL carries a critical
issuingDistributionPoint whose fullName is the same URL. Each CRL is applied only to the
certificates of its own partition; a partition's CRL served at another partition's URL (a
misconfigured bucket, or someone replaying an empty partition) proves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from authorizer.devpki import make_crl
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


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


def partition_crl(ca: CA, url: str, revoked: Sequence[int] = ()) -> bytes:
    scope = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    crl = make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY, extensions=[(scope, True)])
    return crl.public_bytes(serialization.Encoding.DER)


def checker(server: CrlServer, **kw: Any) -> RevocationChecker:
    cfg = RevocationConfig.from_dict(
        {"ocsp": {"enabled": False}, "allowed_hosts": [server.host], "retry_seconds": 0, "scope": "leaf"}
    )
    return RevocationChecker(cfg, **kw)


def test_each_partition_judges_only_its_certificates(server: CrlServer) -> None:
    root = CA.root("PCA Root")
    ca = root.intermediate("PCA Issuing")
    p1, p2 = server.url("/crl/1.crl"), server.url("/crl/2.crl")
    server.add("/crl/1.crl", Route(body=partition_crl(ca, p1, [0x1111])))
    server.add("/crl/2.crl", Route(body=partition_crl(ca, p2, [0x2222])))
    in_p1 = ca.issue("CN=p1 revoked", serial=0x1111, crl_urls=[p1]).cert
    in_p2 = ca.issue("CN=p2 good", serial=0x1111 + 1, crl_urls=[p2]).cert
    # same serial as p1's revoked entry but in partition 2: p1's list does not speak for it
    p2_same_serial = ca.issue("CN=p2 same serial", serial=0x1111, crl_urls=[p2]).cert
    revoked_p2 = ca.issue("CN=p2 revoked", serial=0x2222, crl_urls=[p2]).cert
    chk = checker(server)
    assert chk.check([in_p1, ca.cert, root.cert], NOW).status is REVOKED
    assert chk.check([in_p2, ca.cert, root.cert], NOW).status is GOOD
    assert chk.check([revoked_p2, ca.cert, root.cert], NOW).status is REVOKED
    # p2_same_serial is the very serial p1 lists: only the partition it names can decide, and
    # that one does not list it (a serial is unique per CA, so this only shows the scoping)
    assert chk.check([p2_same_serial, ca.cert, root.cert], NOW).status is GOOD
    chk.close()


def test_a_partition_served_at_another_partitions_url_proves_nothing(server: CrlServer) -> None:
    root = CA.root("PCA Root 2")
    ca = root.intermediate("PCA Issuing 2")
    p1, p2 = server.url("/crl/1.crl"), server.url("/crl/2.crl")
    server.add("/crl/2.crl", Route(body=partition_crl(ca, p1)))  # partition 1's (empty) list at p2
    leaf = ca.issue("CN=p2 client", crl_urls=[p2]).cert
    out = checker(server).check([leaf, ca.cert, root.cert], NOW)
    assert out.status is UNKNOWN
    assert "does not name" in out.detail


def test_indirect_crl_from_the_cdp_with_a_validated_signer(server: CrlServer) -> None:
    root = CA.root("Indirect Root")
    ca = root.intermediate("Indirect Issuing")
    # the CRL authority's own status comes from the root's CRL (its CDP): a signer must not be revoked
    root_url = server.add(
        "/root.crl",
        Route(
            body=make_crl(root, (), this_update=NOW - DAY, next_update=NOW + DAY).public_bytes(
                serialization.Encoding.DER
            )
        ),
    )
    authority = root.issue(
        "CN=Indirect CRL Authority", key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None, crl_urls=[root_url]
    )
    url = server.url("/indirect.crl")
    dp = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=[x509.DirectoryName(authority.cert.subject)],
    )
    ext = (x509.CRLDistributionPoints([dp]), False)
    revoked = ca.issue("CN=indirect revoked", serial=0x3333, extra_extensions=[ext]).cert
    kept = ca.issue("CN=indirect kept", serial=0x3334, extra_extensions=[ext]).cert
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(0x3333)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(ca.cert.subject)]), critical=True)
        .build()
    )
    scope = x509.IssuingDistributionPoint(
        full_name=None,
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=True,
        only_contains_attribute_certs=False,
    )
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=authority.cert.subject,
        last_update=NOW - DAY,
        next_update=NOW + DAY,
        revoked_certificates=[entry],
        extensions=[x509.Extension(scope.oid, True, scope)],
    ).sign(authority.key, hashes.SHA256())  # type: ignore[arg-type]
    server.add("/indirect.crl", Route(body=crl.public_bytes(serialization.Encoding.DER)))
    validator = ChainValidator(TrustStore.from_certs([root.cert], [ca.cert, authority.cert]))
    chk = checker(
        server,
        signer_validator=lambda cert, pool, at: validator.validate_signer(cert, at, pool).chain,
        signer_pool=[root.cert, ca.cert, authority.cert],
    )
    assert chk.check([revoked, ca.cert, root.cert], NOW).status is REVOKED
    assert chk.check([kept, ca.cert, root.cert], NOW).status is GOOD
    assert len(server.requests_to("/indirect.crl")) == 1
    chk.close()
    # the authority revoked by the root: its indirect CRL proves nothing any more
    revoked_root = make_crl(root, (authority.cert.serial_number,), this_update=NOW - DAY, next_update=NOW + DAY)
    server.add("/root.crl", Route(body=revoked_root.public_bytes(serialization.Encoding.DER)))
    chk = checker(
        server,
        signer_validator=lambda cert, pool, at: validator.validate_signer(cert, at, pool).chain,
        signer_pool=[root.cert, ca.cert, authority.cert],
    )
    out = chk.check([kept, ca.cert, root.cert], NOW)
    assert out.status is UNKNOWN and "is REVOKED" in out.detail
    chk.close()
    # the same CRL without a way to validate its signer: UNKNOWN, never GOOD
    out = checker(server, signer_pool=[authority.cert]).check([kept, ca.cert, root.cert], NOW)
    assert out.status is UNKNOWN and "signer validation" in out.detail
