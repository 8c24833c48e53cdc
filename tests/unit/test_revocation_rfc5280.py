"""RFC 5280 6.3.3 with CRLs made here: reason partitions, distribution point names, scope,
indirect CRLs, CRL signers other than the issuer (validated by the real ChainValidator), and
delta CRLs applied to their base. Never a GOOD that the CRLs do not prove."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from authorizer.devpki import make_crl
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.crl_status import SignerValidator
from authorizer.revocation.status import RevocationStatus
from authorizer.validation import ChainValidator, TrustStore
from tests.pki import CA, NOW, Issued

DAY = dt.timedelta(days=1)
GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN
R = x509.ReasonFlags
COMPROMISE = frozenset({R.key_compromise, R.ca_compromise, R.aa_compromise})
OTHERS = frozenset({R.affiliation_changed, R.superseded, R.cessation_of_operation, R.certificate_hold}) | {
    R.privilege_withdrawn
}

CRL_SIGN_ONLY = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip
NO_CRL_SIGN = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
)  # fmt: skip


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def idp(**kw: object) -> x509.IssuingDistributionPoint:
    args: dict[str, object] = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    args.update(kw)
    return x509.IssuingDistributionPoint(**args)  # type: ignore[arg-type]


def cdp(*points: x509.DistributionPoint) -> tuple[x509.ExtensionType, bool]:
    return x509.CRLDistributionPoints(list(points)), False


def point(
    uri: str | None = None,
    *,
    relative: str | None = None,
    reasons: frozenset[x509.ReasonFlags] | None = None,
    crl_issuer: x509.Name | None = None,
) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(uri)] if uri else None,
        relative_name=(
            x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.COMMON_NAME, relative)])
            if relative
            else None
        ),
        reasons=reasons,
        crl_issuer=[x509.DirectoryName(crl_issuer)] if crl_issuer is not None else None,
    )


def crl(ca: CA, revoked: Sequence[int] = (), *, exts: Sequence[x509.ExtensionType] = (), **kw: object) -> bytes:
    return der(
        make_crl(
            ca,
            revoked,
            this_update=NOW - DAY,
            next_update=NOW + DAY,
            extensions=[(e, True) for e in exts],
            **kw,  # type: ignore[arg-type]
        )
    )


class PKI:
    def __init__(self) -> None:
        self.root = CA.root("RFC5280 Root")
        self.issuing = self.root.intermediate("RFC5280 Issuing")
        self.store = TrustStore.from_certs([self.root.cert], [self.issuing.cert])
        self.validator = ChainValidator(self.store, max_chain_length=6)

    def signer_validator(self) -> SignerValidator:
        def validate(
            cert: x509.Certificate, pool: Sequence[x509.Certificate], at: dt.datetime
        ) -> Sequence[x509.Certificate]:
            return self.validator.validate_signer(cert, at, pool).chain

        return validate

    def leaf(self, *exts: tuple[x509.ExtensionType, bool], serial: int | None = None) -> x509.Certificate:
        return self.issuing.issue("CN=leaf", serial=serial, extra_extensions=exts).cert

    def check(
        self,
        leaf: x509.Certificate,
        *crls: bytes,
        root_crl: bytes | None = None,
        pool: Sequence[x509.Certificate] = (),
        validator: bool = True,
    ) -> RevocationStatus:
        blobs = [("root.crl", root_crl or crl(self.root))] + [(f"c{i}.crl", c) for i, c in enumerate(crls)]
        chk = RevocationChecker.from_crl_bytes(
            blobs,
            signer_validator=self.signer_validator() if validator else None,
            signer_pool=[*pool, self.root.cert, self.issuing.cert],
        )
        try:
            out = chk.check([leaf, self.issuing.cert, self.root.cert], NOW)
        finally:
            chk.close()
        self.detail = out.detail
        return out.status


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


# -- reason-partitioned CRLs ---------------------------------------------------------------------


def test_partitions_combine_until_every_reason_is_covered(pki: PKI) -> None:
    leaf = pki.leaf(serial=0x501)
    compromise = crl(pki.issuing, exts=[idp(only_some_reasons=COMPROMISE)])
    others = crl(pki.issuing, exts=[idp(only_some_reasons=OTHERS)])
    assert pki.check(leaf, compromise) is UNKNOWN
    assert "cover only the reasons" in pki.detail
    assert pki.check(leaf, others) is UNKNOWN
    assert pki.check(leaf, compromise, others) is GOOD
    listed = crl(pki.issuing, [0x501], exts=[idp(only_some_reasons=OTHERS)])
    assert pki.check(leaf, compromise, listed) is REVOKED
    assert pki.check(leaf, listed) is REVOKED  # one partition alone proves a revocation


def test_certificate_dp_reasons_limit_what_a_crl_covers(pki: PKI) -> None:
    leaf = pki.leaf(cdp(point("http://127.0.0.1/c.crl", reasons=COMPROMISE)))
    full = crl(pki.issuing, exts=[idp(full_name=[x509.UniformResourceIdentifier("http://127.0.0.1/c.crl")])])
    assert pki.check(leaf, full) is UNKNOWN  # the certificate's only point covers some reasons


# -- distribution point names and scope ----------------------------------------------------------


def test_idp_full_name_must_match_a_cdp_name(pki: PKI) -> None:
    leaf = pki.leaf(cdp(point("http://127.0.0.1/part1.crl")))
    uri = x509.UniformResourceIdentifier
    assert pki.check(leaf, crl(pki.issuing, exts=[idp(full_name=[uri("http://127.0.0.1/part1.crl")])])) is GOOD
    assert pki.check(leaf, crl(pki.issuing, exts=[idp(full_name=[uri("http://127.0.0.1/part2.crl")])])) is UNKNOWN
    assert "does not name" in pki.detail
    no_cdp = pki.leaf()
    assert pki.check(no_cdp, crl(pki.issuing, exts=[idp(full_name=[uri("http://127.0.0.1/part1.crl")])])) is UNKNOWN
    assert pki.check(no_cdp, crl(pki.issuing)) is GOOD  # no CDP: the issuer's full CRL


def test_name_relative_to_crl_issuer(pki: PKI) -> None:
    leaf = pki.leaf(cdp(point(relative="partition 7")))
    rdn = x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Partition 7")])
    other = x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.COMMON_NAME, "partition 8")])
    assert pki.check(leaf, crl(pki.issuing, exts=[idp(relative_name=rdn)])) is GOOD  # RFC 4518 match
    assert pki.check(leaf, crl(pki.issuing, exts=[idp(relative_name=other)])) is UNKNOWN
    # the relative name is under the CRL issuer: the same name as a fullName directoryName matches
    full = x509.DirectoryName(x509.Name([*pki.issuing.cert.subject.rdns, rdn]))
    assert pki.check(leaf, crl(pki.issuing, exts=[idp(full_name=[full])])) is GOOD


def test_user_and_ca_scopes(pki: PKI) -> None:
    leaf = pki.leaf()
    users = crl(pki.issuing, exts=[idp(only_contains_user_certs=True)])
    cas = crl(pki.issuing, exts=[idp(only_contains_ca_certs=True)])
    assert pki.check(leaf, users) is GOOD
    assert pki.check(leaf, cas) is UNKNOWN
    # the intermediate is checked against the root's CRLs: a user-only one does not cover it
    root_users = crl(pki.root, exts=[idp(only_contains_user_certs=True)])
    assert pki.check(leaf, users, root_crl=root_users) is UNKNOWN
    assert pki.check(leaf, users, root_crl=crl(pki.root, exts=[idp(only_contains_ca_certs=True)])) is GOOD


# -- indirect CRLs and other CRL signers ----------------------------------------------------------


def indirect_crl(signer: Issued, entries: Sequence[tuple[int, x509.Name | None]], **idp_kw: object) -> bytes:
    """An indirect CRL signed by ``signer``; an entry's name sets certificateIssuer, which carries
    over to the following entries."""
    revoked = []
    for serial, issuer in entries:
        b = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - DAY)
        if issuer is not None:
            b = b.add_extension(x509.CertificateIssuer([x509.DirectoryName(issuer)]), critical=True)
        revoked.append(b.build())
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=signer.cert.subject,
        last_update=NOW - DAY,
        next_update=NOW + DAY,
        revoked_certificates=revoked,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(1)),
            x509.Extension(x509.IssuingDistributionPoint.oid, True, idp(indirect_crl=True, **idp_kw)),
        ],
    )
    return der(builder.sign(signer.key, hashes.SHA256()))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def authority(pki: PKI) -> Issued:
    """A CRL authority: issued by the root, keyUsage cRLSign only."""
    return pki.root.issue("CN=CRL Authority", key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)


def test_indirect_crl_through_crl_issuer(pki: PKI, authority: Issued) -> None:
    via = cdp(point("http://127.0.0.1/indirect.crl", crl_issuer=authority.cert.subject))
    revoked, kept, other = pki.leaf(via, serial=0x77), pki.leaf(via, serial=0x78), pki.leaf(via, serial=0x79)
    issuing = pki.issuing.cert.subject
    # entry 0x79 has no certificateIssuer of its own: it carries over from 0x77's (the issuing CA)
    data = indirect_crl(authority, [(0x1, None), (0x77, issuing), (0x79, None)])
    pool = [authority.cert]
    assert pki.check(revoked, data, pool=pool) is REVOKED
    assert pki.check(other, data, pool=pool) is REVOKED
    assert pki.check(kept, data, pool=pool) is GOOD
    # without the signer validator, or without the signer's certificate, nothing is proven
    assert pki.check(kept, data, pool=pool, validator=False) is UNKNOWN
    assert pki.check(kept, data) is UNKNOWN
    # serial 0x1 is the CRL authority's own entry, not the issuing CA's
    assert pki.check(pki.leaf(via, serial=0x1), data, pool=pool) is GOOD


def test_indirect_crl_signer_needs_crl_sign_and_the_same_anchor(pki: PKI) -> None:
    no_sign = pki.root.issue("CN=No Sign Authority", key_usage=NO_CRL_SIGN, eku=None, is_ca=None)
    via = cdp(point(crl_issuer=no_sign.cert.subject))
    data = indirect_crl(no_sign, [(0x2, pki.issuing.cert.subject)])
    assert pki.check(pki.leaf(via), data, pool=[no_sign.cert]) is UNKNOWN
    assert "cRLSign" in pki.detail
    stranger_root = CA.root("Stranger Root")
    stranger = stranger_root.issue("CN=Stranger Authority", key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)
    via = cdp(point(crl_issuer=stranger.cert.subject))
    data = indirect_crl(stranger, [(0x2, pki.issuing.cert.subject)])
    assert pki.check(pki.leaf(via), data, pool=[stranger.cert, stranger_root.cert]) is UNKNOWN


def test_crl_issuer_point_requires_an_indirect_crl(pki: PKI, authority: Issued) -> None:
    via = cdp(point(crl_issuer=authority.cert.subject))
    direct = crl(pki.issuing)  # the issuer's own full CRL does not serve a cRLIssuer point
    assert pki.check(pki.leaf(via), direct, pool=[authority.cert]) is UNKNOWN


def test_separate_crl_signing_key_of_the_issuer(pki: PKI) -> None:
    subject = pki.issuing.cert.subject.rfc4514_string()
    crl_key = pki.root.issue(subject, key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)
    leaf = pki.leaf(serial=0x600)
    good = crl(pki.issuing, signer=crl_key.key)
    listed = crl(pki.issuing, [0x600], signer=crl_key.key)
    assert pki.check(leaf, good, pool=[crl_key.cert]) is GOOD
    assert pki.check(leaf, listed, pool=[crl_key.cert]) is REVOKED
    assert pki.check(leaf, good, pool=[crl_key.cert], validator=False) is UNKNOWN
    # the CRL-signing certificate revoked by the root: its CRLs prove nothing
    root_crl = crl(pki.root, [crl_key.cert.serial_number])
    assert pki.check(leaf, good, pool=[crl_key.cert], root_crl=root_crl) is UNKNOWN
    assert "REVOKED" in pki.detail


# -- delta CRLs -----------------------------------------------------------------------------------


def test_delta_applied_to_its_base(pki: PKI) -> None:
    leaf, held = pki.leaf(serial=0x700), pki.leaf(serial=0x701)
    base = crl(pki.issuing, [(0x701, R.certificate_hold)], crl_number=10)  # type: ignore[list-item]
    delta = crl(
        pki.issuing,
        [0x700, (0x701, R.remove_from_crl)],  # type: ignore[list-item]
        crl_number=11,
        exts=[x509.DeltaCRLIndicator(10)],
    )
    assert pki.check(leaf, base) is GOOD
    assert pki.check(held, base) is REVOKED
    assert pki.check(leaf, base, delta) is REVOKED
    assert pki.check(held, base, delta) is GOOD  # removed from hold by the delta
    assert pki.check(leaf, delta) is REVOKED  # alone, a delta proves a revocation ...
    assert pki.check(held, delta) is UNKNOWN  # ... never that a certificate is good


def test_delta_for_a_newer_base_or_stale_is_not_applied(pki: PKI) -> None:
    held = pki.leaf(serial=0x702)
    base = crl(pki.issuing, [(0x702, R.certificate_hold)], crl_number=20)  # type: ignore[list-item]
    too_new = crl(pki.issuing, [(0x702, R.remove_from_crl)], crl_number=22, exts=[x509.DeltaCRLIndicator(21)])  # type: ignore[list-item]
    assert pki.check(held, base, too_new) is REVOKED  # its base (21) is newer than ours (20)
    stale = der(
        make_crl(
            pki.issuing,
            [(0x702, R.remove_from_crl)],
            this_update=NOW - 3 * DAY,
            next_update=NOW - 2 * DAY,
            crl_number=21,
            extensions=[(x509.DeltaCRLIndicator(20), True)],
        )
    )
    clean = pki.leaf(serial=0x703)
    assert pki.check(clean, base, stale) is UNKNOWN  # a delta exists for this base but is stale
    assert "delta CRL" in pki.detail


def test_revoked_wins_over_a_good_from_another_crl(pki: PKI) -> None:
    leaf = pki.leaf(serial=0x710)
    older = crl(pki.issuing, crl_number=30)
    newer = crl(pki.issuing, [0x710], crl_number=31)
    assert pki.check(leaf, older, newer) is REVOKED
    assert pki.check(leaf, newer, older) is REVOKED
    # a delta for a newer base than ours, listing the certificate: still a revocation
    base = crl(pki.issuing, crl_number=40)
    applied = crl(pki.issuing, crl_number=41, exts=[x509.DeltaCRLIndicator(40)])
    newer_delta = crl(pki.issuing, [0x710], crl_number=43, exts=[x509.DeltaCRLIndicator(42)])
    assert pki.check(leaf, base, applied) is GOOD
    assert pki.check(leaf, base, applied, newer_delta) is REVOKED
    # ... but one older than the base used is superseded by it
    old_delta = crl(pki.issuing, [0x710], crl_number=39, exts=[x509.DeltaCRLIndicator(38)])
    assert pki.check(leaf, base, applied, old_delta) is GOOD
