"""The decision pipeline: request -> certificate/chain -> revocation -> policy -> Decision.

Pure logic over already-loaded dependencies: no Lambda, no configuration loading, no logging.
Every stage raises ``AuthorizerError``; :func:`authorize` turns that into a Deny carrying the
stage's reason code, so a refusal can never be mistaken for an Allow.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .reasons import AuthorizerError, Reason
from .request import AuthRequest
from .response import Decision
from .revocation.status import RevocationStatus
from .validation import ChainValidator, VerifiedPath

if TYPE_CHECKING:
    from .config import PolicyConfig
    from .revocation.checker import RevocationChecker


@dataclass(frozen=True)
class Dependencies:
    """What one decision needs, built once per configuration/truststore version."""

    config: PolicyConfig
    validator: ChainValidator
    revocation: RevocationChecker | None = None


def authorize(request: AuthRequest, deps: Dependencies, at: dt.datetime, *, deadline: float | None = None) -> Decision:
    """Decide one request at time ``at`` (the request's own time: expiry applies to the second).

    ``deadline`` (``time.monotonic()`` seconds) is when the answer must be ready: the revocation
    budget shrinks to what is left of it."""
    path: VerifiedPath | None = None
    log: dict[str, Any] = {}
    try:
        path = deps.validator.validate_pem(request.cert_pem, at)
        if deps.revocation is not None and deps.config.revocation is not None:
            left = None if deadline is None else deadline - time.monotonic()
            outcome = deps.revocation.check(path.chain, at, left)
            # Which source decided for each certificate, and why: the log must say it.
            log["revocation_status"] = outcome.status.name
            log["revocation"] = [c.describe() for c in outcome.certs]
            error = outcome.error(deps.config.revocation.on_unknown)
            if error is not None:
                raise error
            if outcome.status is RevocationStatus.UNKNOWN:
                log["revocation_unknown_allowed"] = outcome.detail
        grant = deps.config.access.evaluate(path.leaf, path.issuer, request.verb, request.path, path.policies)
    except AuthorizerError as exc:
        return Decision.deny(exc.reason, exc.detail, path, **log)
    return Decision(
        allowed=True,
        reason=Reason.ALLOWED,
        detail="",
        principal_id=grant.principal_id,
        routes=grant.routes,
        path=path,
        client_name=grant.client_name,
        log=log,
    )
