"""Build authorizer events as API Gateway sends them (for ``make-event``, ``serve`` and tests).

The shapes follow the API Gateway Developer Guide ("Input to an API Gateway Lambda authorizer"
and "Working with AWS Lambda authorizers for HTTP APIs"): the REST REQUEST event and HTTP API
payload 1.0 carry the certificate at ``requestContext.identity.clientCert``, payload 2.0 at
``requestContext.authentication.clientCert``. The ``subjectDN``/``issuerDN``/``serialNumber``/
``validity`` hints are filled the way API Gateway prints them; the authorizer never trusts them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cryptography import x509

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_API_ID = "abcdef1234"
DEFAULT_STAGE = "prod"
API_KINDS = ("rest", "http1", "http2")


def _openssl_date(value: dt.datetime) -> str:
    """API Gateway's format, e.g. ``May 28 12:30:02 2019 GMT``."""
    return value.strftime("%b %d %H:%M:%S %Y GMT").replace(" 0", "  ", 1)


def _serial_colons(serial: int) -> str:
    """openssl's ``1f:2e`` form; a (malformed) negative serial keeps its sign."""
    magnitude = abs(serial)
    text = ":".join(f"{b:02x}" for b in magnitude.to_bytes((magnitude.bit_length() + 7) // 8 or 1, "big"))
    return f"-{text}" if serial < 0 else text


def client_cert_block(pem: str) -> dict[str, Any]:
    """The ``clientCert`` object for a PEM (hint fields derived when the PEM parses)."""
    from .certificate import PARSE_ERRORS

    block: dict[str, Any] = {"clientCertPem": pem}
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
        hints = {
            "subjectDN": cert.subject.rfc4514_string(),
            "issuerDN": cert.issuer.rfc4514_string(),
            "serialNumber": _serial_colons(cert.serial_number),
            "validity": {
                "notBefore": _openssl_date(cert.not_valid_before_utc),
                "notAfter": _openssl_date(cert.not_valid_after_utc),
            },
        }
    except PARSE_ERRORS:  # a malformed certificate: the event carries the PEM alone
        return block
    block.update(hints)
    return block


def make_event(
    pem: str | None,
    *,
    api: str = "rest",
    method: str = "GET",
    path: str = "/pets",
    source_ip: str = "203.0.113.10",
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    api_id: str = DEFAULT_API_ID,
    stage: str = DEFAULT_STAGE,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
    when: dt.datetime | None = None,
) -> dict[str, Any]:
    """An authorizer event of kind ``api`` (``rest``, ``http1`` or ``http2``) for ``pem``.

    ``pem=None`` builds the event a request without a client certificate would produce.
    """
    if api not in API_KINDS:
        raise ValueError(f"api must be one of {API_KINDS}, not {api!r}")
    method = method.upper()
    path = path if path.startswith("/") else "/" + path
    when = when or dt.datetime.now(dt.UTC)
    request_id = request_id or str(uuid.uuid4())
    arn = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}{path}"
    hdrs = {"host": "api.example.com", "user-agent": "curl/8.5.0", "accept": "*/*", **(headers or {})}
    cert = client_cert_block(pem) if pem is not None else None
    epoch_ms = int(when.timestamp() * 1000)
    if api == "http2":
        auth: dict[str, Any] = {"clientCert": cert} if cert else {}
        ctx2: dict[str, Any] = {
            "accountId": account,
            "apiId": api_id,
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": hdrs["user-agent"],
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": stage,
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": epoch_ms,
        }
        if auth:
            ctx2["authentication"] = auth
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": arn,
            "identitySource": [],
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": hdrs,
            "requestContext": ctx2,
            "pathParameters": {},
            "stageVariables": {},
        }
    identity: dict[str, Any] = {"sourceIp": source_ip, "userAgent": hdrs["user-agent"]}
    if cert:
        identity["clientCert"] = cert
    ctx: dict[str, Any] = {
        "path": path if api == "http1" else f"/{stage}{path}",
        "accountId": account,
        "resourceId": "abc123",
        "stage": stage,
        "requestId": request_id,
        "identity": identity,
        "resourcePath": path,
        "httpMethod": method,
        "apiId": api_id,
        "requestTimeEpoch": epoch_ms,
    }
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": arn,
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": ctx,
    }
    if api == "http1":
        event = {"version": "1.0", **event, "identitySource": ""}
    return event
