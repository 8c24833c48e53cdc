"""Chain re-validation: every reason code, and a near miss for every accepted certificate."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from authorizer.certificate import ClientCertificate, parse_pem_certificate
from authorizer.reasons import AuthorizerError, Reason
from authorizer.validation import ChainValidator, EkuMode, TrustStore, algorithm_problem
from tests.pki import CA, NOW, self_signed_leaf, shared_key, to_pem

UTC = dt.UTC


def reason_of(validator: ChainValidator, cert: x509.Certificate, at: dt.datetime = NOW, extra=()) -> Reason:
    try:
        validator.validate(ClientCertificate(cert), at, extra)
    except AuthorizerError as exc:
        return exc.reason
    return Reason.ALLOWED


@pytest.fixture(scope="module")
def pki() -> dict[str, CA]:
    root = CA.root("Root CA", key="p384")
    issuing = root.intermediate("Issuing CA", key="p256")
    return {"root": root, "issuing": issuing}


@pytest.fixture(scope="module")
def validator(pki: dict[str, CA]) -> ChainValidator:
    return ChainValidator(TrustStore.from_pem(pki["issuing"].cert_pem + pki["root"].cert_pem))


def test_truststore_splits_anchors_and_intermediates(pki: dict[str, CA]) -> None:
    ts = TrustStore.from_pem(pki["issuing"].cert_pem + pki["root"].cert_pem)
    assert [c.subject for c in ts.anchors] == [pki["root"].cert.subject]
    assert [c.subject for c in ts.intermediates] == [pki["issuing"].cert.subject]


def test_truststore_without_anchor_is_refused(pki: dict[str, CA]) -> None:
    with pytest.raises(ValueError, match="no trust anchor"):
        TrustStore.from_pem(pki["issuing"].cert_pem)


def test_truststore_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="no readable PEM"):
        TrustStore.from_pem(b"not a pem")


@pytest.mark.parametrize("key", ["p256", "p384", "rsa2048"])
def test_valid_leaf_is_accepted_with_full_chain(validator: ChainValidator, pki: dict[str, CA], key: str) -> None:
    leaf = pki["issuing"].issue("CN=client,O=Partner", key=key)
    path = validator.validate(ClientCertificate(leaf.cert), NOW)
    assert [c.subject for c in path.chain] == [leaf.cert.subject, pki["issuing"].name, pki["root"].name]
    assert path.issuer is not None and path.issuer.subject == pki["issuing"].name


def test_leaf_without_san_eku_or_aki_is_accepted(validator: ChainValidator, pki: dict[str, CA]) -> None:
    """Private-PKI client certificates often carry none of them."""
    leaf = pki["issuing"].issue("CN=bare", eku=None)
    assert reason_of(validator, leaf.cert) is Reason.ALLOWED


def test_leaf_with_server_only_eku_is_refused(validator: ChainValidator, pki: dict[str, CA]) -> None:
    leaf = pki["issuing"].issue("CN=server", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert reason_of(validator, leaf.cert) is Reason.CHAIN_INVALID


def test_eku_mode_server_auth_and_any(pki: dict[str, CA]) -> None:
    bundle = pki["issuing"].cert_pem + pki["root"].cert_pem
    server = pki["issuing"].issue("CN=server", eku=[ExtendedKeyUsageOID.SERVER_AUTH]).cert
    client = pki["issuing"].issue("CN=client").cert
    code_signing = pki["issuing"].issue("CN=signer", eku=[ExtendedKeyUsageOID.CODE_SIGNING]).cert
    as_server = ChainValidator(TrustStore.from_pem(bundle), eku=EkuMode.SERVER_AUTH)
    assert reason_of(as_server, server) is Reason.ALLOWED
    assert reason_of(as_server, client) is Reason.CHAIN_INVALID
    as_any = ChainValidator(TrustStore.from_pem(bundle), eku=EkuMode.ANY)
    assert reason_of(as_any, code_signing) is Reason.ALLOWED
    assert (
        reason_of(validator_default := ChainValidator(TrustStore.from_pem(bundle)), code_signing)
        is Reason.CHAIN_INVALID
    )
    assert validator_default.eku is EkuMode.CLIENT_AUTH


def test_ca_certificate_as_leaf_is_refused(validator: ChainValidator, pki: dict[str, CA]) -> None:
    leaf = pki["issuing"].issue("CN=sneaky-ca", is_ca=True)
    assert reason_of(validator, leaf.cert) is Reason.CHAIN_INVALID


def test_self_signed_leaf_is_refused_even_when_trusted(pki: dict[str, CA]) -> None:
    leaf = self_signed_leaf("CN=me")
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert, leaf.cert], [pki["issuing"].cert]))
    assert reason_of(v, leaf.cert) is Reason.SELF_SIGNED


def test_unknown_issuer(validator: ChainValidator) -> None:
    stranger = CA.root("Stranger Root").intermediate("Stranger Issuing")
    assert reason_of(validator, stranger.issue("CN=x").cert) is Reason.ISSUER_NOT_FOUND


def test_issuer_with_same_name_but_other_key_is_not_found(validator: ChainValidator, pki: dict[str, CA]) -> None:
    """A CA that copies the trusted issuer's name cannot borrow its trust."""
    impostor = CA.root("Root CA", key="p384").intermediate("Issuing CA")
    assert impostor.name == pki["issuing"].name
    assert reason_of(validator, impostor.issue("CN=x").cert) is Reason.ISSUER_NOT_FOUND


def test_validity_window_is_checked_at_request_time(validator: ChainValidator, pki: dict[str, CA]) -> None:
    not_after = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    leaf = pki["issuing"].issue("CN=short", not_after=not_after)
    assert reason_of(validator, leaf.cert, not_after) is Reason.ALLOWED
    assert reason_of(validator, leaf.cert, not_after + dt.timedelta(seconds=1)) is Reason.EXPIRED
    assert reason_of(validator, leaf.cert, dt.datetime(2024, 12, 31, tzinfo=UTC)) is Reason.NOT_YET_VALID


def test_expired_intermediate_is_reported_as_expired(pki: dict[str, CA]) -> None:
    old = pki["root"].intermediate("Old Issuing", not_after=dt.datetime(2026, 1, 1, tzinfo=UTC))
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [old.cert]))
    leaf = old.issue("CN=x", not_after=dt.datetime(2030, 1, 1, tzinfo=UTC))
    assert reason_of(v, leaf.cert) is Reason.EXPIRED
    assert reason_of(v, leaf.cert, dt.datetime(2025, 6, 1, tzinfo=UTC)) is Reason.ALLOWED


def test_not_yet_valid_intermediate(pki: dict[str, CA]) -> None:
    future = pki["root"].intermediate("Future Issuing", not_before=dt.datetime(2030, 1, 1, tzinfo=UTC))
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [future.cert]))
    assert reason_of(v, future.issue("CN=x").cert) is Reason.NOT_YET_VALID


@pytest.mark.parametrize(
    ("key", "hash_alg", "expected"),
    [
        ("rsa2048", None, Reason.ALLOWED),
        ("rsa1024", None, Reason.INSECURE_ALGORITHM),
        ("p256", None, Reason.ALLOWED),
        ("p384", None, Reason.ALLOWED),
        ("p521", None, Reason.INSECURE_ALGORITHM),
        ("secp256k1", None, Reason.INSECURE_ALGORITHM),
        ("ed25519", None, Reason.INSECURE_ALGORITHM),
        ("p256", hashes.SHA384(), Reason.ALLOWED),
        ("p256", hashes.SHA224(), Reason.INSECURE_ALGORITHM),
    ],
)
def test_leaf_algorithms(validator: ChainValidator, pki: dict[str, CA], key, hash_alg, expected: Reason) -> None:
    """The verifier never checks the leaf's own key; API Gateway's rules apply to it too."""
    leaf = pki["issuing"].issue("CN=alg", key=key, hash_alg=hash_alg)
    assert reason_of(validator, leaf.cert) is expected


def openssl_issue(issuer: CA, tmp_path: Path, digest: str) -> x509.Certificate:
    """cryptography refuses to sign with SHA-1 any more; openssl still does."""
    (tmp_path / "ca.key").write_bytes(issuer.key_pem)
    (tmp_path / "ca.pem").write_bytes(issuer.cert_pem)
    (tmp_path / "ext.cnf").write_text("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n")
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(tmp_path / "leaf.key"),
            "-subj",
            "/CN=sha1-client",
            "-out",
            str(tmp_path / "leaf.csr"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(tmp_path / "leaf.csr"),
            "-CA",
            str(tmp_path / "ca.pem"),
            "-CAkey",
            str(tmp_path / "ca.key"),
            "-set_serial",
            "7",
            f"-{digest}",
            "-days",
            "3650",
            "-extfile",
            str(tmp_path / "ext.cnf"),
            "-out",
            str(tmp_path / "leaf.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())


@pytest.mark.parametrize(("digest", "expected"), [("sha1", Reason.INSECURE_ALGORITHM), ("sha256", Reason.ALLOWED)])
def test_sha1_signed_leaf_is_insecure(pki: dict[str, CA], tmp_path: Path, digest: str, expected: Reason) -> None:
    cert = openssl_issue(pki["issuing"], tmp_path, digest)
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert]))
    assert reason_of(v, cert, dt.datetime.now(UTC)) is expected


def test_weak_intermediate_key_is_insecure() -> None:
    root = CA.root("RSA Root", key="rsa2048")
    weak = root.intermediate("P-521 Issuing", key="p521")
    v = ChainValidator(TrustStore.from_certs([root.cert], [weak.cert]))
    assert reason_of(v, weak.issue("CN=x").cert) is Reason.INSECURE_ALGORITHM


def test_algorithm_problem_names_the_defect() -> None:
    root = CA.root("R", key="rsa2048")
    assert algorithm_problem(root.cert) is None
    weak = root.issue("CN=w", key="rsa1024").cert
    assert "1024" in (algorithm_problem(weak) or "")


def test_chain_of_four_is_accepted_and_five_is_too_long() -> None:
    root = CA.root("Root")
    i1 = root.intermediate("I1")
    i2 = i1.intermediate("I2")
    i3 = i2.intermediate("I3")
    v = ChainValidator(TrustStore.from_certs([root.cert], [i1.cert, i2.cert, i3.cert]))
    assert reason_of(v, i2.issue("CN=four").cert) is Reason.ALLOWED
    assert reason_of(v, i3.issue("CN=five").cert) is Reason.CHAIN_TOO_LONG


def test_configured_shorter_chain(pki: dict[str, CA]) -> None:
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert]), max_chain_length=2)
    assert reason_of(v, pki["issuing"].issue("CN=x").cert) is Reason.CHAIN_TOO_LONG
    assert reason_of(v, pki["root"].issue("CN=direct").cert) is Reason.ALLOWED


def test_path_length_constraint_is_chain_invalid() -> None:
    root = CA.root("Root")
    constrained = root.intermediate("Constrained", path_length=0)
    sub = constrained.intermediate("Sub")
    v = ChainValidator(TrustStore.from_certs([root.cert], [constrained.cert, sub.cert]))
    assert reason_of(v, constrained.issue("CN=ok").cert) is Reason.ALLOWED
    assert reason_of(v, sub.issue("CN=too-deep").cert) is Reason.CHAIN_INVALID


def test_client_sent_intermediate_is_used_for_path_building(pki: dict[str, CA]) -> None:
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert]))
    leaf = pki["issuing"].issue("CN=x").cert
    assert reason_of(v, leaf) is Reason.ISSUER_NOT_FOUND
    assert reason_of(v, leaf, extra=[pki["issuing"].cert]) is Reason.ALLOWED


def test_rfc5280_anchor_may_be_an_intermediate(pki: dict[str, CA]) -> None:
    """--trust-anchor semantics: an intermediate made an anchor ends the path there."""
    v = ChainValidator(TrustStore.from_certs([pki["issuing"].cert]))
    path = v.validate(ClientCertificate(pki["issuing"].issue("CN=x").cert), NOW)
    assert len(path.chain) == 2


def test_repeat_client_is_served_from_cache_but_expiry_still_applies(pki: dict[str, CA]) -> None:
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert]))
    not_after = dt.datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    pem = pki["issuing"].issue("CN=warm", not_after=not_after).cert_pem.decode()
    first = v.validate_pem(pem, NOW - dt.timedelta(hours=1))
    assert v.validate_pem(pem, NOW) is first  # cached: no second verification
    with pytest.raises(AuthorizerError) as err:
        v.validate_pem(pem, not_after + dt.timedelta(seconds=1))
    assert err.value.reason is Reason.EXPIRED


def test_cached_path_rechecks_intermediate_windows(pki: dict[str, CA]) -> None:
    issuing = pki["root"].intermediate("Short Issuing", not_after=dt.datetime(2028, 1, 1, tzinfo=UTC))
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [issuing.cert]))
    pem = issuing.issue("CN=x").cert_pem.decode()
    v.validate_pem(pem, NOW)
    with pytest.raises(AuthorizerError) as err:
        v.validate_pem(pem, dt.datetime(2028, 1, 2, tzinfo=UTC))
    assert err.value.reason is Reason.EXPIRED


def test_refusals_are_not_cached(pki: dict[str, CA]) -> None:
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert]))
    pem = pki["issuing"].issue("CN=later", not_before=dt.datetime(2027, 7, 1, tzinfo=UTC)).cert_pem.decode()
    with pytest.raises(AuthorizerError):
        v.validate_pem(pem, NOW)
    assert v.validate_pem(pem, dt.datetime(2027, 8, 1, tzinfo=UTC)).leaf.subject == "CN=later"


def test_truststore_problems_report_expired_and_weak_cas() -> None:
    root = CA.root("Root", key="rsa2048")
    old = root.intermediate("Old", not_after=dt.datetime(2026, 1, 1, tzinfo=UTC))
    ts = TrustStore.from_pem(to_pem([root.cert, old.cert]))
    problems = ts.problems(NOW)
    assert any("Old" in p and "expired" in p for p in problems)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "   \n",
    ],
)
def test_empty_pem_is_missing(pem: str) -> None:
    with pytest.raises(AuthorizerError) as err:
        parse_pem_certificate(pem)
    assert err.value.reason is Reason.CERT_MISSING


@pytest.mark.parametrize(
    "pem",
    [
        "garbage",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n" + "QUFB" * 10000 + "\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_bad_pem_is_malformed(pem: str) -> None:
    with pytest.raises(AuthorizerError) as err:
        parse_pem_certificate(pem)
    assert err.value.reason is Reason.CERT_MALFORMED


@pytest.mark.parametrize("key", ["p256", "rsa2048"])
def test_fingerprint_from_the_pem_block_equals_cryptographys(pki: dict[str, CA], key: str) -> None:
    from cryptography.hazmat.primitives import hashes as h

    leaf = pki["issuing"].issue("CN=fp", key=key)
    parsed = parse_pem_certificate(leaf.cert_pem.decode())
    assert parsed.fingerprint_sha256 == leaf.cert.fingerprint(h.SHA256()).hex()
    # with text around the block, and with two blocks, the slow path gives the same answer
    noisy = b"subject=CN=fp\n" + leaf.cert_pem + b"trailing\n"
    assert parse_pem_certificate(noisy).fingerprint_sha256 == parsed.fingerprint_sha256
    two = leaf.cert_pem + pki["issuing"].cert_pem
    assert parse_pem_certificate(two).fingerprint_sha256 == parsed.fingerprint_sha256


# -- memoized CA states: a new leaf of an issuer already validated pays for one signature ------


def _fresh(pki: dict[str, CA]) -> ChainValidator:
    return ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert]))


def test_second_new_leaf_of_a_proven_issuer_takes_the_short_path(pki: dict[str, CA]) -> None:
    v = _fresh(pki)
    first = v.validate(ClientCertificate(pki["issuing"].issue("CN=first").cert), NOW)
    assert v.memo_hits == 0
    second_cert = pki["issuing"].issue("CN=second").cert
    second = v.validate(ClientCertificate(second_cert), NOW)
    assert v.memo_hits == 1
    assert [c.subject for c in second.chain] == [second_cert.subject, *[c.subject for c in first.chain[1:]]]
    assert second.chain[1] is pki["issuing"].cert
    assert second.leaf.issuer == "CN=Issuing CA,O=Test PKI"
    assert (second.valid_from, second.valid_until) == (first.valid_from, first.valid_until)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, Reason.CHAIN_INVALID),
        ({"is_ca": True}, Reason.CHAIN_INVALID),
        ({"key": "rsa1024"}, Reason.INSECURE_ALGORITHM),
        ({"not_after": dt.datetime(2027, 1, 1, tzinfo=UTC)}, Reason.EXPIRED),
    ],
)
def test_proven_issuer_never_relaxes_the_leafs_own_checks(pki: dict[str, CA], kwargs, expected: Reason) -> None:
    v = _fresh(pki)
    v.validate(ClientCertificate(pki["issuing"].issue("CN=first").cert), NOW)
    assert reason_of(v, pki["issuing"].issue("CN=near-miss", **kwargs).cert) is expected


def test_proven_issuer_expiry_still_applies(pki: dict[str, CA]) -> None:
    short = pki["root"].intermediate("Short Issuing", not_after=dt.datetime(2028, 1, 1, tzinfo=UTC))
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [short.cert]))
    v.validate(ClientCertificate(short.issue("CN=first").cert), NOW)
    leaf = short.issue("CN=later").cert
    assert reason_of(v, leaf, dt.datetime(2028, 1, 2, tzinfo=UTC)) is Reason.EXPIRED
    assert reason_of(v, leaf) is Reason.ALLOWED and v.memo_hits == 2  # the expired request used it too


def test_a_leaf_of_another_issuer_takes_the_full_path(pki: dict[str, CA]) -> None:
    sibling = pki["root"].intermediate("Sibling Issuing")
    v = ChainValidator(TrustStore.from_certs([pki["root"].cert], [pki["issuing"].cert, sibling.cert]))
    v.validate(ClientCertificate(pki["issuing"].issue("CN=first").cert), NOW)
    path = v.validate(ClientCertificate(sibling.issue("CN=sibling-leaf").cert), NOW)
    assert path.chain[1] is sibling.cert and v.memo_hits == 0
    stranger = CA.root("Stranger Root").intermediate("Issuing CA")  # same name, other key
    assert reason_of(v, stranger.issue("CN=x").cert) is Reason.ISSUER_NOT_FOUND


def test_name_constraints_above_the_issuer_are_never_skipped() -> None:
    """A root with name constraints: the memoized CA state carries them, so they keep applying
    to every new leaf."""
    key = shared_key("p256", 7)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Constrained Root")])
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.org")], excluded_subtrees=None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2045, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(constraints, critical=True)
        .sign(key, hashes.SHA256())
    )
    root = CA(cert=cert, key=key)
    issuing = root.intermediate("Constrained Issuing")
    v = ChainValidator(TrustStore.from_certs([root.cert], [issuing.cert]))
    inside = [x509.DNSName("a.example.org")]
    assert reason_of(v, issuing.issue("CN=in", sans=inside).cert) is Reason.ALLOWED
    assert reason_of(v, issuing.issue("CN=in2", sans=inside).cert) is Reason.ALLOWED
    assert v.memo_hits == 1
    assert reason_of(v, issuing.issue("CN=out", sans=[x509.DNSName("evil.test")]).cert) is Reason.CHAIN_INVALID


def test_an_intermediate_sharing_its_name_and_key_decides_as_a_cold_validator() -> None:
    """Two truststore intermediates with one name and one key under different roots (a cross-
    signed CA): a warm validator decides exactly as a cold one (one path is valid)."""
    key = shared_key("p256", 9)
    good_root, weak_root = CA.root("Root One"), CA.root("Root P521", key="p521")
    via_good = good_root.intermediate("Issuing", key=key)
    via_weak = weak_root.intermediate("Issuing", key=key)
    v = ChainValidator(TrustStore.from_certs([good_root.cert, weak_root.cert], [via_good.cert, via_weak.cert]))
    prime = via_good.issue("CN=first").cert
    assert reason_of(v, prime) is Reason.ALLOWED
    # a leaf whose AKI points at the same key: the full path decides, whatever it picks
    second = via_weak.issue("CN=second").cert
    cold = ChainValidator(TrustStore.from_certs([good_root.cert, weak_root.cert], [via_good.cert, via_weak.cert]))
    assert reason_of(v, second) is reason_of(cold, second) is Reason.ALLOWED
