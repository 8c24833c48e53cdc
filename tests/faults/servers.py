"""Misbehaving peers on 127.0.0.1 for the fault-injection suite (raw sockets, no mocks).

* :func:`closed_port`: a port nothing listens on (connections are refused).
* :class:`FaultServer`: a TCP listener whose behaviour can be switched while it runs:
  ``hang`` (accept, read, never answer), ``garbage`` (answer bytes that are no protocol),
  ``reset`` (accept and close at once), ``proxy`` (forward to an upstream, e.g. moto's S3 server,
  optionally ``delay`` seconds before each answer or ``trickle`` seconds between its bytes), or
  ``refuse`` (the listening socket is closed, so connects are refused). Switching closes the
  connections already open, so a client's keep-alive pool cannot carry the old behaviour on.

The HTTP-level faults (status codes, trickled or oversized bodies, redirects) are served by
:class:`tests.revocation_servers.CrlServer`; this module only adds what a well-behaved HTTP
server cannot do.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

HOST = "127.0.0.1"
GARBAGE = b"\x16\x03\x01\x00\xffNOT HTTP AT ALL\r\n\x00\xff" * 8


def closed_port() -> int:
    """A loopback port with no listener (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class FaultServer:
    MODES = ("hang", "garbage", "reset", "proxy", "refuse")

    def __init__(
        self, mode: str = "hang", *, upstream: tuple[str, int] | None = None, delay: float = 0.0, trickle: float = 0.0
    ) -> None:
        self.upstream = upstream
        self.delay = delay
        self.trickle = trickle
        self.accepted = 0
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self.port = closed_port()
        self.mode = "refuse"
        self.set_mode(mode)

    # -- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def set_mode(self, mode: str, *, delay: float | None = None, trickle: float | None = None) -> None:
        if mode not in self.MODES:
            raise ValueError(mode)
        if delay is not None:
            self.delay = delay
        if trickle is not None:
            self.trickle = trickle
        self._drop_connections()
        self.mode = mode
        if mode == "refuse":
            self._close_listener()
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self._stop.set()
        self._close_listener()
        self._drop_connections()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _drop_connections(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._track(conn)
            threading.Thread(target=self._serve, args=(conn, self.mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        try:
            if mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif mode == "garbage":
                conn.recv(65536)
                conn.sendall(GARBAGE)
                conn.shutdown(socket.SHUT_WR)
                time.sleep(0.5)
            elif mode == "proxy":
                self._proxy(conn)
            else:  # hang: read and keep the connection open until the server is told otherwise
                while not self._stop.is_set() and conn.recv(65536):
                    pass
        except (OSError, ValueError):  # ValueError: select() on a socket closed by stop()
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _proxy(self, client: socket.socket) -> None:
        assert self.upstream is not None
        upstream = socket.create_connection(self.upstream, timeout=10)
        self._track(upstream)
        waiting = False  # a request went up and its answer has not started coming back yet
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                        waiting = True
                        continue
                    if waiting and self.delay:
                        time.sleep(self.delay)
                    waiting = False
                    if self.trickle:
                        for i in range(len(data)):
                            client.sendall(data[i : i + 1])
                            time.sleep(self.trickle)
                    else:
                        client.sendall(data)
        finally:
            upstream.close()


@contextlib.contextmanager
def fault_server(mode: str = "hang", **kwargs: object) -> Iterator[FaultServer]:
    server = FaultServer(mode, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()
