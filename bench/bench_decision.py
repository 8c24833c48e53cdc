"""Benchmark: warm decisions, repeat clients and cold start. Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_decision.py [--n 400]

* new leaf of a known issuer: validation (parsed certificate) and a whole decision (``authorize``
  + response, from the event's PEM) for a certificate never seen before, on a 3-certificate
  chain, beside a bare ``ClientVerifier.verify`` of the same chain (verifier built once, as cheap
  as cryptography gets). The validator has already seen a leaf of the same issuing CA, so the
  CA part's RFC 5280 state is memoized and one signature is checked. Targets: validation
  <= 1.0x, decision <= 1.3x.
* first leaf of an unseen issuer: the same with a fresh validator per leaf (whole path). Target
  <= 2.0x.
* repeat client: the same leaf again on a warm function (the verified path is cached). Target:
  median at most 20 µs.
* full handler: the same through ``app.handle`` (event parsing, response, JSON log line).
* cold start: a fresh interpreter importing the handler and deciding its first event.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store

from authorizer import app
from authorizer.certificate import checked_certificate
from authorizer.devpki import CA, KeyKind, make_crl, shared_key
from authorizer.events import make_event
from authorizer.pipeline import authorize
from authorizer.request import Target, parse_event
from authorizer.response import build_response
from authorizer.runtime import Runtime
from authorizer.validation import ChainValidator

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)


def stats(samples: list[float]) -> tuple[float, float]:
    """(median, p99) in microseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_kind(kind: KeyKind, n: int, folder: Path) -> None:
    root = CA.root(f"Bench Root {kind}", key=kind)
    issuing = root.intermediate(f"Bench Issuing {kind}", key=kind)
    (folder / f"ts-{kind}.pem").write_bytes(issuing.cert_pem + root.cert_pem)
    policy = folder / f"policy-{kind}.json"
    policy.write_text(json.dumps({"version": 1, "truststore": {"uri": f"ts-{kind}.pem"}}))
    runtime = Runtime(str(policy))
    deps = runtime.load().deps
    leaf_key = shared_key(kind)
    # A SAN so that the bare verifier (webpki defaults require one) accepts the same leaves.
    leaves = [
        issuing.issue(f"CN=client-{i}", key=leaf_key, sans=[x509.DNSName(f"client-{i}.example")]) for i in range(n)
    ]
    events = [make_event(leaf.cert_pem.decode(), path="/pets") for leaf in leaves]
    requests = [parse_event(e) for e in events]
    targets = [Target.of(e) for e in events]

    verifier = PolicyBuilder().store(Store([root.cert])).time(NOW).build_client_verifier()
    certs = [x509.load_pem_x509_certificate(leaf.cert_pem) for leaf in leaves]

    # Interleaved, leaf by leaf, so that all see the same machine state (the two cores of this
    # machine are shared, and a run's figures drift by tens of percent between phases). The bare
    # verify and "validation" get an already-parsed certificate (for validation, through the
    # certificate stage's checked_certificate: the DER-encoding check belongs to parsing); a decision starts from the
    # event's PEM. "Known issuer": the validator has already validated a leaf of this issuing
    # CA, so the CA part's §6.1 state is memoized and only the leaf's signature is checked.
    # "Unseen issuer": a fresh validator per leaf (the first client of a CA after a cold start).
    truststore = deps.validator.truststore
    fresh = [ChainValidator(truststore) for _ in range(n)]
    fresh_deps = [dataclasses.replace(deps, validator=ChainValidator(truststore)) for _ in range(n)]
    validator = deps.validator
    validator.validate(checked_certificate(certs[-1]), NOW)  # one leaf of this CA seen before
    bare: list[float] = []
    valid: list[float] = []
    new: list[float] = []
    unseen: list[float] = []
    unseen_decision: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        verifier.verify(certs[i], [issuing.cert])
        bare.append(time.perf_counter() - t)
        cert = checked_certificate(certs[i])
        t = time.perf_counter()
        validator.validate(cert, NOW)
        valid.append(time.perf_counter() - t)
        t = time.perf_counter()
        decision = authorize(requests[i], deps, NOW)
        build_response(decision, targets[i])
        new.append(time.perf_counter() - t)
        assert decision.allowed, decision.detail
        cert = checked_certificate(certs[i])
        t = time.perf_counter()
        fresh[i].validate(cert, NOW)
        unseen.append(time.perf_counter() - t)
        t = time.perf_counter()
        decision = authorize(requests[i], fresh_deps[i], NOW)
        build_response(decision, targets[i])
        unseen_decision.append(time.perf_counter() - t)
        assert decision.allowed, decision.detail
    assert validator.memo_hits >= n

    def decide_repeat() -> None:
        decision = authorize(requests[0], deps, NOW)
        build_response(decision, targets[0])

    repeat = timed(decide_repeat, n * 5)

    # The same repeat client with revocation on: CRLs for the whole chain from local files,
    # warm (every certificate's status cached until the CRL's nextUpdate).
    crl_window = {"this_update": NOW - dt.timedelta(days=1), "next_update": NOW + dt.timedelta(days=7)}
    (folder / f"issuing-{kind}.crl").write_bytes(make_crl(issuing, [], **crl_window).public_bytes(Encoding.DER))
    (folder / f"root-{kind}.crl").write_bytes(make_crl(root, [], **crl_window).public_bytes(Encoding.DER))
    revoking = folder / f"policy-rev-{kind}.json"
    revoking.write_text(
        json.dumps(
            {
                "version": 1,
                "truststore": {"uri": f"ts-{kind}.pem"},
                "revocation": {
                    "ocsp": {"enabled": False},
                    "crl": {"urls": [f"issuing-{kind}.crl", f"root-{kind}.crl"], "use_distribution_points": False},
                },
            }
        )
    )
    rev_deps = Runtime(str(revoking)).load().deps

    def decide_repeat_revocation() -> None:
        decision = authorize(requests[0], rev_deps, NOW)
        assert decision.allowed, decision.detail
        build_response(decision, targets[0])

    repeat_rev = timed(decide_repeat_revocation, n * 5)

    app.logger.setLevel("CRITICAL")  # measure the handler, not the terminal
    handler_repeat = timed(lambda: app.handle(events[0], runtime, NOW), n * 5)
    app.logger.setLevel("INFO")
    import io
    import logging

    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(io.StringIO())
    handler_logged = timed(lambda: app.handle(events[0], runtime, NOW), n * 5)
    handler.setStream(previous)

    b, bp = stats(bare)
    d, dp = stats(new)
    r, rp = stats(repeat)
    h, hp = stats(handler_repeat)
    hl, hlp = stats(handler_logged)
    v, vp = stats(valid)
    u, up = stats(unseen)
    ud, udp = stats(unseen_decision)
    print(f"\n3-certificate chain, {kind} (n={n})")
    print(f"  bare ClientVerifier.verify             median {b:8.1f} µs   p99 {bp:8.1f} µs   (reference)")
    print(
        f"  validation, new leaf of known issuer   median {v:8.1f} µs   p99 {vp:8.1f} µs   ratio {v / b:.2f}x (target <= 1.0x)"
    )
    print(
        f"  decision, new leaf of known issuer     median {d:8.1f} µs   p99 {dp:8.1f} µs   ratio {d / b:.2f}x (target <= 1.3x)"
    )
    print(
        f"  validation, first leaf of unseen CA    median {u:8.1f} µs   p99 {up:8.1f} µs   ratio {u / b:.2f}x (target <= 2.0x)"
    )
    print(f"  decision, first leaf of unseen CA      median {ud:8.1f} µs   p99 {udp:8.1f} µs   ratio {ud / b:.2f}x")
    print(f"  decision, repeat client                median {r:8.1f} µs   p99 {rp:8.1f} µs   (target median <= 20 µs)")
    rv, rvp = stats(repeat_rev)
    print(
        f"  decision, repeat client + CRLs         median {rv:8.1f} µs   p99 {rvp:8.1f} µs   (+{rv - r:.1f} µs for cached revocation, target <= 20)"
    )
    print(f"  handler, repeat client, no log         median {h:8.1f} µs   p99 {hp:8.1f} µs")
    print(f"  handler, repeat client, JSON log       median {hl:8.1f} µs   p99 {hlp:8.1f} µs")


COLD = r"""
import json, sys, time
t0 = time.perf_counter()
from authorizer.app import lambda_handler
t1 = time.perf_counter()
event = json.load(open(sys.argv[1]))
response = lambda_handler(event, None)
t2 = time.perf_counter()
assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow", response
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "total": t2 - t0}), file=sys.stderr)
"""


COLD_BARE = r"""
import json, sys, time
t0 = time.perf_counter()
import datetime as dt
from authorizer.validation import ChainValidator
from authorizer.pipeline import authorize
from authorizer.request import Target, parse_event
from authorizer.response import build_response
from authorizer.runtime import Runtime, config_uri_from_env
t1 = time.perf_counter()
event = json.load(open(sys.argv[1]))
decision = authorize(parse_event(event), Runtime(config_uri_from_env()).load().deps, dt.datetime.now(dt.UTC))
response = build_response(decision, Target.of(event))
t2 = time.perf_counter()
assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow", response
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "total": t2 - t0}), file=sys.stderr)
"""


def cold_runs(script: str, runs: int) -> tuple[float, float, float]:
    root = Path(__file__).resolve().parents[1]
    event = root / "events" / "rest-allow-valid-ecdsa.json"
    results = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", script, str(event)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AUTHORIZER_CONFIG": str(root / "demo" / "policy.json")},
        )
        wall = time.perf_counter() - t
        inner = json.loads(proc.stderr.strip().splitlines()[-1])
        results.append((wall, inner["import"], inner["first"]))
    return (
        statistics.median(r[0] for r in results) * 1000,
        statistics.median(r[1] for r in results) * 1000,
        statistics.median(r[2] for r in results) * 1000,
    )


def bench_cold(runs: int) -> None:
    wall, imp, first = cold_runs(COLD, runs)
    bare_wall, bare_imp, bare_first = cold_runs(COLD_BARE, runs)
    print(f"\ncold start (fresh process, median of {runs})")
    print(f"  handler with Logger + Metrics: process start to first decision {wall:7.1f} ms")
    print(
        f"      import authorizer.app {imp:7.1f} ms, first decision (load policy + truststore, verify, log) {first:7.1f} ms"
    )
    print(f"  same pipeline without Logger/Metrics:                        {bare_wall:7.1f} ms")
    print(f"      imports {bare_imp:7.1f} ms, first decision {bare_first:7.1f} ms")
    print(f"  ratio with/without observability: {wall / bare_wall:.2f}x (target <= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--cold-runs", type=int, default=7)
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, cryptography {__import__('cryptography').__version__}, {os.cpu_count()} cpus"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("rsa2048", "p256"):
            bench_kind(kind, args.n, Path(tmp))  # type: ignore[arg-type]
    bench_cold(args.cold_runs)


if __name__ == "__main__":
    main()
