"""Issue 10, defect 8: ``serve`` answers a keep-alive request in about a millisecond.

Headers and body leave in two writes; with Nagle's algorithm on the accepted socket the body
waited for the client's delayed ACK, so every keep-alive request took 40-44 ms. The threshold
here (a median under 20 ms over 30 requests) is far above the fixed server's ~1 ms and far
below the 40 ms floor of the bug, so it does not flake either way.
"""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from authorizer.serve import LocalEndpoint
from tests.pki import CA


def test_keep_alive_requests_are_not_delayed_by_nagle(tmp_path: Path) -> None:
    root = CA.root("Latency Root")
    issuing = root.intermediate("Latency Issuing")
    client = issuing.issue("CN=latency-client")
    truststore = tmp_path / "truststore.pem"
    truststore.write_bytes(issuing.cert_pem + root.cert_pem)
    (tmp_path / "client.pem").write_bytes(client.cert_pem)
    (tmp_path / "client.key").write_bytes(client.key_pem)
    with LocalEndpoint(truststore, access_log=lambda record: None).start() as ep:
        assert ep.server_ca is not None
        ctx = ssl.create_default_context(cafile=str(ep.server_ca))
        ctx.load_cert_chain(str(tmp_path / "client.pem"), str(tmp_path / "client.key"))
        conn = http.client.HTTPSConnection("localhost", ep.port, context=ctx, timeout=10)
        try:
            times = []
            for _ in range(31):
                start = time.perf_counter()
                conn.request("GET", "/pets")
                response = conn.getresponse()
                assert response.status == 200, json.loads(response.read())
                response.read()
                times.append(time.perf_counter() - start)
        finally:
            conn.close()
    median_ms = statistics.median(times[1:]) * 1000  # the first one pays the handshake
    assert median_ms < 20, f"keep-alive median {median_ms:.1f} ms"


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_listen_backlog_is_larger_than_socketservers_default(tmp_path: Path) -> None:
    """The kernel's own view: ``ss`` shows a listening socket's backlog as its Send-Q."""
    root = CA.root("Backlog Root")
    truststore = tmp_path / "truststore.pem"
    truststore.write_bytes(root.cert_pem)
    with LocalEndpoint(truststore, access_log=lambda record: None) as ep:
        out = subprocess.run(
            ["ss", "-Hltn", f"sport = :{ep.port}"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
        assert out and out[0] == "LISTEN", out
        assert int(out[2]) >= 128, out
