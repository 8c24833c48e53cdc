"""Who may sign a CRL for a certificate (RFC 5280 6.3.3 (f)).

* The certificate's issuer, with its own key: the chain already verified it. Its keyUsage,
  when present, must allow cRLSign.
* Otherwise another certificate whose subject is the CRL's issuer (a separate CRL-signing
  certificate, a rolled-over key, the issuer of an indirect CRL), taken from the verified path
  itself or from the pool (truststore certificates, the CLI's inputs). Outside the verified
  path, one bearing the certificate's issuer's name must be a dedicated CRL-signing key
  (keyUsage without keyCertSign) or the issuer's rolled-over key certified through the issuer
  itself, never a sibling CA that carries the same name. Its key must verify the
  CRL, its keyUsage (when present) must allow cRLSign, its own path must be validated by the
  injected ``signer_validator`` to the **same** trust anchor as the certificate's, and every
  certificate of that path outside the certificate's own path must not be revoked (checked
  with the same rules, a few levels deep at most). Without a validator, such CRLs are not used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..dn import DNKey
from .crl import CrlIndex
from .crl_scope import key_of
from .crl_status import CrlContext, decide
from .status import RevocationStatus


@dataclass(frozen=True)
class Signer:
    cert: x509.Certificate
    spki: bytes
    #: Until when the signer's path holds (None: it is part of the certificate's own path).
    valid_until: dt.datetime | None = None


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@lru_cache(maxsize=1024)
def _issuer_facts(cert: x509.Certificate) -> tuple[bytes, str | None]:
    """The issuer's SubjectPublicKeyInfo and its cRLSign problem, computed once per CA
    certificate (every cold check of its leaves needs both)."""
    return _spki(cert), _crl_sign_problem(cert)


def _crl_sign_problem(cert: x509.Certificate) -> str | None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if ku.crl_sign else "keyUsage does not allow cRLSign"


def _may_sign_certificates(cert: x509.Certificate) -> bool:
    """Whether ``cert`` may be a CA of its own (keyUsage absent, or keyCertSign).

    A CRL of the certificate's issuer's name signed by a key other than the issuer's is a
    separate CRL-signing key of that issuer (RFC 5280 6.3.3 (f), PKITS 4.4.19, 4.4.6), the
    issuer's rolled-over key (PKITS 4.5.4) or a different CA that happens to carry the same
    name (AWS Private CA allows duplicate names under one root): nothing in the CRL tells them
    apart, since its AKI names the signing key either way. A dedicated CRL-signing certificate
    limits its key to cRLSign; a key that may sign certificates is accepted only when its own
    path runs through the certificate's issuer (a self-issued rollover certificate), never for
    a sibling CA, whose CRL says nothing about our issuer's certificates."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return True
    return bool(ku.key_cert_sign)


def _describe(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unprintable subject)"


def find_signer(
    crl: CrlIndex, issuer_key: DNKey, path: Sequence[x509.Certificate], ctx: CrlContext
) -> tuple[Signer | None, str]:
    """The certificate whose key signed ``crl`` and may sign it for ``path[0]``, or why none.
    ``issuer_key`` is the name key of ``path[0]``'s issuer, which is ``path[1]``'s subject (the
    validator chained them by the same RFC 4518 comparison)."""
    issuer = path[1]
    if crl.issuer_key == issuer_key:
        spki, why = _issuer_facts(issuer)
        if crl.signed_by_spki(spki, issuer.public_key()):
            if why is not None:
                return None, f"issuer's {why}"
            return Signer(issuer, spki), ""
    in_path = {_der(c) for c in path[1:]}
    seen: set[bytes] = {_der(issuer)}
    problems: list[str] = []
    for candidate in (*path[1:], *ctx.pool):
        der = _der(candidate)
        if der in seen:
            continue
        seen.add(der)
        if key_of(candidate.subject) != crl.issuer_key or not crl.signed_by(candidate):
            continue
        name = _describe(candidate)
        why = _crl_sign_problem(candidate)
        if why is not None:
            problems.append(f"CRL signer {name}: {why}")
            continue
        if der in in_path:
            return Signer(candidate, _spki(candidate)), ""
        # A CA key of the issuer's name outside the path: the issuer's own rolled-over key only
        # when certified through the issuer itself (self-issued), else maybe a sibling CA.
        rollover = crl.issuer_key == issuer_key and _may_sign_certificates(candidate)
        signer, why = _validated(candidate, path, ctx, rollover=rollover)
        if signer is not None:
            return signer, ""
        problems.append(f"CRL signer {name}: {why}")
    if problems:
        return None, "; ".join(problems)
    if crl.issuer_key == issuer_key:
        return None, "CRL signature does not verify with the issuer's key (and no other certificate of it does)"
    return None, "no certificate of the CRL's issuer verifies its signature"


def _validated(
    candidate: x509.Certificate, path: Sequence[x509.Certificate], ctx: CrlContext, *, rollover: bool = False
) -> tuple[Signer | None, str]:
    if ctx.signer_validator is None:
        return None, "signed by a certificate other than the issuer, and no signer validation is configured"
    try:
        signer_path = list(ctx.signer_validator(candidate, ctx.pool, ctx.at))
    except Exception as exc:  # the validator's refusal (AuthorizerError) or any failure: not a signer
        return None, f"its path does not validate ({getattr(exc, 'detail', None) or type(exc).__name__})"
    if len(signer_path) < 1 or _der(signer_path[-1]) != _der(path[-1]):
        return None, "its path ends at another trust anchor than the certificate's"
    own = {_der(c) for c in path}
    if rollover:
        name = key_of(path[1].subject)
        issuers = {_der(c) for c in path[1:] if key_of(c.subject) == name}
        if not any(_der(c) in issuers for c in signer_path[1:]):
            return None, "another CA of the issuer's name (not certified by the issuer), not a CRL-signing key of it"
    until = min(c.not_valid_after_utc for c in signer_path)
    for i, link in enumerate(signer_path[:-1]):
        der = _der(link)
        if der in own:
            continue  # part of the certificate's own path: its status is checked there
        if der in ctx.busy:
            return None, "its revocation status depends on itself"
        crls = ctx.crls_for(link) if ctx.crls_for is not None else ()
        answer = decide(link, signer_path[i:], crls, ctx.deeper(der))
        if answer.status is not RevocationStatus.GOOD:
            return None, f"{_describe(link)} is {answer.status.value}: {answer.detail}"
        if answer.valid_until is not None:
            until = min(until, answer.valid_until)
    return Signer(candidate, _spki(candidate), until), ""
