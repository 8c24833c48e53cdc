"""The safe HTTP client: schemes, forbidden addresses, allowed_hosts, pinned resolution."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from authorizer.reasons import SourceError
from authorizer.sources.http import HostPolicy, HttpClient, forbidden_address
from tests.revocation_servers import CrlServer, Route, crl_server


@pytest.fixture
def server() -> Iterator[CrlServer]:
    with crl_server() as s:
        yield s


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "fe80::1%eth0",
        "0.0.0.0",
        "::",
        "::ffff:169.254.1.1",
        "224.0.0.1",
    ],
)
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_address(address) is not None


@pytest.mark.parametrize("address", ["10.0.0.1", "93.184.216.34", "2606:2800:220:1::1", "192.168.1.10"])
def test_ordinary_addresses(address: str) -> None:
    assert forbidden_address(address) is None


def test_host_policy_entries() -> None:
    policy = HostPolicy(["crl.example.com", "127.0.0.1:8080", "[::1]:9000"])
    assert policy.named("CRL.example.com", 80) and policy.named("crl.example.com", 8443)
    assert policy.named("127.0.0.1", 8080) and not policy.named("127.0.0.1", 9001)
    assert policy.named("::1", 9000) and not policy.named("::1", 9001)
    assert policy.check("other.example", 80, ["93.184.216.34"]) is not None
    assert HostPolicy().check("x", 80, ["127.0.0.1"]) is not None
    assert HostPolicy().check("x", 80, ["93.184.216.34", "127.0.0.1"]) is not None  # any bad address refuses


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "ldap://ldap.example/cn=x", "gopher://x", "http://u:p@x/"]
)
def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(SourceError):
        HttpClient(["x", "127.0.0.1"]).request(url, max_bytes=10, timeout=1)


def test_loopback_refused_unless_named(server: CrlServer) -> None:
    url = server.add("/a.crl", Route(body=b"data"))
    with pytest.raises(SourceError, match="loopback"):
        HttpClient().request(url, max_bytes=100, timeout=2)
    assert server.seen == []
    assert HttpClient([server.host]).request(url, max_bytes=100, timeout=2).data == b"data"
    assert HttpClient(["127.0.0.1"]).request(url, max_bytes=100, timeout=2).data == b"data"
    with pytest.raises(SourceError, match="allowed_hosts"):
        HttpClient(["127.0.0.1:1"]).request(url, max_bytes=100, timeout=2)


def test_resolves_once_and_connects_to_the_checked_address(server: CrlServer) -> None:
    server.add("/a.crl", Route(body=b"pinned"))
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    client = HttpClient([f"crl.test:{server.port}"], resolver=resolver)
    resp = client.request(f"http://crl.test:{server.port}/a.crl", max_bytes=100, timeout=2)
    assert resp.data == b"pinned" and calls == ["crl.test"]
    assert server.seen[-1].headers["Host"] == f"crl.test:{server.port}"
    # a public-looking name that resolves to loopback is refused when not named (DNS rebinding)
    with pytest.raises(SourceError, match="loopback"):
        HttpClient(resolver=resolver).request(f"http://crl.test:{server.port}/a.crl", max_bytes=100, timeout=2)


def test_conditional_fetch(server: CrlServer) -> None:
    url = server.add("/e.crl", Route(body=b"v1", etag='"v1"', last_modified="Tue, 01 Jun 2027 00:00:00 GMT"))
    client = HttpClient([server.host])
    first = client.request(url, max_bytes=100, timeout=2)
    assert first.etag == '"v1"' and first.last_modified
    again = client.request(url, max_bytes=100, timeout=2, etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified
    assert server.seen[-1].headers["If-None-Match"] == '"v1"'


def test_size_cap_with_and_without_content_length(server: CrlServer) -> None:
    big = server.add("/big.crl", Route(body=b"x" * 5000))
    streamed = server.add("/stream.crl", Route(body=b"x" * 300_000, content_length=False))
    client = HttpClient([server.host])
    with pytest.raises(SourceError, match="cap"):
        client.request(big, max_bytes=4000, timeout=2)
    with pytest.raises(SourceError, match="cap"):
        client.request(streamed, max_bytes=100_000, timeout=2)


def test_timeout_covers_slow_and_trickling_answers(server: CrlServer) -> None:
    slow = server.add("/slow.crl", Route(body=b"x", delay=1.0))
    trickle = server.add("/trickle.crl", Route(body=b"x" * 40, trickle=0.03))
    client = HttpClient([server.host])
    with pytest.raises(SourceError, match="timed out"):
        client.request(slow, max_bytes=100, timeout=0.3)
    with pytest.raises(SourceError, match="timed out"):
        client.request(trickle, max_bytes=100, timeout=0.3)


def test_redirects_are_rechecked_and_bounded(server: CrlServer) -> None:
    with crl_server() as other:
        target = other.add("/t.crl", Route(body=b"moved"))
        hop = server.add("/hop.crl", Route(location=target))
        with pytest.raises(SourceError, match="allowed_hosts"):
            HttpClient([server.host]).request(hop, max_bytes=100, timeout=2)
        assert other.seen == []
        assert HttpClient([server.host, other.host]).request(hop, max_bytes=100, timeout=2).data == b"moved"
    loop = server.add("/loop.crl", Route(location="/loop.crl"))
    with pytest.raises(SourceError, match="redirects"):
        HttpClient([server.host], max_redirects=2).request(loop, max_bytes=100, timeout=2)
    assert len(server.requests_to("/loop.crl")) == 3
    with pytest.raises(SourceError, match="redirect of a POST"):
        HttpClient([server.host]).request(hop, method="POST", body=b"", max_bytes=100, timeout=2)


def test_http_errors(server: CrlServer) -> None:
    url = server.add("/err.crl", Route(status=500, body=b"oops"))
    with pytest.raises(SourceError, match="HTTP 500"):
        HttpClient([server.host]).request(url, max_bytes=100, timeout=2)
    with pytest.raises(SourceError):
        HttpClient([server.host]).request(server.url("/missing"), max_bytes=100, timeout=2)


def test_https_to_the_pinned_address_verifies_the_host_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import ssl

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from tests.pki import CA

    root = CA.root("TLS Root")
    server_cert = root.issue("CN=crl.test", sans=[x509.DNSName("crl.test")], eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    (tmp_path / "cert.pem").write_bytes(server_cert.chain_pem)
    (tmp_path / "key.pem").write_bytes(server_cert.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cadata=root.cert_pem.decode())
    server = CrlServer(tls=server_ctx)
    try:
        server.add("/a.crl", Route(body=b"over tls"))

        def resolver(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        client = HttpClient(["crl.test", "other.test"], resolver=resolver, ssl_context=client_ctx)
        resp = client.request(f"https://crl.test:{server.port}/a.crl", max_bytes=100, timeout=3)
        assert resp.data == b"over tls"
        with pytest.raises(SourceError, match=r"SSL|certificate|hostname"):
            client.request(f"https://other.test:{server.port}/a.crl", max_bytes=100, timeout=3)
    finally:
        server.close()


@contextlib.contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    """A bare TCP server on 127.0.0.1 that runs ``behaviour`` on each connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                behaviour(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _trickle_headers(conn: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def _stall(conn: socket.socket) -> None:
    time.sleep(3)  # accept the TCP connection, never speak (a stuck TLS handshake)


@pytest.mark.parametrize(("behaviour", "scheme"), [(_trickle_headers, "http"), (_stall, "https")])
def test_the_timeout_bounds_the_whole_call(behaviour: Callable[[socket.socket], None], scheme: str) -> None:
    """A per-receive socket timeout never fires on a server that sends a byte every 50 ms."""
    with raw_server(behaviour) as port:
        client = HttpClient([f"127.0.0.1:{port}"])
        start = time.monotonic()
        with pytest.raises(SourceError, match="timed out"):
            client.request(f"{scheme}://127.0.0.1:{port}/x.crl", max_bytes=10_000, timeout=0.5)
        assert time.monotonic() - start < 1.5


def test_a_slow_resolver_is_bounded_too() -> None:
    def slow_resolver(host: str, port: int) -> list[str]:
        time.sleep(2)
        return ["127.0.0.1"]  # never reached: the call gives up first

    client = HttpClient(resolver=slow_resolver)
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"resolving crl\.example\.test timed out"):
        client.request("http://crl.example.test/x.crl", max_bytes=100, timeout=0.3)
    assert time.monotonic() - start < 1.0
