"""HTTP(S) fetches for revocation data, safe to point at URLs taken from certificates.

Why not ``urllib.request.urlopen``: it follows redirects anywhere, resolves the host again at
connect time (so a name checked as public can be rebound to 127.0.0.1 in between), has no size
cap and only a per-socket-operation timeout. Here every call:

* accepts only ``http`` and ``https`` URLs without user info;
* resolves the host once, refuses loopback, link-local, unspecified and multicast addresses
  (IPv4, IPv6 and IPv4-mapped IPv6) unless ``allowed_hosts`` names the host, and then connects
  to exactly the address it checked (TLS still verifies the certificate for the host name);
* when ``allowed_hosts`` is set, contacts no other host at all;
* follows at most ``max_redirects`` redirects, each re-checked like the first URL;
* stops reading past ``max_bytes`` and gives up at ``timeout`` seconds for the whole call,
  including a server that trickles bytes slowly.

Every failure is a :class:`SourceError`; callers turn it into "unknown", never into "good".
Inside Lambda, 127.0.0.1:9001 is the runtime API that hands out the next invocation: that is
why loopback needs an explicit opt-in.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ..reasons import SourceError

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Sequence[str]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpResponse:
    """A 200 answer (``data``) or a 304 to a conditional request (``not_modified``)."""

    url: str
    status: int
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def forbidden_address(address: str) -> str | None:
    """Why ``address`` may not be contacted without an explicit opt-in, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    return None


def _split_host_entry(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if entry.startswith("["):  # [v6]:port or [v6]
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


class HostPolicy:
    """Which hosts may be contacted: ``allowed_hosts`` entries are ``host`` (any port) or
    ``host:port``; an empty list means any host that does not resolve to a forbidden address."""

    def __init__(self, allowed_hosts: Sequence[str] = ()) -> None:
        self.entries = tuple(_split_host_entry(h) for h in allowed_hosts)

    def named(self, host: str, port: int) -> bool:
        host = host.lower()
        return any(h == host and (p is None or p == port) for h, p in self.entries)

    def check(self, host: str, port: int, addresses: Sequence[str]) -> str | None:
        """Why this host may not be contacted, or None."""
        if self.entries:
            return None if self.named(host, port) else f"{host}:{port} is not in allowed_hosts"
        if not addresses:
            return f"{host} did not resolve"
        for address in addresses:
            why = forbidden_address(address)
            if why is not None:
                return f"{host} resolves to a {why} address ({address}); name it in allowed_hosts to allow it"
        return None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a pre-resolved address while sending the original Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


class HttpClient:
    """Fetches one URL at a time under the rules in the module docstring. Thread-safe: it
    keeps no connection state between calls (revocation fetches are rare and cached)."""

    def __init__(
        self,
        allowed_hosts: Sequence[str] = (),
        *,
        max_redirects: int = 3,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "apigw-mtls-authorizer",
    ) -> None:
        self.hosts = HostPolicy(allowed_hosts)
        self.max_redirects = max_redirects
        self._resolve = resolver
        self._ssl = ssl_context
        self.user_agent = user_agent
        self.requests = 0  # for tests and benchmarks

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def request(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: float,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> HttpResponse:
        """One call, redirects included, within ``timeout`` seconds. Raises SourceError."""
        deadline = time.monotonic() + timeout
        current = url
        for _ in range(self.max_redirects + 1):
            resp = self._once(
                current,
                method=method,
                body=body,
                headers=headers,
                etag=etag,
                last_modified=last_modified,
                max_bytes=max_bytes,
                deadline=deadline,
            )
            if isinstance(resp, HttpResponse):
                return resp
            try:
                target = urljoin(current, resp)
            except ValueError as exc:  # "Invalid IPv6 URL" ...: a bad Location is this source's failure
                raise SourceError(url, f"bad redirect Location: {exc}") from None
            log.info("revocation fetch %s redirected to %s", current, target)
            if method != "GET":
                raise SourceError(url, f"redirect of a {method} request refused")
            current = target
        raise SourceError(url, f"more than {self.max_redirects} redirects")

    def _once(
        self,
        url: str,
        *,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        etag: str | None,
        last_modified: str | None,
        max_bytes: int,
        deadline: float,
    ) -> HttpResponse | str:
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # "Invalid IPv6 URL" ...: a bad URL is this source's failure
            raise SourceError(url, f"bad URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise SourceError(url, f"scheme {scheme or '(none)'!r} refused: only http and https")
        if parts.username is not None or parts.password is not None:
            raise SourceError(url, "URLs with user info are refused")
        host = parts.hostname
        if not host:
            raise SourceError(url, "no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise SourceError(url, "bad port") from None
        if self.hosts.entries and not self.hosts.named(host, port):
            raise SourceError(url, f"{host}:{port} is not in allowed_hosts")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceError(url, "timed out")
        try:
            addresses = _resolve_within(self._resolve, host, port, remaining)
        except TimeoutError:
            raise SourceError(url, f"resolving {host} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise SourceError(url, f"cannot resolve {host}: {exc}") from None
        why = self.hosts.check(host, port, addresses)
        if why is not None:
            raise SourceError(url, why)
        if not addresses:
            raise SourceError(url, f"{host} did not resolve")
        address = addresses[0]
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        hdrs = {"User-Agent": self.user_agent, "Accept-Encoding": "identity", "Connection": "close"}
        if headers:
            hdrs.update(headers)
        if etag:
            hdrs["If-None-Match"] = etag
        if last_modified:
            hdrs["If-Modified-Since"] = last_modified
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = _PinnedHTTPSConnection(host, port, address, remaining, self._context())
        else:
            conn = _PinnedHTTPConnection(host, port, address, remaining)
        self.requests += 1
        # Socket timeouts bound each receive, not the call: a server trickling a byte at a time
        # (or stalling a TLS handshake) would outlive them. The watchdog shuts the socket down
        # at the deadline, whatever the call is doing then.
        watchdog = _Watchdog(conn, deadline - time.monotonic())
        try:
            conn.request(method, path, body=body, headers=hdrs)
            self._set_timeout(conn, deadline, url)
            resp = conn.getresponse()
            status = resp.status
            if status in _REDIRECTS:
                location = resp.getheader("Location")
                if not location:
                    raise SourceError(url, f"HTTP {status} without Location")
                return location
            if status == 304 and (etag or last_modified):
                return HttpResponse(url, 304, b"", etag, last_modified)
            if status != 200:
                raise SourceError(url, f"HTTP {status}")
            length = resp.getheader("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise SourceError(url, f"answer of {length} bytes is over the {max_bytes}-byte cap")
            chunks: list[bytes] = []
            size = 0
            while True:
                self._set_timeout(conn, deadline, url)
                chunk = resp.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(url, f"answer is over the {max_bytes}-byte cap")
                chunks.append(chunk)
            if time.monotonic() > deadline:
                raise SourceError(url, "timed out")
            return HttpResponse(
                url,
                200,
                b"".join(chunks),
                resp.getheader("ETag"),
                resp.getheader("Last-Modified"),
                resp.getheader("Content-Type"),
            )
        except SourceError:
            if watchdog.fired:
                raise SourceError(url, "timed out (whole-call deadline)") from None
            raise
        except TimeoutError:
            raise SourceError(url, "timed out") from None
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
            if watchdog.fired:
                raise SourceError(url, "timed out (whole-call deadline)") from None
            raise SourceError(url, f"{type(exc).__name__}: {exc}") from None
        finally:
            watchdog.cancel()
            conn.close()

    @staticmethod
    def _set_timeout(conn: http.client.HTTPConnection, deadline: float, url: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceError(url, "timed out")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)


class _Watchdog:
    """Shuts a connection's socket down when its deadline passes (see ``HttpClient._once``)."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self._conn = conn
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cancel(self) -> None:
        self._timer.cancel()


_RESOLVER_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_RESOLVER_LOCK = threading.Lock()


def _resolve_within(resolve: Resolver, host: str, port: int, seconds: float) -> list[str]:
    """``resolve(host, port)`` bounded by ``seconds`` (``getaddrinfo`` has no timeout of its own).

    A lookup that outlives its caller finishes in the background; the pool is small and shared,
    so stuck lookups cannot pile up threads.
    """
    global _RESOLVER_POOL  # noqa: PLW0603 - one small pool per process, made on first use
    with _RESOLVER_LOCK:
        if _RESOLVER_POOL is None:
            _RESOLVER_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")
    future = _RESOLVER_POOL.submit(lambda: list(resolve(host, port)))
    try:
        return future.result(timeout=max(seconds, 0.0))
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"resolving {host}") from None
