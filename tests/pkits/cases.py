"""The PKITS cases as the cache holds them, and what each one expects of us.

``scripts/fetch_pkits.py`` (run by ``make unit``/``make test``) puts the fixture folder in
``.cache/pkits/nist_pkits``; ``PKITS_DIR`` overrides the place. Nothing here touches the
network.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography import x509

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PKITS_DIR", ROOT / ".cache" / "pkits" / "nist_pkits"))
ANCHOR = "TrustAnchorRootCertificate.crt"
ANCHOR_CRL = "TrustAnchorRootCRL.crl"
MISSING = f"NIST PKITS cache {CACHE} is absent: run `make pkits` (python scripts/fetch_pkits.py)"


class Stage(enum.Enum):
    """Where a case must end: an Allow, a chain-stage Deny, or a revocation Deny."""

    ALLOW = "allow"
    CHAIN = "chain"
    REVOKED = "REVOKED"
    REVOCATION_UNKNOWN = "REVOCATION_UNKNOWN"


#: pyhanko-certvalidator's error classes -> where we must end.
EXPECTED = {
    None: Stage.ALLOW,
    "PathValidationError": Stage.CHAIN,
    "RevokedError": Stage.REVOKED,
    "InsufficientRevinfoError": Stage.REVOCATION_UNKNOWN,
    "StaleRevinfoError": Stage.REVOCATION_UNKNOWN,
}


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    cert: str
    other_certs: tuple[str, ...]
    crls: tuple[str, ...]
    path_len: int
    revocation: bool
    error: str | None
    params: dict[str, object] = field(default_factory=dict)

    @property
    def section(self) -> str:
        """``4.4`` for ``40401``."""
        return f"{int(self.id[0])}.{int(self.id[1:3])}"

    @property
    def expected(self) -> Stage:
        return EXPECTED[self.error]

    def __str__(self) -> str:
        return f"{self.id}-{self.name}"


def available() -> bool:
    return (CACHE / "pkits.json").is_file()


@cache
def load_cases() -> tuple[Case, ...]:
    raw = json.loads((CACHE / "pkits.json").read_text(encoding="utf-8"))
    return tuple(
        Case(
            id=str(c["id"]),
            name=str(c["name"]),
            cert=c["cert"],
            other_certs=tuple(c.get("other_certs", ())),
            crls=tuple(c.get("crls", ())),
            path_len=int(c["path_len"]),
            revocation=bool(c.get("revocation", True)),
            error=(c.get("error") or {}).get("class"),
            params=dict(c.get("params", {})),
        )
        for c in raw
    )


def cert_der(name: str) -> bytes:
    return (CACHE / "certs" / name).read_bytes()


def crl_der(name: str) -> bytes:
    return (CACHE / "crls" / name).read_bytes()


def load_cert(name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert_der(name))
