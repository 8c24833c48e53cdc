"""RFC 5280 §6.1 as built in authorizer.validation: each rule with a case that passes and one that fails.

Certificates are built here with ``cryptography`` so that every extension can be set (PKITS,
the differential tests and the openssl recipes cover the same rules from other sides).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from authorizer.certificate import ClientCertificate
from authorizer.reasons import AuthorizerError, Reason
from authorizer.validation import ChainValidator, PathValidationError, PolicyInputs, TrustStore
from authorizer.validation.policies import ANY_POLICY
from tests.pki import NOW, shared_key

P1, P2, P3 = "1.3.6.1.4.1.55555.1", "1.3.6.1.4.1.55555.2", "1.3.6.1.4.1.55555.3"
START, END = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2045, 1, 1, tzinfo=dt.UTC)


def name(text: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "V"), x509.NameAttribute(NameOID.COMMON_NAME, text)]
    )


@dataclass
class Node:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


_serial = [100]


def make(
    subject: x509.Name,
    issuer: Node | None,
    *,
    ca: bool | None = True,
    path_length: int | None = None,
    key_cert_sign: bool | None = True,
    exts: Sequence[tuple[x509.ExtensionType, bool]] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
    issuer_name: x509.Name | None = None,
    v1: bool = False,
) -> Node:
    """A certificate with exactly the extensions asked for (``issuer=None``: self-signed)."""
    _serial[0] += 1
    key = key or shared_key("p256", _serial[0] % 40)
    signer = issuer.key if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(_serial[0])
        .not_valid_before(START)
        .not_valid_after(END)
    )
    if not v1:
        if ca is not None:
            b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        if key_cert_sign is not None:
            b = b.add_extension(
                x509.KeyUsage(not ca, False, False, False, False, key_cert_sign, bool(ca), False, False), critical=True
            )
        for ext, critical in exts:
            b = b.add_extension(ext, critical=critical)
    cert = b.sign(signer, hashes.SHA256())
    if v1:
        cert = _as_v1(cert, signer)
    return Node(cert, key)


def _as_v1(cert: x509.Certificate, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """cryptography only builds v3: re-sign the same fields as a v1 TBS (no version, no extensions)."""
    from authorizer.revocation.der import encode_tlv, read_header

    tbs = cert.tbs_certificate_bytes
    _, pos, end = read_header(tbs, 0)
    fields = []
    while pos < end:
        tag, _, stop = read_header(tbs, pos)
        if tag not in (0xA0, 0xA3):
            fields.append(tbs[pos:stop])
        pos = stop
    new_tbs = encode_tlv(0x30, b"".join(fields))
    sig = signer.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    _, p, _ = read_header(der, 0)
    _, _, alg_start = read_header(der, p)
    _, _, alg_end = read_header(der, alg_start)
    return x509.load_der_x509_certificate(
        encode_tlv(0x30, new_tbs + der[alg_start:alg_end] + encode_tlv(0x03, b"\x00" + sig))
    )


def leaf_of(issuer: Node, cn: str = "client", exts: Sequence[tuple[x509.ExtensionType, bool]] = ()) -> Node:
    return make(name(cn), issuer, ca=False, key_cert_sign=False, exts=exts)


def decide(anchors: Sequence[Node], cas: Sequence[Node], leaf: Node, **kw: object) -> AuthorizerError | None:
    v = ChainValidator(TrustStore.from_certs([a.cert for a in anchors], [c.cert for c in cas]), **kw)  # type: ignore[arg-type]
    try:
        v.validate(ClientCertificate(leaf.cert), NOW)
    except AuthorizerError as exc:
        return exc
    return None


def step_of(err: AuthorizerError | None) -> str | None:
    return None if err is None else (err.step if isinstance(err, PathValidationError) else err.reason.value)


# -- name chaining, anchors, basic constraints, key usage ---------------------------------------


def test_issuer_name_compares_as_a_normalized_name() -> None:
    root = make(name("Root"), None)
    spaced = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "v"), x509.NameAttribute(NameOID.COMMON_NAME, "  ROOT ")]
    )
    leaf = make(name("client"), root, ca=False, key_cert_sign=False, issuer_name=spaced)
    assert decide([root], [], leaf) is None
    other = make(name("client"), root, ca=False, key_cert_sign=False, issuer_name=name("Other"))
    assert decide([root], [], other).reason is Reason.ISSUER_NOT_FOUND  # type: ignore[union-attr]


def test_printable_and_utf8_string_names_chain() -> None:
    root = make(name("Root"), None)
    printable = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "V", x509.name._ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.COMMON_NAME, "Root", x509.name._ASN1Type.PrintableString),
        ]
    )
    leaf = make(name("client"), root, ca=False, key_cert_sign=False, issuer_name=printable)
    assert decide([root], [], leaf) is None


def test_intermediate_without_key_usage_and_leaf_with_only_basic_constraints() -> None:
    root = make(name("Root"), None, key_cert_sign=None)
    inter = make(name("Inter"), root, key_cert_sign=None)
    leaf = make(name("client"), inter, ca=False, key_cert_sign=None)
    assert decide([root], [inter], leaf) is None


@pytest.mark.parametrize(
    ("kw", "step"),
    [
        ({"ca": False}, "basic constraints"),
        ({"ca": None}, "basic constraints"),
        ({"key_cert_sign": False}, "key usage"),
        (
            {"exts": [(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.9"), b"\x05\x00"), True)]},
            "critical extension",
        ),
    ],
)
def test_intermediate_must_be_a_ca(kw: dict[str, object], step: str) -> None:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root, **kw)  # type: ignore[arg-type]
    assert step_of(decide([root], [inter], leaf_of(inter))) == step


def test_unknown_non_critical_extension_is_fine_and_critical_one_on_leaf_is_refused() -> None:
    root = make(name("Root"), None)
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.9"), b"\x05\x00")
    assert decide([root], [], leaf_of(root, exts=[(odd, False)])) is None
    assert step_of(decide([root], [], leaf_of(root, exts=[(odd, True)]))) == "critical extension"


@pytest.mark.parametrize(
    ("anchor_kw", "step"), [({"ca": False}, "basic constraints"), ({"key_cert_sign": False}, "key usage")]
)
def test_the_anchors_own_constraints_apply(anchor_kw: dict[str, object], step: str) -> None:
    root = make(name("Root"), None, **anchor_kw)  # type: ignore[arg-type]
    assert step_of(decide([root], [], leaf_of(root))) == step


def test_anchor_path_length_counts_intermediates_below_it() -> None:
    root = make(name("Root"), None, path_length=0)
    inter = make(name("Inter"), root)
    assert decide([root], [], leaf_of(root)) is None
    assert step_of(decide([root], [inter], leaf_of(inter))) == "basic constraints"


def test_path_length_with_self_issued_exemption() -> None:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root, path_length=0)
    # key rollover: the same name, a new key, certified by the old one (self-issued)
    rolled = make(name("Inter"), inter, path_length=0, key=shared_key("p256", 41))
    assert decide([root], [inter, rolled], leaf_of(rolled)) is None
    below = make(name("Below"), inter)
    assert step_of(decide([root], [inter, below], leaf_of(below))) == "basic constraints"


def test_v1_leaf_and_v1_anchor_are_fine_a_v1_intermediate_is_not() -> None:
    root = make(name("Root"), None, v1=True)
    assert root.cert.version is x509.Version.v1
    assert decide([root], [], make(name("client"), root, v1=True)) is None
    inter = make(name("Inter"), root, v1=True)
    assert step_of(decide([root], [inter], make(name("client"), inter, v1=True))) == "basic constraints"


def test_the_client_may_not_be_a_ca() -> None:
    root = make(name("Root"), None)
    assert step_of(decide([root], [], make(name("client"), root))) == "basic constraints"


def test_rsa_pss_signatures_verify() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = name("PSS Root")
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32))
    )
    pss_root = Node(root_cert, key)  # type: ignore[arg-type]
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name("client"))
        .issuer_name(root_name)
        .public_key(shared_key("p256", 3).public_key())
        .serial_number(2)
        .not_valid_before(START)
        .not_valid_after(END)
        .sign(key, hashes.SHA256(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32))
    )
    assert decide([pss_root], [], Node(leaf_cert, shared_key("p256", 3))) is None


# -- name constraints of every form --------------------------------------------------------------


def _constrained(
    permitted: list[x509.GeneralName] | None, excluded: list[x509.GeneralName] | None
) -> tuple[Node, Node]:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root, exts=[(x509.NameConstraints(permitted, excluded), True)])
    return root, inter


@pytest.mark.parametrize(
    ("permitted", "inside", "outside"),
    [
        ([x509.DNSName("example.org")], x509.DNSName("a.b.example.org"), x509.DNSName("badexample.org")),
        ([x509.DNSName(".example.org")], x509.DNSName("a.example.org"), x509.DNSName("example.org")),
        ([x509.RFC822Name("example.org")], x509.RFC822Name("me@example.org"), x509.RFC822Name("me@x.example.org")),
        ([x509.RFC822Name(".example.org")], x509.RFC822Name("me@x.example.org"), x509.RFC822Name("me@example.org")),
        ([x509.RFC822Name("me@example.org")], x509.RFC822Name("me@EXAMPLE.org"), x509.RFC822Name("you@example.org")),
        (
            [x509.UniformResourceIdentifier(".example.org")],
            x509.UniformResourceIdentifier("spiffe://td.example.org/w"),
            x509.UniformResourceIdentifier("spiffe://example.org/w"),
        ),
        (
            [x509.UniformResourceIdentifier("host.example.org")],
            x509.UniformResourceIdentifier("https://HOST.example.org:8443/x"),
            x509.UniformResourceIdentifier("https://other.example.org/x"),
        ),
        (
            [x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))],
            x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
            x509.IPAddress(ipaddress.ip_address("11.0.0.1")),
        ),
        (
            [x509.IPAddress(ipaddress.ip_network("fd00::/8"))],
            x509.IPAddress(ipaddress.ip_address("fd00::1")),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        ),
        (
            [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "V")]))],
            x509.DirectoryName(name("x")),
            x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "W")])),
        ),
    ],
)
def test_permitted_subtrees_of_each_form(
    permitted: list[x509.GeneralName], inside: x509.GeneralName, outside: x509.GeneralName
) -> None:
    root, inter = _constrained(permitted, None)
    ok = leaf_of(inter, exts=[(x509.SubjectAlternativeName([inside]), False)])
    assert decide([root], [inter], ok) is None
    bad = leaf_of(inter, exts=[(x509.SubjectAlternativeName([inside, outside]), False)])
    err = decide([root], [inter], bad)
    assert step_of(err) == "name constraints" and err is not None and "outside the permitted" in err.detail
    # the same subtrees as excluded: the inside name is now refused
    root, inter = _constrained(None, permitted)
    ok = leaf_of(inter, exts=[(x509.SubjectAlternativeName([inside]), False)])
    assert step_of(decide([root], [inter], ok)) == "name constraints"


def test_directory_name_constraint_applies_to_the_subject_and_its_email() -> None:
    permitted = [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "V")]))]
    root, inter = _constrained(permitted, [x509.RFC822Name("evil.test")])
    assert decide([root], [inter], leaf_of(inter)) is None  # CN=client,O=V is below O=V
    outside = make(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "W")]), inter, ca=False, key_cert_sign=False
    )
    assert step_of(decide([root], [inter], outside)) == "name constraints"
    mail = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "V"), x509.NameAttribute(NameOID.EMAIL_ADDRESS, "x@evil.test")]
    )
    assert step_of(decide([root], [inter], make(mail, inter, ca=False, key_cert_sign=False))) == "name constraints"


@pytest.mark.parametrize(
    "uri",
    [
        "https:evil.com",  # WHATWG reads https://evil.com/
        "https:/evil.com/",
        "https:\\\\evil.com/",
        "spiffe:evil.com/ns",
        "urn:uuid:1234",
        "https://evil.com@good.com/",  # userinfo: readers disagree on the host
        "https://evil.com\\@good.com/",
        "https://ev%69l.com/",
    ],
)
def test_uris_readers_disagree_on_fail_closed_against_permitted_and_excluded(uri: str) -> None:
    san = [(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), False)]
    for permitted, excluded in (
        ([x509.UniformResourceIdentifier("good.com")], None),
        (None, [x509.UniformResourceIdentifier("evil.com")]),
    ):
        root, inter = _constrained(permitted, excluded)
        assert step_of(decide([root], [inter], leaf_of(inter, exts=san))) == "name constraints", uri


def test_an_email_san_without_a_mailbox_fails_closed() -> None:
    root, inter = _constrained(None, [x509.RFC822Name("evil.com")])
    san = [(x509.SubjectAlternativeName([x509.RFC822Name("evil.com")]), False)]
    assert step_of(decide([root], [inter], leaf_of(inter, exts=san))) == "name constraints"


def test_non_ascii_names_cannot_pass_a_constraint_of_their_form() -> None:
    root, inter = _constrained(None, [x509.DNSName("evil.com")])
    san = [
        (x509.SubjectAlternativeName([x509.DNSName._init_without_validation("\uff45\uff56\uff49\uff4c.com")]), False)
    ]
    assert step_of(decide([root], [inter], leaf_of(inter, exts=san))) == "name constraints"


def test_a_host_like_cn_is_a_dns_name_when_the_leaf_has_no_dns_san() -> None:
    """OpenSSL's rule: a constrained CA cannot name a client by CN outside its domain."""
    root, inter = _constrained([x509.DNSName("good.com")], None)
    assert step_of(decide([root], [inter], leaf_of(inter, "api.partner.com"))) == "name constraints"
    assert decide([root], [inter], leaf_of(inter, "api.good.com")) is None
    assert decide([root], [inter], leaf_of(inter, "client one")) is None  # not host-like
    dns = [(x509.SubjectAlternativeName([x509.DNSName("a.good.com")]), False)]
    assert decide([root], [inter], leaf_of(inter, "api.partner.com", exts=dns)) is None  # SAN present: CN not a host


def test_constraints_of_a_form_the_certificate_lacks_do_not_apply() -> None:
    root, inter = _constrained([x509.DNSName("example.org")], None)
    uri = x509.UniformResourceIdentifier("spiffe://elsewhere/x")
    assert decide([root], [inter], leaf_of(inter, exts=[(x509.SubjectAlternativeName([uri]), False)])) is None


def test_an_uncheckable_form_fails_closed() -> None:
    rid = x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))
    root, inter = _constrained([rid], None)
    leaf = leaf_of(
        inter, exts=[(x509.SubjectAlternativeName([x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))]), False)]
    )
    assert step_of(decide([root], [inter], leaf)) == "name constraints"


def test_the_anchors_name_constraints_apply_and_self_issued_cas_are_exempt() -> None:
    root = make(name("Root"), None, exts=[(x509.NameConstraints([x509.DNSName("example.org")], None), True)])
    san = [(x509.SubjectAlternativeName([x509.DNSName("evil.test")]), False)]
    assert step_of(decide([root], [], leaf_of(root, exts=san))) == "name constraints"
    inter = make(name("Inter"), root)
    rolled = make(name("Inter"), inter, key=shared_key("p256", 42), exts=san)  # self-issued, SAN outside
    good = [(x509.SubjectAlternativeName([x509.DNSName("a.example.org")]), False)]
    assert decide([root], [inter, rolled], leaf_of(rolled, exts=good)) is None
    assert step_of(decide([root], [inter, rolled], leaf_of(rolled, exts=san))) == "name constraints"


def test_two_thousand_constraints_are_refused_at_once() -> None:
    many = [x509.DNSName(f"h{i}.example.org") for i in range(2048)]
    root, inter = _constrained(many, None)
    t = time.perf_counter()
    err = decide([root], [inter], leaf_of(inter))
    assert step_of(err) == "name constraints" and err is not None and "more than the 512" in err.detail
    assert time.perf_counter() - t < 5  # generous: the point is "not minutes"


# -- certificate policies ------------------------------------------------------------------------


def policies(*oids: str) -> tuple[x509.ExtensionType, bool]:
    return (x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in oids]), False)


def mappings(*pairs: tuple[str, str]) -> tuple[x509.ExtensionType, bool]:
    def oid(text: str) -> bytes:
        arcs = [int(a) for a in text.split(".")]
        body = bytearray([arcs[0] * 40 + arcs[1]])
        for arc in arcs[2:]:
            chunk = [arc & 0x7F]
            while arc > 0x7F:
                arc >>= 7
                chunk.append(0x80 | (arc & 0x7F))
            body += bytes(reversed(chunk))
        return b"\x06" + bytes([len(body)]) + bytes(body)

    items = b"".join(b"\x30" + bytes([len(oid(a) + oid(b))]) + oid(a) + oid(b) for a, b in pairs)
    der = b"\x30" + bytes([len(items)]) + items
    return (x509.UnrecognizedExtension(ExtensionOID.POLICY_MAPPINGS, der), True)


def _policy_path(
    inter_exts: list, leaf_policies: tuple[str, ...], **kw: object
) -> tuple[AuthorizerError | None, tuple[str, ...]]:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root, exts=inter_exts)
    leaf = leaf_of(inter, exts=[policies(*leaf_policies)] if leaf_policies else [])
    v = ChainValidator(TrustStore.from_certs([root.cert], [inter.cert]), **kw)  # type: ignore[arg-type]
    try:
        return None, v.validate(ClientCertificate(leaf.cert), NOW).policies
    except AuthorizerError as exc:
        return exc, ()


def test_valid_policies_are_the_paths_and_reach_the_output() -> None:
    assert _policy_path([policies(P1, P2)], (P1,)) == (None, (P1,))
    assert _policy_path([policies(ANY_POLICY)], (P2,)) == (None, (P2,))
    assert _policy_path([], (P1,)) == (None, ())  # an intermediate without policies: NULL tree


def test_require_explicit_policy_refuses_a_path_without_one() -> None:
    err, _ = _policy_path([policies(P1)], (P2,), policies=PolicyInputs(require_explicit=True))
    assert step_of(err) == "policies"
    err, _ = _policy_path(
        [policies(P1), (x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), True)], ()
    )
    assert step_of(err) == "policies"


def test_user_initial_policy_set() -> None:
    only_p2 = PolicyInputs(acceptable=frozenset({P2}), require_explicit=True)
    assert step_of(_policy_path([policies(P1)], (P1,), policies=only_p2)[0]) == "policies"
    assert _policy_path([policies(ANY_POLICY)], (ANY_POLICY,), policies=only_p2) == (None, (P2,))


def test_policy_mappings_and_their_inhibition() -> None:
    exts = [policies(P1), mappings((P1, P3))]
    assert _policy_path(exts, (P3,)) == (None, (P3,))
    assert _policy_path(exts, (P3,), policies=PolicyInputs(acceptable=frozenset({P1}))) == (None, (P3,))
    err, _ = _policy_path(exts, (P3,), policies=PolicyInputs(inhibit_mapping=True, require_explicit=True))
    assert step_of(err) == "policies"
    err, _ = _policy_path([policies(P1), mappings((ANY_POLICY, P3))], (P3,))
    assert step_of(err) == "policies"


def test_inhibit_any_policy() -> None:
    exts = [policies(ANY_POLICY), (x509.InhibitAnyPolicy(0), True)]
    err, _ = _policy_path(exts, (ANY_POLICY,), policies=PolicyInputs(require_explicit=True))
    assert step_of(err) == "policies"
    assert _policy_path([policies(ANY_POLICY)], (ANY_POLICY,), policies=PolicyInputs(require_explicit=True)) == (
        None,
        (ANY_POLICY,),
    )


# -- path building --------------------------------------------------------------------------------


def test_backtracking_past_an_expired_cross_certificate() -> None:
    root = make(name("Root"), None)
    key = shared_key("p256", 33)
    expired = make(name("Inter"), root, key=key)
    expired = Node(
        x509.CertificateBuilder()
        .subject_name(expired.cert.subject)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(9)
        .not_valid_before(START)
        .not_valid_after(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256()),
        key,
    )
    good = make(name("Inter"), root, key=key)
    leaf = leaf_of(good)
    assert decide([root], [expired, good], leaf) is None
    assert decide([root], [expired], leaf).reason is Reason.EXPIRED  # type: ignore[union-attr]


def test_a_loop_of_a_hundred_cas_is_refused_in_milliseconds() -> None:
    """100 CAs that all share one name and one key certify each other: a maze, not a path."""
    key = shared_key("p256", 34)
    root = make(name("Other Root"), None)
    signer = Node(shared_ca_cert(key), key)
    cas = [make(name("Loop"), signer, key=key) for _ in range(100)]
    t = time.perf_counter()
    err = decide([root], cas, leaf_of(cas[0]))
    elapsed = time.perf_counter() - t
    assert step_of(err) == "path building"
    assert elapsed < 5  # generous; `make bench` prints the real figure


def test_a_chain_of_distinct_cas_without_an_anchor_is_issuer_not_found() -> None:
    root = make(name("Root"), None)
    stranger = make(name("Stranger"), None)
    chain = [make(name("C0"), stranger)]
    for i in range(1, 6):
        chain.append(make(name(f"C{i}"), chain[-1]))
    err = decide([root], chain, leaf_of(chain[-1]))
    assert err is not None and err.reason is Reason.ISSUER_NOT_FOUND


def shared_ca_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    n = name("Loop")
    return (
        x509.CertificateBuilder()
        .subject_name(n)
        .issuer_name(n)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(END)
        .sign(key, hashes.SHA256())
    )


def test_validate_signer_accepts_a_ca_and_an_anchor() -> None:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root)
    v = ChainValidator(TrustStore.from_certs([root.cert], [inter.cert]))
    assert v.validate_signer(inter.cert, NOW).chain == (inter.cert, root.cert)
    assert v.validate_signer(root.cert, NOW).chain == (root.cert,)
    with pytest.raises(AuthorizerError):
        v.validate_signer(make(name("Stranger"), None).cert, NOW)


def _with_tbs_algorithm(cert: x509.Certificate, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """The same certificate re-signed with its TBS naming ecdsa-with-SHA384 while the outer field
    (the one used) says ecdsa-with-SHA256: RFC 5280 §4.1.1.2 says they MUST be equal."""
    from authorizer.revocation.der import encode_tlv

    sha256, sha384 = bytes.fromhex("300a06082a8648ce3d040302"), bytes.fromhex("300a06082a8648ce3d040303")
    tbs = cert.tbs_certificate_bytes.replace(sha256, sha384, 1)
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(encode_tlv(0x30, tbs + sha256 + encode_tlv(0x03, b"\x00" + signature)))


def test_a_signature_algorithm_differing_from_the_signed_one_is_malformed() -> None:
    root = make(name("Root"), None)
    inter = make(name("Inter"), root)
    bad_leaf = Node(_with_tbs_algorithm(leaf_of(inter).cert, inter.key), inter.key)
    err = decide([root], [inter], bad_leaf)
    assert err is not None and err.reason is Reason.CERT_MALFORMED and "signatureAlgorithm" in err.detail
    bad_inter = Node(_with_tbs_algorithm(inter.cert, root.key), inter.key)
    err = decide([root], [bad_inter], leaf_of(inter))  # the broken CA is never a candidate
    assert err is not None and err.reason is Reason.ISSUER_NOT_FOUND


def test_a_same_named_truststore_certificate_whose_key_cannot_load_is_passed_over() -> None:
    """A CA named like one on the path, with a key cryptography cannot load, must not turn the
    loop check into an unexpected exception."""
    from authorizer.validation.builder import _in_path
    from authorizer.validation.facts import facts_of

    root = make(name("Root"), None)
    inter = make(name("Inter"), root)
    junk = x509.load_pem_x509_certificate(_junk_key_ca(root))
    path = [facts_of(leaf_of(inter).cert), facts_of(inter.cert)]
    assert _in_path(facts_of(junk), path) is False  # compared with "Inter" by key: no exception
    v = ChainValidator(TrustStore.from_certs([root.cert], [inter.cert, junk]))
    assert v.validate(ClientCertificate(leaf_of(inter).cert), NOW).chain[1] is inter.cert


def _junk_key_ca(root: Node) -> bytes:
    """A CA named "Inter" whose EC key is on prime239v1 (parsed by OpenSSL, refused by cryptography)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "root.pem").write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
        (d / "root.key").write_bytes(
            root.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)  # noqa: E731
        run("openssl", "ecparam", "-name", "prime239v1", "-genkey", "-noout", "-out", "junk.key")
        run("openssl", "req", "-new", "-key", "junk.key", "-subj", "/O=V/CN=Inter", "-out", "junk.csr")
        (d / "ext").write_text("basicConstraints=critical,CA:TRUE\n")
        run("openssl", "x509", "-req", "-in", "junk.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "7",
            "-days", "30", "-sha256", "-extfile", "ext", "-out", "junk.pem")  # fmt: skip
        return (d / "junk.pem").read_bytes()
