"""Decision -> the dict API Gateway expects back from the authorizer.

REST APIs and HTTP API payload 1.0 get an IAM policy built with Powertools'
``APIGatewayAuthorizerResponse``; payload 2.0 gets the simple response (``isAuthorized``) or, when
configured, the same IAM policy. An Allow lists exactly the routes the client may call on this
API and stage (so it stays right if an operator turns authorizer caching on), never a bare
``Resource: "*"``. A Deny is an explicit Deny that covers the request: API Gateway answers 403.
Context values are strings only: API Gateway answers 500 to nested or null values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .reasons import Reason
from .request import ApiArn, PayloadKind, Target

if TYPE_CHECKING:
    from .validation import VerifiedPath


class IamRoute(Protocol):
    """A route the IAM policy allows (``policy.RouteRule`` is one)."""

    def iam_verb(self) -> str: ...

    def iam_resource(self) -> str: ...


@dataclass(frozen=True)
class Decision:
    """The outcome of one authorization, with everything the response and the log need."""

    allowed: bool
    reason: Reason
    detail: str = ""
    principal_id: str = "unknown"
    #: Routes an Allow grants; ``None`` means every route of the API and stage.
    routes: Sequence[IamRoute] | None = None
    path: VerifiedPath | None = None
    client_name: str | None = None
    log: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def deny(cls, reason: Reason, detail: str, path: VerifiedPath | None = None, **log: Any) -> Decision:
        principal = path.leaf.subject if path is not None else "unknown"
        return cls(False, reason, detail, principal_id=principal or "unknown", path=path, log=log)

    def context(self) -> dict[str, str]:
        """The authorizer context the backend (and access logs) receive."""
        ctx: dict[str, str] = {"reason": self.reason.value}
        if self.path is not None:
            leaf = self.path.leaf
            ctx.update(leaf.summary())
            ctx["sans"] = ",".join(leaf.sans)
            # The path's valid certificate policies (RFC 5280 §6.1.5(g)), for backends that
            # grant by policy; empty when the path asserts none.
            ctx["certificatePolicies"] = ",".join(self.path.policies)
        if self.client_name:
            ctx["clientName"] = self.client_name
        return ctx


def build_response(decision: Decision, target: Target, *, http2_iam: bool = False) -> dict[str, Any]:
    """The authorizer's answer for ``decision``; never raises for a well-formed Decision."""
    context = decision.context()
    if target.kind is PayloadKind.HTTP2 and not http2_iam:
        from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
            APIGatewayAuthorizerResponseV2,
        )

        return APIGatewayAuthorizerResponseV2(authorize=decision.allowed, context=context).asdict()
    arn = target.parsed_arn
    if arn is None:
        # No usable ARN to scope a policy to: only a Deny of everything can be answered (an
        # unparsable ARN in a policy could make API Gateway answer 500 instead of 403).
        return _deny_policy(decision.principal_id, "*", context)
    if decision.allowed:
        return _allow(decision, arn, context)
    return _deny(decision, arn, context)


def _builder(principal: str, arn: ApiArn, context: dict[str, str]) -> Any:
    from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
        APIGatewayAuthorizerResponse,
    )

    return APIGatewayAuthorizerResponse(
        principal_id=principal,
        region=arn.region,
        aws_account_id=arn.account,
        api_id=arn.api_id,
        stage=arn.stage,
        context=context,
        partition=arn.partition,
    )


#: Policy statements already built, by what they depend on: (effect, API/stage, routes or the
#: denied method). Building one through Powertools costs ~10 µs; every client of the same API
#: and routes gets the same statements. Bounded: cleared when it outgrows its size.
_STATEMENTS: dict[tuple[Any, ...], tuple[dict[str, Any], ...]] = {}
_STATEMENTS_MAX = 1024


def _statements(key: tuple[Any, ...], build: Callable[[Any], None], arn: ApiArn) -> tuple[dict[str, Any], ...]:
    cached = _STATEMENTS.get(key)
    if cached is None:
        builder = _builder("-", arn, {})
        build(builder)
        cached = tuple(builder.asdict()["policyDocument"]["Statement"])
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        _STATEMENTS[key] = cached
    return cached


def _policy(principal: str, statements: tuple[dict[str, Any], ...], context: dict[str, str]) -> dict[str, Any]:
    """The response around cached statements (copied: a caller may mutate its response)."""
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{**stmt, "Resource": list(stmt["Resource"])} for stmt in statements],
        },
        "context": context,
    }


def _allow(decision: Decision, arn: ApiArn, context: dict[str, str]) -> dict[str, Any]:
    routes = decision.routes
    if routes is not None and not routes:  # an Allow must name something: deny the request itself
        return _deny_policy(decision.principal_id, f"{arn.base}/{arn.verb}/{arn.resource}", context)

    def build(builder: Any) -> None:
        if routes is None:
            # Every route of this API and stage: arn:...:API/STAGE/*/*, not Resource "*".
            builder.allow_route("*", "*")
            return
        for route in routes:
            # "/" is the empty resource; Powertools' pattern wants a character, and strips the "/".
            builder.allow_route(route.iam_verb(), route.iam_resource() or "/")

    key = ("Allow", arn.base, tuple(routes) if routes is not None else None)
    return _policy(decision.principal_id, _statements(key, build, arn), context)


def _deny(decision: Decision, arn: ApiArn, context: dict[str, str]) -> dict[str, Any]:
    def build(builder: Any) -> None:
        try:
            builder.deny_route(arn.verb, arn.resource or "*")
        except ValueError:
            # A path with characters Powertools' resource pattern refuses: deny the whole stage,
            # which still covers the request.
            builder.deny_all_routes()

    key = ("Deny", arn.base, arn.verb, arn.resource)
    return _policy(decision.principal_id, _statements(key, build, arn), context)


def _deny_policy(principal: str, resource: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [resource or "*"]}],
        },
        "context": context,
    }


def is_allow(response: dict[str, Any]) -> bool:
    """Whether an authorizer answer (IAM policy or simple response) allows the request."""
    if "isAuthorized" in response:
        return response["isAuthorized"] is True
    statements = response.get("policyDocument", {}).get("Statement", [])
    return bool(statements) and all(s.get("Effect") == "Allow" for s in statements)
