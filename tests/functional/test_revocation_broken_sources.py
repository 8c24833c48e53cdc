"""Issue 10, defect 3: one unparsable revocation source disqualifies itself, never the others.

Real HTTP server on 127.0.0.1; the broken CRLs are made here: cryptography cannot build a CRL
with a version it refuses or a duplicated extension, so a good CRL's TBSCertList is edited
byte by byte and signed again with the CA's key (the signature is right, only the shape is
wrong). The far-future CRL is made by the ``openssl ca -gencrl`` command line.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from authorizer.devpki import make_crl, ocsp_index_line
from authorizer.revocation import ocsp as ocsp_mod
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl import CrlError, CrlIndex
from authorizer.revocation.der import encode_tlv, read_header
from authorizer.revocation.status import RevocationStatus
from tests.pki import CA, NOW
from tests.revocation_servers import CrlServer, Route, crl_server

DAY = dt.timedelta(days=1)
FAR = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN
REVOKED_SERIAL = 0x7E57


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("Broken Sources Root", key="p256")
    return root, root.intermediate("Broken Sources Issuing", key="p256")


def good_crl(ca: CA) -> bytes:
    crl = make_crl(ca, (REVOKED_SERIAL,), this_update=NOW - DAY, next_update=NOW + DAY)
    return crl.public_bytes(serialization.Encoding.DER)


def _tlvs(data: bytes, start: int, end: int) -> list[bytes]:
    items = []
    while start < end:
        _, _, nxt = read_header(data, start)
        items.append(data[start:nxt])
        start = nxt
    return items


def resigned(ca: CA, der: bytes, edit: Any) -> bytes:
    """``der`` with its TBSCertList's elements passed through ``edit`` and signed again."""
    _, pos, _ = read_header(der, 0)
    _, tbs_start, tbs_end = read_header(der, pos)
    parts = edit(_tlvs(der, tbs_start, tbs_end))
    tbs = encode_tlv(0x30, b"".join(parts))
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    sig = ca.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    alg = encode_tlv(0x30, encode_tlv(0x06, bytes.fromhex("2a8648ce3d040302")))  # ecdsa-with-SHA256
    return encode_tlv(0x30, tbs + alg + encode_tlv(0x03, b"\x00" + sig))


def bad_version(ca: CA) -> bytes:
    def edit(parts: list[bytes]) -> list[bytes]:
        assert parts[0] == b"\x02\x01\x01"  # version v2
        return [b"\x02\x01\x05", *parts[1:]]

    return resigned(ca, good_crl(ca), edit)


def duplicate_extension(ca: CA) -> bytes:
    def edit(parts: list[bytes]) -> list[bytes]:
        ext_block = parts[-1]
        assert ext_block[0] == 0xA0
        _, seq_pos, _ = read_header(ext_block, 0)
        _, start, end = read_header(ext_block, seq_pos)
        exts = _tlvs(ext_block, start, end)
        return [*parts[:-1], encode_tlv(0xA0, encode_tlv(0x30, b"".join([*exts, exts[0]])))]

    return resigned(ca, good_crl(ca), edit)


def openssl_far_future_crl(ca: CA, revoked: x509.Certificate, tmp: Path) -> bytes:
    """``openssl ca -gencrl`` with nextUpdate 9999-12-31T23:59:59Z (GeneralizedTime)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl command line is required by the test suite")
    (tmp / "ca.pem").write_bytes(ca.cert_pem)
    (tmp / "ca.key").write_bytes(ca.key_pem)
    (tmp / "index.txt").write_text(ocsp_index_line(revoked, revoked_at=NOW - 2 * DAY, reason="keyCompromise"))
    (tmp / "crlnumber").write_text("01\n")
    (tmp / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n"
        "crl_extensions = ext\n[ext]\nauthorityKeyIdentifier = keyid:always\n"
    )
    last = (NOW - DAY).strftime("%Y%m%d%H%M%SZ")
    subprocess.run(
        [
            *("openssl", "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem"),
            *("-crl_lastupdate", last, "-crl_nextupdate", "99991231235959Z", "-out", "crl.pem"),
        ],
        cwd=tmp,
        check=True,
        capture_output=True,
    )
    return (tmp / "crl.pem").read_bytes()


def cfg(server: CrlServer, urls: list[str], **kw: Any) -> RevocationConfig:
    doc: dict[str, Any] = {
        "scope": "leaf",
        "ocsp": {"enabled": False},
        "crl": {"urls": urls, "use_distribution_points": False},
        "allowed_hosts": [server.host],
        "retry_seconds": 0,
    }
    doc.update(kw)
    return RevocationConfig.from_dict(doc)


@pytest.mark.parametrize("shape", ["version 5", "duplicate extension", "garbage", "truncated"])
def test_broken_crl_first_disqualifies_only_itself(server: CrlServer, pki: tuple[CA, CA], shape: str) -> None:
    root, issuing = pki
    good = good_crl(issuing)
    broken = {
        "version 5": lambda: bad_version(issuing),
        "duplicate extension": lambda: duplicate_extension(issuing),
        "garbage": lambda: b"\x30\x03\x02\x01",
        "truncated": lambda: good[: len(good) // 2],
    }[shape]()
    with pytest.raises(CrlError):
        CrlIndex.from_bytes(broken, "broken")
    bad_url = server.add("/broken.crl", Route(body=broken))
    good_url = server.add("/issuing.crl", Route(body=good))
    valid = issuing.issue("CN=valid client").cert
    revoked = issuing.issue("CN=revoked client", serial=REVOKED_SERIAL).cert
    for on_unknown in ("deny", "allow"):
        chk = RevocationChecker(cfg(server, [bad_url, good_url], on_unknown=on_unknown))
        out = chk.check([valid, issuing.cert, root.cert], NOW)
        assert out.status is GOOD, out.detail
        assert out.certs[0].source == f"crl:{good_url}"
        out = chk.check([revoked, issuing.cert, root.cert], NOW)
        assert out.status is REVOKED, out.detail
        err = out.error(on_unknown)
        assert err is not None and err.reason.value == "REVOKED"


def test_broken_crl_alone_is_unknown_with_its_reason(server: CrlServer, pki: tuple[CA, CA]) -> None:
    root, issuing = pki
    bad_url = server.add("/broken.crl", Route(body=bad_version(issuing)))
    out = RevocationChecker(cfg(server, [bad_url])).check([issuing.issue("CN=c").cert, issuing.cert, root.cert], NOW)
    assert out.status is UNKNOWN
    assert "InvalidVersion" in out.certs[0].detail and "internal error" not in out.certs[0].detail


def test_far_future_next_update_is_a_valid_date(server: CrlServer, pki: tuple[CA, CA], tmp_path: Path) -> None:
    root, issuing = pki
    revoked = issuing.issue("CN=revoked far", serial=0x5151).cert
    pem = openssl_far_future_crl(issuing, revoked, tmp_path)
    index = CrlIndex.from_bytes(pem, "far")
    assert index.next_update == FAR
    url = server.add("/far.crl", Route(body=pem))
    chk = RevocationChecker(cfg(server, [url]))
    valid = issuing.issue("CN=valid far").cert
    for _ in range(2):  # second round from the status cache (valid until 9999)
        assert chk.check([valid, issuing.cert, root.cert], NOW).status is GOOD
        assert chk.check([revoked, issuing.cert, root.cert], NOW).status is REVOKED
    assert len(server.requests_to("/far.crl")) == 1


def test_far_future_ocsp_answer_is_a_valid_date(pki: tuple[CA, CA]) -> None:
    _root, issuing = pki
    leaf = issuing.issue("CN=ocsp far").cert
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=issuing.cert,
        algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=NOW - DAY,
        next_update=FAR,
        revocation_time=None,
        revocation_reason=None,
    )
    resp = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuing.cert).sign(issuing.key, hashes.SHA256())  # type: ignore[arg-type]
    data = resp.public_bytes(serialization.Encoding.DER)
    answer = ocsp_mod.evaluate(data, leaf, issuing.cert, nonce=None, at=NOW, skew=dt.timedelta(minutes=5), max_age=DAY)
    assert answer.status is GOOD, answer.detail
    assert answer.valid_until == FAR
    # a mangled copy is the parser's own error, reported as UNKNOWN with the reason
    broken = ocsp_mod.evaluate(
        data[:-7], leaf, issuing.cert, nonce=None, at=NOW, skew=dt.timedelta(minutes=5), max_age=DAY
    )
    assert broken.status is UNKNOWN and broken.detail.startswith("malformed OCSP answer")
