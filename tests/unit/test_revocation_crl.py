"""CRL rules (RFC 5280 6.3.3) with CRLs handed to the checker directly (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

from authorizer.devpki import make_crl, make_large_crl_der
from authorizer.reasons import ConfigError, Reason
from authorizer.revocation import crl_status
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.crl import CrlIndex
from authorizer.revocation.status import RevocationStatus
from tests.pki import CA, NOW

DAY = dt.timedelta(days=1)


def der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def current(ca: CA, revoked: list[int] | tuple[int, ...] = (), **kw: object) -> x509.CertificateRevocationList:
    return make_crl(ca, revoked, this_update=NOW - DAY, next_update=NOW + DAY, **kw)  # type: ignore[arg-type]


def checker(*crls: x509.CertificateRevocationList, scope: str = "chain") -> RevocationChecker:
    return RevocationChecker.from_crl_bytes([(f"crl{i}.der", der(c)) for i, c in enumerate(crls)], scope=scope)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA, x509.Certificate]:
    root = CA.root("CRL Root")
    issuing = root.intermediate("CRL Issuing")
    leaf = issuing.issue("CN=leaf", serial=0x1001).cert
    return root, issuing, leaf


def chain_of(pki: tuple[CA, CA, x509.Certificate]) -> list[x509.Certificate]:
    root, issuing, leaf = pki
    return [leaf, issuing.cert, root.cert]


def test_complete_coverage_is_good(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    out = checker(current(root), current(issuing, [5, 6])).check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.GOOD
    assert out.error("deny") is None
    assert [c.status for c in out.certs] == [RevocationStatus.GOOD, RevocationStatus.GOOD]


def test_listed_leaf_is_revoked(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    out = checker(current(root), current(issuing, [0x1001])).check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.REVOKED
    err = out.error("allow")
    assert err is not None and err.reason is Reason.REVOKED
    assert "CN=leaf" in err.detail


def test_revoked_intermediate_refuses_every_leaf_below(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    chk = checker(current(root, [issuing.cert.serial_number]), current(issuing))
    for i in range(3):
        leaf = issuing.issue(f"CN=other{i}").cert
        out = chk.check([leaf, issuing.cert, root.cert], NOW)
        assert out.status is RevocationStatus.REVOKED
        assert out.certs[0].status is RevocationStatus.GOOD
        assert out.certs[1].status is RevocationStatus.REVOKED


def test_leaf_scope_checks_only_the_leaf(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    out = checker(current(root, [issuing.cert.serial_number]), current(issuing), scope="leaf").check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.GOOD
    assert len(out.certs) == 1


def test_serial_revoked_by_another_ca_does_not_refuse(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    other = root.intermediate("Other Issuing")
    twin = other.issue("CN=twin", serial=leaf.serial_number).cert
    chk = checker(current(root), current(issuing), current(other, [leaf.serial_number]))
    assert chk.check(chain_of(pki), NOW).status is RevocationStatus.GOOD
    assert chk.check([twin, other.cert, root.cert], NOW).status is RevocationStatus.REVOKED
    # and the other CA's CRL alone does not cover the first leaf at all
    alone = checker(current(root), current(other, [leaf.serial_number])).check(chain_of(pki), NOW)
    assert alone.status is RevocationStatus.UNKNOWN
    assert alone.error("deny") is not None and alone.error("deny").reason is Reason.REVOCATION_UNKNOWN  # type: ignore[union-attr]


def test_every_certificate_must_be_covered(pki: tuple[CA, CA, x509.Certificate]) -> None:
    _root, issuing, _ = pki
    out = checker(current(issuing)).check(chain_of(pki), NOW)  # no CRL from the root
    assert out.status is RevocationStatus.UNKNOWN
    assert out.certs[1].status is RevocationStatus.UNKNOWN
    assert out.error("allow") is None


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda r, i: make_crl(i, [], this_update=NOW - 3 * DAY, next_update=NOW - 2 * DAY), "expired"),
        (lambda r, i: make_crl(i, [], this_update=NOW + DAY, next_update=NOW + 2 * DAY), "future"),
        (lambda r, i: make_crl(i, [], this_update=NOW - DAY, next_update=None), "no nextUpdate"),
        (lambda r, i: current(i, signer=r.key), "signature"),
        (lambda r, i: current(i, issuer_name=r.cert.subject, signer=i.key), "another issuer"),
        (lambda r, i: current(i, extensions=[(x509.DeltaCRLIndicator(1), True)]), "delta"),
        (
            lambda r, i: current(
                i, extensions=[(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), True)]
            ),
            "unknown critical",
        ),
        (lambda r, i: current(i, extensions=[(idp(only_contains_ca_certs=True), True)]), "only covers CA"),
        (lambda r, i: current(i, extensions=[(idp(only_contains_attribute_certs=True), True)]), "attribute"),
    ],
    ids=[
        "expired",
        "future",
        "no-next-update",
        "wrong-signer",
        "wrong-name",
        "delta",
        "unknown-critical",
        "ca-only",
        "attribute-only",
    ],
)
def test_unusable_crl_is_unknown_never_good(pki: tuple[CA, CA, x509.Certificate], make, detail: str) -> None:  # type: ignore[no-untyped-def]
    root, issuing, _ = pki
    bad = make(root, issuing)
    out = checker(current(root), bad).check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.UNKNOWN
    assert detail in out.certs[0].detail
    # the same listing the leaf: an unusable CRL can not revoke either, but it never gives GOOD
    assert out.certs[0].status is RevocationStatus.UNKNOWN


def idp(**kw: object) -> x509.IssuingDistributionPoint:
    args: dict[str, object] = {
        "full_name": None, "relative_name": None, "only_contains_user_certs": False,
        "only_contains_ca_certs": False, "only_some_reasons": None, "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }  # fmt: skip
    args.update(kw)
    return x509.IssuingDistributionPoint(**args)  # type: ignore[arg-type]


def test_skew_tolerates_a_slightly_late_crl(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    late = make_crl(issuing, [], this_update=NOW - DAY, next_update=NOW - dt.timedelta(seconds=60))
    assert checker(current(root), late).check(chain_of(pki), NOW).status is RevocationStatus.GOOD


def test_user_only_crl_does_not_cover_an_intermediate(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    users_only = current(root, extensions=[(idp(only_contains_user_certs=True), True)])
    out = checker(users_only, current(issuing)).check(chain_of(pki), NOW)
    assert out.certs[1].status is RevocationStatus.UNKNOWN
    assert "end-entity" in out.certs[1].detail


def test_reason_partitioned_crl_revokes_but_never_clears(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    part = idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}))
    listed = current(issuing, [leaf.serial_number], extensions=[(part, True)])
    unlisted = current(issuing, [], extensions=[(part, True)])
    assert checker(current(root), listed).check(chain_of(pki), NOW).status is RevocationStatus.REVOKED
    assert checker(current(root), unlisted).check(chain_of(pki), NOW).status is RevocationStatus.UNKNOWN


def test_distribution_point_scope_must_match_the_certificate() -> None:
    root = CA.root("DP Root")
    issuing = root.intermediate("DP Issuing")
    url = "http://crl.example/part1.crl"
    leaf = issuing.issue("CN=dp", crl_urls=[url]).cert
    chain = [leaf, issuing.cert, root.cert]
    matching = current(issuing, extensions=[(idp(full_name=[x509.UniformResourceIdentifier(url)]), True)])
    other = current(issuing, extensions=[(idp(full_name=[x509.UniformResourceIdentifier(url + "x")]), True)])
    assert checker(current(root), matching).check(chain, NOW).status is RevocationStatus.GOOD
    out = checker(current(root), other).check(chain, NOW)
    assert out.status is RevocationStatus.UNKNOWN and "distribution point" in out.certs[0].detail


def test_critical_entry_extension_makes_the_crl_unusable(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _leaf = pki
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(999)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(root.cert.subject)]), critical=True)
        .build()
    )
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=issuing.cert.subject, last_update=NOW - DAY, next_update=NOW + DAY, revoked_certificates=[entry]
    ).sign(issuing.key, hashes.SHA256())  # type: ignore[arg-type]
    out = checker(current(root), crl).check(chain_of(pki), NOW)
    assert out.certs[0].status is RevocationStatus.UNKNOWN
    assert "entry extension" in out.certs[0].detail


def test_issuer_without_crl_sign_key_usage_is_not_trusted_for_crls() -> None:
    root = CA.root("KU Root")
    ku = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    issued = root.issue("CN=No CRL Sign CA", is_ca=True, key_usage=ku, eku=None)
    ca = CA(cert=issued.cert, key=issued.key, chain=issued.chain)
    leaf = ca.issue("CN=leaf under no-crlsign").cert
    out = checker(current(root), current(ca)).check([leaf, ca.cert, root.cert], NOW)
    assert out.certs[0].status is RevocationStatus.UNKNOWN
    assert "cRLSign" in out.certs[0].detail


def test_pem_and_der_are_both_accepted(pki: tuple[CA, CA, x509.Certificate], tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, issuing, _ = pki
    (tmp_path / "root.pem").write_bytes(current(root).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "issuing.der").write_bytes(der(current(issuing, [0x1001])))
    chk = RevocationChecker.from_crl_files([str(tmp_path / "root.pem"), str(tmp_path / "issuing.der")])
    assert chk.check(chain_of(pki), NOW).status is RevocationStatus.REVOKED
    assert chk.config.require_crl_coverage
    assert "every certificate must be covered" in chk.config.describe()


def test_unreadable_or_malformed_crl_file_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "junk.crl").write_bytes(b"not a crl")
    with pytest.raises(ConfigError) as err:
        RevocationChecker.from_crl_files([str(tmp_path / "junk.crl")])
    assert "junk.crl" in err.value.detail
    with pytest.raises(ConfigError):
        RevocationChecker.from_crl_files([str(tmp_path / "missing.crl")])


def test_index_matches_cryptography_on_a_generated_crl(pki: tuple[CA, CA, x509.Certificate]) -> None:
    _, issuing, _ = pki
    serials = [1, 127, 128, 255, 256, 2**63, 2**159 - 1, *range(10_000, 12_000)]
    data = make_large_crl_der(issuing, serials, this_update=NOW - DAY, next_update=NOW + DAY, with_reason=True)
    crl = x509.load_der_x509_crl(data)
    assert crl.is_signature_valid(issuing.key.public_key())  # type: ignore[arg-type]
    index = CrlIndex.from_bytes(data, "big")
    assert set(index.serials) == {e.serial_number for e in crl} == set(serials)
    assert index.unusable is None
    assert index.signed_by(issuing.cert)
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER)


def test_warm_check_is_served_from_the_status_cache(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    chk = checker(current(root), current(issuing))
    assert chk.check(chain_of(pki), NOW).status is RevocationStatus.GOOD
    again = chk.check(chain_of(pki), NOW)
    assert again.status is RevocationStatus.GOOD
    assert all(c.source.startswith("cache") for c in again.certs)
    # a cached GOOD does not outlive the CRL it came from
    assert chk.check(chain_of(pki), NOW + 3 * DAY).status is RevocationStatus.UNKNOWN


def test_check_never_raises(pki: tuple[CA, CA, x509.Certificate], monkeypatch: pytest.MonkeyPatch) -> None:
    root, issuing, _ = pki
    chk = checker(current(root), current(issuing))

    def boom(*a: object, **k: object) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(crl_status, "_apply", boom)  # a bug applying any one CRL
    out = chk.check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.UNKNOWN
    assert "internal error" in out.certs[0].detail
    monkeypatch.setattr(crl_status, "decide", boom)  # a bug in the whole decision
    out = chk.check(chain_of(pki), NOW)
    assert out.status is RevocationStatus.UNKNOWN
    assert "internal error" in out.certs[0].detail
    monkeypatch.setattr(chk, "_check", boom)
    assert chk.check(chain_of(pki), NOW).status is RevocationStatus.UNKNOWN


def test_nothing_below_the_anchor_is_good(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, _, _ = pki
    out = checker(current(root)).check([root.cert], NOW)
    assert out.status is RevocationStatus.GOOD and out.certs == ()


@pytest.mark.parametrize("kind", ["ed25519", "rsa2048", "rsa-pss", "p384"])
def test_signature_algorithms(kind: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import padding

    from authorizer.devpki import shared_key

    key = shared_key("rsa2048") if kind.startswith("rsa") else shared_key(kind)  # type: ignore[arg-type]
    root = CA.root(f"Alg Root {kind}", key=key)
    leaf = root.issue("CN=alg leaf", serial=7).cert
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=root.cert.subject, last_update=NOW - DAY, next_update=NOW + DAY
    )
    if kind == "rsa-pss":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        crl = builder.sign(root.key, hashes.SHA256(), rsa_padding=pss)  # type: ignore[arg-type]
    else:
        crl = builder.sign(root.key, None if kind == "ed25519" else hashes.SHA256())  # type: ignore[arg-type]
    assert checker(crl).check([leaf, root.cert], NOW).status is RevocationStatus.GOOD
    forged = x509.CertificateRevocationListBuilder(
        issuer_name=root.cert.subject, last_update=NOW - DAY, next_update=NOW + DAY
    ).sign(shared_key("p256", 9), hashes.SHA256())
    assert checker(forged).check([leaf, root.cert], NOW).status is RevocationStatus.UNKNOWN


def test_delta_crl_can_revoke_but_never_clears(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, leaf = pki
    delta_ext = [(x509.DeltaCRLIndicator(1), True)]
    listing = current(issuing, [leaf.serial_number], crl_number=2, extensions=delta_ext)
    empty = current(issuing, [], crl_number=2, extensions=delta_ext)
    assert checker(current(root), listing).check(chain_of(pki), NOW).status is RevocationStatus.REVOKED
    assert checker(current(root), empty).check(chain_of(pki), NOW).status is RevocationStatus.UNKNOWN
    # a base that does not list it and a delta that does: revoked
    assert (
        checker(current(root), current(issuing), listing).check(chain_of(pki), NOW).status is RevocationStatus.REVOKED
    )
    # removeFromCRL in a delta is not a revocation
    removed = current(
        issuing, [(leaf.serial_number, x509.ReasonFlags.remove_from_crl)], crl_number=2, extensions=delta_ext
    )  # type: ignore[list-item]
    assert checker(current(root), current(issuing), removed).check(chain_of(pki), NOW).status is RevocationStatus.GOOD


def test_serial_bytes_that_look_like_a_critical_flag(pki: tuple[CA, CA, x509.Certificate]) -> None:
    root, issuing, _ = pki
    tricky = int.from_bytes(b"\x01\x01\xff\x04\x05", "big")
    index = CrlIndex.from_bytes(der(current(issuing, [tricky, 5])), "tricky")
    assert index.unusable is None and tricky in index.serials
    leaf = issuing.issue("CN=tricky", serial=tricky).cert
    assert (
        checker(current(root), current(issuing, [tricky])).check([leaf, issuing.cert, root.cert], NOW).status
        is RevocationStatus.REVOKED
    )
