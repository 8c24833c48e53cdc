"""``mtls-authorizer serve`` end to end: real TLS on 127.0.0.1, real curl, Python's ssl client.

The endpoint must behave like the mTLS custom domain in front of the authorizer: refuse a TLS
handshake without a trusted client certificate, answer the sample backend's 200 when the real
handler allows, 403 when it denies, and print one access-log line per request carrying the
client certificate's fields (never its PEM).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from authorizer.devpki import CA, Issued
from authorizer.serve import ACCESS_LOG_FORMAT, LocalEndpoint, ServeError, match_route, policy_allows

CURL = shutil.which("curl") or "/usr/bin/curl"
pytestmark = pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")


@dataclass(frozen=True)
class Pki:
    dir: Path
    truststore: Path
    policy: Path
    client1: Issued
    client2: Issued
    stranger: Issued

    def files(self, who: Issued, name: str) -> tuple[Path, Path]:
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert.write_bytes(who.cert_pem)
        key.write_bytes(who.key_pem)
        return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("serve-pki")
    root = CA.root("Serve Test Root")
    issuing = root.intermediate("Serve Test Issuing")
    client1 = issuing.issue("CN=client1,O=Partner A", key="p256", serial=0x1F2E)
    client2 = issuing.issue("CN=client2,O=Partner B", key="rsa2048")
    stranger = CA.root("Somebody Else's Root").issue("CN=stranger", key="p256")
    truststore = d / "truststore.pem"
    truststore.write_bytes(root.cert_pem + issuing.cert_pem)
    policy = d / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "truststore": {"uri": "truststore.pem"},
                "clients": [
                    {
                        "name": "partner-a",
                        "match": {"subject": "CN=client1,O=Partner A"},
                        "routes": ["GET /pets", "GET /pets/*"],
                    }
                ],
            }
        )
    )
    return Pki(d, truststore, policy, client1, client2, stranger)


class Endpoint:
    """A running LocalEndpoint plus the access-log lines it printed."""

    def __init__(self, ep: LocalEndpoint, lines: list[dict[str, str]]) -> None:
        self.ep, self.lines = ep, lines

    def line_for(self, before: int, timeout: float = 5.0, **fields: str) -> dict[str, str]:
        """The first access log line since ``before`` whose fields have these values. A line is
        written after its response, so an earlier test's line may land after ``before`` was
        read: pick the request's own line, never "the next one"."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[before:]:
                if all(line.get(k) == v for k, v in fields.items()):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no access log line with {fields} in {self.lines[before:]}")
            time.sleep(0.01)


def _endpoint(pki: Pki, api: str) -> Iterator[Endpoint]:
    lines: list[dict[str, str]] = []
    with LocalEndpoint(pki.truststore, config=str(pki.policy), port=0, api=api, access_log=lines.append).start() as ep:
        yield Endpoint(ep, lines)


@pytest.fixture(scope="module")
def rest(pki: Pki) -> Iterator[Endpoint]:
    yield from _endpoint(pki, "rest")


@pytest.fixture(scope="module")
def http2(pki: Pki) -> Iterator[Endpoint]:
    yield from _endpoint(pki, "http2")


def curl(ep: LocalEndpoint, path: str, cert: tuple[Path, Path] | None, *, method: str = "GET") -> tuple[int, int, str]:
    """(curl exit code, HTTP status, body) of a real curl run against the endpoint."""
    assert ep.server_ca is not None
    cmd = [CURL, "--silent", "--show-error", "--max-time", "10", "--cacert", str(ep.server_ca)]
    if cert is not None:
        cmd += ["--cert", str(cert[0]), "--key", str(cert[1])]
    cmd += ["-X", method, "--write-out", "\n%{http_code}", ep.url(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    body, _, status = proc.stdout.rpartition("\n")
    return proc.returncode, int(status or 0), body


# --------------------------------------------------------------------------- curl


def test_curl_valid_client_gets_the_backend_and_a_complete_access_log_line(pki: Pki, rest: Endpoint) -> None:
    before = len(rest.lines)
    rc, status, body = curl(rest.ep, "/pets", pki.files(pki.client1, "client1"))
    assert (rc, status) == (0, 200), body
    assert [p["type"] for p in json.loads(body)] == ["dog", "cat", "fish"]

    line = rest.line_for(before, path="/pets", clientCertSubjectDN="CN=client1,O=Partner A", httpMethod="GET")
    assert set(line) == set(ACCESS_LOG_FORMAT)
    cert = pki.client1.cert
    assert line["status"] == "200"
    assert line["httpMethod"] == "GET" and line["path"] == "/pets" and line["resourcePath"] == "/pets"
    assert line["clientCertSubjectDN"] == "CN=client1,O=Partner A"
    assert line["clientCertIssuerDN"] == cert.issuer.rfc4514_string()
    assert line["clientCertSerialNumber"] == "1f:2e"
    assert line["clientCertNotBefore"].endswith("2025 GMT") and line["clientCertNotAfter"].endswith("2045 GMT")
    assert line["principalId"] == "partner-a"  # the policy's client name
    assert line["authorizerReason"] == "ALLOWED"
    assert line["ip"] == "127.0.0.1"
    assert "BEGIN CERTIFICATE" not in json.dumps(line)


def test_curl_path_parameter_and_post(pki: Pki, rest: Endpoint) -> None:
    rc, status, body = curl(rest.ep, "/pets/42", pki.files(pki.client1, "client1"))
    assert (rc, status) == (0, 200)
    assert json.loads(body)["id"] == "42"


def test_curl_client_trusted_by_tls_but_refused_by_the_authorizer_gets_403(pki: Pki, rest: Endpoint) -> None:
    """client2 chains to the truststore (TLS accepts it) but the policy lists only client1."""
    before = len(rest.lines)
    rc, status, body = curl(rest.ep, "/pets", pki.files(pki.client2, "client2"))
    assert (rc, status) == (0, 403)
    answer = json.loads(body)
    assert answer["message"] == "Forbidden"
    assert answer["reason"] == "CLIENT_NOT_ALLOWED"
    line = rest.line_for(before, clientCertSubjectDN="CN=client2,O=Partner B")
    assert line["status"] == "403"
    assert line["authorizerReason"] == "CLIENT_NOT_ALLOWED"
    assert line["errorType"] == "ACCESS_DENIED"
    assert line["clientCertSubjectDN"] == "CN=client2,O=Partner B"


def test_curl_route_outside_the_clients_routes_gets_403(pki: Pki, rest: Endpoint) -> None:
    rc, status, body = curl(rest.ep, "/pets", pki.files(pki.client1, "client1"), method="POST")
    assert (rc, status) == (0, 403)
    assert json.loads(body)["reason"] == "ROUTE_NOT_ALLOWED"


def test_curl_unknown_resource_is_refused_before_the_authorizer(pki: Pki, rest: Endpoint) -> None:
    before = len(rest.lines)
    rc, status, body = curl(rest.ep, "/admin", pki.files(pki.client1, "client1"))
    assert (rc, status) == (0, 403)
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert rest.line_for(before, path="/admin")["authorizerReason"] == "-"


def test_curl_without_client_certificate_fails_the_handshake(rest: Endpoint) -> None:
    before = len(rest.lines)
    rc, status, _ = curl(rest.ep, "/pets", None)
    assert rc != 0 and status == 0  # TLS refused it: no HTTP status at all
    time.sleep(0.1)
    assert len(rest.lines) == before  # and no request reached the API


def test_curl_client_of_an_unknown_ca_fails_the_handshake(pki: Pki, rest: Endpoint) -> None:
    rc, status, _ = curl(rest.ep, "/pets", pki.files(pki.stranger, "stranger"))
    assert rc != 0 and status == 0


def test_curl_http_api_payload_2_answers_plain_forbidden(pki: Pki, http2: Endpoint) -> None:
    rc, status, _ = curl(http2.ep, "/pets/1", pki.files(pki.client1, "client1"))
    assert (rc, status) == (0, 200)
    rc, status, body = curl(http2.ep, "/pets", pki.files(pki.client2, "client2"))
    assert (rc, status) == (0, 403)
    assert json.loads(body) == {"message": "Forbidden"}
    rc, status, body = curl(http2.ep, "/nowhere", pki.files(pki.client1, "client1"))
    assert (rc, status) == (0, 404)


# --------------------------------------------------------------------------- Python's ssl client


def _client_context(ep: LocalEndpoint, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    assert ep.server_ca is not None
    ctx = ssl.create_default_context(cafile=str(ep.server_ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def test_python_ssl_client_allowed_and_denied(pki: Pki, rest: Endpoint) -> None:
    for who, name, expected in ((pki.client1, "client1", 200), (pki.client2, "client2", 403)):
        conn = http.client.HTTPSConnection(
            "localhost", rest.ep.port, context=_client_context(rest.ep, pki.files(who, name)), timeout=10
        )
        try:
            conn.request("GET", "/pets/7")
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
        assert response.status == expected, body
        assert response.getheader("x-amzn-RequestId")


def test_python_ssl_client_without_certificate_is_refused_by_tls(rest: Endpoint) -> None:
    """TLS 1.3 reports the missing certificate after the client's side of the handshake; either
    way the client never gets an HTTP answer."""
    ctx = _client_context(rest.ep, None)
    with (
        socket.create_connection(("127.0.0.1", rest.ep.port), timeout=10) as sock,
        pytest.raises((ssl.SSLError, ConnectionError)),
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        # the failure may come from the handshake or from the first read
        tls.sendall(b"GET /pets HTTP/1.1\r\nHost: localhost\r\n\r\n")
        if not tls.recv(1024):
            raise ConnectionError("closed without an answer")


def test_python_ssl_client_on_tls_1_2(pki: Pki, rest: Endpoint) -> None:
    """SecurityPolicy TLS_1_2 clients (no TLS 1.3) are served too."""
    ctx = _client_context(rest.ep, pki.files(pki.client1, "client1"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    conn = http.client.HTTPSConnection("localhost", rest.ep.port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/pets")
        assert conn.getresponse().status == 200
        assert isinstance(conn.sock, ssl.SSLSocket) and conn.sock.version() == "TLSv1.2"
    finally:
        conn.close()


def test_server_requires_tls_1_2_and_a_client_certificate(rest: Endpoint) -> None:
    ctx = rest.ep.server.ssl_context
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED


# --------------------------------------------------------------------------- the command itself


def test_serve_command_prints_access_log_lines_on_stdout(pki: Pki, tmp_path: Path) -> None:
    """``python -m authorizer.serve`` with the defaults: its own localhost certificate and a
    policy that allows every client of the truststore; stdout holds only access-log JSON."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AUTHORIZER_LOG_STREAM", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "authorizer.serve", "--trust-store", str(pki.truststore), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    stderr_lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [stderr_lines.put(x) for x in proc.stderr or ()], daemon=True).start()
    try:
        port, ca = None, None
        deadline = time.monotonic() + 20
        while (port is None or ca is None) and time.monotonic() < deadline:
            try:
                text = stderr_lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if m := re.search(r"https://127\.0\.0\.1:(\d+)", text):
                port = int(m.group(1))
            if m := re.search(r"its CA: (\S+)", text):
                ca = m.group(1)
        assert port and ca, "serve did not print its address and CA"
        cert, key = pki.files(pki.client2, "client2")
        out = subprocess.run(
            [CURL, "-sS", "--max-time", "10", "--cacert", ca, "--cert", str(cert), "--key", str(key),
             "-w", "\n%{http_code}", f"https://localhost:{port}/pets"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert out.stdout.endswith("\n200"), out.stdout + out.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            stdout, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0
    lines = [json.loads(x) for x in stdout.splitlines() if x.strip()]
    assert len(lines) == 1, stdout  # the decision log went to stderr
    assert lines[0]["clientCertSubjectDN"] == "CN=client2,O=Partner B"
    assert lines[0]["authorizerReason"] == "ALLOWED"


def test_serve_refuses_to_start_on_a_broken_policy(pki: Pki, tmp_path: Path) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text('{"version": 1}')
    with pytest.raises(ServeError, match="CONFIG_"):
        LocalEndpoint(pki.truststore, config=str(bad), port=0)
    with pytest.raises(ServeError, match="truststore"):
        LocalEndpoint(tmp_path / "missing.pem", port=0)


# --------------------------------------------------------------------------- pure helpers


ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/pets/7"


def _policy(*statements: tuple[str, str]) -> dict[str, object]:
    return {
        "principalId": "x",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": e, "Resource": [r]} for e, r in statements],
        },
    }


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ((("Allow", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/pets/*"),), True),
        ((("Allow", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"),), True),
        ((("Allow", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/pets/*"),), False),
        ((("Allow", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/pets"),), False),
        ((("Allow", "arn:aws:execute-api:*"), ("Deny", ARN)), False),  # an explicit Deny wins
        ((), False),
    ],
)
def test_policy_allows_evaluates_like_api_gateway(statements: tuple[tuple[str, str], ...], allowed: bool) -> None:
    assert policy_allows(_policy(*statements), ARN) is allowed


def test_policy_allows_simple_response() -> None:
    assert policy_allows({"isAuthorized": True}, ARN)
    assert not policy_allows({"isAuthorized": "true"}, ARN)
    assert not policy_allows({"policyDocument": "nonsense"}, ARN)


def test_routes_are_the_templates_mock_routes() -> None:
    assert match_route("GET", "/pets") == ("/pets", {})
    assert match_route("POST", "/pets") == ("/pets", {})
    assert match_route("GET", "/pets/9") == ("/pets/{id}", {"id": "9"})
    assert match_route("DELETE", "/pets/9") is None
    assert match_route("GET", "/pets/9/toys") is None


def test_localhost_certificate_is_fresh(tmp_path: Path) -> None:
    from cryptography import x509

    from authorizer.serve import make_localhost_certificate

    cert, key, ca = make_localhost_certificate(tmp_path)
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    assert leaf.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= leaf.not_valid_after_utc
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE")
