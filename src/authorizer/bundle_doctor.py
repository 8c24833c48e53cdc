"""``doctor --truststore``: lint a truststore bundle the way API Gateway reads it, certificate by
certificate, and check that a certificate, its private key and its CSR belong together.

API Gateway reports a bad truststore only as "There is an invalid certificate in your truststore
bundle" (or a ``truststoreWarnings`` entry at a domain update), never which one or why; a client
that presents a certificate whose key is not the one it was issued for fails the handshake with
no hint either. This module names the certificate and the rule: expired or expiring, weak
signature or key, not a CA, no self-signed root, a path longer than API Gateway's 4, one subject
from two issuers, a certificate that chains to nothing in the bundle. With a client certificate
it adds what our own validation (:class:`ChainValidator`) decides against the bundle.

Pure: it reads the bytes it is given and the clock it is told; the CLI does the file I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .certificate import ClientCertificate
from .reasons import AuthorizerError
from .validation import MAX_CHAIN_LENGTH, ChainValidator, TrustStore, algorithm_problem

#: A CA expiring within this many days is reported (a warning: it still works today).
EXPIRY_WARNING_DAYS = 30


class Severity(enum.StrEnum):
    FAIL = "fail"  # API Gateway (or our validation) would refuse: exit 1
    WARN = "warn"  # works today, needs attention


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True)
class CertReport:
    """One certificate of the bundle, in file order (``index`` from 1)."""

    index: int
    subject: str
    issuer: str
    serial: str
    not_after: str
    sha256: str
    self_signed: bool
    #: Certificates from this one up to a self-signed root of the bundle; None: no such path.
    path_length: int | None
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class DoctorReport:
    bundle: str
    at: str
    certificates: tuple[CertReport, ...]
    bundle_findings: tuple[Finding, ...] = ()
    #: What ChainValidator decided for the client certificate, when one was given.
    client: dict[str, Any] | None = None
    key_findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def all_findings(self) -> list[Finding]:
        out = [*self.bundle_findings, *self.key_findings]
        for cert in self.certificates:
            out.extend(cert.findings)
        return out

    @property
    def ok(self) -> bool:
        """Nothing would fail (warnings allowed)."""
        return all(f.severity is not Severity.FAIL for f in self.all_findings())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def lines(self) -> list[str]:
        """The report for people: one block per certificate, then the checks across them."""
        out = [f"truststore {self.bundle}: {len(self.certificates)} certificate(s), checked at {self.at}"]
        for c in self.certificates:
            role = "root (self-signed)" if c.self_signed else "intermediate"
            depth = f"path of {c.path_length} to a root" if c.path_length else "no path to a root"
            out.append(f"  #{c.index} {c.subject}  [{role}, {depth}]")
            out.append(f"      issuer {c.issuer}, serial {c.serial}, not after {c.not_after}, sha256 {c.sha256}")
            out.extend(f"      {f.severity.value.upper()} {f.code}: {f.message}" for f in c.findings)
            if not c.findings:
                out.append("      ok")
        out.extend(f"  {f.severity.value.upper()} {f.code}: {f.message}" for f in self.bundle_findings)
        if self.client is not None:
            verdict = "ACCEPTED" if self.client["allowed"] else "REFUSED"
            detail = f" - {self.client['detail']}" if self.client["detail"] else ""
            out.append(f"certificate {self.client['subject']}: {verdict} {self.client['reason']}{detail}")
            out.extend(f"  {depth}: {name}" for depth, name in enumerate(self.client["chain"]))
        out.extend(f"{f.severity.value.upper()} {f.code}: {f.message}" for f in self.key_findings)
        out.extend(self.notes)
        out.append("OK: nothing would fail" if self.ok else "FAILED: see the FAIL lines above")
        return out


def _fail(code: str, message: str) -> Finding:
    return Finding(Severity.FAIL, code, message)


class DoctorInputError(ValueError):
    """An input that cannot be read as what it should be (the CLI's usage error, exit 2)."""


def _certs(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise DoctorInputError(f"{what}: no readable certificate (PEM or DER)") from None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name and signature match. The signature is checked with whatever hash it uses (SHA-1
    included): a weak signature is its own finding, not a missing issuer."""
    if cert.issuer != issuer.subject:
        return False
    key, algorithm = issuer.public_key(), cert.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            cert.verify_directly_issued_by(issuer)
    except Exception:  # wrong key, unsupported algorithm: not this issuer
        return False
    return True


def _path_lengths(certs: Sequence[x509.Certificate], roots: Sequence[bool]) -> list[int | None]:
    """Shortest path (in certificates, both ends included) from each one to a bundle root."""
    issuers = [[j for j, other in enumerate(certs) if j != i and _issued_by(c, other)] for i, c in enumerate(certs)]
    lengths: list[int | None] = [1 if root else None for root in roots]
    for _ in certs:  # Bellman-Ford style relaxation: at most len(certs) rounds
        changed = False
        for i, ups in enumerate(issuers):
            for j in ups:
                up = lengths[j]
                current = lengths[i]
                if up is not None and (current is None or up + 1 < current):
                    lengths[i], changed = up + 1, True
        if not changed:
            break
    return lengths


def _cert_findings(
    cert: x509.Certificate, at: dt.datetime, self_signed: bool, length: int | None, bundle: Sequence[x509.Certificate]
) -> list[Finding]:
    out: list[Finding] = []
    not_after = cert.not_valid_after_utc
    if at > not_after:
        out.append(_fail("EXPIRED", f"expired at {not_after.isoformat()}"))
    elif at < cert.not_valid_before_utc:
        out.append(_fail("NOT_YET_VALID", f"not valid before {cert.not_valid_before_utc.isoformat()}"))
    elif not_after - at <= dt.timedelta(days=EXPIRY_WARNING_DAYS):
        out.append(Finding(Severity.WARN, "EXPIRING", f"expires in {(not_after - at).days} day(s), at {not_after}"))
    problem = algorithm_problem(cert)
    if problem is not None:
        out.append(_fail("WEAK_ALGORITHM", problem))
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        out.append(_fail("NOT_A_CA", "basicConstraints CA:TRUE missing: a truststore holds CA certificates only"))
    if length is None and not self_signed:
        issuer = cert.issuer.rfc4514_string()
        out.append(_fail("UNCHAINED", f"issuer '{issuer}' not in the bundle (or it did not sign this): add it"))
    elif length is not None and length + 1 > MAX_CHAIN_LENGTH:
        out.append(
            _fail(
                "PATH_TOO_LONG",
                f"{length} certificate(s) from it to the root: a client certificate it issues makes a path of "
                f"{length + 1}, over API Gateway's {MAX_CHAIN_LENGTH}",
            )
        )
    others = {o.issuer.rfc4514_string() for o in bundle if o is not cert and o.subject == cert.subject}
    others.discard(cert.issuer.rfc4514_string())
    if others:
        names = ", ".join(sorted(others))
        out.append(_fail("DUPLICATE_SUBJECT", f"same subject also issued by {names}: a path may go through either"))
    return out


def lint_bundle(data: bytes, at: dt.datetime, source: str = "truststore") -> DoctorReport:
    certs = _certs(data, source)
    roots = [c.issuer == c.subject and _issued_by(c, c) for c in certs]
    lengths = _path_lengths(certs, roots)
    reports = []
    for i, (cert, root, length) in enumerate(zip(certs, roots, lengths, strict=True), start=1):
        reports.append(
            CertReport(
                index=i,
                subject=cert.subject.rfc4514_string(),
                issuer=cert.issuer.rfc4514_string(),
                serial=format(cert.serial_number, "x"),
                not_after=cert.not_valid_after_utc.isoformat(),
                sha256=cert.fingerprint(hashes.SHA256()).hex(),
                self_signed=root,
                path_length=length,
                findings=tuple(_cert_findings(cert, at, root, length, certs)),
            )
        )
    bundle: list[Finding] = []
    if not any(roots):
        bundle.append(_fail("NO_ROOT", "no self-signed root certificate: the bundle must reach a root"))
    return DoctorReport(source, at.isoformat(), tuple(reports), tuple(bundle))


def check_client(bundle: bytes, cert_data: bytes, at: dt.datetime, what: str = "certificate") -> dict[str, Any]:
    """What ChainValidator decides for the certificate (plus any intermediates after it)."""
    certs = _certs(cert_data, what)
    leaf = ClientCertificate(certs[0])
    result: dict[str, Any] = {"subject": leaf.subject, "allowed": False, "reason": "", "detail": "", "chain": []}
    try:
        validator = ChainValidator(TrustStore.from_bundle(_certs(bundle, "truststore")), cache_size=0)
        path = validator.validate(leaf, at, certs[1:])
    except ValueError as exc:  # no anchor at all
        result.update(reason="ISSUER_NOT_FOUND", detail=str(exc))
        return result
    except AuthorizerError as exc:
        result.update(reason=exc.reason.value, detail=exc.detail)
        return result
    result.update(allowed=True, reason="ALLOWED", chain=path.describe())
    return result


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _key_spki(data: bytes, what: str) -> bytes | Finding:
    """The key's SubjectPublicKeyInfo, or a finding when it is encrypted."""
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return _spki(loader(data, password=None).public_key())
    except TypeError:  # "Password was not given but private key is encrypted"
        return _fail(
            "KEY_ENCRYPTED",
            f"{what} is encrypted: compare its public key instead "
            f"(openssl pkey -in {what} -pubout > key.pub, asks for the passphrase) or decrypt a copy",
        )
    except (ValueError, UnsupportedAlgorithm):
        raise DoctorInputError(f"{what}: not a readable private key (PEM or DER, RSA or EC)") from None


def _csr_spki(data: bytes, what: str) -> tuple[bytes, Finding | None]:
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
    except ValueError:
        raise DoctorInputError(f"{what}: not a readable CSR (PEM or DER)") from None
    bad = None if csr.is_signature_valid else _fail("CSR_SIGNATURE", f"{what}: signature invalid")
    return _spki(csr.public_key()), bad


def match_keys(cert: bytes | None, key: bytes | None, csr: bytes | None, names: Sequence[str]) -> list[Finding]:
    """Certificate, key and CSR share one public key (the article's ``-modulus | sha1``, for any
    key type: the whole SubjectPublicKeyInfo is compared)."""
    found: list[Finding] = []
    spkis: dict[str, bytes] = {}
    if cert is not None:
        spkis[names[0]] = _spki(_certs(cert, names[0])[0].public_key())
    if key is not None:
        k = _key_spki(key, names[1])
        if isinstance(k, Finding):
            found.append(k)
        else:
            spkis[names[1]] = k
    if csr is not None:
        c, bad = _csr_spki(csr, names[2])
        spkis[names[2]] = c
        found.extend([bad] if bad else [])
    groups: dict[bytes, list[str]] = defaultdict(list)
    for name, spki in spkis.items():
        groups[spki].append(name)
    if len(groups) > 1:
        sha = {n: hashlib.sha256(s).hexdigest()[:16] for n, s in spkis.items()}
        listing = ", ".join(f"{n} {sha[n]}" for n in spkis)
        found.append(_fail("KEY_MISMATCH", f"different public keys (SPKI sha256: {listing})"))
    return found


def doctor(
    bundle: bytes,
    at: dt.datetime,
    *,
    source: str = "truststore",
    cert: bytes | None = None,
    key: bytes | None = None,
    csr: bytes | None = None,
    names: Sequence[str] = ("certificate", "key", "csr"),
) -> DoctorReport:
    """The whole report: the bundle, the client certificate against it, and the key match."""
    report = lint_bundle(bundle, at, source)
    client = check_client(bundle, cert, at, names[0]) if cert is not None else None
    keys: list[Finding] = []
    if client is not None and not client["allowed"]:
        keys.append(_fail("CERT_REFUSED", f"{client['reason']}: {client['detail']}"))
    if key is not None or csr is not None:
        keys.extend(match_keys(cert, key, csr, names))
    notes: tuple[str, ...] = ()
    if key is not None and csr is None and cert is None:
        notes = ("note: a key alone is only checked for readability; give CERT or --csr to compare",)
    return DoctorReport(
        report.bundle, report.at, report.certificates, report.bundle_findings, client, tuple(keys), notes
    )
