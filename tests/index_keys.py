"""The CRL index signing key of the tests (what KMS is in the stack): a local P-256 key."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ec

from authorizer.revocation.crl_idx_sig import LocalSigner, public_key_der, sign_index

#: The indexer's key in tests; :data:`ATTACKER` is anybody else's.
SIGNER = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
ATTACKER = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
#: ``crl.index.public_key`` for a policy document that trusts :data:`SIGNER`.
PUBLIC_KEY_B64 = base64.b64encode(public_key_der(SIGNER.public_key())).decode()


def signed(body: bytes, signer: LocalSigner = SIGNER) -> bytes:
    """An index body with its signature trailer."""
    return sign_index(body, signer)
