"""A bad document is refused at load time with the field's exact path and the problem."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest

from authorizer.policy import AccessPolicy
from authorizer.reasons import ConfigError, Reason

GOOD_CLIENT = {"name": "a", "match": {"subject": "CN=a"}, "routes": ["GET /a"]}
SPKI = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # base64 of SHA-256(b"")
HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def error_of(doc: Any) -> str:
    with pytest.raises(ConfigError) as info:
        AccessPolicy.from_dict(doc)
    assert info.value.reason is Reason.CONFIG_INVALID
    return info.value.detail


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # routes
        (
            {"clients": [GOOD_CLIENT, GOOD_CLIENT, {**GOOD_CLIENT, "routes": ["GET"]}]},
            "clients[2].routes[0]: expected \"VERB /path\", got 'GET'",
        ),
        (
            {"clients": [{**GOOD_CLIENT, "routes": ["GET /a", 7]}]},
            'clients[0].routes[1]: expected "VERB /path", got int',
        ),
        ({"clients": [{**GOOD_CLIENT, "routes": "GET /a"}]}, "clients[0].routes: expected a list"),
        # match
        (
            {"deny": [{"match": {}}]},
            "deny[0].match: needs at least one of subject, subject_cn, san_dns, san_uri, san_email, issuer, "
            "cert_sha256, policy",
        ),
        ({"deny": [{"match": "CN=a"}]}, "deny[0].match: expected an object"),
        ({"deny": [{}]}, "deny[0].match: required"),
        (
            {"clients": [{**GOOD_CLIENT, "match": {"subjct": "CN=a", "cn": "x"}}]},
            'clients[0].match: unknown key(s) "subjct", "cn" (known: subject, subject_cn, san_dns, san_uri, '
            "san_email, issuer, serial, cert_sha256, policy)",
        ),
        (
            {"deny": [{"match": {"serial": "0x1f"}}]},
            'deny[0].match.serial: a serial is only meaningful with its issuer: add "issuer"',
        ),
        (
            {"deny": [{"match": {"subject": "CN=a", "serial": 5}}]},
            'deny[0].match.serial: a serial is only meaningful with its issuer: add "issuer"',
        ),
        (
            {"deny": [{"match": {"issuer": "CN=a", "serial": "0xZZ"}}]},
            'deny[0].match.serial: expected "0x..." hex, hex digits or a non-negative integer',
        ),
        (
            {"deny": [{"match": {"issuer": "CN=a", "serial": -1}}]},
            "deny[0].match.serial: a serial is not negative",
        ),
        (
            {"deny": [{"match": {"issuer": "CN=a", "serial": "31"}}]},
            'deny[0].match.serial: "31" is ambiguous: write "0x31" for hex or the JSON number 31',
        ),
        (
            {"deny": [{"match": {"issuer": "CN=a", "serial": True}}]},
            'deny[0].match.serial: expected "0x..." hex, hex digits or a non-negative integer',
        ),
        ({"deny": [{"match": {"subject": ""}}]}, "deny[0].match.subject: expected a non-empty string"),
        (
            {"deny": [{"match": {"subject": "XX=1"}}]},
            "deny[0].match.subject: not an RFC 4514 distinguished name: unknown attribute type 'XX': "
            "use a dotted OID for it",
        ),
        (
            {"deny": [{"match": {"issuer": "CN=a,"}}]},
            "deny[0].match.issuer: not an RFC 4514 distinguished name: "
            "expected an attribute type (e.g. CN) or a dotted OID at character 6",
        ),
        (
            {"deny": [{"match": {"cert_sha256": "abc"}}]},
            "deny[0].match.cert_sha256: not hex of 32 bytes (a SHA-256 digest)",
        ),
        (
            {"deny": [{"match": {"san_email": "example.com"}}]},
            "deny[0].match.san_email: expected local@domain (use '*@example.com' for any local part)",
        ),
        (
            {"deny": [{"match": {"san_dns": "bücher.example"}}]},
            "deny[0].match.san_dns: write internationalized names as A-labels (xn--...)",
        ),
        (
            {"deny": [{"match": {"san_dns": "***.example"}}]},
            "deny[0].match.san_dns: use '*' (one label or segment) or '**' (anything), not '***'",
        ),
        ({"deny": [{"match": {"san_uri": 5}}]}, "deny[0].match.san_uri: expected a non-empty string"),
        # entries
        ({"clients": [{"match": {"subject": "CN=a"}, "routes": []}]}, "clients[0].name: required"),
        ({"clients": [{"name": "a", "routes": []}]}, "clients[0].match: required"),
        ({"clients": [{"name": "a", "match": {"subject": "CN=a"}}]}, "clients[0].routes: required"),
        ({"clients": [{**GOOD_CLIENT, "name": " "}]}, "clients[0].name: expected a non-empty string"),
        (
            {"clients": [{**GOOD_CLIENT, "rotues": []}]},
            'clients[0]: unknown key(s) "rotues" (known: name, match, routes, comment, description)',
        ),
        ({"clients": ["a"]}, "clients[0]: expected an object"),
        ({"clients": {"a": 1}}, "clients: expected a list"),
        ({"clients": None}, "clients: expected a list"),
        ({"deny": None}, "deny: expected a list"),
        # pinning
        ({"pinning": []}, "pinning: expected an object"),
        ({"pinning": {}}, 'pinning.issuers: required (remove "pinning" to accept any issuer)'),
        ({"pinning": {"issuers": []}}, "pinning.issuers: empty: it would refuse every certificate"),
        (
            {"pinning": {"issuers": [{"name": "x"}]}},
            "pinning.issuers[0]: needs spki_sha256 and/or cert_sha256",
        ),
        (
            {"pinning": {"issuers": [{"spki_sha256": SPKI}, {"spki_sha256": HEX}]}},
            "pinning.issuers[1].spki_sha256: not base64 of 32 bytes (a SHA-256 digest)",
        ),
        (
            {"pinning": {"issuers": [{"spki_sha256": "not base64!"}]}},
            "pinning.issuers[0].spki_sha256: not base64 of 32 bytes (a SHA-256 digest)",
        ),
        (
            {"pinning": {"issuers": [{"cert_sha256": SPKI}]}},
            "pinning.issuers[0].cert_sha256: not hex of 32 bytes (a SHA-256 digest)",
        ),
        (
            {"pinning": {"issuers": [{"spki": SPKI}]}},
            'pinning.issuers[0]: unknown key(s) "spki" (known: name, spki_sha256, cert_sha256, comment, description)',
        ),
        # the document itself
        ([], "the policy document must be a JSON object"),
    ],
)
def test_errors_name_the_field(doc: Any, expected: str) -> None:
    assert error_of(doc) == expected


def test_other_top_level_keys_are_not_ours() -> None:
    policy = AccessPolicy.from_dict({"version": 1, "revocation": {"anything": True}, "cache": {}, "x-future": 1})
    assert policy.pins is None and policy.clients is None and policy.deny == ()


def test_valid_document_from_the_architecture_note() -> None:
    doc = {
        "version": 1,
        "truststore": {"uri": "s3://bucket/truststore.pem"},
        "pinning": {"issuers": [{"name": "issuing-ca-2026", "spki_sha256": SPKI}, {"cert_sha256": HEX.upper()}]},
        "clients": [
            {
                "name": "partner-a",
                "match": {"subject": "CN=client1,O=Partner A"},
                "routes": ["GET /pets", "GET /pets/*"],
            },
            {
                "name": "devices",
                "match": {"san_uri": "spiffe://example.org/device/*"},
                "routes": ["POST /telemetry"],
            },
        ],
        "deny": [{"match": {"issuer": "CN=Issuing CA 1", "serial": "0x1f"}}],
        "cache": {"ttl_seconds": 60, "max_stale_seconds": 3600},
    }
    policy = AccessPolicy.from_dict(doc)
    assert policy.pins is not None and len(policy.pins) == 2
    assert policy.pins[1].cert_sha256 == HEX
    assert policy.clients is not None and [c.name for c in policy.clients] == ["partner-a", "devices"]
    assert policy.deny[0].match.serial == 0x1F


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0x1f", 31), ("0X1F", 31), ("1f", 31), ("01:f0", 0x1F0), ("7", 7), ("00:31", 0x31), (31, 31), (" 0x00ff ", 255)],
)
def test_serial_forms(raw: Any, value: int) -> None:
    policy = AccessPolicy.from_dict({"deny": [{"match": {"issuer": "CN=a", "serial": raw}}]})
    assert policy.deny[0].match.serial == value


def test_notes_are_allowed_on_entries() -> None:
    AccessPolicy.from_dict(
        {
            "pinning": {
                "comment": "rotated 2026",
                "issuers": [{"spki_sha256": SPKI, "description": "issuing"}],
            },
            "clients": [{**GOOD_CLIENT, "comment": "ticket 12"}],
            "deny": [{"name": "leaked", "match": {"subject": "CN=b"}, "comment": "incident 7"}],
        }
    )


def test_any_json_shape_is_a_config_error_or_a_policy() -> None:
    """Whatever a document holds, loading raises ConfigError or succeeds: never another error
    (the cache only keeps the last good policy when the parser raises an AuthorizerError)."""
    rng = random.Random(7)
    atoms: list[Any] = [None, True, 0, -1, 31, 1.5, "", " ", "*", "**", "GET /a", "CN=a", "0x1f", "#00", "\\", "a@b"]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice(atoms)
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        keys = ["name", "match", "routes", "issuers", "subject", "serial", "issuer", "san_uri", "spki_sha256", "x"]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(3000):
        doc = {k: value(1) for k in rng.sample(["pinning", "clients", "deny"], rng.randrange(1, 4))}
        with contextlib.suppress(ConfigError):
            AccessPolicy.from_dict(doc)
