"""Decision -> the dict API Gateway expects back from the authorizer.

REST APIs and HTTP API payload 1.0 get an IAM policy built with Powertools'
``APIGatewayAuthorizerResponse``; payload 2.0 gets the simple response (``isAuthorized``) or, when
configured, the same IAM policy. An Allow lists exactly the routes the client may call on this
API and stage (so it stays right if an operator turns authorizer caching on), never a bare
``Resource: "*"``. A Deny is an explicit Deny that covers the request: API Gateway answers 403.
Context values are strings only: API Gateway answers 500 to nested or null values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .reasons import Reason
from .request import ApiArn, PayloadKind, Target

if TYPE_CHECKING:
    from .chain import VerifiedPath


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


def _allow(decision: Decision, arn: ApiArn, context: dict[str, str]) -> dict[str, Any]:
    builder = _builder(decision.principal_id, arn, context)
    if decision.routes is None:
        # Every route of this API and stage: arn:...:API/STAGE/*/*, not Resource "*".
        builder.allow_route("*", "*")
    else:
        for route in decision.routes:
            # "/" is the empty resource; Powertools' pattern wants a character, and strips the "/".
            builder.allow_route(route.iam_verb(), route.iam_resource() or "/")
        if not decision.routes:  # an Allow must name something; fall back to the request itself
            return _deny_policy(decision.principal_id, f"{arn.base}/{arn.verb}/{arn.resource}", context)
    result: dict[str, Any] = builder.asdict()
    return result


def _deny(decision: Decision, arn: ApiArn, context: dict[str, str]) -> dict[str, Any]:
    builder = _builder(decision.principal_id, arn, context)
    verb = arn.verb if arn.verb != "*" else "*"
    try:
        builder.deny_route(verb, arn.resource or "*")
    except ValueError:
        # A path with characters Powertools' resource pattern refuses: deny the whole stage,
        # which still covers the request.
        builder.deny_all_routes()
    result: dict[str, Any] = builder.asdict()
    return result


def _deny_policy(principal: str, resource: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [resource or "*"]}],
        },
        "context": context,
    }
