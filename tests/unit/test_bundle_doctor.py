"""``doctor --truststore``: bundles made with the ``openssl`` command line, linted in API Gateway's
terms, a client certificate checked against them, and certificate/key/CSR matching.

openssl 3.0 cannot set arbitrary validity dates with ``x509 -req``, so its certificates start
now; each test validates at a fixed offset from the root's own ``notBefore`` (``AT``: 10 days
after it), never at the wall clock.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from authorizer.bundle_doctor import DoctorInputError, Severity, doctor, lint_bundle
from authorizer.cli import main
from tests.pki import CA, NOW

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")

CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
LEAF_EXT = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd, timeout=60)


@dataclass(frozen=True)
class Made:
    """A certificate openssl made, with its key and CSR files."""

    name: str
    folder: Path

    @property
    def pem(self) -> Path:
        return self.folder / f"{self.name}.pem"

    @property
    def key(self) -> Path:
        return self.folder / f"{self.name}.key"

    @property
    def csr(self) -> Path:
        return self.folder / f"{self.name}.csr"

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pem.read_bytes())


class OpenSSL:
    """A tiny openssl-driven PKI in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.serial = 100
        (folder / "ca.ext").write_text(CA_EXT)
        (folder / "leaf.ext").write_text(LEAF_EXT)

    def root(self, name: str, days: int = 3650) -> Made:
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-subj", f"/CN={name}", "-days", str(days), "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.folder,
        )  # fmt: skip
        return Made(name, self.folder)

    def issue(
        self,
        name: str,
        issuer: Made,
        *,
        ca: bool = True,
        days: int = 3650,
        digest: str = "sha256",
        key: str = "ec",
        subject: str | None = None,
    ) -> Made:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", key]
        openssl(
            "req", "-new", *newkey, "-nodes", "-keyout", f"{name}.key", "-subj", f"/CN={subject or name}",
            "-out", f"{name}.csr", cwd=self.folder,
        )  # fmt: skip
        self.serial += 1
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", issuer.pem.name, "-CAkey", issuer.key.name,
            "-set_serial", str(self.serial), f"-{digest}", "-days", str(days),
            "-extfile", "ca.ext" if ca else "leaf.ext", "-out", f"{name}.pem", cwd=self.folder,
        )  # fmt: skip
        return Made(name, self.folder)

    def bundle(self, *certs: Made) -> bytes:
        return b"".join(c.pem.read_bytes() for c in certs)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    ssl = OpenSSL(tmp_path_factory.mktemp("openssl-pki"))
    root = ssl.root("Root CA")
    issuing = ssl.issue("Issuing CA", root)
    made = {
        "root": root,
        "issuing": issuing,
        "client": ssl.issue("client", issuing, ca=False),
        "expired": ssl.issue("Expired CA", root, days=1),
        "expiring": ssl.issue("Expiring CA", root, days=20),
        "sha1": ssl.issue("SHA1 CA", root, digest="sha1"),
        "not-ca": ssl.issue("Not A CA", root, ca=False),
        "weak": ssl.issue("Weak CA", root, key="rsa:1024"),
        "level2": ssl.issue("Level 2 CA", issuing),
        "level3": ssl.issue("Level 3 CA", ssl.issue("Level 2b CA", issuing)),
        "other-root": ssl.root("Other Root"),
        "stranger": ssl.issue("client-other-key", issuing, ca=False),
    }
    made["level2b"] = Made("Level 2b CA", ssl.folder)
    made["cross"] = ssl.issue("cross", made["other-root"], subject="Issuing CA")  # same subject, other issuer
    # A CSR for another key than the client's.
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key",
        "-subj", "/CN=client", "-out", "other.csr", cwd=ssl.folder,
    )  # fmt: skip
    openssl(
        "pkey", "-in", "client.key", "-aes256", "-passout", "pass:secret", "-out", "client-encrypted.key",
        cwd=ssl.folder,
    )  # fmt: skip
    return made


def at(pki: dict[str, Made]) -> dt.datetime:
    """The fixed validation time: 10 days after the root was made."""
    return pki["root"].cert.not_valid_before_utc + dt.timedelta(days=10)


def bundle(pki: dict[str, Made], *names: str) -> bytes:
    return b"".join(pki[n].pem.read_bytes() for n in names)


def codes(report: object, index: int | None = None) -> set[str]:
    from authorizer.bundle_doctor import DoctorReport

    assert isinstance(report, DoctorReport)
    if index is None:
        return {f.code for f in report.all_findings()}
    return {f.code for f in report.certificates[index].findings}


def test_a_good_bundle_passes(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "issuing", "root"), at(pki))
    assert report.ok and codes(report) == set()
    assert [c.path_length for c in report.certificates] == [2, 1]
    assert [c.self_signed for c in report.certificates] == [False, True]
    assert report.certificates[0].subject == "CN=Issuing CA"


def test_expired_and_expiring_cas(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "expired", "expiring", "root"), at(pki))
    assert codes(report, 0) == {"EXPIRED"}
    assert codes(report, 1) == {"EXPIRING"}  # 20-day CA checked at day 10: a warning only
    assert [f.severity for f in report.certificates[1].findings] == [Severity.WARN]
    assert not report.ok
    only_expiring = lint_bundle(bundle(pki, "expiring", "root"), at(pki))
    assert only_expiring.ok  # warnings do not fail


def test_sha1_ca_made_with_openssl_is_weak(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "sha1", "root"), at(pki))
    (finding,) = report.certificates[0].findings
    assert finding.code == "WEAK_ALGORITHM" and "sha1" in finding.message
    assert not report.ok


def test_weak_key(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "weak", "root"), at(pki))
    assert codes(report, 0) == {"WEAK_ALGORITHM"}
    assert "1024" in report.certificates[0].findings[0].message


def test_non_ca_in_the_bundle(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "not-ca", "issuing", "root"), at(pki))
    assert codes(report, 0) == {"NOT_A_CA"}
    assert codes(report, 1) == set() and codes(report, 2) == set()


def test_missing_root(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "issuing"), at(pki))
    assert {f.code for f in report.bundle_findings} == {"NO_ROOT"}
    assert codes(report, 0) == {"UNCHAINED"}
    assert report.certificates[0].path_length is None
    # A certificate whose issuer is absent, next to an unrelated root.
    partial = lint_bundle(bundle(pki, "level2", "root"), at(pki))
    assert codes(partial, 0) == {"UNCHAINED"} and not partial.bundle_findings


def test_path_longer_than_four(pki: dict[str, Made]) -> None:
    ok = lint_bundle(bundle(pki, "level2", "issuing", "root"), at(pki))
    assert ok.ok and ok.certificates[0].path_length == 3  # its leaves: 4 certificates, the limit
    long = lint_bundle(bundle(pki, "level3", "level2b", "issuing", "root"), at(pki))
    assert long.certificates[0].path_length == 4
    assert codes(long, 0) == {"PATH_TOO_LONG"} and codes(long, 1) == set()


def test_one_subject_from_two_issuers(pki: dict[str, Made]) -> None:
    report = lint_bundle(bundle(pki, "issuing", "cross", "root", "other-root"), at(pki))
    assert codes(report, 0) == {"DUPLICATE_SUBJECT"} and codes(report, 1) == {"DUPLICATE_SUBJECT"}
    assert "CN=Other Root" in report.certificates[0].findings[0].message


def test_client_certificate_against_the_bundle(pki: dict[str, Made]) -> None:
    good = doctor(bundle(pki, "issuing", "root"), at(pki), cert=pki["client"].pem.read_bytes())
    assert good.ok and good.client is not None and good.client["allowed"]
    assert good.client["chain"][0].startswith("CN=client") and len(good.client["chain"]) == 3
    refused = doctor(bundle(pki, "level2", "root"), at(pki), cert=pki["client"].pem.read_bytes())
    assert refused.client is not None and refused.client["reason"] == "ISSUER_NOT_FOUND"
    assert "CERT_REFUSED" in codes(refused) and not refused.ok
    no_anchor = doctor(bundle(pki, "issuing"), at(pki), cert=pki["client"].pem.read_bytes())
    assert no_anchor.client is not None and no_anchor.client["reason"] == "ISSUER_NOT_FOUND"


def test_certificate_key_and_csr_share_one_public_key(pki: dict[str, Made]) -> None:
    client = pki["client"]
    trust = bundle(pki, "issuing", "root")
    cert, key, csr = client.pem.read_bytes(), client.key.read_bytes(), client.csr.read_bytes()
    assert doctor(trust, at(pki), cert=cert, key=key, csr=csr).ok
    wrong_csr = doctor(trust, at(pki), cert=cert, key=key, csr=(client.folder / "other.csr").read_bytes())
    assert codes(wrong_csr) == {"KEY_MISMATCH"}
    wrong_key = doctor(trust, at(pki), cert=cert, key=(client.folder / "other.key").read_bytes())
    assert codes(wrong_key) == {"KEY_MISMATCH"}
    rsa_root = doctor(trust, at(pki), cert=pki["root"].pem.read_bytes(), key=pki["root"].key.read_bytes())
    assert "KEY_MISMATCH" not in codes(rsa_root)  # an RSA key matches its certificate too
    encrypted = doctor(trust, at(pki), cert=cert, key=(client.folder / "client-encrypted.key").read_bytes())
    (finding,) = encrypted.key_findings
    assert finding.code == "KEY_ENCRYPTED" and "-pubout" in finding.message


def test_unreadable_inputs_are_usage_errors(pki: dict[str, Made]) -> None:
    with pytest.raises(DoctorInputError):
        lint_bundle(b"not a certificate", at(pki))
    with pytest.raises(DoctorInputError):
        doctor(bundle(pki, "root"), at(pki), cert=pki["client"].pem.read_bytes(), key=b"-----BEGIN nonsense")


def test_cli_text_json_and_exit_codes(pki: dict[str, Made], capsys: pytest.CaptureFixture[str]) -> None:
    folder = pki["root"].folder
    (folder / "good.pem").write_bytes(bundle(pki, "issuing", "root"))
    (folder / "bad.pem").write_bytes(bundle(pki, "sha1", "not-ca", "root"))
    when = at(pki).isoformat()
    client = pki["client"]
    args = ["doctor", "--truststore", str(folder / "good.pem"), str(client.pem), "--key", str(client.key)]
    assert main([*args, "--csr", str(client.csr), "--at", when]) == 0
    text = capsys.readouterr().out
    assert "#1 CN=Issuing CA" in text and "ACCEPTED ALLOWED" in text and "OK: nothing would fail" in text

    assert main(["doctor", "--truststore", str(folder / "bad.pem"), "--json", "--at", when]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [[f["code"] for f in c["findings"]] for c in report["certificates"]] == [
        ["WEAK_ALGORITHM"],
        ["NOT_A_CA"],
        [],
    ]

    assert main([*args, "--csr", str(folder / "other.csr"), "--at", when]) == 1
    assert "FAIL KEY_MISMATCH" in capsys.readouterr().out
    assert main(["doctor", "--truststore", str(client.key)]) == 2  # not a bundle: usage error
    assert main(["doctor"]) == 2


def test_cryptography_made_bundle_at_the_suite_clock() -> None:
    """The same lint on a bundle made with cryptography, at the suite's fixed NOW."""
    root = CA.root("Doctor Root")
    issuing = root.intermediate("Doctor Issuing")
    report = lint_bundle(issuing.cert_pem + root.cert_pem, NOW)
    assert report.ok and [c.path_length for c in report.certificates] == [2, 1]
    leaf = issuing.issue("CN=doctor-client")
    checked = doctor(issuing.cert_pem + root.cert_pem, NOW, cert=leaf.cert_pem, key=leaf.key_pem)
    assert checked.ok and checked.client is not None and checked.client["allowed"]
