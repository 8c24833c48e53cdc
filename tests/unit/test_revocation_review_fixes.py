"""Regression tests for the revocation review (RFC 5280 6.3.3), CRLs made here, every one of
which came out GOOD for a listed certificate before its fix:

* F1: a delta CRL that cannot be used (stale, or forged) must not discard a base that lists
  the certificate; a forged delta must not disqualify an authentic base either.
* F3: a non-critical certificateIssuer entry extension counts in an indirect CRL.
* F4: cRLNumbers of complete CRLs of another scope do not supersede a partition's delta.
* F6: a sibling CA with the issuer's name (AWS Private CA allows it) is no CRL signer for it;
  the issuer's own rolled-over key (certified by the issuer, self-issued) still is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from authorizer.devpki import make_crl
from authorizer.revocation import crl_status
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.crl import CrlIndex, tbs_bytes
from authorizer.revocation.der import tbs_certlist_body
from authorizer.validation import ChainValidator, TrustStore
from tests.pki import CA, NOW, Issued
from tests.unit.test_revocation_rfc5280 import CRL_SIGN_ONLY, GOOD, PKI, REVOKED, UNKNOWN, cdp, crl, der, idp, point

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def dated(ca: CA, revoked: Sequence[int], number: int, start: dt.datetime, end: dt.datetime, **kw: object) -> bytes:
    return der(make_crl(ca, revoked, this_update=start, next_update=end, crl_number=number, **kw))  # type: ignore[arg-type]


# -- F1 ---------------------------------------------------------------------------------------


def test_stale_delta_does_not_hide_the_listing_of_its_base(pki: PKI) -> None:
    leaf = pki.leaf(serial=0x1234)
    base10 = dated(pki.issuing, [0x1234], 10, NOW - DAY, NOW + 7 * DAY)
    base9 = dated(pki.issuing, [], 9, NOW - 2 * DAY, NOW + 6 * DAY)  # older, same scope, not listing
    stale = dated(pki.issuing, [], 11, NOW - 3 * DAY, NOW - 2 * DAY, extensions=[(x509.DeltaCRLIndicator(10), True)])
    assert pki.check(leaf, base10, base9) is REVOKED
    assert pki.check(leaf, base10, base9, stale) is REVOKED, pki.detail
    assert "listed in c0.crl" in pki.detail
    # a base that does not list it still cannot prove GOOD past its stale delta
    clean = pki.leaf(serial=0x1235)
    assert pki.check(clean, base10, stale) is UNKNOWN


def test_forged_delta_is_ignored(pki: PKI) -> None:
    leaf, clean = pki.leaf(serial=0x1236), pki.leaf(serial=0x1237)
    base = dated(pki.issuing, [0x1236], 20, NOW - DAY, NOW + DAY)
    older = dated(pki.issuing, [], 19, NOW - 2 * DAY, NOW + DAY)
    forger = CA.root("Forger")
    # the issuer's name, another key; it even "removes" the revocation
    forged = der(
        make_crl(
            pki.issuing,
            [(0x1236, x509.ReasonFlags.remove_from_crl)],
            this_update=NOW - DAY,
            next_update=NOW + DAY,
            crl_number=21,
            signer=forger.key,
            extensions=[(x509.DeltaCRLIndicator(20), True)],
        )
    )
    assert pki.check(leaf, base, older, forged) is REVOKED, pki.detail
    # nor does it disqualify the authentic base for a certificate it does not list
    assert pki.check(clean, base, forged) is GOOD, pki.detail


def test_listing_base_that_fails_to_apply_never_leaves_a_good(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    leaf = pki.leaf(serial=0x1238)
    listing = dated(pki.issuing, [0x1238], 31, NOW - DAY, NOW + DAY)
    other = dated(pki.issuing, [], 30, NOW - 2 * DAY, NOW + DAY)
    real = crl_status._delta_for

    def failing(crl: CrlIndex, *args: object) -> tuple[CrlIndex | None, str | None]:
        if crl.number == 31:  # a surprise in applying the listing CRL, and only that one
            raise RuntimeError("surprise")
        return real(crl, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(crl_status, "_delta_for", failing)
    assert pki.check(leaf, listing, other) is UNKNOWN
    assert "lists the certificate" in pki.detail


# -- F3 ---------------------------------------------------------------------------------------


def test_non_critical_certificate_issuer_in_an_indirect_crl(pki: PKI) -> None:
    authority = pki.root.issue("CN=Review CRL Authority", key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)
    via = cdp(point(crl_issuer=authority.cert.subject))
    leaf = pki.leaf(via, serial=0x99)
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(0x99)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(pki.issuing.cert.subject)]), critical=False)
        .build()
    )
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=authority.cert.subject,
        last_update=NOW - DAY,
        next_update=NOW + DAY,
        revoked_certificates=[entry],
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
            x509.Extension(x509.IssuingDistributionPoint.oid, True, idp(indirect_crl=True)),
        ],
    )
    data = der(builder.sign(authority.key, hashes.SHA256()))  # type: ignore[arg-type]
    tbs = tbs_bytes(data)
    span = tbs_certlist_body(tbs)
    assert span is not None and tbs.find(b"\x01\x01\xff\x04", *span) < 0  # no critical entry extension
    assert pki.check(leaf, data, pool=[authority.cert]) is REVOKED, pki.detail
    assert pki.check(pki.leaf(via, serial=0x9A), data, pool=[authority.cert]) is GOOD


# -- F4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("other_number", [5, 50])
def test_partition_delta_is_not_superseded_by_another_scope(pki: PKI, other_number: int) -> None:
    p1 = "http://127.0.0.1/p1.crl"
    leaf = pki.leaf(cdp(point(p1)), serial=0x42)
    full_other_scope = crl(pki.issuing, crl_number=other_number)  # no IDP: another scope than P1's
    delta = crl(
        pki.issuing,
        [0x42],
        crl_number=13,
        exts=[x509.DeltaCRLIndicator(12), idp(full_name=[x509.UniformResourceIdentifier(p1)])],
    )
    assert pki.check(leaf, full_other_scope, delta) is REVOKED, pki.detail
    # a complete CRL of P1's own scope, newer than the delta, does supersede it
    p1_full = crl(pki.issuing, crl_number=14, exts=[idp(full_name=[x509.UniformResourceIdentifier(p1)])])
    assert pki.check(leaf, full_other_scope, p1_full, delta) is GOOD, pki.detail


# -- F6 ---------------------------------------------------------------------------------------


def _same_name_check(root: CA, issuing: CA, others: Sequence[x509.Certificate], leaf: Issued, data: bytes) -> object:
    store = TrustStore.from_certs([root.cert], [issuing.cert, *others])
    validator = ChainValidator(store, max_chain_length=6)
    chk = RevocationChecker.from_crl_bytes(
        [("root.crl", crl(root)), ("issuing.crl", data)],
        scope="leaf",
        signer_validator=lambda c, pool, at: validator.validate_signer(c, at, pool).chain,
        signer_pool=[root.cert, issuing.cert, *others],
    )
    try:
        out = chk.check([leaf.cert, issuing.cert, root.cert], NOW)
    finally:
        chk.close()
    return out.status


def test_sibling_ca_of_the_same_name_is_no_crl_signer(pki: PKI) -> None:
    a = pki.root.intermediate("Same Name CA")
    b = pki.root.intermediate("Same Name CA")
    assert a.cert.subject == b.cert.subject
    leaf = a.issue("CN=leaf", serial=0x31)
    assert _same_name_check(pki.root, a, [b.cert], leaf, crl(a, [0x31])) is REVOKED
    assert _same_name_check(pki.root, a, [b.cert], leaf, crl(b)) is UNKNOWN


def test_rolled_over_key_certified_by_the_issuer_signs_its_crls(pki: PKI) -> None:
    a = pki.root.intermediate("Rollover CA")
    # the CA's new key, certified by its old key (self-issued "new with old", keyCertSign)
    new = a.issue(a.cert.subject.rfc4514_string(), is_ca=True, eku=None)
    leaf = a.issue("CN=leaf", serial=0x32)
    listing = crl(a, [0x32], signer=new.key)
    clean = crl(a, [], signer=new.key)
    assert _same_name_check(pki.root, a, [new.cert], leaf, listing) is REVOKED
    assert _same_name_check(pki.root, a, [new.cert], leaf, clean) is GOOD
