"""The demo: a small PKI, a policy document and one sample event per outcome.

``mtls-authorizer demo`` decides every event in ``events/`` with the real handler and prints a
table; ``--regenerate`` first makes a fresh PKI. The generated policy and truststore are also the
package's embedded default (``authorizer/data/``), used when ``AUTHORIZER_CONFIG`` is unset, so
``sam local invoke -e events/...`` works without any setup.

The CA private keys are never written: regenerating makes new CAs. Client keys are written
(``demo/pki/clients/*.key``) so that ``curl --cert`` can present the demo certificates to
``mtls-authorizer serve``; they are demo material only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

PACKAGE_DATA = Path(__file__).parent / "data"
CLIENT_NOT_AFTER = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DemoCase:
    """One sample event: which client certificate, which request, and the expected outcome."""

    name: str
    client: str | None  # None: no certificate in the event
    api: str = "rest"
    method: str = "GET"
    path: str = "/pets"
    expect: str = "ALLOWED"
    raw_pem: str | None = None  # a PEM text used as is (malformed cases)

    @property
    def allowed(self) -> bool:
        return self.expect == "ALLOWED"


CASES: tuple[DemoCase, ...] = (
    DemoCase("rest-allow-valid-rsa", "valid-rsa"),
    DemoCase("rest-allow-valid-ecdsa", "valid-ecdsa", method="GET", path="/pets/42"),
    DemoCase("http1-allow-valid-ecdsa", "valid-ecdsa", api="http1"),
    DemoCase("http2-allow-valid-rsa", "valid-rsa", api="http2", method="POST", path="/pets"),
    DemoCase("rest-deny-missing-cert", None, expect="CERT_MISSING"),
    DemoCase(
        "rest-deny-malformed-cert",
        None,
        expect="CERT_MALFORMED",
        raw_pem="-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    ),
    DemoCase("rest-deny-expired", "expired", expect="EXPIRED"),
    DemoCase("rest-deny-not-yet-valid", "not-yet-valid", expect="NOT_YET_VALID"),
    DemoCase("rest-deny-unknown-issuer", "unknown-issuer", expect="ISSUER_NOT_FOUND"),
    DemoCase("rest-deny-self-signed", "self-signed", expect="SELF_SIGNED"),
    DemoCase("rest-deny-weak-key", "weak-key", expect="INSECURE_ALGORITHM"),
    DemoCase("rest-deny-server-only-eku", "server-only-eku", expect="CHAIN_INVALID"),
    DemoCase("rest-deny-revoked", "revoked", expect="REVOKED"),
    DemoCase("rest-deny-not-pinned", "other-issuer", expect="ISSUER_NOT_PINNED"),
    DemoCase("rest-deny-client-denied", "lost-laptop", expect="CLIENT_DENIED"),
    DemoCase("rest-deny-client-not-allowed", "unlisted", expect="CLIENT_NOT_ALLOWED"),
    DemoCase("rest-deny-route-not-allowed", "valid-rsa", method="DELETE", path="/pets/42", expect="ROUTE_NOT_ALLOWED"),
    DemoCase("http2-deny-expired", "expired", api="http2", expect="EXPIRED"),
    DemoCase(
        "http2-deny-route-not-allowed",
        "valid-ecdsa",
        api="http2",
        method="DELETE",
        path="/pets/1",
        expect="ROUTE_NOT_ALLOWED",
    ),
)


def make_demo(root: Path) -> None:
    """Write ``demo/`` (PKI, CRLs, policy) and ``events/`` under ``root``; when ``root`` is this
    project, also the embedded default (``src/authorizer/data/``)."""
    from .devpki import CA, make_crl, self_signed_leaf

    pki = root / "demo" / "pki"
    clients_dir = pki / "clients"
    clients_dir.mkdir(parents=True, exist_ok=True)
    root_ca = CA.root("Demo Root CA", key="p384")
    issuing = root_ca.intermediate("Demo Issuing CA", key="p256")
    other = root_ca.intermediate("Demo Other Issuing CA", key="p256")  # trusted, but not pinned
    stranger = CA.root("Unknown Root CA", key="p256").intermediate("Unknown Issuing CA")
    until = CLIENT_NOT_AFTER
    clients = {
        "valid-rsa": issuing.issue("CN=client-rsa,O=Partner A", key="rsa2048", not_after=until),
        "valid-ecdsa": issuing.issue(
            "CN=device-0001,O=Devices",
            key="p256",
            sans=[x509.UniformResourceIdentifier("spiffe://example.org/device/0001")],
            not_after=until,
        ),
        "expired": issuing.issue(
            "CN=client-expired,O=Partner A",
            not_before=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        ),
        "not-yet-valid": issuing.issue(
            "CN=client-future,O=Partner A",
            not_before=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
        ),
        "unknown-issuer": stranger.issue("CN=client-stranger,O=Elsewhere", not_after=until),
        "self-signed": self_signed_leaf("CN=client-self-signed,O=Nobody", not_after=until),
        "weak-key": issuing.issue("CN=client-weak,O=Partner A", key="rsa1024", not_after=until),
        "server-only-eku": issuing.issue(
            "CN=server-cert,O=Partner A", eku=[ExtendedKeyUsageOID.SERVER_AUTH], not_after=until
        ),
        "revoked": issuing.issue("CN=client-revoked,O=Partner A", not_after=until),
        "other-issuer": other.issue("CN=client-rsa,O=Partner A", not_after=until),
        "lost-laptop": issuing.issue("CN=client-rsa,O=Partner A", not_after=until),
        "unlisted": issuing.issue("CN=client-unlisted,O=Partner B", not_after=until),
    }
    (pki / "root.pem").write_bytes(root_ca.cert_pem)
    (pki / "issuing.pem").write_bytes(issuing.cert_pem)
    (pki / "other-issuing.pem").write_bytes(other.cert_pem)
    truststore = issuing.cert_pem + other.cert_pem + root_ca.cert_pem
    (pki / "truststore.pem").write_bytes(truststore)
    for name, issued in clients.items():
        (clients_dir / f"{name}.pem").write_bytes(issued.cert_pem)
        (clients_dir / f"{name}.key").write_bytes(issued.key_pem)

    # CRLs for every CA below the root (the policy checks the whole chain), valid for the demo's
    # lifetime; a real CA publishes short-lived ones.
    this_update, next_update = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), until
    crls = {
        "issuing.crl": make_crl(issuing, [clients["revoked"].cert.serial_number], this_update=this_update,
                                next_update=next_update),
        "other-issuing.crl": make_crl(other, [], this_update=this_update, next_update=next_update),
        "root.crl": make_crl(root_ca, [], this_update=this_update, next_update=next_update),
    }  # fmt: skip
    lost = clients["lost-laptop"].cert.serial_number
    policy = demo_policy(issuing, lost)
    _write_bundle(root / "demo", "pki/", policy, truststore, crls)
    if (root / "src" / "authorizer").resolve() == Path(__file__).parent.resolve():
        _write_bundle(PACKAGE_DATA, "", policy, truststore, crls)
    write_events(root, {name: c.cert_pem.decode() for name, c in clients.items()})


def _write_bundle(folder: Path, prefix: str, policy: dict[str, Any], truststore: bytes, crls: dict[str, Any]) -> None:
    """policy.json with its truststore and CRLs, all referenced relative to the document."""
    from cryptography.hazmat.primitives.serialization import Encoding

    (folder / prefix / "crl").mkdir(parents=True, exist_ok=True)
    (folder / prefix / "truststore.pem").write_bytes(truststore)
    for name, crl in crls.items():
        (folder / prefix / "crl" / name).write_bytes(crl.public_bytes(Encoding.DER))
    doc = json.loads(json.dumps(policy).replace("@/", prefix))
    (folder / "policy.json").write_text(json.dumps(doc, indent=2) + "\n")


def demo_policy(issuing: Any, lost_serial: int) -> dict[str, Any]:
    """The demo's policy: every feature once. ``@/`` stands for the folder of the PKI files."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = issuing.cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return {
        "version": 1,
        "description": "Demo policy: pinned issuing CA, CRLs for the whole chain, two clients, one denied cert.",
        "truststore": {"uri": "@/truststore.pem"},
        "pinning": {
            "issuers": [
                {"name": "demo-issuing-ca", "spki_sha256": base64.b64encode(hashlib.sha256(spki).digest()).decode()}
            ]
        },
        "revocation": {
            "scope": "chain",
            "on_unknown": "deny",
            "prefer": "crl",
            "ocsp": {"enabled": False},
            "crl": {
                "enabled": True,
                "urls": ["@/crl/issuing.crl", "@/crl/other-issuing.crl", "@/crl/root.crl"],
                "use_distribution_points": False,
            },
        },
        "clients": [
            {
                "name": "partner-a",
                "match": {"subject": "CN=client-rsa,O=Partner A"},
                "routes": ["GET /pets", "GET /pets/*", "POST /pets"],
            },
            {
                "name": "devices",
                "match": {"san_uri": "spiffe://example.org/device/*"},
                "routes": ["GET /pets", "GET /pets/*", "POST /telemetry"],
            },
        ],
        "deny": [
            {
                "name": "lost laptop",
                "match": {"issuer": issuing.cert.subject.rfc4514_string(), "serial": hex(lost_serial)},
            }
        ],
        "cache": {"ttl_seconds": 60, "max_stale_seconds": 3600},
    }


def write_events(root: Path, pems: dict[str, str]) -> None:
    from .events import make_event

    events = root / "events"
    events.mkdir(exist_ok=True)
    for old in events.glob("*.json"):
        if old.name != "env.json":  # sam local invoke's --env-vars file is not a sample event
            old.unlink()
    when = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)
    expected = {}
    for case in CASES:
        pem = case.raw_pem if case.raw_pem is not None else (pems[case.client] if case.client else None)
        event = make_event(
            pem, api=case.api, method=case.method, path=case.path, when=when, request_id=f"demo-{case.name}"
        )
        (events / f"{case.name}.json").write_text(json.dumps(event, indent=2) + "\n")
        expected[f"{case.name}.json"] = {
            "decision": "allow" if case.allowed else "deny",
            "reason": case.expect,
        }
    (events / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


def run_demo(root: Path, *, regenerate: bool = False) -> int:
    """Decide every sample event with the real handler and print ``event, decision, reason``."""
    policy = root / "demo" / "policy.json"
    if regenerate or not policy.exists() or not (root / "events" / "expected.json").exists():
        print(f"creating the demo PKI, policy and events under {root.resolve()} ...")
        make_demo(root)
    from .app import handle, set_log_level
    from .response import is_allow
    from .runtime import Runtime

    set_log_level("CRITICAL")  # the table is the output; `mtls-authorizer invoke` shows the log lines
    runtime = Runtime(str(policy))
    expected = json.loads((root / "events" / "expected.json").read_text())
    rows = []
    mismatches = 0
    for name in sorted(expected):
        event = json.loads((root / "events" / name).read_text())
        outcome = handle(event, runtime)
        decision = "allow" if is_allow(outcome.response) else "deny"
        reason = outcome.decision.reason.value
        ok = decision == expected[name]["decision"] and reason == expected[name]["reason"]
        mismatches += not ok
        rows.append((name, decision.upper(), reason, "" if ok else f"(expected {expected[name]['reason']})"))
    width = max(len(r[0]) for r in rows)
    print(f"{'EVENT':<{width}}  DECISION  REASON")
    for name, decision, reason, note in rows:
        print(f"{name:<{width}}  {decision:<8}  {reason} {note}".rstrip())
    print(f"\n{len(rows)} events, {len(rows) - mismatches} as expected. Policy: {policy}")
    print("Try: .venv/bin/mtls-authorizer invoke events/rest-deny-revoked.json   (the real handler, log on stderr)")
    print("     .venv/bin/mtls-authorizer doctor events/rest-deny-not-pinned.json  (why a request is refused)")
    return 0 if mismatches == 0 else 1
