"""The signature of a CRL index (format v2): what makes an index the indexer's and nobody else's.

An index is a cache of a CRL the indexer verified; before v2 nothing tied its bytes to the
indexer, and anyone able to write the ``.idx`` object could assemble an index the authorizer
believed (the review's F1). Now the indexer signs every index with an asymmetric key only it
may use (in the stack: a KMS key, ECC_NIST_P256, whose key policy lets only the indexer's role
``kms:Sign``), and the authorizer checks that signature with the public key before it reads
anything else in the index.

What is signed: the *message* is the 32-octet SHA-256 of the index body (header, CRL shell,
entry table: every byte before the trailer), and the signature is ECDSA P-256 with SHA-256
over that message (KMS ``Sign`` with ``MessageType=RAW`` and ``ECDSA_SHA_256``: KMS hashes the
32 octets once more). The trailer is ``uint16 length || DER signature`` (docs/crl-index-format.md).

No I/O here: the KMS signer and the public key fetch are in :mod:`..sources.kms`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

#: A DER ECDSA P-256 signature is at most 72 octets.
MAX_SIGNATURE = 80
_ALG = ec.ECDSA(hashes.SHA256())


class IndexSigner(Protocol):
    """Signs an index message (see the module docstring): KMS in the stack, a local key in tests."""

    def sign(self, message: bytes) -> bytes:
        """The DER ECDSA P-256/SHA-256 signature of ``message``."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key that verifies :meth:`sign`'s signatures."""
        ...


@dataclass(frozen=True)
class LocalSigner:
    """An :class:`IndexSigner` over a private key held in memory (tests, the benchmark, a
    deployment outside AWS)."""

    key: ec.EllipticCurvePrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, _ALG)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()


def message(body: bytes | memoryview) -> bytes:
    """What is signed for an index body: its SHA-256."""
    return hashlib.sha256(body).digest()


def sign_index(body: bytes, signer: IndexSigner) -> bytes:
    """``body`` with its signature trailer (``uint16 length || DER signature``)."""
    signature = signer.sign(message(body))
    if not 0 < len(signature) <= MAX_SIGNATURE:
        raise ValueError(f"index signer returned a {len(signature)}-octet signature")
    return body + len(signature).to_bytes(2, "big") + signature


def verify(key: ec.EllipticCurvePublicKey, signed_message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``signed_message`` (never raises)."""
    try:
        key.verify(signature, signed_message, _ALG)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_from_der(der: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 SubjectPublicKeyInfo (what KMS ``GetPublicKey`` returns); ValueError otherwise."""
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the CRL index key must be an ECC_NIST_P256 (P-256) public key")
    return key


def public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
