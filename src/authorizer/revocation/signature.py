"""Signature checks over the exact signed bytes (``tbs_certlist_bytes``, ``tbs_response_bytes``).

``CertificateRevocationList.is_signature_valid`` re-encodes the whole CRL (seconds for a
million entries) and ``OCSPResponse`` has no verify method at all, so both are checked here
with the signer's public key directly.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import SignatureAlgorithmOID

PublicKey = object  # whatever Certificate.public_key() returns


def verify_signature(
    public_key: PublicKey,
    signature: bytes,
    data: bytes,
    hash_alg: hashes.HashAlgorithm | None,
    params: object = None,
    *,
    prehashed: bool = False,
) -> bool:
    """True when ``signature`` over ``data`` verifies with ``public_key``.

    ``params`` is ``signature_algorithm_parameters`` where cryptography offers it (PKCS1v15,
    PSS or ECDSA); RSA defaults to PKCS#1 v1.5. With ``prehashed``, ``data`` is already the
    ``hash_alg`` digest of the signed bytes (RSA and ECDSA only: EdDSA signs the message
    itself). Never raises.
    """
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if hash_alg is None:
                return False
            pad = params if isinstance(params, padding.PSS | padding.PKCS1v15) else padding.PKCS1v15()
            public_key.verify(signature, data, pad, Prehashed(hash_alg) if prehashed else hash_alg)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if hash_alg is None:
                return False
            public_key.verify(signature, data, ec.ECDSA(Prehashed(hash_alg) if prehashed else hash_alg))
        elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            if prehashed:
                return False
            public_key.verify(signature, data)
        elif isinstance(public_key, dsa.DSAPublicKey):
            return False  # DSA is not accepted for revocation data
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def is_pss(oid: object) -> bool:
    return oid == SignatureAlgorithmOID.RSASSA_PSS
