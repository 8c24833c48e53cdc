"""The CRL index key in KMS: the indexer signs with it, the authorizer reads its public key.

* :class:`KmsSigner` (the indexer): ``kms:Sign`` of the index message (the SHA-256 of the
  index body, :mod:`..revocation.crl_idx_sig`) with ``MessageType=RAW`` and ``ECDSA_SHA_256``.
* :class:`KmsPublicKey` (the authorizer): ``kms:GetPublicKey`` once per cold start, bounded
  (one attempt, short timeouts: it runs inside a decision's revocation budget); a failure is
  remembered for ``retry_seconds`` and means "no key": every index is refused and the CRL is
  read itself, never "trust the index anyway".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ..reasons import SourceError
from ..revocation.crl_idx_sig import public_key_from_der

#: boto3's KMS client (no stubs installed for it: typed loosely, used through :func:`_call` only).
KMSClient = Any

log = logging.getLogger(__name__)


def _client(connect: float, read: float) -> KMSClient:
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=connect, read_timeout=read, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("kms", config=cfg)


def _call(key_id: str, name: str, client: KMSClient, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, name)(KeyId=key_id, **kwargs)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise SourceError(f"kms:{key_id}", f"KMS {err.get('Code', '')}: {err.get('Message', '')}".strip()) from None
    except BotoCoreError as exc:
        raise SourceError(f"kms:{key_id}", f"KMS unreachable: {exc}") from None


class KmsSigner:
    """The indexer's :class:`..revocation.crl_idx_sig.IndexSigner` on a KMS key."""

    def __init__(self, key_id: str, client_factory: Callable[[], KMSClient] | None = None) -> None:
        self.key_id = key_id
        self._factory = client_factory or (lambda: _client(2.0, 10.0))
        self._client: KMSClient | None = None
        self._public: ec.EllipticCurvePublicKey | None = None

    @property
    def client(self) -> KMSClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def sign(self, message: bytes) -> bytes:
        resp = _call(
            self.key_id, "sign", self.client, Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
        )
        return bytes(resp["Signature"])

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key's public half (the indexer checks the index it is about to replace)."""
        if self._public is None:
            der = bytes(_call(self.key_id, "get_public_key", self.client)["PublicKey"])
            try:
                self._public = public_key_from_der(der)
            except ValueError as exc:
                raise SourceError(f"kms:{self.key_id}", str(exc)) from None
        return self._public


class KmsPublicKey:
    """``() -> public key or None`` for the authorizer's index loader: fetched once, bounded."""

    def __init__(
        self,
        key_id: str,
        *,
        client_factory: Callable[[], KMSClient] | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = 60.0,
    ) -> None:
        self.key_id = key_id
        # One attempt of at most ~1.5 s: inside the revocation budget (2.5 s by default).
        self._factory = client_factory or (lambda: _client(0.5, 1.0))
        self.clock = clock
        self.retry_seconds = retry_seconds
        self._key: ec.EllipticCurvePublicKey | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def __call__(self) -> ec.EllipticCurvePublicKey | None:
        if self._key is not None:
            return self._key
        with self._lock:
            if self._key is not None:
                return self._key
            if self._failed_at is not None and self.clock() - self._failed_at < self.retry_seconds:
                return None
            self.fetches += 1
            try:
                der = bytes(_call(self.key_id, "get_public_key", self._factory())["PublicKey"])
                self._key = public_key_from_der(der)
            except Exception as exc:  # client creation (NoRegionError ...), the call, the key: no key
                self._failed_at = self.clock()
                log.error("CRL index key %s unavailable, indexes are refused: %s", self.key_id, exc)
                return None
            self._failed_at = None
            return self._key
