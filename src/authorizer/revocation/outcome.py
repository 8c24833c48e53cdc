"""What a revocation check answers: one status per certificate, and the chain's outcome with
the refusal it means under ``on_unknown``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..reasons import AuthorizerError, Reason
from .status import RevocationStatus


@dataclass(frozen=True)
class CertStatus:
    subject: str
    serial_hex: str
    status: RevocationStatus
    source: str  # "ocsp:<url>", "crl:<uri>", "cache", "none", "budget"
    detail: str

    def describe(self) -> str:
        return f"{self.subject} (serial {self.serial_hex}): {self.status.value} from {self.source}: {self.detail}"


@dataclass(frozen=True)
class RevocationOutcome:
    status: RevocationStatus
    certs: tuple[CertStatus, ...]

    @classmethod
    def of(cls, certs: Iterable[CertStatus]) -> RevocationOutcome:
        items = tuple(certs)
        states = {c.status for c in items}
        if RevocationStatus.REVOKED in states:
            status = RevocationStatus.REVOKED
        elif RevocationStatus.UNKNOWN in states:
            status = RevocationStatus.UNKNOWN
        else:
            status = RevocationStatus.GOOD
        return cls(status, items)

    @property
    def detail(self) -> str:
        """The certificates that decided the outcome, one clause each."""
        return "; ".join(c.describe() for c in self.certs if c.status == self.status) or "nothing to check"

    def error(self, on_unknown: str) -> AuthorizerError | None:
        """The refusal this outcome means under ``on_unknown``, or None for an Allow."""
        if self.status == RevocationStatus.REVOKED:
            return AuthorizerError(Reason.REVOKED, self.detail)
        if self.status == RevocationStatus.UNKNOWN and on_unknown != "allow":
            return AuthorizerError(Reason.REVOCATION_UNKNOWN, self.detail)
        return None
