"""The truststore bundle: anchors and intermediates, indexed for path building.

API Gateway's meaning: the self-signed certificates of the bundle are trust anchors, the rest
intermediates (``TrustStore.from_certs`` lets ``verify --trust-anchor`` make every certificate
an anchor). ``id`` is the SHA-256 of the certificates, so caches keyed on it follow a change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .rules import algorithm_problem, is_self_signed, name_of, validity_problem


@dataclass(frozen=True)
class TrustStore:
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    id: str

    @classmethod
    def from_certs(
        cls, anchors: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()
    ) -> TrustStore:
        a, i = tuple(anchors), tuple(intermediates)
        if not a:
            raise ValueError("the truststore holds no trust anchor (no self-signed CA certificate)")
        digest = hashlib.sha256()
        for cert in (*a, *i):
            digest.update(cert.fingerprint(hashes.SHA256()))
        return cls(a, i, digest.hexdigest())

    @classmethod
    def from_bundle(cls, certs: Sequence[x509.Certificate]) -> TrustStore:
        """API Gateway's meaning: self-signed certificates are anchors, the rest intermediates."""
        flags = [is_self_signed(c) for c in certs]
        return cls.from_certs(
            [c for c, s in zip(certs, flags, strict=True) if s], [c for c, s in zip(certs, flags, strict=True) if not s]
        )

    @classmethod
    def from_pem(cls, data: bytes, source: str = "truststore") -> TrustStore:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is not a ValueError
            raise ValueError(f"{source}: no readable PEM certificate ({str(exc)[:120]})") from None
        return cls.from_bundle(certs)

    def problems(self, at: dt.datetime) -> list[str]:
        """What API Gateway would warn about only on a domain update: expired or weak CAs."""
        out = []
        for cert in (*self.anchors, *self.intermediates):
            err = validity_problem(cert, at)
            if err is not None:
                out.append(err.detail)
            alg = algorithm_problem(cert)
            if alg is not None:
                out.append(f"{name_of(cert)}: {alg}")
        return out
