"""OCSP (RFC 6960): build a request, and accept an answer only when it is the issuer's.

An answer counts only when all of these hold; anything else is UNKNOWN with the reason:

* ``responseStatus`` is successful and one SingleResponse's CertID matches the certificate
  (hash algorithm, issuer name hash, issuer key hash and serial, computed here);
* it is signed (over ``tbs_response_bytes``; ``OCSPResponse`` has no verify method) either by
  the issuer itself, or by a responder certificate carried in the answer that the issuer signed,
  that has the OCSP-signing EKU and is valid at the validation time; the ResponderID must name
  the signer. The delegated responder's own revocation is not checked (RFC 6960 4.2.2.2.1 lets
  CAs mark such certificates id-pkix-ocsp-nocheck, and most do);
* the nonce matches when one was sent (an answer without it is refused too: a replayed answer
  is exactly what a nonce guards against);
* it is current: ``thisUpdate <= at + skew`` and ``at <= nextUpdate + skew``, or, without
  nextUpdate, ``at <= thisUpdate + max_age``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from .der import spki_public_key_bits
from .signature import is_pss, verify_signature
from .status import RevocationStatus

CONTENT_TYPE = "application/ocsp-request"
NONCE_BYTES = 16


@dataclass(frozen=True)
class OcspAnswer:
    status: RevocationStatus
    detail: str
    this_update: dt.datetime | None = None
    #: Until when the answer may be reused (nextUpdate, or thisUpdate + max age).
    valid_until: dt.datetime | None = None


def unknown(detail: str) -> OcspAnswer:
    return OcspAnswer(RevocationStatus.UNKNOWN, detail)


def build_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None) -> bytes:
    """DER OCSPRequest for ``cert`` (SHA-1 CertID, what every responder understands)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _key_bits(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki_public_key_bits(spki)


def _digest(alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(alg)
    h.update(data)
    return h.finalize()


def _matches(
    single: ocsp.OCSPSingleResponse, cert: x509.Certificate, issuer: x509.Certificate, key_bits: bytes
) -> bool:
    if single.serial_number != cert.serial_number:
        return False
    alg = single.hash_algorithm
    return single.issuer_name_hash == _digest(alg, issuer.subject.public_bytes()) and single.issuer_key_hash == _digest(
        alg, key_bits
    )


def _names_signer(resp: ocsp.OCSPResponse, candidate: x509.Certificate) -> bool:
    if resp.responder_name is not None:
        return bool(resp.responder_name == candidate.subject)
    if resp.responder_key_hash is not None:
        return resp.responder_key_hash == hashlib.sha1(_key_bits(candidate)).digest()  # noqa: S324
    return False


def _delegate_problem(candidate: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> str | None:
    try:
        candidate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return "responder certificate is not issued by the certificate's issuer"
    try:
        eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "responder certificate lacks the OCSP-signing EKU"
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        return "responder certificate lacks the OCSP-signing EKU"
    if not candidate.not_valid_before_utc <= at <= candidate.not_valid_after_utc:
        return "responder certificate is not valid at the validation time"
    return None


def _signature_ok(resp: ocsp.OCSPResponse, signer: x509.Certificate) -> bool:
    if is_pss(resp.signature_algorithm_oid):
        return False  # cryptography does not expose the PSS parameters of an OCSP response
    return verify_signature(signer.public_key(), resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)


def _check_signer(resp: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime) -> str | None:
    """None when an authorized signer signed the answer, else why not."""
    if _names_signer(resp, issuer):
        return None if _signature_ok(resp, issuer) else "answer signature does not verify with the issuer's key"
    problems: list[str] = []
    for candidate in resp.certificates:
        if not _names_signer(resp, candidate):
            continue
        why = _delegate_problem(candidate, issuer, at)
        if why is None:
            if _signature_ok(resp, candidate):
                return None
            why = "answer signature does not verify with the responder certificate"
        problems.append(why)
    return problems[0] if problems else "answer is signed by an unauthorized responder"


def evaluate(
    data: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    nonce: bytes | None,
    at: dt.datetime,
    skew: dt.timedelta,
    max_age: dt.timedelta,
) -> OcspAnswer:
    """Judge a DER OCSPResponse for ``cert``; never raises. Every parser failure of
    ``cryptography`` (``InvalidVersion``, ``DuplicateExtension``, ``ValueError``,
    ``OverflowError`` ...) makes this answer UNKNOWN: it disqualifies the answer, never the
    whole check."""
    try:
        return _judge(data, cert, issuer, nonce=nonce, at=at, skew=skew, max_age=max_age)
    except Exception as exc:
        text = str(exc)
        return unknown(f"malformed OCSP answer: {type(exc).__name__}{': ' + text if text else ''}")


def _judge(
    data: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    nonce: bytes | None,
    at: dt.datetime,
    skew: dt.timedelta,
    max_age: dt.timedelta,
) -> OcspAnswer:
    resp = ocsp.load_der_ocsp_response(data)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return unknown(f"responder answered {resp.response_status.name}")
    key_bits = _key_bits(issuer)
    single = next((s for s in resp.responses if _matches(s, cert, issuer, key_bits)), None)
    if single is None:
        return unknown("answer does not cover this certificate (CertID mismatch)")
    why = _check_signer(resp, issuer, at)
    if why is not None:
        return unknown(why)
    if nonce is not None:
        try:
            got = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            return unknown("answer has no nonce but one was sent")
        if got != nonce:
            return unknown("answer nonce does not match the request")
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    # Skew goes on ``at``, never on the answer's dates: 9999-12-31T23:59:59Z is a valid date
    # and adding to it overflows ``datetime``.
    if this_update > at + skew:
        return unknown("answer thisUpdate is in the future")
    valid_until = next_update if next_update is not None else this_update + max_age
    if at - skew > valid_until:
        return unknown(f"answer is stale (valid until {valid_until:%Y-%m-%dT%H:%M:%SZ})")
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.GOOD:
        return OcspAnswer(RevocationStatus.GOOD, "good", this_update, valid_until)
    if status == ocsp.OCSPCertStatus.REVOKED:
        when = single.revocation_time_utc
        reason = single.revocation_reason
        detail = f"revoked at {when:%Y-%m-%dT%H:%M:%SZ}" if when else "revoked"
        if reason is not None:
            detail += f" ({reason.value})"
        return OcspAnswer(RevocationStatus.REVOKED, detail, this_update, valid_until)
    return unknown("responder does not know this certificate")
