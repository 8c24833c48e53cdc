"""Stable reason codes and the typed errors that carry them.

Logs, metrics, the CLI and the tests all speak these codes, so they never change name. Every
pipeline stage either returns a value or raises :class:`AuthorizerError` with one of them; the
handler turns any such error into a Deny. Keeping one error type (as
``cryptography.x509.verification`` does) means callers never have to guess which exception a
stage may raise.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why a decision was taken. ``ALLOWED`` is the only code an Allow carries."""

    ALLOWED = "ALLOWED"
    CERT_MISSING = "CERT_MISSING"
    CERT_MALFORMED = "CERT_MALFORMED"
    ISSUER_NOT_FOUND = "ISSUER_NOT_FOUND"
    INSECURE_ALGORITHM = "INSECURE_ALGORITHM"
    SELF_SIGNED = "SELF_SIGNED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    CHAIN_TOO_LONG = "CHAIN_TOO_LONG"
    CHAIN_INVALID = "CHAIN_INVALID"
    REVOKED = "REVOKED"
    REVOCATION_UNKNOWN = "REVOCATION_UNKNOWN"
    ISSUER_NOT_PINNED = "ISSUER_NOT_PINNED"
    CLIENT_NOT_ALLOWED = "CLIENT_NOT_ALLOWED"
    CLIENT_DENIED = "CLIENT_DENIED"
    ROUTE_NOT_ALLOWED = "ROUTE_NOT_ALLOWED"
    CONFIG_UNAVAILABLE = "CONFIG_UNAVAILABLE"
    CONFIG_INVALID = "CONFIG_INVALID"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class AuthorizerError(Exception):
    """A refusal with a reason code and a human-readable detail.

    ``detail`` goes to the log line and the CLI; it never holds a PEM or key material.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(AuthorizerError):
    """The policy document (or something it names) is invalid.

    ``path`` locates the offending field in the document, e.g. ``clients[2].routes[0]``, so the
    operator can fix it without guessing.
    """

    def __init__(self, path: str, message: str, reason: Reason = Reason.CONFIG_INVALID) -> None:
        super().__init__(reason, f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class SourceError(AuthorizerError):
    """A blob (policy document, truststore, CRL) could not be fetched."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(Reason.CONFIG_UNAVAILABLE, f"{uri}: {message}")
        self.uri = uri
        self.message = message
