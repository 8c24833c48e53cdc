"""A tiny certificate factory for tests, the demo and benchmarks (in the spirit of ``trustme``).

It is not used on the Lambda's request path; only the CLI's demo command, the tests and the
benchmarks import it. Everything is built with ``cryptography`` so that tests exercise real
certificates, never fixtures copied from elsewhere.

    root = CA.root("Demo Root CA")
    issuing = root.intermediate("Demo Issuing CA")
    client = issuing.issue("CN=client1,O=Partner A", key="p256")
    client.cert_pem, client.key_pem, issuing.chain_pem
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa1024", "rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521", "secp256k1", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

DEFAULT_NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DEFAULT_NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)

_CURVES: dict[str, ec.EllipticCurve] = {
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
    "p521": ec.SECP521R1(),
    "secp256k1": ec.SECP256K1(),
}


def new_key(kind: KeyKind) -> PrivateKey:
    """Generate a fresh private key of the given kind."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(_CURVES[kind])


@functools.cache
def shared_key(kind: KeyKind, slot: int = 0) -> PrivateKey:
    """A key reused across the process: RSA generation costs tens of milliseconds, and most
    tests do not care whether two certificates share a key, only that the CA's differs."""
    return new_key(kind)


def parse_name(text: str) -> x509.Name:
    """``"CN=client1,O=Partner A"`` to an ``x509.Name`` (RFC 4514, most significant RDN last)."""
    return x509.Name.from_rfc4514_string(text)


def _sig_hash(key: PrivateKey, hash_alg: hashes.HashAlgorithm | None) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    return hash_alg or hashes.SHA256()


def to_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Issued:
    """A certificate with its key and the chain above it (issuer first, root last)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def chain_pem(self) -> bytes:
        """The certificate followed by its chain up to (and including) the root."""
        return to_pem((self.cert, *self.chain))


@dataclass(frozen=True)
class CA(Issued):
    """A certificate authority that can issue intermediates and leaves."""

    path_length: int | None = None
    _serials: list[int] = field(default_factory=lambda: [0x1000], compare=False, repr=False)

    @property
    def name(self) -> x509.Name:
        return self.cert.subject

    @classmethod
    def root(
        cls,
        common_name: str = "Test Root CA",
        *,
        key: KeyKind | PrivateKey = "p256",
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER,
        hash_alg: hashes.HashAlgorithm | None = None,
        path_length: int | None = None,
        subject: str | None = None,
    ) -> CA:
        private = new_key(key) if isinstance(key, str) else key
        name = _ca_name(common_name, subject)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        )
        cert = builder.sign(private, _sig_hash(private, hash_alg))  # type: ignore[arg-type]
        return cls(cert=cert, key=private, chain=(), path_length=path_length)

    def _next_serial(self) -> int:
        self._serials[0] += 1
        return self._serials[0]

    def _builder(
        self,
        subject: x509.Name,
        public_key: object,
        serial: int | None,
        not_before: dt.datetime,
        not_after: dt.datetime,
        crl_urls: Sequence[str],
        ocsp_url: str | None,
    ) -> x509.CertificateBuilder:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(serial if serial is not None else self._next_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        )
        if crl_urls:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(u)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                        for u in crl_urls
                    ]
                ),
                critical=False,
            )
        if ocsp_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                        )
                    ]
                ),
                critical=False,
            )
        return builder

    def intermediate(
        self,
        common_name: str = "Test Issuing CA",
        *,
        key: KeyKind | PrivateKey = "p256",
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER,
        hash_alg: hashes.HashAlgorithm | None = None,
        path_length: int | None = None,
        serial: int | None = None,
        crl_urls: Sequence[str] = (),
        ocsp_url: str | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        subject: str | None = None,
    ) -> CA:
        private = new_key(key) if isinstance(key, str) else key
        name = _ca_name(common_name, subject)
        builder = self._builder(name, private.public_key(), serial, not_before, not_after, crl_urls, ocsp_url)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        builder = builder.add_extension(_ca_key_usage(), critical=True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        cert = builder.sign(self.key, _sig_hash(self.key, hash_alg))  # type: ignore[arg-type]
        return CA(cert=cert, key=private, chain=(self.cert, *self.chain), path_length=path_length)

    def issue(
        self,
        subject: str = "CN=client",
        *,
        key: KeyKind | PrivateKey = "p256",
        sans: Sequence[x509.GeneralName] = (),
        eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
        serial: int | None = None,
        not_before: dt.datetime = DEFAULT_NOT_BEFORE,
        not_after: dt.datetime = DEFAULT_NOT_AFTER,
        hash_alg: hashes.HashAlgorithm | None = None,
        crl_urls: Sequence[str] = (),
        ocsp_url: str | None = None,
        is_ca: bool | None = False,
        key_usage: x509.KeyUsage | None = None,
        extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ) -> Issued:
        """Issue an end-entity certificate. ``eku=None`` omits the EKU extension (common in
        private PKIs); ``is_ca=None`` omits basicConstraints."""
        private = new_key(key) if isinstance(key, str) else key
        builder = self._builder(
            parse_name(subject), private.public_key(), serial, not_before, not_after, crl_urls, ocsp_url
        )
        if is_ca is not None:
            builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        if key_usage is None and is_ca:
            key_usage = _ca_key_usage()
        if key_usage is None:
            key_usage = x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            )
        builder = builder.add_extension(key_usage, critical=True)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        for ext, critical in extra_extensions:
            builder = builder.add_extension(ext, critical=critical)
        cert = builder.sign(self.key, _sig_hash(self.key, hash_alg))  # type: ignore[arg-type]
        return Issued(cert=cert, key=private, chain=(self.cert, *self.chain))


def self_signed_leaf(
    subject: str = "CN=self-signed client",
    *,
    key: KeyKind | PrivateKey = "p256",
    not_before: dt.datetime = DEFAULT_NOT_BEFORE,
    not_after: dt.datetime = DEFAULT_NOT_AFTER,
) -> Issued:
    """A self-signed end-entity certificate, as some clients present instead of a CA-issued one."""
    private = new_key(key) if isinstance(key, str) else key
    name = parse_name(subject)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(private, _sig_hash(private, None))  # type: ignore[arg-type]
    )
    return Issued(cert=cert, key=private)


def _ca_name(common_name: str, subject: str | None) -> x509.Name:
    """``subject`` (RFC 4514) when given, else ``CN=<common_name>,O=Test PKI``."""
    if subject:
        return parse_name(subject)
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


# --- revocation helpers (CRLs, OCSP responders) -------------------------------------------------


def make_crl(
    issuer: CA,
    revoked: Iterable[int | tuple[int, x509.ReasonFlags | None]] = (),
    *,
    this_update: dt.datetime,
    next_update: dt.datetime | None,
    signer: PrivateKey | None = None,
    issuer_name: x509.Name | None = None,
    crl_number: int | None = 1,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    revocation_date: dt.datetime | None = None,
    hash_alg: hashes.HashAlgorithm | None = None,
) -> x509.CertificateRevocationList:
    """A CRL from ``issuer`` listing ``revoked`` serials (optionally with a reason).

    The whole list goes to the builder at once: ``add_revoked_certificate`` one by one is
    quadratic. ``signer``/``issuer_name`` let tests forge a CRL signed by the wrong key or naming
    someone else; ``next_update=None`` omits nextUpdate.
    """
    entries: list[x509.RevokedCertificate] = []
    when = revocation_date or this_update
    for item in revoked:
        serial, reason = item if isinstance(item, tuple) else (item, None)
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        entries.append(rb.build())
    exts: list[x509.Extension[x509.ExtensionType]] = []
    if crl_number is not None:
        exts.append(x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(crl_number)))
    exts.extend(x509.Extension(e.oid, crit, e) for e, crit in extensions)
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer_name or issuer.cert.subject,
        last_update=this_update,
        next_update=next_update or this_update + dt.timedelta(days=1),
        extensions=exts,
        revoked_certificates=entries,
    )
    if next_update is None:
        # The builder insists on nextUpdate; build with one and strip it from the DER.
        return _crl_without_next_update(builder, signer or issuer.key, hash_alg)
    key = signer or issuer.key
    return builder.sign(key, _sig_hash(key, hash_alg))  # type: ignore[arg-type]


def _crl_without_next_update(
    builder: x509.CertificateRevocationListBuilder,
    key: PrivateKey,
    hash_alg: hashes.HashAlgorithm | None,
) -> x509.CertificateRevocationList:
    from .revocation.der import read_header

    crl = builder.sign(key, _sig_hash(key, hash_alg))  # type: ignore[arg-type]
    tbs = crl.tbs_certlist_bytes
    _, pos, end = read_header(tbs, 0)
    parts: list[bytes] = []
    times = 0
    while pos < end:
        tag, _, nxt = read_header(tbs, pos)
        if tag in (0x17, 0x18):
            times += 1
            if times == 2:
                pos = nxt
                continue
        parts.append(tbs[pos:nxt])
        pos = nxt
    return x509.load_der_x509_crl(_sign_tbs(b"".join(parts), key, hash_alg, crl))


def _sign_tbs(
    tbs_content: bytes, key: PrivateKey, hash_alg: hashes.HashAlgorithm | None, template: x509.CertificateRevocationList
) -> bytes:
    """Wrap ``tbs_content`` as a TBSCertList, sign it and return the CRL DER, copying the
    signatureAlgorithm from ``template`` (signed by the same key with the same hash)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    from .revocation.der import encode_tlv, read_header

    tbs = encode_tlv(0x30, tbs_content)
    h = _sig_hash(key, hash_alg)
    if isinstance(key, rsa.RSAPrivateKey):
        assert h is not None
        sig = key.sign(tbs, padding.PKCS1v15(), h)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        assert h is not None
        sig = key.sign(tbs, ec.ECDSA(h))
    else:
        sig = key.sign(tbs)
    der = template.public_bytes(serialization.Encoding.DER)
    _, pos, _ = read_header(der, 0)
    _, _, alg_start = read_header(der, pos)  # skip the template's TBS
    _, _, alg_end = read_header(der, alg_start)
    return encode_tlv(0x30, tbs + der[alg_start:alg_end] + encode_tlv(0x03, b"\x00" + sig))


def make_large_crl_der(
    issuer: CA,
    serials: Sequence[int],
    *,
    this_update: dt.datetime,
    next_update: dt.datetime,
    with_reason: bool = False,
) -> bytes:
    """A DER CRL with many entries, encoded directly (the builder needs seconds per 100k entries).

    Entries are ``SEQUENCE { INTEGER serial, UTCTime this_update [, reasonCode keyCompromise] }``.
    """
    from .revocation.der import encode_tlv, read_header

    template = make_crl(issuer, (), this_update=this_update, next_update=next_update)
    tbs = template.tbs_certlist_bytes
    _, pos, end = read_header(tbs, 0)
    head: list[bytes] = []
    tail = b""
    while pos < end:
        tag, _, nxt = read_header(tbs, pos)
        if tag == 0xA0:
            tail = tbs[pos:nxt]
        else:
            head.append(tbs[pos:nxt])
        pos = nxt
    date = encode_tlv(0x17, this_update.strftime("%y%m%d%H%M%SZ").encode())
    # reasonCode keyCompromise(1): Extension { 2.5.29.21, OCTET STRING { ENUMERATED 1 } }
    reason = bytes.fromhex("300c300a0603551d150403 0a0101".replace(" ", "")) if with_reason else b""
    entries: list[bytes] = []
    append = entries.append
    for serial in serials:
        raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
        append(encode_tlv(0x30, encode_tlv(0x02, raw) + date + reason))
    body = b"".join(head) + encode_tlv(0x30, b"".join(entries)) + tail
    return _sign_tbs(body, issuer.key, None, template)


def ocsp_index_line(cert: x509.Certificate, *, revoked_at: dt.datetime | None = None, reason: str | None = None) -> str:
    """One line of an ``openssl ca``/``openssl ocsp -index`` database for ``cert``.

    Columns (tab-separated): status V/R, expiry, revocation time[,reason], serial (upper-case
    hex, even length), file name ("unknown"), subject in openssl's one-line form.
    """
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    serial = format(cert.serial_number, "X")
    if len(serial) % 2:
        serial = "0" + serial
    subject = "/" + "/".join(a.rfc4514_string() for a in reversed(cert.subject.rdns))
    if revoked_at is None:
        return f"V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"
    when = revoked_at.strftime("%y%m%d%H%M%SZ") + (f",{reason}" if reason else "")
    return f"R\t{expiry}\t{when}\t{serial}\tunknown\t{subject}\n"


def ocsp_responder_cert(
    issuer: CA, subject: str = "CN=Test OCSP Responder", *, key: KeyKind | PrivateKey = "p256", eku: bool = True
) -> Issued:
    """A delegated OCSP responder certificate issued by ``issuer`` (``eku=False`` leaves out
    id-kp-OCSPSigning, which makes it an unauthorized signer)."""
    return issuer.issue(subject, key=key, eku=[ExtendedKeyUsageOID.OCSP_SIGNING] if eku else None)
