"""A stand-in path builder for the PKITS revocation sections until ``authorizer.validation``
lands on main (see harness.py): names chained by their RFC 4518 form and each signature
verified by ``cryptography``, nothing else. It is a test helper only, used both as the chain
and as the CRL-signer validator, and only for the sections whose paths are otherwise valid
(4.4 basic CRLs, 4.14 distribution points, 4.15 delta CRLs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from authorizer.dn import name_key
from authorizer.reasons import AuthorizerError, Reason

MAX_DEPTH = 8


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if name_key(cert.issuer) != name_key(issuer.subject):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:
        return False
    return True


def build_path(
    cert: x509.Certificate, pool: Sequence[x509.Certificate], anchor: x509.Certificate
) -> list[x509.Certificate]:
    """``cert`` ... ``anchor`` by names and signatures (backtracking); AuthorizerError if none."""

    def walk(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        last = path[-1]
        if _issued_by(last, anchor):
            return [*path, anchor]
        if len(path) >= MAX_DEPTH:
            return None
        for candidate in pool:
            if candidate in path or candidate == anchor or not _issued_by(last, candidate):
                continue
            found = walk([*path, candidate])
            if found is not None:
                return found
        return None

    found = walk([cert])
    if found is None:
        raise AuthorizerError(Reason.ISSUER_NOT_FOUND, "interim builder: no path to the PKITS anchor")
    return found


def signer_validator(anchor: x509.Certificate):  # type: ignore[no-untyped-def]
    def validate(cert: x509.Certificate, pool: Sequence[x509.Certificate], at: dt.datetime) -> list[x509.Certificate]:
        return build_path(cert, pool, anchor)

    return validate
