"""Benchmark: ``mtls-authorizer serve`` under load. Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_serve.py [--clients 16] [--stalled 50] [--requests 150] [--seconds 20]

The server runs as its own process (``python -m authorizer.serve``, the real command) on
127.0.0.1; the clients are threads of this process, each with its own client certificate chain
from a test CA. Four runs, each bounded in requests and in time:

* keep-alive: every client sends its requests on one TLS connection;
* new connection: every request opens a new TCP + TLS (mTLS) connection, as a client without
  connection reuse does;
* both again with ``--stalled`` extra clients beside them that connect and then say nothing
  (half of them stop before the TLS handshake, half after it, mid-request), holding the
  server's threads.

A first run with a single keep-alive client shows the latency of one request without
queueing behind the others. Per run: requests answered, errors, requests/s over the run's wall time, p50 and p99 latency
of one request (including the handshake for new connections). Issue 10's target on a 2-core
machine: keep-alive p50 <= 5 ms and >= 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from authorizer.devpki import CA
from authorizer.serve import make_localhost_certificate

HOST = "127.0.0.1"
TARGET_P50_MS = 5.0
TARGET_RPS = 1000.0


@dataclass(frozen=True)
class Run:
    name: str
    requests: int
    errors: int
    wall: float
    latencies: list[float]
    #: CPU seconds the server process used during the run (Linux /proc; NaN elsewhere)
    server_cpu: float = float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu * 1000 / self.requests if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Server:
    """``python -m authorizer.serve`` on a free port; decision logs go to a file, not a pipe."""

    def __init__(self, work: Path, trust_store: Path) -> None:
        self.cert, self.key, self.server_ca = make_localhost_certificate(work / "server")
        self.stderr = (work / "serve.log").open("wb")
        env = {**os.environ, "AUTHORIZER_LOG_STREAM": "stderr"}
        cmd = [
            sys.executable, "-m", "authorizer.serve", "--trust-store", str(trust_store), "--port", "0",
            "--cert", str(self.cert), "--key", str(self.key),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr, env=env)
        self.port = self._wait_port(work / "serve.log")

    def _wait_port(self, log: Path) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("serve: https://"):
                    return int(line.split()[1].rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("serve did not start within 30 s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux), NaN when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(server: Server, *args: object, **kwargs: object) -> Run:
    before = cpu_seconds(server.proc.pid)
    result = run(*args, **kwargs)  # type: ignore[arg-type]
    return dataclasses.replace(result, server_cpu=cpu_seconds(server.proc.pid) - before)


def client_context(server_ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server_ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _request(conn: http.client.HTTPSConnection) -> bool:
    conn.request("GET", "/pets", headers={"Connection": "keep-alive"})
    resp = conn.getresponse()
    resp.read()
    return resp.status == 200


def run(name: str, port: int, contexts: list[ssl.SSLContext], per_client: int, seconds: float, keep_alive: bool) -> Run:
    latencies: list[list[float]] = [[] for _ in contexts]
    errors = [0] * len(contexts)
    start_gate = threading.Barrier(len(contexts) + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        ctx = contexts[i]
        conn: http.client.HTTPSConnection | None = None
        start_gate.wait()
        for _ in range(per_client):
            if time.monotonic() > stop_at[0]:
                break
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(HOST, port, context=ctx, timeout=10)
                    conn.connect()
                ok = _request(conn)
            except (OSError, http.client.HTTPException):
                ok = False
                with contextlib.suppress(Exception):
                    assert conn is not None
                    conn.close()
                conn = None
            if ok:
                latencies[i].append(time.perf_counter() - t0)
            else:
                errors[i] += 1
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(contexts))]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds
    t0 = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join(seconds + 30)
    wall = time.perf_counter() - t0
    flat = [x for per in latencies for x in per]
    return Run(name, len(flat), sum(errors), wall, flat)


@contextlib.contextmanager
def stalled_clients(port: int, count: int, ctx: ssl.SSLContext) -> object:
    """``count`` connections that stop talking: half before the TLS handshake, half mid-request."""
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            raw = socket.create_connection((HOST, port), timeout=10)
            if i % 2:
                tls = ctx.wrap_socket(raw, server_hostname="localhost")
                tls.sendall(b"GET /pets HTTP/1.1\r\nHost: localhost\r\n")  # and never the end of the headers
                socks.append(tls)
            else:
                socks.append(raw)
        time.sleep(0.2)
        yield socks
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--stalled", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400, help="per client and run (keep-alive)")
    parser.add_argument("--new-conn-requests", type=int, default=30, help="per client and run (new connections)")
    parser.add_argument("--seconds", type=float, default=20.0, help="cap on each run's duration")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        root = CA.root("Bench Serve Root")
        issuing = root.intermediate("Bench Serve Issuing")
        trust = work / "truststore.pem"
        trust.write_bytes(issuing.cert_pem + root.cert_pem)  # API Gateway: the event carries the leaf only
        contexts = []
        for i in range(args.clients):
            leaf = issuing.issue(f"CN=bench client {i},O=Bench")
            cert, key = work / f"client{i}.pem", work / f"client{i}.key"
            cert.write_bytes(leaf.cert_pem + issuing.cert_pem)  # the intermediate goes with the leaf
            key.write_bytes(leaf.key_pem)
            contexts.append((cert, key))
        server = Server(work, trust)
        try:
            ctxs = [client_context(server.server_ca, c, k) for c, k in contexts]
            # warm up: the first decision builds the runtime, the first handshake loads the chain
            run("warm-up", server.port, ctxs[:2], 5, 10, keep_alive=True)
            results = [
                measured(server, "keep-alive, 1 client (no queueing)", server.port, ctxs[:1], args.requests * 4, args.seconds, True),
                measured(server, f"keep-alive, {args.clients} clients", server.port, ctxs, args.requests, args.seconds, True),
                measured(server, f"new TLS conn/request, {args.clients} clients", server.port, ctxs, args.new_conn_requests,
                    args.seconds, False),
            ]  # fmt: skip
            with stalled_clients(server.port, args.stalled, ctxs[0]):
                results.append(
                    measured(
                        server,
                        f"keep-alive + {args.stalled} stalled",
                        server.port,
                        ctxs,
                        args.requests,
                        args.seconds,
                        True,
                    )
                )
                results.append(
                    measured(server, f"new TLS conn + {args.stalled} stalled", server.port, ctxs, args.new_conn_requests,
                        args.seconds, False)
                )  # fmt: skip
        finally:
            server.close()

    print(f"serve under load on 127.0.0.1 ({os.cpu_count()} cores; server and clients share them)")
    print(
        f"{'run':<34} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU ms/req':>14}   target"
    )
    for r in results:
        target = ""
        if r.name.startswith("keep-alive") and "1 client" not in r.name:
            ok = r.pct(0.50) <= TARGET_P50_MS and r.rps >= TARGET_RPS
            target = f"p50 <= {TARGET_P50_MS:g} ms, >= {TARGET_RPS:,.0f} req/s: {'met' if ok else 'NOT met'}"
        print(
            f"{r.name:<34} {r.requests:>8} {r.errors:>6} {r.rps:>8.0f} {r.pct(0.50):>8.2f} {r.pct(0.99):>8.2f}"
            f" {r.cpu_ms_per_request:>14.2f}   {target}"
        )
    mean = [statistics.fmean(r.latencies) * 1000 if r.latencies else float("nan") for r in results]
    print("mean latency ms: " + ", ".join(f"{m:.2f}" for m in mean))
    print(
        "with N clients each waiting for its answer, p50 is about N / (requests/s): 16 clients at p50 <= 5 ms\n"
        "need >= 3,200 req/s from 2 cores that also run the 16 client threads (srv CPU ms/req: the server's share)"
    )


if __name__ == "__main__":
    main()
