"""Issue 10, defect 4: a malformed certificate is ``CERT_MALFORMED``, never ``INTERNAL_ERROR``.

Each certificate here is a real one whose TBS was edited and signed again by the real CA key, so
the only defect is the edit: an unknown version (cryptography raises ``InvalidVersion``, not a
``ValueError``), a name attribute of a string type cryptography refuses with ``TypeError``, a
UTF8String that is not UTF-8 (the name decodes lazily, on first read). The handler, the CLI's
``verify`` and ``doctor`` must each refuse them cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.app import handle
from authorizer.events import make_event
from authorizer.reasons import Reason
from authorizer.runtime import Runtime
from tests.forge import pem_block, resigned
from tests.pki import CA, NOW

AT = "2027-06-01T12:00:00Z"
CN_C = bytes.fromhex("0603550403") + bytes.fromhex("0c0163")  # CN, UTF8String "c"
V3, V4 = bytes.fromhex("a003020102"), bytes.fromhex("a003020103")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = CA.root("Malformed Root")
    issuing = root.intermediate("Malformed Issuing")
    leaf = issuing.issue("CN=c,O=Partner A")
    return {
        "dir": tmp_path_factory.mktemp("malformed"),
        "root": root,
        "issuing": issuing,
        "leaf": leaf,
        "bad": {
            "version 4 (InvalidVersion)": resigned(leaf.cert, issuing, V3, V4),
            "CN as a BIT STRING (TypeError)": resigned(leaf.cert, issuing, CN_C, CN_C[:5] + bytes.fromhex("030100")),
            "CN not UTF-8 (ValueError)": resigned(leaf.cert, issuing, CN_C, CN_C[:5] + bytes.fromhex("0c01ff")),
            "CN as an INTEGER": resigned(leaf.cert, issuing, CN_C, CN_C[:5] + bytes.fromhex("020163")),
        },
    }  # fmt: skip


def _policy(tmp_path: Path, pki: dict[str, Any], **doc: Any) -> Path:
    (tmp_path / "truststore.pem").write_bytes(pki["issuing"].cert_pem + pki["root"].cert_pem)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}, **doc}))
    return path


DOCS: list[dict[str, Any]] = [
    {},
    {"deny": [{"match": {"subject_cn": "x*"}}]},
    {"clients": [{"name": "a", "match": {"san_dns": "**.example.com"}, "routes": ["GET /pets"]}]},
]


@pytest.mark.parametrize("doc", DOCS, ids=["no-policy", "deny", "clients"])
@pytest.mark.parametrize("api", ["rest", "http2"])
def test_the_handler_answers_cert_malformed(pki, tmp_path: Path, doc: dict[str, Any], api: str) -> None:
    rt = Runtime(str(_policy(tmp_path, pki, **doc)))
    assert (
        handle(make_event(pki["leaf"].cert_pem.decode(), api=api), rt, NOW).decision.reason is not Reason.INTERNAL_ERROR
    )
    for label, der in pki["bad"].items():
        outcome = handle(make_event(pem_block(der), api=api), rt, NOW)
        assert outcome.decision.reason is Reason.CERT_MALFORMED, (label, outcome.decision.detail)
        assert outcome.response.get("isAuthorized", False) is False


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authorizer", *argv], capture_output=True, text=True, timeout=60, check=False
    )


def test_verify_and_doctor_refuse_cleanly(pki, tmp_path: Path) -> None:
    policy = _policy(tmp_path, pki)
    for i, (label, der) in enumerate(pki["bad"].items()):
        cert = tmp_path / f"bad{i}.pem"
        cert.write_text(pem_block(der))
        verify = _cli("verify", str(cert), "--trust-store", str(tmp_path / "truststore.pem"), "--at", AT)
        doctor = _cli("doctor", str(cert), "--config", str(policy), "--at", AT)
        for name, proc in (("verify", verify), ("doctor", doctor)):
            assert "Traceback" not in proc.stderr + proc.stdout, (label, name, proc.stderr)
            assert proc.returncode in (1, 2), (label, name, proc.returncode, proc.stdout, proc.stderr)
        if verify.returncode == 1:
            assert "REFUSED: CERT_MALFORMED" in verify.stdout, (label, verify.stdout)
        if doctor.returncode == 1:
            assert "DENY CERT_MALFORMED" in doctor.stdout, (label, doctor.stdout)


def test_check_config_with_a_truststore_of_an_unknown_version(pki, tmp_path: Path) -> None:
    policy = _policy(tmp_path, pki)
    (tmp_path / "truststore.pem").write_text(pem_block(pki["bad"]["version 4 (InvalidVersion)"]))
    proc = _cli("check-config", str(policy))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "INVALID" in proc.stdout and "truststore.uri" in proc.stdout


def test_a_negative_serial_is_judged_on_substance_and_its_event_fields_still_build(pki) -> None:
    """``make_event`` and serve's access log read the hint fields: a negative serial (which
    cryptography still parses, with a warning) raised ``OverflowError`` there. Path validation
    admits it (NIST PKITS 4.4.14 "Valid Negative Serial Number"); ``doctor`` reports it."""
    import warnings

    from authorizer.events import client_cert_block

    leaf = pki["leaf"].cert
    serial = leaf.serial_number.to_bytes(2, "big")
    negative = resigned(leaf, pki["issuing"], b"\x02\x02" + serial, b"\x02\x02" + bytes([serial[0] | 0x80, serial[1]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = client_cert_block(pem_block(negative))
        assert block["serialNumber"].startswith("-")
        rt = Runtime(str(_policy(Path(pki["dir"]), pki)))
        outcome = handle(make_event(pem_block(negative)), rt, NOW)
    assert outcome.decision.reason is Reason.ALLOWED, outcome.decision.detail


def test_verify_with_a_malformed_intermediate_or_truststore_certificate(pki, tmp_path: Path) -> None:
    """Certificates beside the leaf (sent intermediates, truststore files) are read by path
    building, where an undecodable name used to surface as a traceback."""
    bad = pem_block(pki["bad"]["CN as a BIT STRING (TypeError)"])
    (tmp_path / "truststore.pem").write_bytes(pki["issuing"].cert_pem + pki["root"].cert_pem)
    (tmp_path / "sent.pem").write_text(pki["leaf"].cert_pem.decode() + bad)
    (tmp_path / "bad-truststore.pem").write_text(pki["root"].cert_pem.decode() + bad)
    (tmp_path / "leaf.pem").write_bytes(pki["leaf"].cert_pem)
    sent = _cli("verify", str(tmp_path / "sent.pem"), "--trust-store", str(tmp_path / "truststore.pem"), "--at", AT)
    assert sent.returncode == 1 and "REFUSED: CERT_MALFORMED" in sent.stdout, sent.stdout + sent.stderr
    store = _cli("verify", str(tmp_path / "leaf.pem"), "--trust-store", str(tmp_path / "bad-truststore.pem"))
    assert store.returncode == 2 and "does not parse" in store.stderr, store.stdout + store.stderr
    assert "Traceback" not in sent.stderr + store.stderr
