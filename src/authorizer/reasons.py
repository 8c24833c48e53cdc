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


#: What usually causes each refusal and what fixes it (``mtls-authorizer doctor`` prints these).
HINTS: dict[Reason, str] = {
    Reason.ALLOWED: "Nothing to fix: every check passed.",
    Reason.CERT_MISSING: "No client certificate in the event: is mutual TLS enabled on the custom domain, "
    "and is the default execute-api endpoint disabled (requests through it carry no certificate)?",
    Reason.CERT_MALFORMED: "The event or its clientCertPem is not what API Gateway sends: check the event shape "
    "(REST, HTTP API 1.0 or 2.0) and that the PEM is one certificate under 16 KiB.",
    Reason.ISSUER_NOT_FOUND: "No path to the truststore: add the issuing CA (and every intermediate up to the root) "
    "to the truststore bundle the authorizer reads, the same bundle API Gateway uses.",
    Reason.INSECURE_ALGORITHM: "A certificate of the path uses a key or signature API Gateway refuses: reissue it "
    "with RSA >= 2048 or ECDSA P-256/P-384 and SHA-256 or stronger.",
    Reason.SELF_SIGNED: "Self-signed client certificates are refused: issue the client certificate from a CA "
    "in the truststore.",
    Reason.EXPIRED: "The client certificate or a CA of its path has expired: renew it (check the client's clock "
    "and the CA's validity too).",
    Reason.NOT_YET_VALID: "A certificate of the path is not valid yet: check notBefore and the issuing CA's clock.",
    Reason.CHAIN_TOO_LONG: "API Gateway allows at most 4 certificates from leaf to root: shorten the hierarchy.",
    Reason.CHAIN_INVALID: "The path breaks an RFC 5280 rule (basic constraints, key usage, EKU, name "
    "constraints): the detail names it; a leaf needs clientAuth in its EKU when it has one.",
    Reason.REVOKED: "The certificate (or a CA above it) is revoked: issue a new certificate.",
    Reason.REVOCATION_UNKNOWN: "No valid CRL or OCSP answer within the budget: check that the CRL/OCSP URLs are "
    "reachable from the Lambda (VPC, allowed_hosts), current and signed by the issuer, or set on_unknown.",
    Reason.ISSUER_NOT_PINNED: "The leaf's direct issuer is not in pinning.issuers: issue from the pinned "
    "intermediate, or add this issuer's spki_sha256/cert_sha256 to the policy.",
    Reason.CLIENT_NOT_ALLOWED: "The policy lists clients and none matches this certificate: add a clients entry "
    "(match on subject, SAN, issuer+serial or cert_sha256).",
    Reason.CLIENT_DENIED: "The certificate matches an entry of the policy's deny list.",
    Reason.ROUTE_NOT_ALLOWED: "The matched client may not call this route: add it to the client's routes "
    '("VERB /path", * for one segment, ** for the rest).',
    Reason.CONFIG_UNAVAILABLE: "The policy document or truststore cannot be read: check AUTHORIZER_CONFIG, the S3 "
    "object and the function's s3:GetObject permission.",
    Reason.CONFIG_INVALID: "The policy document or truststore is invalid: run `mtls-authorizer check-config URI`, "
    "the detail names the field.",
    Reason.INTERNAL_ERROR: "An unexpected error (a bug): the log line has the traceback; please report it.",
}


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
