"""``mtls-authorizer serve``: a local HTTPS endpoint that behaves like the mTLS custom domain.

Trying an authorizer usually means deploying a stack, a domain, DNS and a truststore. This module
gives the same round trip on a laptop: ``curl --cert client.pem --key client.key`` against
``https://localhost:PORT/pets`` goes through

1. a TLS handshake that **requires** a client certificate chaining to the truststore bundle
   (TLS 1.2 minimum, like ``SecurityPolicy: TLS_1_2``); a client without one is refused by TLS,
   as API Gateway refuses it, and never reaches the authorizer;
2. the event API Gateway would send (REST, HTTP API 1.0 or 2.0) built from the peer certificate,
   the method and the path, decided by the real handler (:func:`authorizer.app.handle`);
3. API Gateway's answer: the sample backend's response (the template's mock PetStore) when the
   authorizer's policy allows the request's method ARN, 403 otherwise (with the template's
   ``ACCESS_DENIED`` body for REST), and one access-log JSON line per request with exactly the
   keys of the template's ``AccessLogSetting`` format.

Only the standard library serves (``http.server`` + ``ssl``): no extra dependency, and the same
OpenSSL that curl uses checks the handshake. Every connection gets its own thread, and the TLS
handshake happens in that thread with a timeout, so one slow client cannot stall the others.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .runtime import Runtime

API_KINDS = ("rest", "http1", "http2")
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 1 << 20

#: The template's access log format (template.yaml, ``AccessLogSetting.Format``): key -> the
#: ``$context`` variable API Gateway fills in. ``serve`` prints the same keys; a test keeps the
#: two in step. The certificate's PEM is deliberately absent: never log a full certificate.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "domainName": "$context.domainName",
    "clientCertSubjectDN": "$context.identity.clientCert.subjectDN",
    "clientCertIssuerDN": "$context.identity.clientCert.issuerDN",
    "clientCertSerialNumber": "$context.identity.clientCert.serialNumber",
    "clientCertNotBefore": "$context.identity.clientCert.validity.notBefore",
    "clientCertNotAfter": "$context.identity.clientCert.validity.notAfter",
    "principalId": "$context.authorizer.principalId",
    "authorizerReason": "$context.authorizer.reason",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "authorizerError": "$context.authorizer.error",
    "errorMessage": "$context.error.message",
    "errorType": "$context.error.responseType",
    "responseLatency": "$context.responseLatency",
}

#: API Gateway writes "-" for a variable without a value.
EMPTY = "-"
EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"

AccessLog = Callable[[dict[str, str]], None]


class ServeError(Exception):
    """The endpoint cannot start (unreadable files, a bad policy document, a busy port)."""


# --------------------------------------------------------------------------- sample backend

_PETS = [
    {"id": 1, "type": "dog", "price": 249.99},
    {"id": 2, "type": "cat", "price": 124.99},
    {"id": 3, "type": "fish", "price": 0.99},
]

#: (method, path regex, resource path): the template's mock PetStore routes.
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"/pets/?"), "/pets"),
    ("POST", re.compile(r"/pets/?"), "/pets"),
    ("GET", re.compile(r"/pets/(?P<id>[^/]+)/?"), "/pets/{id}"),
)


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The route's resource path and path parameters, or ``None`` when no route fits."""
    for verb, pattern, resource in _ROUTES:
        m = pattern.fullmatch(path)
        if verb == method and m is not None:
            return resource, m.groupdict()
    return None


def backend_response(method: str, resource: str, params: dict[str, str]) -> tuple[int, Any]:
    """What the template's mock integrations answer (same status codes and bodies)."""
    if method == "POST":
        return 201, {"id": 4, "message": "created"}
    if resource == "/pets/{id}":
        return 200, {"id": params.get("id", ""), "type": "dog", "price": 249.99}
    return 200, _PETS


# --------------------------------------------------------------------------- IAM evaluation


def _iam_pattern(resource: str) -> re.Pattern[str]:
    """IAM's resource wildcards: ``*`` any run of characters (``/`` included), ``?`` one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource))


def policy_allows(response: dict[str, Any], method_arn: str) -> bool:
    """Whether API Gateway would let ``method_arn`` through with this authorizer response.

    The simple response (HTTP API 2.0) is ``isAuthorized``. An IAM policy allows when some Allow
    statement's resource matches the ARN and no Deny statement does (an explicit Deny wins),
    which is how API Gateway evaluates it; anything malformed is refused.
    """
    if "isAuthorized" in response:
        return response["isAuthorized"] is True
    document = response.get("policyDocument")
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            return False
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(isinstance(r, str) and _iam_pattern(r).fullmatch(method_arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


# --------------------------------------------------------------------------- certificates


def make_localhost_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``localhost`` / ``127.0.0.1`` / ``::1``.

    Returns ``(server_cert, server_key, ca_cert)``; clients pass ``ca_cert`` to ``--cacert``.
    A fresh CA per run (not a shared one) means nothing on disk outlives the server's trust.
    """
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from .devpki import CA

    now = dt.datetime.now(dt.UTC)
    ca = CA.root(
        "mtls-authorizer serve local CA", not_before=now - dt.timedelta(hours=1), not_after=now + dt.timedelta(days=7)
    )
    server = ca.issue(
        "CN=localhost",
        sans=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        not_before=now - dt.timedelta(hours=1),
        not_after=now + dt.timedelta(days=7),
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, ca_file = directory / "server.pem", directory / "server.key", directory / "server-ca.pem"
    cert.write_bytes(server.cert_pem)
    key.touch(mode=0o600)
    key.write_bytes(server.key_pem)
    ca_file.write_bytes(ca.cert_pem)
    return cert, key, ca_file


def server_ssl_context(trust_store: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """The custom domain's TLS: TLS 1.2+, a client certificate required and verified.

    The truststore file is the CA file, so a client must chain to a self-signed certificate in
    it; intermediates in the bundle help build the path, as in API Gateway.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cafile=str(trust_store))
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"cannot load the truststore {trust_store}: {exc}") from None
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"cannot load the server certificate {cert} / key {key}: {exc}") from None
    return ctx


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    """One request: event -> real handler -> API Gateway's answer -> one access-log line."""

    server: MtlsHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "mtls-authorizer-serve"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """The access-log line replaces http.server's own log."""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        srv = self.server
        method = self.command.upper()
        path = self.path.split("?", 1)[0] or "/"
        self._drain_body()
        request_id = str(uuid.uuid4())
        record: dict[str, str] = dict.fromkeys(ACCESS_LOG_FORMAT, EMPTY)
        record.update(
            requestId=request_id,
            extendedRequestId=uuid.uuid4().hex[:16],
            ip=str(self.client_address[0]),
            requestTime=dt.datetime.now(dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            httpMethod=method,
            path=path,
            protocol=self.request_version,
            domainName=(self.headers.get("Host") or "localhost").rsplit(":", 1)[0],
        )
        pem = self._peer_pem()
        if pem is not None:
            from .events import client_cert_block

            block = client_cert_block(pem)
            validity = block.get("validity", {})
            record.update(
                clientCertSubjectDN=block.get("subjectDN", EMPTY),
                clientCertIssuerDN=block.get("issuerDN", EMPTY),
                clientCertSerialNumber=block.get("serialNumber", EMPTY),
                clientCertNotBefore=validity.get("notBefore", EMPTY),
                clientCertNotAfter=validity.get("notAfter", EMPTY),
            )
        status, body, headers = self._decide(method, path, pem, request_id, record)
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", request_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)
        record.update(
            status=str(status),
            responseLength=str(len(payload)),
            responseLatency=str(round((time.perf_counter() - started) * 1000)),
        )
        srv.access_log(record)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _drain_body(self) -> None:
        """Read (and drop) a request body so that the connection stays usable."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        elif length > MAX_BODY_BYTES:
            self.close_connection = True

    def _peer_pem(self) -> str | None:
        conn = self.connection
        if not isinstance(conn, ssl.SSLSocket):
            return None
        der = conn.getpeercert(binary_form=True)
        return ssl.DER_cert_to_PEM_cert(der) if der else None

    def _decide(
        self, method: str, path: str, pem: str | None, request_id: str, record: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        srv = self.server
        route = match_route(method, path)
        if route is None:
            # REST: an unknown resource or method is refused before any authorizer runs.
            if srv.api == "rest":
                record.update(errorMessage="Missing Authentication Token", errorType="MISSING_AUTHENTICATION_TOKEN")
                return (
                    403,
                    {"message": "Missing Authentication Token"},
                    {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
                )
            record.update(errorMessage="Not Found", errorType="RESOURCE_NOT_FOUND")
            return 404, {"message": "Not Found"}, {}
        resource, params = route
        record["resourcePath"] = resource
        from .app import handle
        from .events import make_event

        headers = {k.lower(): v for k, v in self.headers.items()}
        event = make_event(
            pem, api=srv.api, method=method, path=path, source_ip=str(self.client_address[0]),
            headers=headers, request_id=request_id,
        )  # fmt: skip
        outcome = handle(event, srv.runtime)
        reason = outcome.decision.reason.value
        record.update(
            principalId=str(outcome.response.get("principalId") or outcome.decision.principal_id or EMPTY),
            authorizerReason=reason,
            authorizerStatus="200",
            authorizerLatency=str(round(outcome.elapsed_ms)),
        )
        arn = str(event.get("methodArn") or event.get("routeArn") or "")
        if policy_allows(outcome.response, arn):
            status, body = backend_response(method, resource, params)
            return status, body, {}
        record.update(errorMessage=EXPLICIT_DENY if srv.api != "http2" else "Forbidden", errorType="ACCESS_DENIED")
        if srv.api == "rest":
            # The template's ACCESS_DENIED gateway response (ExposeDenyReason=true, the default).
            return 403, {"message": "Forbidden", "reason": reason, "requestId": request_id}, {}
        return 403, {"message": "Forbidden"}, {}


class MtlsHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS with a required client certificate.

    The listening socket stays plain: each accepted connection is wrapped (and its handshake
    run, with a timeout) in the connection's own thread. A handshake failure, such as a client
    without a certificate, is reported through ``on_refused`` and the connection closed.
    """

    daemon_threads = True
    allow_reuse_address = True
    #: socketserver's default backlog is 5: with 16 clients opening connections at once the
    #: kernel drops SYNs and the client retries a second later.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        ssl_context: ssl.SSLContext,
        runtime: Runtime,
        api: str,
        access_log: AccessLog,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        if api not in API_KINDS:
            raise ServeError(f"api must be one of {API_KINDS}, not {api!r}")
        self.ssl_context = ssl_context
        self.runtime = runtime
        self.api = api
        self.access_log = access_log
        self.on_refused = on_refused or (lambda ip, why: None)
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        # Headers and body are two writes: with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, 40 ms on every keep-alive request.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls = self.ssl_context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.on_refused(str(client_address[0]), str(exc))
            return
        try:
            tls.settimeout(IDLE_TIMEOUT_S)
            _Handler(tls, client_address, self)
        except (ssl.SSLError, OSError) as exc:
            self.on_refused(str(client_address[0]), str(exc))
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, not a traceback per broken connection."""
        print(f"serve: error while handling {client_address[0]}: {sys.exc_info()[1]!r}", file=sys.stderr)


def json_lines(stream: TextIO) -> AccessLog:
    """An access log that writes one JSON object per line to ``stream``, thread-safely."""
    lock = threading.Lock()

    def write(record: dict[str, str]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return write


class LocalEndpoint:
    """The whole local endpoint: certificates, policy, runtime and server, usable from tests.

        with LocalEndpoint(trust_store, access_log=lines.append).start() as ep:
            curl --cacert ep.server_ca ... https://localhost:{ep.port}/pets

    Without ``cert``/``key`` it makes a localhost certificate under a temporary folder; without
    ``config`` it writes a minimal policy document whose truststore is ``trust_store`` (every
    client the truststore accepts is allowed on every route). Both are removed on :meth:`close`.
    """

    def __init__(
        self,
        trust_store: Path,
        *,
        config: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cert: Path | None = None,
        key: Path | None = None,
        api: str = "rest",
        access_log: AccessLog | None = None,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        from .runtime import Runtime

        if (cert is None) != (key is None):
            raise ServeError("--cert and --key go together")
        trust_store = Path(trust_store)
        if not trust_store.is_file():
            raise ServeError(f"cannot read the truststore {trust_store}")
        self._tmp = tempfile.TemporaryDirectory(prefix="mtls-serve-")
        work = Path(self._tmp.name)
        self.trust_store = trust_store.resolve()
        self.server_ca: Path | None = None
        try:
            if cert is None or key is None:
                cert, key, self.server_ca = make_localhost_certificate(work)
            if config is None:
                policy = work / "policy.json"
                policy.write_text(json.dumps({"version": 1, "truststore": {"uri": str(self.trust_store)}}))
                config = str(policy)
            self.config_uri = config
            self.runtime = Runtime(config)
            self._check_config()
            context = server_ssl_context(self.trust_store, Path(cert), Path(key))
            try:
                self.server = MtlsHTTPServer(
                    (host, port), ssl_context=context, runtime=self.runtime, api=api,
                    access_log=access_log or json_lines(sys.stdout), on_refused=on_refused,
                )  # fmt: skip
            except OSError as exc:
                raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        except BaseException:
            self._tmp.cleanup()
            raise
        self._thread: threading.Thread | None = None

    def _check_config(self) -> None:
        """Fail at start-up, not on the first request, when the policy document is unusable."""
        from .reasons import AuthorizerError

        try:
            self.runtime.load()
        except AuthorizerError as exc:
            raise ServeError(f"policy document {self.config_uri}: {exc.reason.value}: {exc.detail}") from None

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def api(self) -> str:
        return self.server.api

    def url(self, path: str = "/pets") -> str:
        host = "localhost" if self.host in ("127.0.0.1", "::1", "0.0.0.0", "::") else self.host
        return f"https://{host}:{self.port}{path}"

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> LocalEndpoint:
        """Serve in a daemon thread (tests); returns ``self``."""
        self._thread = threading.Thread(target=self.serve_forever, name="mtls-serve", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_server(
    trust_store: Path,
    *,
    config: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8443,
    cert: Path | None = None,
    key: Path | None = None,
    api: str = "rest",
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C); access-log lines on stdout, everything else on stderr.

    ``ready(port)`` is called once the socket listens (useful with ``port=0``).
    """
    endpoint = LocalEndpoint(
        trust_store, config=config, host=host, port=port, cert=cert, key=key, api=api,
        access_log=json_lines(sys.stdout),
        on_refused=lambda ip, why: print(f"serve: TLS handshake refused for {ip}: {why}", file=sys.stderr),
    )  # fmt: skip
    try:
        err = sys.stderr
        print(f"serve: https://{endpoint.host}:{endpoint.port} (mTLS, {api} events)", file=err)
        print(f"serve: client certificates must chain to {endpoint.trust_store}", file=err)
        print(f"serve: policy document {endpoint.config_uri}", file=err)
        cacert = f"--cacert {endpoint.server_ca} " if endpoint.server_ca else ""
        if endpoint.server_ca:
            print(f"serve: server certificate for localhost, its CA: {endpoint.server_ca}", file=err)
        print(f"serve: try  curl {cacert}--cert client.pem --key client.key {endpoint.url()}", file=err, flush=True)
        if ready is not None:
            ready(endpoint.port)
        endpoint.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.close()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options (cli.py adds the subparser and calls :func:`serve_main`)."""
    parser.add_argument(
        "--trust-store",
        required=True,
        type=Path,
        metavar="FILE",
        help="PEM bundle client certificates must chain to (the custom domain's truststore)",
    )
    parser.add_argument(
        "--config",
        metavar="URI",
        help="policy document (path, file:// or s3://); default: allow every client of --trust-store",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 picks a free one)")
    parser.add_argument(
        "--cert", type=Path, metavar="FILE", help="server certificate (default: a new one for localhost)"
    )
    parser.add_argument("--key", type=Path, metavar="FILE", help="server private key (with --cert)")
    parser.add_argument("--api", choices=API_KINDS, default="rest",
                        help="event kind: REST API, HTTP API payload 1.0 or 2.0 (default rest)")  # fmt: skip


def serve_main(args: argparse.Namespace) -> int:
    """Entry point for ``mtls-authorizer serve``: exit 0 after Ctrl-C, 2 when it cannot start."""
    # Decision logs go to stderr so that stdout carries only access-log lines (set before the
    # handler module is imported: its logger binds the stream at import time).
    os.environ.setdefault("AUTHORIZER_LOG_STREAM", "stderr")
    try:
        run_server(
            args.trust_store, config=args.config, host=args.host, port=args.port,
            cert=args.cert, key=args.key, api=args.api,
        )  # fmt: skip
    except ServeError as exc:
        print(f"mtls-authorizer serve: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m authorizer.serve`` (the same as ``mtls-authorizer serve``)."""
    parser = argparse.ArgumentParser(
        prog="mtls-authorizer serve", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_serve_arguments(parser)
    return serve_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
