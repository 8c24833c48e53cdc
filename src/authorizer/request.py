"""API Gateway authorizer event -> :class:`AuthRequest`.

Three shapes reach a REQUEST authorizer: the REST API event, HTTP API payload 1.0 (same
``identity.clientCert`` plus ``version: "1.0"``) and HTTP API payload 2.0 (``routeArn`` and the
certificate at ``requestContext.authentication.clientCert``). Powertools' data classes read them;
this module only decides which one it is and refuses anything malformed with a reason code,
because a ``KeyError`` escaping the handler would become a 500.

The verb and path used for route checks are taken from the method/route ARN, which is required:
it is the string API Gateway evaluates the returned IAM policy against, so the authorizer's own
route check and the policy it returns can never disagree (the event's ``path`` may carry a base
path mapping or the stage; the ARN's resource never does).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .reasons import AuthorizerError, Reason

#: A whole authorizer event larger than this is refused before anything else reads it.
MAX_EVENT_FIELD_CHARS = 64 * 1024


class PayloadKind(enum.StrEnum):
    REST = "rest"
    HTTP1 = "http1"
    HTTP2 = "http2"


@dataclass(frozen=True)
class ApiArn:
    """``arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/VERB/RESOURCE``, split once."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str
    verb: str
    resource: str  # without the leading "/"

    @classmethod
    def parse(cls, arn: str) -> ApiArn | None:
        """The parts of ``arn``, or ``None`` when it is not an execute-api ARN we can scope a
        policy to. An IAM wildcard (``*`` or ``?``) in the partition, region, account, API id or
        stage is refused: those parts are copied into Allow resources, and an Allow must never
        hold a wildcard the policy document did not write. (API Gateway builds the ARN itself;
        this only matters for a forged event, which then gets a Deny.)"""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
            return None
        segs = parts[5].split("/", 3)
        if len(segs) < 3 or not all(segs[:3]):
            return None
        if any("*" in p or "?" in p for p in (parts[1], parts[3], parts[4], segs[0], segs[1])):
            return None
        return cls(parts[1], parts[3], parts[4], segs[0], segs[1], segs[2], segs[3] if len(segs) > 3 else "")

    @property
    def base(self) -> str:
        """The API and stage part, to which ``/VERB/resource`` is appended."""
        return f"arn:{self.partition}:execute-api:{self.region}:{self.account}:{self.api_id}/{self.stage}"


@dataclass(frozen=True)
class Target:
    """Where the answer goes: the payload kind and the ARN a policy must cover.

    Read best-effort even from an event that is otherwise refused, so that a Deny for a broken
    HTTP API 2.0 event is still a simple response and a REST Deny still names the method.
    """

    kind: PayloadKind
    arn: str
    parsed_arn: ApiArn | None

    @classmethod
    def of(cls, event: object) -> Target:
        if not isinstance(event, Mapping):
            return cls(PayloadKind.REST, "", None)
        try:
            kind = detect_kind(event)
        except AuthorizerError:
            kind = PayloadKind.REST
        arn = event.get("routeArn" if kind is PayloadKind.HTTP2 else "methodArn")
        if not isinstance(arn, str) or len(arn) > MAX_EVENT_FIELD_CHARS:
            return cls(kind, "", None)
        return cls(kind, arn, ApiArn.parse(arn))


@dataclass(frozen=True)
class AuthRequest:
    """What the pipeline needs from an event, and nothing that needs Lambda to compute."""

    kind: PayloadKind
    cert_pem: str
    arn: str
    parsed_arn: ApiArn
    verb: str
    path: str
    request_id: str = ""
    source_ip: str = ""

    @property
    def route(self) -> str:
        return f"{self.verb} {self.path}"


def detect_kind(event: Mapping[str, Any]) -> PayloadKind:
    version = event.get("version")
    if version == "2.0":
        return PayloadKind.HTTP2
    if version == "1.0":
        return PayloadKind.HTTP1
    if "methodArn" in event:
        return PayloadKind.REST
    raise AuthorizerError(
        Reason.CERT_MALFORMED, "event is neither a REST authorizer event nor an HTTP API payload 1.0/2.0"
    )


def parse_event(event: object) -> AuthRequest:
    """Read an authorizer event. Raises ``AuthorizerError`` (``CERT_MISSING``/``CERT_MALFORMED``)."""
    if not isinstance(event, Mapping):
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event is a {type(event).__name__}, not a JSON object")
    kind = detect_kind(event)
    try:
        return _parse(event, kind)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event has the wrong shape: {type(exc).__name__} {exc}") from None


#: Where each payload kind keeps the certificate, and which object also holds ``sourceIp``.
_CERT_HOLDER = {
    PayloadKind.REST: ("identity", "identity"),
    PayloadKind.HTTP1: ("identity", "identity"),
    PayloadKind.HTTP2: ("authentication", "http"),
}


def _parse(event: Mapping[str, Any], kind: PayloadKind) -> AuthRequest:
    from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
        APIGatewayAuthorizerEventV2,
        APIGatewayAuthorizerRequestEvent,
    )

    holder_key, ip_key = _CERT_HOLDER[kind]
    ctx = event.get("requestContext")
    ctx = ctx if isinstance(ctx, Mapping) else {}
    holder = ctx.get(holder_key)
    cert = holder.get("clientCert") if isinstance(holder, Mapping) else None
    pem = _cert_pem(cert, f"requestContext.{holder_key}.clientCert")
    # Powertools' typed accessors for the ARN (a missing key is a KeyError: CERT_MALFORMED).
    if kind is PayloadKind.HTTP2:
        arn = _arn(APIGatewayAuthorizerEventV2(dict(event)).route_arn, "routeArn")
    else:
        arn = _arn(APIGatewayAuthorizerRequestEvent(dict(event)).method_arn, "methodArn")
    return AuthRequest(
        kind, pem, arn.raw, arn.parsed, arn.parsed.verb.upper(), "/" + arn.parsed.resource,
        _opt(ctx, "requestId"), _opt(ctx.get(ip_key), "sourceIp"),
    )  # fmt: skip


@dataclass(frozen=True)
class _Arn:
    raw: str
    parsed: ApiArn


def _arn(value: object, name: str) -> _Arn:
    """The method/route ARN is required: it is what the returned policy is evaluated against."""
    raw = _str(value, name)
    parsed = ApiArn.parse(raw)
    if parsed is None:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event field {name} is not an execute-api ARN: {raw[:200]!r}")
    verb = parsed.verb
    if verb != verb.upper() and not verb.startswith("$"):
        # API Gateway writes HTTP methods in upper case, and the Allow names them so: an Allow
        # for "get" would list "GET" resources that do not cover the ARN it answers. Refused
        # instead of normalized, so the route check and the returned policy never disagree.
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event field {name}: the method {verb[:20]!r} is not upper case")
    return _Arn(raw, parsed)


def _cert_pem(cert: object, where: str) -> str:
    if cert is None:
        raise AuthorizerError(Reason.CERT_MISSING, f"{where} is absent (is mutual TLS enabled on the custom domain?)")
    if not isinstance(cert, Mapping):
        raise AuthorizerError(Reason.CERT_MALFORMED, f"{where} is not an object")
    pem = cert.get("clientCertPem")
    if pem is None or pem == "":
        raise AuthorizerError(Reason.CERT_MISSING, f"{where}.clientCertPem is absent or empty")
    if not isinstance(pem, str):
        raise AuthorizerError(Reason.CERT_MALFORMED, f"{where}.clientCertPem is not a string")
    if len(pem) > MAX_EVENT_FIELD_CHARS:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"{where}.clientCertPem is {len(pem)} characters, over the cap")
    return pem


def _str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event field {name} is missing or not a string")
    if len(value) > MAX_EVENT_FIELD_CHARS:
        raise AuthorizerError(Reason.CERT_MALFORMED, f"event field {name} is over the size cap")
    return value


#: An event's informational strings (requestId, sourceIp) as logged: API Gateway's are short; a
#: longer one is cut so that a decision line stays one valid CloudWatch event.
MAX_HINT_CHARS = 512


def _opt(mapping: object, key: str) -> str:
    if isinstance(mapping, Mapping):
        value = mapping.get(key)
        if isinstance(value, str):
            return value if len(value) <= MAX_HINT_CHARS else value[:MAX_HINT_CHARS] + "...(cut)"
    return ""
