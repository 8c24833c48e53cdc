"""Real peers for the revocation tests, on 127.0.0.1 only.

* :class:`CrlServer`: a threaded ``http.server`` serving configurable routes (bytes with an
  ETag, a status code, a delay, a trickle, a redirect) and recording every request.
* :class:`OpenSslOcspResponder`: a real ``openssl ocsp -index`` responder. openssl 3.0's
  ``-port`` takes a number only and listens on every interface (checked: ``-port
  127.0.0.1:N`` is refused), so a free port is chosen by binding to it first; clients only ever
  connect to 127.0.0.1. It serves one request at a time, which these tests respect.
* :class:`NonceRewritingProxy`: forwards OCSP requests to a responder with the nonce replaced,
  so the answer carries a nonce that is not the one the client sent.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from authorizer.devpki import CA, Issued, ocsp_index_line

HOST = "127.0.0.1"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # before the answer
    trickle: float = 0.0  # seconds between bytes of the body
    location: str | None = None  # redirect target
    content_length: bool = True


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class CrlServer:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.location:
                    self.send_response(route.status if route.status in (301, 302, 307, 308) else 302)
                    self.send_header("Location", route.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", "application/pkix-crl")
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                if route.content_length:
                    self.send_header("Content-Length", str(len(route.body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if route.trickle:
                        for i in range(len(route.body)):
                            self.wfile.write(route.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(route.trickle)
                    else:
                        self.wfile.write(route.body)
                except OSError:
                    pass
                if not route.content_length:
                    self.close_connection = True

            do_GET = _serve
            do_POST = _serve

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port free on every interface (openssl binds the wildcard address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class OpenSslOcspResponder:
    """``openssl ocsp -index`` for one CA, signing with ``signer`` (the CA itself or a
    delegated responder). ``entries`` are ``(cert, revoked_at_or_None)``."""

    def __init__(
        self,
        ca: CA,
        entries: Sequence[tuple[x509.Certificate, Any]],
        *,
        signer: Issued | None = None,
        nmin: int | None = None,
        ndays: int | None = None,
        port: int | None = None,
    ) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("openssl is not installed")
        self.dir = tempfile.mkdtemp(prefix="ocsp-")
        signer = signer or ca
        files = {
            "ca.pem": ca.cert.public_bytes(serialization.Encoding.PEM),
            "rsigner.pem": signer.cert.public_bytes(serialization.Encoding.PEM),
            "rkey.pem": signer.key_pem,
            "index.txt": "".join(ocsp_index_line(c, revoked_at=r) for c, r in entries).encode(),
        }
        for name, data in files.items():
            with open(os.path.join(self.dir, name), "wb") as fh:
                fh.write(data)
        last_error = ""
        for _ in range(1 if port else 5):
            self.port = port or free_port()
            cmd = [
                "openssl", "ocsp", "-index", "index.txt", "-port", str(self.port), "-CA", "ca.pem",
                "-rsigner", "rsigner.pem", "-rkey", "rkey.pem", "-ignore_err", "-timeout", "3",
            ]  # fmt: skip
            if nmin is not None:
                cmd += ["-nmin", str(nmin)]
            if ndays is not None:
                cmd += ["-ndays", str(ndays)]
            self.proc = subprocess.Popen(
                cmd, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
            if self._wait_ready():
                return
            last_error = self._stop()
        raise RuntimeError(f"openssl ocsp did not start: {last_error}")

    def _wait_ready(self) -> bool:
        """Wait for openssl's "waiting for OCSP client connections" line. A probing connect
        would not do: openssl then waits forever for that connection's request."""
        assert self.proc.stderr is not None
        self.log: list[str] = []
        ready = threading.Event()
        stderr = self.proc.stderr

        def pump() -> None:
            for raw in iter(stderr.readline, b""):
                line = raw.decode(errors="replace")
                self.log.append(line)
                if "waiting for OCSP client connections" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(10)
        return self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def _stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return "".join(getattr(self, "log", []))

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class NonceRewritingProxy(CrlServer):
    """Forwards each OCSP POST to ``upstream`` after swapping the request's nonce for another."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        super().__init__()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = proxy.forward(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd.RequestHandlerClass = Handler

    def forward(self, body: bytes) -> bytes:
        req = ocsp.load_der_ocsp_request(body)
        builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            req.issuer_name_hash, req.issuer_key_hash, req.serial_number, req.hash_algorithm
        )
        builder = builder.add_extension(x509.OCSPNonce(b"\x00" * 16), critical=False)
        data = builder.build().public_bytes(serialization.Encoding.DER)
        request = urllib.request.Request(
            self.upstream, data=data, headers={"Content-Type": "application/ocsp-request"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return bytes(resp.read())


@contextlib.contextmanager
def crl_server() -> Iterator[CrlServer]:
    server = CrlServer()
    try:
        yield server
    finally:
        server.close()
