"""The command line contract: exit codes, --json, invoke, make-event, check-config."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from authorizer.cli import main
from tests.pki import CA, self_signed_leaf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    root = CA.root("CLI Root")
    issuing = root.intermediate("CLI Issuing")
    leaf = issuing.issue("CN=cli-client")
    paths = {
        "truststore": issuing.cert_pem + root.cert_pem,
        "root": root.cert_pem,
        "issuing": issuing.cert_pem,
        "leaf": leaf.cert_pem,
        "leaf_with_chain": leaf.cert_pem + issuing.cert_pem,
        "expired": issuing.issue("CN=old", not_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).cert_pem,
        "self_signed": self_signed_leaf().cert_pem,
        "server": issuing.issue("CN=srv", eku=[ExtendedKeyUsageOID.SERVER_AUTH]).cert_pem,
        "empty": b"no certificate in here\n",
        "leaf_der": leaf.cert.public_bytes(Encoding.DER),
    }
    out = {}
    for name, data in paths.items():
        (d / f"{name}.pem").write_bytes(data)
        out[name] = d / f"{name}.pem"
    (d / "policy.json").write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}}))
    out["policy"] = d / "policy.json"
    (d / "bad-policy.json").write_text(json.dumps({"version": 1, "truststore": {"uri": 5}}))
    out["bad_policy"] = d / "bad-policy.json"
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


AT = "2027-06-01T12:00:00Z"


def test_verify_accepts_with_trust_store(files, capsys) -> None:
    code, out, _ = run(capsys, "verify", files["leaf"], "--trust-store", files["truststore"], "--at", AT)
    assert code == 0 and out.startswith("ACCEPTED")


def test_verify_json(files, capsys) -> None:
    code, out, _ = run(capsys, "verify", files["leaf"], "--trust-store", files["truststore"], "--at", AT, "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc == {"decision": "allow", "reason": "ALLOWED", "detail": "", "chain": doc["chain"], "policies": []}
    assert doc["chain"] == ["CN=cli-client", "CN=CLI Issuing,O=Test PKI", "CN=CLI Root,O=Test PKI"]


@pytest.mark.parametrize(
    ("leaf", "reason"),
    [
        ("expired", "EXPIRED"),
        ("self_signed", "SELF_SIGNED"),
        ("server", "CHAIN_INVALID"),
        ("empty", "CERT_MALFORMED"),
    ],
)
def test_verify_refusals_exit_1(files, capsys, leaf: str, reason: str) -> None:
    code, out, _ = run(capsys, "verify", files[leaf], "--trust-store", files["truststore"], "--at", AT, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["decision"] == "deny" and doc["reason"] == reason and doc["detail"]


def test_verify_eku_option(files, capsys) -> None:
    args = ("verify", files["server"], "--trust-store", files["truststore"], "--at", AT)
    assert run(capsys, *args, "--eku", "serverAuth")[0] == 0
    assert run(capsys, *args, "--eku", "any")[0] == 0
    assert run(capsys, *args, "--eku", "clientAuth")[0] == 1


def test_trust_store_vs_trust_anchor_semantics(files, capsys) -> None:
    # Only the intermediate: with API Gateway's meaning it is no anchor -> usage error.
    assert run(capsys, "verify", files["leaf"], "--trust-store", files["issuing"], "--at", AT)[0] == 2
    # As an RFC 5280 anchor it ends the path.
    code, out, _ = run(capsys, "verify", files["leaf"], "--trust-anchor", files["issuing"], "--at", AT, "--json")
    assert code == 0 and len(json.loads(out)["chain"]) == 2


def test_intermediates_sent_with_the_leaf_are_used(files, capsys) -> None:
    assert run(capsys, "verify", files["leaf"], "--trust-anchor", files["root"], "--at", AT)[0] == 1
    assert run(capsys, "verify", files["leaf_with_chain"], "--trust-anchor", files["root"], "--at", AT)[0] == 0


def test_der_leaf_is_read(files, capsys) -> None:
    assert run(capsys, "verify", files["leaf_der"], "--trust-store", files["truststore"], "--at", AT)[0] == 0


@pytest.mark.parametrize(
    "argv",
    [
        ("verify", "{missing}", "--trust-store", "{truststore}"),
        ("verify", "{leaf}", "--trust-store", "{missing}"),
        ("verify", "{leaf}", "--trust-store", "{empty}"),
        ("verify", "{leaf}", "--trust-anchor", "{empty}"),
        ("verify", "{leaf}"),
        ("verify", "{leaf}", "--trust-store", "{truststore}", "--at", "yesterday"),
    ],
)
def test_usage_errors_exit_2(files, capsys, argv) -> None:
    paths = {k: str(v) for k, v in files.items()} | {"missing": "/nonexistent/x.pem"}
    code, _, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2 and err


@pytest.mark.parametrize(
    "argv", [("frobnicate",), ("verify", "x.pem", "--trust-store", "t.pem", "--eku", "codeSigning")]
)
def test_argparse_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2


def test_verify_with_config(files, capsys) -> None:
    code, out, _ = run(capsys, "verify", files["leaf"], "--config", files["policy"], "--at", AT, "--json")
    assert code == 0, out


def test_make_event_and_invoke(files, tmp_path: Path, capsys) -> None:
    for api in ("rest", "http1", "http2"):
        code, out, _ = run(capsys, "make-event", files["leaf"], "--api", api, "--method", "post", "--path", "/pets")
        assert code == 0
        event = json.loads(out)
        cert_at = event["requestContext"]["authentication" if api == "http2" else "identity"]["clientCert"]
        assert cert_at["clientCertPem"] == files["leaf"].read_text()
        (tmp_path / f"{api}.json").write_text(out)
    # invoke in a fresh process, exactly as a user would (real clock: certs are valid until 2045)
    for api in ("rest", "http2"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "authorizer",
                "invoke",
                str(tmp_path / f"{api}.json"),
                "--config",
                str(files["policy"]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        response = json.loads(proc.stdout)
        assert response.get("isAuthorized", True) is True
        assert '"decision":"allow"' in proc.stderr
    denied = tmp_path / "denied.json"
    event = json.loads((tmp_path / "rest.json").read_text())
    del event["requestContext"]["identity"]["clientCert"]
    denied.write_text(json.dumps(event))
    proc = subprocess.run(
        [sys.executable, "-m", "authorizer", "invoke", str(denied), "--config", str(files["policy"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "CERT_MISSING" in proc.stderr


def test_invoke_unreadable_event_is_usage_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.json").write_text("{")
    assert run(capsys, "invoke", tmp_path / "bad.json")[0] == 2
    assert run(capsys, "invoke", tmp_path / "absent.json")[0] == 2


def test_check_config(files, capsys) -> None:
    code, out, _ = run(capsys, "check-config", files["policy"])
    assert code == 0 and out.startswith("VALID") and "revocation: none" in out
    code, out, _ = run(capsys, "check-config", files["bad_policy"])
    assert code == 1 and "truststore.uri" in out


def test_demo_command_prints_the_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "authorizer", "demo", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "EVENT" in proc.stdout and "DECISION" in proc.stdout and "REASON" in proc.stdout
    assert "rest-deny-expired.json" in proc.stdout and "EXPIRED" in proc.stdout


def test_doctor_explains_a_refusal_and_an_allow(files, capsys) -> None:
    code, out, _ = run(capsys, "doctor", files["expired"], "--config", files["policy"], "--at", AT)
    assert code == 1
    assert "DENY EXPIRED" in out and "hint: " in out and "renew" in out
    code, out, _ = run(capsys, "doctor", files["leaf"], "--config", files["policy"], "--at", AT, "--path", "/pets")
    assert code == 0 and "chain" in out and out.rstrip().endswith("ALLOW ALLOWED")


def test_doctor_reads_events(capsys) -> None:
    code, out, _ = run(capsys, "doctor", ROOT / "events" / "rest-deny-missing-cert.json")
    assert code == 1 and "DENY CERT_MISSING" in out


def test_every_reason_has_a_hint() -> None:
    from authorizer.reasons import HINTS, Reason

    assert set(HINTS) == set(Reason)


@pytest.fixture(scope="module")
def crl_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A root, an issuing CA and CRLs from both (PEM and DER), one leaf revoked."""
    from cryptography.hazmat.primitives.serialization import Encoding as Enc

    from authorizer.devpki import make_crl

    d = tmp_path_factory.mktemp("crl")
    root = CA.root("CRL Root")
    issuing = root.intermediate("CRL Issuing")
    good = issuing.issue("CN=good")
    bad = issuing.issue("CN=revoked")
    this, nxt = dt.datetime(2027, 5, 1, tzinfo=dt.UTC), dt.datetime(2027, 7, 1, tzinfo=dt.UTC)
    out = {
        "root": root.cert_pem,
        "truststore": issuing.cert_pem + root.cert_pem,
        "good": good.cert_pem,
        "revoked": bad.cert_pem,
        "issuing_crl": make_crl(issuing, [bad.cert.serial_number], this_update=this, next_update=nxt).public_bytes(
            Enc.PEM
        ),
        "root_crl": make_crl(root, [], this_update=this, next_update=nxt).public_bytes(Enc.DER),
        "not_a_crl": b"garbage",
    }
    paths = {}
    for name, data in out.items():
        (d / name).write_bytes(data)
        paths[name] = d / name
    return paths


def test_verify_with_crls(crl_files, capsys) -> None:
    base = ("--trust-store", crl_files["truststore"], "--at", AT, "--json")
    both = ("--crl", crl_files["issuing_crl"], "--crl", crl_files["root_crl"])
    code, out, _ = run(capsys, "verify", crl_files["good"], *base, *both)
    assert code == 0, out
    code, out, _ = run(capsys, "verify", crl_files["revoked"], *base, *both)
    assert code == 1 and json.loads(out)["reason"] == "REVOKED"
    # every certificate below the anchor must be covered: without the root's CRL, the
    # intermediate's status is unknown
    code, out, _ = run(capsys, "verify", crl_files["good"], *base, "--crl", crl_files["issuing_crl"])
    assert code == 1 and json.loads(out)["reason"] == "REVOCATION_UNKNOWN"
    # a CRL that is no longer current proves nothing
    code, out, _ = run(capsys, "verify", crl_files["good"], "--trust-store", crl_files["truststore"],
                       "--at", "2027-08-01T00:00:00Z", "--json", *both)  # fmt: skip
    assert code == 1 and json.loads(out)["reason"] == "REVOCATION_UNKNOWN"


def test_verify_with_unreadable_crl_is_usage_error(crl_files, capsys) -> None:
    base = ("verify", crl_files["good"], "--trust-store", crl_files["truststore"], "--at", AT)
    assert run(capsys, *base, "--crl", "/nonexistent.crl")[0] == 2
    assert run(capsys, *base, "--crl", crl_files["not_a_crl"])[0] == 2


def test_verify_online_without_sources_is_unknown(crl_files, capsys) -> None:
    """The demo certificates carry no CDP or AIA: --online finds no source, which is a refusal."""
    code, out, _ = run(capsys, "verify", crl_files["good"], "--trust-store", crl_files["truststore"],
                       "--at", AT, "--online", "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["reason"] == "REVOCATION_UNKNOWN"
