"""The product's rules on top of RFC 5280: API Gateway's algorithms, chain length, EKU modes.

API Gateway admits a truststore certificate only with a SHA-256 or stronger signature and an
RSA >= 2048 or ECDSA P-256/P-384 key, and a path of at most four certificates from leaf to
root. It checks the CAs; the authorizer checks the client's own key too, since a weak client key
is the easiest one to forge a handshake with.
"""

from __future__ import annotations

import datetime as dt
import enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from ..reasons import AuthorizerError, Reason

#: API Gateway: "the maximum chain length is four" (leaf to root, both included).
MAX_CHAIN_LENGTH = 4
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_ALLOWED_CURVES = ("secp256r1", "secp384r1")


class EkuMode(enum.StrEnum):
    """Which extended key usage a certificate must allow (when it has an EKU extension at all)."""

    CLIENT_AUTH = "clientAuth"
    SERVER_AUTH = "serverAuth"
    ANY = "any"


def algorithm_problem(cert: x509.Certificate) -> str | None:
    """API Gateway's algorithm rules for one certificate, or ``None`` when it complies."""
    try:
        sig_hash = cert.signature_hash_algorithm
    except Exception:
        return f"unsupported signature algorithm {cert.signature_algorithm_oid.dotted_string}"
    if not isinstance(sig_hash, _STRONG_HASHES):
        name = sig_hash.name if sig_hash is not None else cert.signature_algorithm_oid._name
        return f"signature algorithm {name} (SHA-256 or stronger required)"
    try:
        key = cert.public_key()
    except Exception:
        return "public key cannot be read"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"RSA key of {key.key_size} bits (2048 or more required)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _ALLOWED_CURVES:
            return f"EC key on {key.curve.name} (P-256 or P-384 required)"
        return None
    return f"{type(key).__name__.removesuffix('PublicKey') or 'unknown'} key (RSA or ECDSA P-256/P-384 required)"


def key_kind(key: object) -> str:
    """The verification family of a public key, computed once per issuer (isinstance() on
    cryptography's key ABCs costs microseconds per call)."""
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "ed"
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa"
    return "other"


def signature_valid(cert: x509.Certificate, key: object, kind: str | None = None) -> bool:
    """Whether ``key`` verifies ``cert``'s signature over its TBS bytes.

    Not ``verify_directly_issued_by``: that one also compares the issuer and subject names
    byte for byte, where RFC 5280 §7.1 compares them as normalized names (path building does).
    RSA PKCS#1 v1.5 and PSS (the parameters come from the certificate), ECDSA, EdDSA and DSA
    (the last refused later by the algorithm rules, but verified honestly first).
    """
    kind = kind or key_kind(key)
    try:
        params = cert.signature_algorithm_parameters
        algorithm = cert.signature_hash_algorithm
        if kind == "rsa":
            if not isinstance(params, padding.PSS | padding.PKCS1v15) or algorithm is None:
                return False
            if len(cert.signature) != (key.key_size + 7) // 8:  # type: ignore[attr-defined]
                # OpenSSL accepts a PSS signature shorter than the modulus (leading zero bytes
                # dropped): one signed certificate, several encodings and fingerprints. One only.
                return False
            key.verify(cert.signature, cert.tbs_certificate_bytes, params, algorithm)  # type: ignore[attr-defined]
        elif kind == "ec":
            if not isinstance(params, ec.ECDSA):
                return False
            key.verify(cert.signature, cert.tbs_certificate_bytes, params)  # type: ignore[attr-defined]
        elif kind == "ed":
            if algorithm is not None:
                return False
            key.verify(cert.signature, cert.tbs_certificate_bytes)  # type: ignore[attr-defined]
        elif kind == "dsa":
            if algorithm is None:
                return False
            key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)  # type: ignore[attr-defined]
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def outside_window(cert: x509.Certificate, at: dt.datetime) -> AuthorizerError:
    """The error for a certificate known to be outside its validity window at ``at``."""
    if at < cert.not_valid_before_utc:
        return AuthorizerError(
            Reason.NOT_YET_VALID, f"{name_of(cert)} is not valid before {cert.not_valid_before_utc.isoformat()}"
        )
    return AuthorizerError(Reason.EXPIRED, f"{name_of(cert)} expired at {cert.not_valid_after_utc.isoformat()}")


def validity_problem(cert: x509.Certificate, at: dt.datetime) -> AuthorizerError | None:
    if cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return None
    return outside_window(cert, at)


def name_of(cert: x509.Certificate) -> str:
    """A certificate's subject for a message; never raises (a name may hold undecodable values)."""
    try:
        return f"'{cert.subject.rfc4514_string()}'"
    except Exception:
        return f"'<undecodable subject, serial {cert.serial_number:x}>'"


def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued (subject and issuer equal as RFC 4518-normalized names) and verifiable with its
    own key: what API Gateway and OpenSSL treat as a root."""
    from ..dn import name_key

    try:
        if name_key(cert.subject) != name_key(cert.issuer):
            return False
        return signature_valid(cert, cert.public_key())
    except Exception:
        return False
