"""AccessPolicy.evaluate on real certificates: pinning, deny, clients, routes, in that order."""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.certificate import ClientCertificate
from authorizer.policy import AccessPolicy, Grant, RouteRule, cert_facts
from authorizer.reasons import AuthorizerError, Reason
from tests.pki import CA, Issued, shared_key


def leaf(ca: CA, subject: str = "CN=client1,O=Partner A", **kw: Any) -> ClientCertificate:
    issued: Issued = ca.issue(subject, key=shared_key("p256"), **kw)
    return ClientCertificate(issued.cert)


def spki_b64(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def cert_hex(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def refused(
    policy: AccessPolicy,
    cert: ClientCertificate,
    issuer: x509.Certificate | None,
    verb: str = "GET",
    path: str = "/pets",
) -> Reason:
    with pytest.raises(AuthorizerError) as info:
        policy.evaluate(cert, issuer, verb, path)
    return info.value.reason


@pytest.fixture(scope="module")
def sibling(root: CA) -> CA:
    return root.intermediate("Sibling Issuing CA")


# --------------------------------------------------------------------------- pinning


class TestPinning:
    def test_pinned_intermediate_by_spki(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict(
            {"pinning": {"issuers": [{"name": "issuing", "spki_sha256": spki_b64(issuing.cert)}]}}
        )
        grant = policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets")
        assert grant.principal_id == "CN=client1,O=Partner A"

    def test_pinned_intermediate_by_cert(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert).upper()}]}})
        policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets")

    def test_sibling_intermediate_of_the_same_root_refused(self, issuing: CA, sibling: CA) -> None:
        policy = AccessPolicy.from_dict({"pinning": {"issuers": [{"spki_sha256": spki_b64(issuing.cert)}]}})
        assert refused(policy, leaf(sibling), sibling.cert) is Reason.ISSUER_NOT_PINNED

    def test_leaf_issued_by_the_root_directly_refused(self, root: CA, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert)}]}})
        assert refused(policy, leaf(root), root.cert) is Reason.ISSUER_NOT_PINNED

    def test_no_issuer_refused(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert)}]}})
        assert refused(policy, leaf(issuing), None) is Reason.ISSUER_NOT_PINNED

    def test_reissued_intermediate_keeps_its_spki_pin_not_its_cert_pin(self, root: CA, issuing: CA) -> None:
        reissued = root.intermediate("Test Issuing CA", key=issuing.key)
        by_key = AccessPolicy.from_dict({"pinning": {"issuers": [{"spki_sha256": spki_b64(issuing.cert)}]}})
        by_cert = AccessPolicy.from_dict({"pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert)}]}})
        by_both = AccessPolicy.from_dict(
            {"pinning": {"issuers": [{"spki_sha256": spki_b64(issuing.cert), "cert_sha256": cert_hex(issuing.cert)}]}}
        )
        cert = leaf(reissued)
        by_key.evaluate(cert, reissued.cert, "GET", "/")
        assert refused(by_cert, cert, reissued.cert) is Reason.ISSUER_NOT_PINNED
        assert refused(by_both, cert, reissued.cert) is Reason.ISSUER_NOT_PINNED  # both must fit
        by_both.evaluate(leaf(issuing), issuing.cert, "GET", "/")

    def test_any_of_several_pins(self, issuing: CA, sibling: CA) -> None:
        policy = AccessPolicy.from_dict(
            {
                "pinning": {
                    "issuers": [
                        {"cert_sha256": cert_hex(issuing.cert)},
                        {"spki_sha256": spki_b64(sibling.cert)},
                    ]
                }
            }
        )
        policy.evaluate(leaf(sibling), sibling.cert, "GET", "/")
        policy.evaluate(leaf(issuing), issuing.cert, "GET", "/")

    def test_urlsafe_and_unpadded_base64_accepted(self, issuing: CA) -> None:
        pin = spki_b64(issuing.cert).replace("+", "-").replace("/", "_").rstrip("=")
        AccessPolicy.from_dict({"pinning": {"issuers": [{"spki_sha256": pin}]}}).evaluate(
            leaf(issuing), issuing.cert, "GET", "/"
        )

    def test_pinning_comes_before_everything(self, issuing: CA, sibling: CA) -> None:
        cert = leaf(sibling)
        policy = AccessPolicy.from_dict(
            {
                "pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert)}]},
                "deny": [{"match": {"subject": "CN=client1,O=Partner A"}}],
                "clients": [],
            }
        )
        assert refused(policy, cert, sibling.cert) is Reason.ISSUER_NOT_PINNED


# --------------------------------------------------------------------------- clients and routes


PARTNER_A = {
    "name": "partner-a",
    "match": {"subject": "CN=client1,O=Partner A"},
    "routes": ["GET /pets", "GET /pets/*"],
}


class TestClients:
    def test_no_clients_key_allows_every_route_with_the_subject_as_principal(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"version": 1, "truststore": {"uri": "s3://b/k"}})
        grant = policy.evaluate(
            leaf(issuing, "CN=Smith\\, John,O=Partner A"), issuing.cert, "DELETE", "/anything/at/all"
        )
        assert grant == Grant(principal_id="CN=Smith\\, John,O=Partner A", client_name=None, routes=None)

    def test_named_client_gets_its_name_and_routes(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": [PARTNER_A]})
        grant = policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets/7")
        assert grant.principal_id == "partner-a"
        assert grant.client_name == "partner-a"
        assert grant.routes == (RouteRule("GET", "/pets"), RouteRule("GET", "/pets/*"))

    def test_subject_matches_as_parsed_name(self, issuing: CA) -> None:
        client = {**PARTNER_A, "match": {"subject": "cn=CLIENT1, o=partner  a"}}
        policy = AccessPolicy.from_dict({"clients": [client]})
        assert policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets").client_name == "partner-a"
        assert refused(policy, leaf(issuing, "O=Partner A,CN=client1"), issuing.cert) is Reason.CLIENT_NOT_ALLOWED

    def test_unnamed_certificate_not_allowed(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": [PARTNER_A]})
        assert refused(policy, leaf(issuing, "CN=client2,O=Partner A"), issuing.cert) is Reason.CLIENT_NOT_ALLOWED

    def test_empty_clients_list_allows_nobody(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": []})
        assert refused(policy, leaf(issuing), issuing.cert) is Reason.CLIENT_NOT_ALLOWED

    def test_route_not_allowed(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": [PARTNER_A]})
        cert = leaf(issuing)
        assert refused(policy, cert, issuing.cert, "POST", "/pets") is Reason.ROUTE_NOT_ALLOWED
        assert refused(policy, cert, issuing.cert, "GET", "/pets/7/toys") is Reason.ROUTE_NOT_ALLOWED
        with pytest.raises(AuthorizerError, match="partner-a"):
            policy.evaluate(cert, issuing.cert, "GET", "/owners")

    def test_client_with_no_routes_identified_but_refused(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": [{**PARTNER_A, "routes": []}]})
        assert refused(policy, leaf(issuing), issuing.cert) is Reason.ROUTE_NOT_ALLOWED

    def test_first_entry_wins(self, issuing: CA) -> None:
        wildcard = {"name": "any-partner-a", "match": {"subject_cn": "client*"}, "routes": ["GET /wild"]}
        exact = {**PARTNER_A, "routes": ["GET /exact"]}
        cert = leaf(issuing)
        first_wild = AccessPolicy.from_dict({"clients": [wildcard, exact]})
        assert first_wild.evaluate(cert, issuing.cert, "GET", "/wild").client_name == "any-partner-a"
        assert refused(first_wild, cert, issuing.cert, "GET", "/exact") is Reason.ROUTE_NOT_ALLOWED
        first_exact = AccessPolicy.from_dict({"clients": [exact, wildcard]})
        assert first_exact.evaluate(cert, issuing.cert, "GET", "/exact").client_name == "partner-a"

    def test_first_of_two_exact_entries_wins(self, issuing: CA) -> None:
        cert = leaf(issuing)
        by_fp = {
            "name": "by-fingerprint",
            "match": {"cert_sha256": cert.fingerprint_sha256},
            "routes": ["GET /a"],
        }
        policy = AccessPolicy.from_dict({"clients": [PARTNER_A, by_fp]})
        assert policy.evaluate(cert, issuing.cert, "GET", "/pets").client_name == "partner-a"
        policy = AccessPolicy.from_dict({"clients": [by_fp, PARTNER_A]})
        assert policy.evaluate(cert, issuing.cert, "GET", "/a").client_name == "by-fingerprint"

    def test_all_keys_of_a_match_must_fit(self, issuing: CA, sibling: CA) -> None:
        both = {
            "name": "a-from-issuing",
            "match": {"subject": "CN=client1,O=Partner A", "issuer": "CN=Test Issuing CA,O=Test PKI"},
            "routes": ["ANY /**"],
        }
        policy = AccessPolicy.from_dict({"clients": [both]})
        assert policy.evaluate(leaf(issuing), issuing.cert, "PUT", "/x/y").client_name == "a-from-issuing"
        assert refused(policy, leaf(sibling), sibling.cert) is Reason.CLIENT_NOT_ALLOWED

    def test_a_failed_full_match_falls_through_to_a_later_entry(self, issuing: CA) -> None:
        narrow = {
            "name": "narrow",
            "match": {"subject": "CN=client1,O=Partner A", "san_dns": "x.example"},
            "routes": [],
        }
        broad = {"name": "broad", "match": {"subject_cn": "client1"}, "routes": ["GET /pets"]}
        policy = AccessPolicy.from_dict({"clients": [narrow, broad]})
        assert policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets").client_name == "broad"

    @pytest.mark.parametrize(
        ("match", "expected"),
        [
            ({"san_uri": "spiffe://example.org/device/d1"}, True),
            ({"san_uri": "spiffe://example.org/device/*"}, True),
            ({"san_uri": "spiffe://example.org/*"}, False),  # * is one segment
            ({"san_uri": "spiffe://example.org/**"}, True),
            ({"san_uri": "spiffe://example.org/device/D1"}, False),  # URIs are exact
            ({"san_uri": "spiffe://*/device/d1"}, True),
            ({"san_dns": "d1.devices.example.com"}, True),
            ({"san_dns": "D1.Devices.Example.COM."}, True),
            ({"san_dns": "*.devices.example.com"}, True),
            ({"san_dns": "*.example.com"}, False),  # * is one label
            ({"san_dns": "**.example.com"}, True),
            ({"san_dns": "d*.devices.example.com"}, True),
            ({"san_email": "ops@Example.COM"}, True),
            ({"san_email": "OPS@example.com"}, False),  # the local part is exact
            ({"san_email": "*@example.com"}, True),
            ({"san_email": "*@other.com"}, False),
            ({"subject_cn": "client1"}, True),
            ({"subject_cn": "CLIENT1 "}, True),
            ({"subject_cn": "client*"}, True),
            ({"subject_cn": "*1"}, True),
            ({"subject_cn": "client"}, False),
            ({"subject_cn": "client1*"}, False),  # * is one or more characters
            ({"issuer": "CN=Test Issuing CA,O=Test PKI"}, True),
            ({"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": "0x1f"}, True),
            ({"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": "1F"}, True),
            ({"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": "1f"}, True),
            ({"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": 31}, True),
            ({"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": 32}, False),
            ({"issuer": "CN=Test Root CA,O=Test PKI", "serial": "0x1f"}, False),
        ],
    )
    def test_match_keys(self, issuing: CA, match: dict[str, Any], expected: bool) -> None:
        cert = leaf(
            issuing,
            sans=[
                x509.UniformResourceIdentifier("spiffe://example.org/device/d1"),
                x509.DNSName("d1.devices.example.com"),
                x509.RFC822Name("ops@example.com"),
            ],
            serial=0x1F,
        )
        policy = AccessPolicy.from_dict({"clients": [{"name": "c", "match": match, "routes": ["GET /"]}]})
        if expected:
            assert policy.evaluate(cert, issuing.cert, "GET", "/").client_name == "c"
        else:
            assert refused(policy, cert, issuing.cert, "GET", "/") is Reason.CLIENT_NOT_ALLOWED

    def test_wildcard_does_not_match_a_certificate_without_sans(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"clients": [{"name": "c", "match": {"san_uri": "**"}, "routes": ["GET /"]}]})
        assert refused(policy, leaf(issuing), issuing.cert, "GET", "/") is Reason.CLIENT_NOT_ALLOWED

    def test_spiffe_devices_example_from_the_architecture(self, issuing: CA) -> None:
        doc = {
            "clients": [
                PARTNER_A,
                {
                    "name": "devices",
                    "match": {"san_uri": "spiffe://example.org/device/*"},
                    "routes": ["POST /telemetry"],
                },
            ]
        }
        policy = AccessPolicy.from_dict(doc)
        device = leaf(issuing, "CN=dev 9", sans=[x509.UniformResourceIdentifier("spiffe://example.org/device/9")])
        assert policy.evaluate(device, issuing.cert, "POST", "/telemetry").principal_id == "devices"
        assert refused(policy, device, issuing.cert, "GET", "/pets") is Reason.ROUTE_NOT_ALLOWED
        nested = leaf(issuing, "CN=dev 9", sans=[x509.UniformResourceIdentifier("spiffe://example.org/device/9/x")])
        assert refused(policy, nested, issuing.cert, "POST", "/telemetry") is Reason.CLIENT_NOT_ALLOWED


# --------------------------------------------------------------------------- deny


class TestDeny:
    def test_deny_beats_an_allowing_client(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict(
            {
                "clients": [PARTNER_A],
                "deny": [{"name": "leaked", "match": {"subject": "CN=client1,O=Partner A"}}],
            }
        )
        with pytest.raises(AuthorizerError) as info:
            policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets")
        assert info.value.reason is Reason.CLIENT_DENIED
        assert "deny[0] (leaked)" in info.value.detail

    def test_deny_without_clients(self, issuing: CA) -> None:
        policy = AccessPolicy.from_dict({"deny": [{"match": {"san_dns": "*.bad.example"}}]})
        bad = leaf(issuing, "CN=x", sans=[x509.DNSName("h.bad.example")])
        assert refused(policy, bad, issuing.cert) is Reason.CLIENT_DENIED
        policy.evaluate(leaf(issuing), issuing.cert, "GET", "/pets")

    def test_issuer_and_serial_does_not_deny_the_same_serial_from_another_ca(self, issuing: CA, sibling: CA) -> None:
        policy = AccessPolicy.from_dict(
            {"deny": [{"match": {"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": "0x1f"}}]}
        )
        assert refused(policy, leaf(issuing, serial=0x1F), issuing.cert) is Reason.CLIENT_DENIED
        policy.evaluate(leaf(sibling, serial=0x1F), sibling.cert, "GET", "/")  # serials collide across CAs
        policy.evaluate(leaf(issuing, serial=0x20), issuing.cert, "GET", "/")

    def test_deny_by_fingerprint(self, issuing: CA) -> None:
        cert = leaf(issuing)
        other = leaf(issuing)  # same subject and key, different serial: a different certificate
        policy = AccessPolicy.from_dict(
            {"deny": [{"match": {"cert_sha256": cert.fingerprint_sha256}}], "clients": [PARTNER_A]}
        )
        assert refused(policy, cert, issuing.cert) is Reason.CLIENT_DENIED
        assert policy.evaluate(other, issuing.cert, "GET", "/pets").client_name == "partner-a"


# --------------------------------------------------------------------------- index = linear scan


def test_index_agrees_with_a_linear_scan(issuing: CA) -> None:
    """Random documents mixing exact and wildcard entries: the indexed lookup must pick the same
    entry as the naive "first entry whose match fits"."""
    rng = random.Random(4)
    certs = [
        leaf(
            issuing,
            f"CN=c{i},O=Org {i % 3}",
            sans=[
                x509.DNSName(f"c{i}.org{i % 3}.example"),
                x509.UniformResourceIdentifier(f"spiffe://td/ns{i % 2}/c{i}"),
            ],
            serial=100 + i,
        )
        for i in range(12)
    ]

    def random_match() -> dict[str, Any]:
        i = rng.randrange(12)
        choices: list[dict[str, Any]] = [
            {"subject": f"CN=c{i},O=Org {i % 3}"},
            {"subject_cn": f"c{i}"},
            {"subject_cn": "c*"},
            {"subject_cn": f"*{i % 10}"},
            {"subject_cn": "*"},
            {"san_uri": "**"},
            {"san_uri": "spiffe://td/*/c1"},
            {"san_dns": f"c{i}.*.example"},
            {"san_email": "*@x.example"},
            {"san_dns": f"c{i}.org{i % 3}.example"},
            {"san_dns": f"*.org{i % 3}.example"},
            {"san_uri": f"spiffe://td/ns{i % 2}/*"},
            {"san_uri": f"spiffe://td/ns{i % 2}/c{i}"},
            {"issuer": "CN=Test Issuing CA,O=Test PKI", "serial": 100 + i},
            {"issuer": "CN=Test Issuing CA,O=Test PKI"},
            {"cert_sha256": certs[i].fingerprint_sha256},
            {"subject_cn": f"c{i}", "san_dns": f"c{(i + 1) % 12}.org{(i + 1) % 3}.example"},  # never fits
        ]
        m = dict(rng.choice(choices))
        if rng.random() < 0.3:
            m.update(rng.choice(choices))
        return m

    for _ in range(150):
        doc = {
            "clients": [
                {"name": f"e{k}", "match": random_match(), "routes": ["GET /"]} for k in range(rng.randrange(1, 15))
            ]
        }
        policy = AccessPolicy.from_dict(doc)
        assert policy.clients is not None
        for cert in certs:
            facts = cert_facts(cert)
            expected = next((k for k, c in enumerate(policy.clients) if c.match.fits(facts)), None)
            try:
                got: int | None = int(policy.evaluate(cert, issuing.cert, "GET", "/").principal_id[1:])
            except AuthorizerError as exc:
                assert exc.reason is Reason.CLIENT_NOT_ALLOWED
                got = None
            assert got == expected, doc


# --------------------------------------------------------------------------- summary


def test_summary_lines(issuing: CA) -> None:
    doc = {
        "pinning": {"issuers": [{"name": "issuing-ca-2026", "spki_sha256": spki_b64(issuing.cert)}]},
        "clients": [
            PARTNER_A,
            {
                "name": "devices",
                "match": {"san_uri": "spiffe://example.org/device/*"},
                "routes": ["POST /telemetry"],
            },
        ],
        "deny": [{"match": {"issuer": "CN=Issuing CA 1", "serial": "0x1f"}}],
    }
    text = "\n".join(AccessPolicy.from_dict(doc).summary())
    assert "1 pinned issuer" in text
    assert "issuing-ca-2026" in text
    assert "2 entries (1 exact, 1 wildcard)" in text
    assert "partner-a [subject=CN=client1,O=partner a]: GET /pets, GET /pets/*" in text
    assert "devices [san_uri=spiffe://example.org/device/*]: POST /telemetry" in text
    assert "deny[0]: issuer=CN=issuing ca 1 serial=0x1f" in text


def test_summary_without_clients_and_long_lists() -> None:
    assert any("every route" in line for line in AccessPolicy.from_dict({}).summary())
    many = {"clients": [{"name": f"c{i}", "match": {"subject_cn": f"c{i}"}, "routes": []} for i in range(50)]}
    lines = AccessPolicy.from_dict(many).summary()
    assert lines[-1] == "  ... and 30 more"
    assert len(lines) < 30


def test_facts_are_cached_per_fingerprint(issuing: CA) -> None:
    cert = leaf(issuing)
    again = ClientCertificate(cert.cert)
    assert cert_facts(cert) is cert_facts(again)


def test_wildcards_with_a_literal_end_are_indexed_not_scanned(issuing: CA) -> None:
    fleet = [
        {"name": f"fleet-{i}", "match": {"san_uri": f"spiffe://example.org/fleet{i}/*"}, "routes": ["GET /"]}
        for i in range(300)
    ]
    hosts = [{"name": f"host-{i}", "match": {"san_dns": f"*.zone{i}.example"}, "routes": ["GET /"]} for i in range(300)]
    catch_all = {"name": "catch-all", "match": {"san_uri": "**"}, "routes": ["GET /"]}
    policy = AccessPolicy.from_dict({"clients": [*fleet, *hosts, catch_all]})
    assert policy._client_index.scan == (600,)  # only the pattern with no literal end
    assert policy._client_index.wildcards == 601

    def who(sans: list[x509.GeneralName]) -> str:
        return policy.evaluate(leaf(issuing, "CN=d", sans=sans), issuing.cert, "GET", "/").principal_id

    assert who([x509.UniformResourceIdentifier("spiffe://example.org/fleet299/d")]) == "fleet-299"
    assert who([x509.UniformResourceIdentifier("spiffe://example.org/fleet29/d")]) == "fleet-29"
    assert who([x509.DNSName("h.zone7.example")]) == "host-7"
    assert who([x509.UniformResourceIdentifier("spiffe://example.org/fleet29/d/e")]) == "catch-all"
    with pytest.raises(AuthorizerError):
        who([x509.DNSName("a.b.zone7.example")])


def test_without_a_request_only_the_identity_is_checked(issuing: CA, sibling: CA) -> None:
    """``verify`` has a certificate but no request: pinning, deny and clients still apply."""
    policy = AccessPolicy.from_dict(
        {"pinning": {"issuers": [{"cert_sha256": cert_hex(issuing.cert)}]}, "clients": [PARTNER_A]}
    )
    grant = policy.evaluate(leaf(issuing), issuing.cert, None, None)
    assert grant.client_name == "partner-a" and grant.routes is not None and len(grant.routes) == 2
    assert refused(policy, leaf(issuing, "CN=other"), issuing.cert) is Reason.CLIENT_NOT_ALLOWED
    with pytest.raises(AuthorizerError) as info:
        policy.evaluate(leaf(sibling), sibling.cert, None, None)
    assert info.value.reason is Reason.ISSUER_NOT_PINNED


def test_a_san_extension_that_does_not_parse_is_cert_malformed(issuing: CA) -> None:
    from cryptography.x509.oid import ExtensionOID

    broken = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x05a")
    cert = leaf(issuing, "CN=broken", extra_extensions=[(broken, False)])
    policy = AccessPolicy.from_dict({"clients": [PARTNER_A]})
    assert refused(policy, cert, issuing.cert) is Reason.CERT_MALFORMED


def test_uri_scheme_and_host_compare_case_insensitively_path_exactly(issuing: CA) -> None:
    """A deny rule must not be escaped by writing the SAN's host in capitals."""
    policy = AccessPolicy.from_dict({"deny": [{"match": {"san_uri": "spiffe://example.org/device/*"}}]})
    shouted = issuing.issue("CN=d", sans=[x509.UniformResourceIdentifier("SPIFFE://Example.ORG/device/7")])
    with pytest.raises(AuthorizerError) as err:
        policy.evaluate(ClientCertificate(shouted.cert), None, "GET", "/")
    assert err.value.reason is Reason.CLIENT_DENIED
    other_path = issuing.issue("CN=e", sans=[x509.UniformResourceIdentifier("spiffe://example.org/Device/7")])
    assert policy.evaluate(ClientCertificate(other_path.cert), None, "GET", "/").client_name is None
