"""The Lambda entry point: ``authorizer.app.lambda_handler``.

The only module that knows about Lambda and the only one with Powertools decorators. It builds
its :class:`Runtime` once per cold start, runs the pipeline, and always answers: any error, even
an unexpected one, becomes a Deny with a reason code (an exception would be a 500 from API
Gateway). One structured log line and one set of metrics per decision; never a PEM in the log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .pipeline import authorize
from .reasons import AuthorizerError, Reason
from .request import AuthRequest, Target, parse_event
from .response import Decision, build_response
from .runtime import Runtime, config_uri_from_env

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "mtls-authorizer")
_stream = sys.stderr if os.environ.get("AUTHORIZER_LOG_STREAM") == "stderr" else sys.stdout


def log_json(record: dict[str, Any]) -> str:
    """Powertools' own serialization (compact, non-ASCII kept readable), with one difference:
    the line is always encodable. A lone surrogate in a client-chosen value (``requestId``, the
    ARN's path) would otherwise make the stream's UTF-8 encoder fail and the logging module
    drop the whole decision line; here it is written as its JSON escape (``\\udcff``)."""
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


logger = Logger(service=SERVICE, logger_handler=logging.StreamHandler(_stream), json_serializer=log_json)
# The package's own module loggers (revocation, HTTP) write through the same JSON handler, so a
# warning from deep inside a check is a structured line too, never a bare text line.
_package_logger = logging.getLogger("authorizer")
_package_logger.addHandler(logger.registered_handler)
_package_logger.setLevel(logger.log_level)
_package_logger.propagate = False


def set_log_level(level: str | int) -> None:
    """One level for the decision logger and the package's module loggers."""
    logger.setLevel(level)
    _package_logger.setLevel(level)


metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MtlsAuthorizer"), service=SERVICE)

_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process-wide runtime, created on first use from ``AUTHORIZER_CONFIG``."""
    global _runtime  # noqa: PLW0603 - one warm runtime per Lambda execution environment
    if _runtime is None:
        _runtime = Runtime(config_uri_from_env())
    return _runtime


def reset_runtime(runtime: Runtime | None = None) -> None:
    """Replace the warm runtime (tests, the CLI's ``--config``)."""
    global _runtime  # noqa: PLW0603
    _runtime = runtime


@dataclass(frozen=True)
class Outcome:
    response: dict[str, Any]
    decision: Decision
    elapsed_ms: float


#: Tracing is opt-in (``POWERTOOLS_TRACE_DISABLED=false``): constructing Powertools' Tracer costs
#: about half a second of cold start, so it is imported only when asked for, on first use.
TRACING = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() == "false"
_tracer: Any = None


def _get_tracer() -> Any:
    global _tracer  # noqa: PLW0603 - built once per execution environment, lazily
    if _tracer is None:
        try:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service=SERVICE)
            _tracer.provider  # noqa: B018 - fail here, not mid-request, when aws-xray-sdk is absent
        except Exception as exc:
            logger.warning(
                "tracing requested but unavailable (is aws-xray-sdk in the layer?)", extra={"error": str(exc)}
            )
            _tracer = False
    return _tracer or None


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    tracer = _get_tracer() if TRACING else None
    time_left = _time_left(context)
    if tracer is None:
        outcome = handle(event, get_runtime(), time_left=time_left)
    else:
        with tracer.provider.in_subsegment("## authorize") as segment:
            outcome = handle(event, get_runtime(), time_left=time_left)
            segment.put_annotation("reason", outcome.decision.reason.value)
            segment.put_annotation("allowed", outcome.decision.allowed)
    metrics.add_dimension(name="reason", value=outcome.decision.reason.value)
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DecisionLatency", unit=MetricUnit.Milliseconds, value=round(outcome.elapsed_ms, 3))
    if "revocation_unknown_allowed" in outcome.decision.log:
        metrics.add_metric(name="RevocationUnknownAllowed", unit=MetricUnit.Count, value=1)
    return outcome.response


#: Time kept for answering and logging after the revocation step, before the function's timeout.
_ANSWER_MARGIN_S = 0.3


def _time_left(context: object) -> float | None:
    """Seconds until the function times out, when the Lambda context says."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        return float(remaining()) / 1000 if callable(remaining) else None
    except (TypeError, ValueError):
        return None


def handle(
    event: object, runtime: Runtime, at: dt.datetime | None = None, *, time_left: float | None = None
) -> Outcome:
    """Decide ``event`` and answer; logs one line per decision. Never raises. ``time_left``:
    seconds until the function's timeout (loading waits no longer than leaves room to decide)."""
    start = time.perf_counter()
    started = time.monotonic()
    now = at or dt.datetime.now(dt.UTC)
    request: AuthRequest | None = None
    stale: tuple[str, ...] = ()
    target = Target.of(event)
    try:
        request = parse_event(event)
        snapshot = runtime.load(time_left)
        stale = snapshot.stale_notes
        deadline = None if time_left is None else started + time_left - _ANSWER_MARGIN_S
        decision = authorize(request, snapshot.deps, now, deadline=deadline)
    except AuthorizerError as exc:
        decision = Decision.deny(exc.reason, exc.detail)
    except Exception as exc:
        logger.exception("unexpected error while deciding")
        decision = Decision.deny(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        response = build_response(decision, target, http2_iam=runtime.http2_iam)
    except Exception as exc:
        logger.exception("could not build the response")
        decision = Decision.deny(Reason.INTERNAL_ERROR, f"response: {type(exc).__name__}: {str(exc)[:200]}")
        response = build_response(decision, Target(target.kind, target.arn, None))
    elapsed_ms = (time.perf_counter() - start) * 1000
    try:
        _log(decision, request, elapsed_ms, stale)
    except Exception as exc:  # a bug in building the line: still one line, and still an answer
        logger.error(
            "authorization decision",
            extra={"decision": "allow" if decision.allowed else "deny", "reason": decision.reason.value,
                   "log_error": f"{type(exc).__name__}: {str(exc)[:200]}"},
        )  # fmt: skip
    return Outcome(response, decision, elapsed_ms)


def _log(decision: Decision, request: AuthRequest | None, elapsed_ms: float, stale: tuple[str, ...]) -> None:
    fields: dict[str, Any] = {
        "decision": "allow" if decision.allowed else "deny",
        "reason": decision.reason.value,
        "principal": decision.principal_id,
        "duration_ms": round(elapsed_ms, 3),
    }
    if decision.detail:
        fields["detail"] = decision.detail
    if request is not None:
        fields.update(api=request.kind.value, route=request.route, request_id=request.request_id)
    if decision.path is not None:
        leaf = decision.path.leaf
        fields.update(
            subject=leaf.subject,
            issuer=leaf.issuer,
            serial=leaf.serial_hex,
            fingerprint=leaf.fingerprint_sha256,
        )
    fields.update(decision.log)
    for note in stale:
        logger.warning("serving a stale copy", extra={"note": note})
    if "revocation_unknown_allowed" in decision.log:
        logger.warning(
            "revocation status unknown, allowed by on_unknown=allow",
            extra={"detail": decision.log["revocation_unknown_allowed"], "principal": decision.principal_id},
        )
    if decision.allowed:
        logger.info("authorization decision", extra=fields)
    else:
        logger.warning("authorization decision", extra=fields)
