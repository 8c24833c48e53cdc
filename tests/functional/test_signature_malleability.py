"""Issue 10, defect 1: a ``cert_sha256`` rule holds for every encoding of the signed certificate.

An ECDSA signature (r, s) has a twin (r, n - s) that every verifier accepts: same TBS, same key,
another DER and so another fingerprint. The twins here are real certificates made by
re-encoding the CA's signature; ``openssl verify`` accepts them, and so does the TLS stack of
``serve``. Deny, clients and pinning must treat both encodings as the same certificate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from authorizer.app import handle
from authorizer.certificate import parse_pem_certificate
from authorizer.events import make_event
from authorizer.reasons import AuthorizerError, Reason
from authorizer.runtime import Runtime
from authorizer.serve import LocalEndpoint
from tests.forge import P256_ORDER, assemble, der_of, ecdsa_twin, pem_block, pem_of_der
from tests.pki import CA, NOW, Issued

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    root = CA.root("Malleable Root")
    issuing = root.intermediate("Malleable Issuing")
    return {"root": root, "issuing": issuing, "denied": issuing.issue("CN=denied,O=Partner A")}


def _sha(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _runtime(tmp_path: Path, pki: dict[str, Any], **doc: Any) -> Runtime:
    (tmp_path / "truststore.pem").write_bytes(pki["issuing"].cert_pem + pki["root"].cert_pem)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}, **doc}))
    return Runtime(str(policy))


def _decide(rt: Runtime, pem: str) -> Reason:
    return handle(make_event(pem, method="GET", path="/pets"), rt, NOW).decision.reason


def test_the_twin_is_a_real_certificate_with_another_fingerprint(pki, tmp_path: Path) -> None:
    denied: Issued = pki["denied"]
    twin = ecdsa_twin(denied.cert)
    assert _sha(twin) != _sha(der_of(denied.cert))
    x509.load_der_x509_certificate(twin).verify_directly_issued_by(pki["issuing"].cert)
    if OPENSSL:
        (tmp_path / "ca.pem").write_bytes(pki["root"].cert_pem)
        (tmp_path / "int.pem").write_bytes(pki["issuing"].cert_pem)
        (tmp_path / "twin.pem").write_text(pem_of_der(twin))
        at = str(int(NOW.timestamp()))
        cmd = [OPENSSL, "verify", "-CAfile", "ca.pem", "-untrusted", "int.pem", "-attime", at, "twin.pem"]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deny_by_cert_sha256_catches_both_encodings(pki, tmp_path: Path) -> None:
    denied: Issued = pki["denied"]
    original, twin = der_of(denied.cert), ecdsa_twin(denied.cert)
    for written in (original, twin):  # whichever encoding the operator hashed
        rt = _runtime(tmp_path, pki, deny=[{"name": "stolen", "match": {"cert_sha256": _sha(written)}}])
        assert _decide(rt, denied.cert_pem.decode()) is Reason.CLIENT_DENIED
        assert _decide(rt, pem_of_der(twin)) is Reason.CLIENT_DENIED


def test_clients_by_cert_sha256_match_both_encodings_and_the_context_keeps_the_der_hash(pki, tmp_path: Path) -> None:
    denied: Issued = pki["denied"]
    twin = ecdsa_twin(denied.cert)
    rt = _runtime(
        tmp_path,
        pki,
        clients=[{"name": "a", "match": {"cert_sha256": _sha(der_of(denied.cert))}, "routes": ["GET /pets"]}],
    )
    outcome = handle(make_event(pem_of_der(twin), method="GET", path="/pets"), rt, NOW)
    assert outcome.decision.reason is Reason.ALLOWED
    # What API Gateway shows as the certificate's fingerprint: the DER the client presented.
    assert outcome.response["context"]["fingerprintSha256"] == _sha(twin)


def test_pinning_by_cert_sha256_holds_for_both_encodings_of_the_issuer(pki, tmp_path: Path) -> None:
    issuing: CA = pki["issuing"]
    twin_issuer = ecdsa_twin(issuing.cert)
    # The truststore holds the twin encoding of the intermediate; the pin names the original.
    (tmp_path / "truststore.pem").write_text(pem_of_der(twin_issuer) + pki["root"].cert_pem.decode())
    policy = tmp_path / "policy.json"
    pin = {"issuers": [{"name": "issuing", "cert_sha256": _sha(der_of(issuing.cert))}]}
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}, "pinning": pin}))
    assert _decide(Runtime(str(policy)), pki["denied"].cert_pem.decode()) is Reason.ALLOWED


def test_a_signature_that_is_not_der_is_malformed(pki) -> None:
    from authorizer.certder import CertificateDer

    parts = CertificateDer(der_of(pki["denied"].cert))
    # BIT STRING with unused bits; an ECDSA-Sig-Value with a non-minimal INTEGER (0x00 padding).
    unused = assemble(parts.tbs, parts.algorithm, parts.signature, unused_bits=3)
    r_len = parts.signature[3]
    r, s_tlv = parts.signature[4 : 4 + r_len], parts.signature[4 + r_len :]
    body = b"\x02" + bytes([r_len + 1]) + b"\x00" + r + s_tlv  # r with a superfluous leading zero
    cases = [unused, assemble(parts.tbs, parts.algorithm, b"\x30" + bytes([len(body)]) + body)]
    # An outer signatureAlgorithm that is not the one inside the TBS (NULL parameters added).
    alg = parts.algorithm
    other_alg = b"\x30" + bytes([alg[1] + 2]) + alg[2:] + b"\x05\x00"
    cases.append(assemble(parts.tbs, other_alg, parts.signature))
    for der in cases:
        with pytest.raises(AuthorizerError) as info:
            parse_pem_certificate(pem_block(der))
        assert info.value.reason is Reason.CERT_MALFORMED, info.value.detail


def test_twins_are_computed_for_the_curve_orders_the_values_fit(pki) -> None:
    leaf = parse_pem_certificate(pki["denied"].cert_pem)
    assert _sha(ecdsa_twin(pki["denied"].cert, P256_ORDER)) in leaf.fingerprints
    assert leaf.fingerprint_sha256 in leaf.fingerprints
    rsa_leaf = CA.root("RSA Root", key="rsa2048").issue("CN=rsa-signed")
    assert parse_pem_certificate(rsa_leaf.cert_pem).fingerprints == {_sha(der_of(rsa_leaf.cert))}


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_serve_denies_the_twin_of_a_denied_client(pki, tmp_path: Path) -> None:
    denied: Issued = pki["denied"]
    truststore = tmp_path / "truststore.pem"
    truststore.write_bytes(pki["issuing"].cert_pem + pki["root"].cert_pem)
    policy = tmp_path / "policy.json"
    rule = {"name": "stolen", "match": {"cert_sha256": _sha(der_of(denied.cert))}}
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": "truststore.pem"}, "deny": [rule]}))
    (tmp_path / "key.pem").write_bytes(denied.key_pem)
    (tmp_path / "orig.pem").write_bytes(denied.cert_pem)
    (tmp_path / "twin.pem").write_text(pem_of_der(ecdsa_twin(denied.cert)))
    lines: list[dict[str, str]] = []
    with LocalEndpoint(truststore, config=str(policy), access_log=lines.append).start() as ep:
        assert ep.server_ca is not None
        for name in ("orig.pem", "twin.pem"):
            proc = subprocess.run(
                [CURL, "--silent", "--max-time", "10", "--cacert", str(ep.server_ca), "--cert", str(tmp_path / name),
                 "--key", str(tmp_path / "key.pem"), "--write-out", "\n%{http_code}", ep.url("/pets")],
                capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            body, _, status = proc.stdout.rpartition("\n")
            assert (proc.returncode, status) == (0, "403"), (name, proc.stdout, proc.stderr)
            assert json.loads(body)["reason"] == "CLIENT_DENIED"
