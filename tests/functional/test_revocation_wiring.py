"""The CRL-signer validation is wired where checkers are built: ``verify --crl`` and the
runtime (the Lambda's and ``serve``'s). A CRL signed by a separate CRL-signing certificate of
the issuing CA (same name, another key, issued by the root with keyUsage cRLSign) is used when
that certificate is in the truststore bundle and validates to the same anchor; otherwise the
leaf's status is unknown, never good."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from authorizer.cli import main
from authorizer.devpki import make_crl
from authorizer.revocation.status import RevocationStatus
from authorizer.runtime import Runtime
from tests.pki import CA, NOW

AT = "2027-06-01T12:00:00Z"
DAY = dt.timedelta(days=1)
CRL_SIGN_ONLY = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("signers")
    root = CA.root("Wiring Root")
    issuing = root.intermediate("Wiring Issuing")
    crl_signer = root.issue(issuing.cert.subject.rfc4514_string(), key_usage=CRL_SIGN_ONLY, eku=None, is_ca=None)
    good, bad = issuing.issue("CN=wired good"), issuing.issue("CN=wired revoked")
    issuing_crl = make_crl(
        issuing, [bad.cert.serial_number], this_update=NOW - DAY, next_update=NOW + DAY, signer=crl_signer.key
    )
    data = {
        "bundle.pem": issuing.cert_pem + root.cert_pem + crl_signer.cert_pem,
        "bundle-without-signer.pem": issuing.cert_pem + root.cert_pem,
        "good.pem": good.cert_pem,
        "revoked.pem": bad.cert_pem,
        "issuing.crl": issuing_crl.public_bytes(Encoding.DER),
        "root.crl": make_crl(root, [], this_update=NOW - DAY, next_update=NOW + DAY).public_bytes(Encoding.PEM),
    }
    for name, blob in data.items():
        (d / name).write_bytes(blob)
    return {name: d / name for name in data}


def verify(capsys: pytest.CaptureFixture[str], files: dict[str, Path], leaf: str, bundle: str) -> dict[str, Any]:
    code = main(
        [
            *("verify", str(files[leaf]), "--trust-store", str(files[bundle]), "--at", AT, "--json"),
            *("--crl", str(files["issuing.crl"]), "--crl", str(files["root.crl"])),
        ]
    )
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (code == 0) == (answer["decision"] == "allow")
    return answer


def test_verify_crl_uses_a_separate_crl_signing_certificate(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(capsys, files, "good.pem", "bundle.pem")["decision"] == "allow"
    assert verify(capsys, files, "revoked.pem", "bundle.pem")["reason"] == "REVOKED"
    unknown = verify(capsys, files, "good.pem", "bundle-without-signer.pem")
    assert unknown["reason"] == "REVOCATION_UNKNOWN"


def test_runtime_checker_validates_crl_signers_with_the_current_truststore(files: dict[str, Path]) -> None:
    folder = files["bundle.pem"].parent
    policy = folder / "policy.json"
    revocation = {
        "ocsp": {"enabled": False},
        "crl": {"urls": [str(files["issuing.crl"]), str(files["root.crl"])], "use_distribution_points": False},
    }
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "bundle.pem"}, "revocation": revocation}))
    deps = Runtime(str(policy)).load().deps
    assert deps.revocation is not None
    for leaf, status in (("good.pem", RevocationStatus.GOOD), ("revoked.pem", RevocationStatus.REVOKED)):
        cert = x509.load_pem_x509_certificate(files[leaf].read_bytes())
        path = deps.validator.validate_pem(files[leaf].read_text(), NOW)
        assert path.leaf.cert == cert
        out = deps.revocation.check(path.chain, NOW)
        assert out.status is status, out.detail
    deps.revocation.close()
