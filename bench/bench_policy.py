"""Policy evaluation and policy-cache figures: ``.venv/bin/python bench/bench_policy.py``.

Prints, in microseconds (median and p99 over many calls), ``AccessPolicy.evaluate`` for 10 and
10,000 clients matched exactly (indexed) and by wildcard (scanned), for a hit on the last client
and for a miss; then the S3 requests ``CachedBlob`` makes within one TTL (moto, in-process).

Targets (issue 4): at most 10 us for 10,000 exact clients; no S3 request at all within a TTL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509

from authorizer.certificate import ClientCertificate
from authorizer.devpki import CA, shared_key
from authorizer.policy import AccessPolicy, cert_facts
from authorizer.reasons import AuthorizerError

TARGET_US = 10.0


def timed(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    """(median, p99) in microseconds of ``fn`` over ``iterations`` calls, after a warm-up."""
    for _ in range(min(iterations, 200)):
        fn()
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99) - 1] / 1000


def evaluator(policy: AccessPolicy, cert: ClientCertificate, issuer: x509.Certificate) -> Callable[[], object]:
    def run() -> object:
        try:
            return policy.evaluate(cert, issuer, "GET", "/pets/7")
        except AuthorizerError as exc:
            return exc

    return run


def exact_clients(n: int) -> list[dict[str, Any]]:
    return [
        {"name": f"client-{i}", "match": {"subject": f"CN=client{i},O=Bench Partner"}, "routes": ["GET /pets/*"]}
        for i in range(n)
    ]


def wildcard_clients(n: int) -> list[dict[str, Any]]:
    """Wildcards with a literal prefix: indexed by that prefix, no scan."""
    return [
        {"name": f"fleet-{i}", "match": {"san_uri": f"spiffe://example.org/fleet{i}/*"}, "routes": ["GET /pets/*"]}
        for i in range(n)
    ]


def scanned_clients(n: int) -> list[dict[str, Any]]:
    """Wildcards at both ends (no literal prefix or suffix): the only entries that are scanned."""
    return [{"name": f"cn-{i}", "match": {"subject_cn": f"*-fleet{i}-*"}, "routes": ["GET /pets/*"]} for i in range(n)]


def report(label: str, figures: tuple[float, float], target: float | None = None) -> None:
    median, p99 = figures
    verdict = ""
    if target is not None:
        verdict = "  OK" if median <= target else f"  OVER the {target:g} us target"
    print(f"  {label:<58} median {median:8.2f} us   p99 {p99:8.2f} us{verdict}")


def bench_evaluate(iterations: int) -> None:
    root = CA.root("Bench Root CA")
    issuing = root.intermediate("Bench Issuing CA")
    key = shared_key("p256")

    def cert(subject: str, uri: str | None = None) -> ClientCertificate:
        sans = [x509.UniformResourceIdentifier(uri)] if uri else []
        return ClientCertificate(issuing.issue(subject, key=key, sans=sans).cert)

    stranger = cert("CN=stranger,O=Bench Partner", "spiffe://example.org/elsewhere/x")
    pins = {"issuers": [{"name": "bench-issuing", "cert_sha256": issuing.cert.fingerprint(_sha256()).hex()}]}

    print("AccessPolicy.evaluate (warm: certificate facts cached by fingerprint)")
    for n in (10, 10_000):
        last = cert(f"CN=client{n - 1},O=Bench Partner")
        exact = AccessPolicy.from_dict({"pinning": pins, "clients": exact_clients(n)})
        target = TARGET_US if n == 10_000 else None
        report(
            f"{n:>6} exact clients, hit on the last", timed(evaluator(exact, last, issuing.cert), iterations), target
        )
        report(f"{n:>6} exact clients, miss", timed(evaluator(exact, stranger, issuing.cert), iterations), target)

        wild_last = cert("CN=device", f"spiffe://example.org/fleet{n - 1}/device-1")
        wild = AccessPolicy.from_dict({"pinning": pins, "clients": wildcard_clients(n)})
        report(
            f"{n:>6} prefix wildcards (spiffe://.../fleetN/*), hit last",
            timed(evaluator(wild, wild_last, issuing.cert), iterations),
        )
        report(f"{n:>6} prefix wildcards, miss", timed(evaluator(wild, stranger, issuing.cert), iterations))

        scan_last = cert(f"CN=dev-fleet{n - 1}-1")
        scan = AccessPolicy.from_dict({"pinning": pins, "clients": scanned_clients(n)})
        rounds = iterations if n <= 100 else max(200, iterations // 100)
        report(
            f"{n:>6} scanned wildcards (CN *-fleetN-*), hit last",
            timed(evaluator(scan, scan_last, issuing.cert), rounds),
        )
        report(f"{n:>6} scanned wildcards, miss", timed(evaluator(scan, stranger, issuing.cert), rounds))

    mixed = AccessPolicy.from_dict({"pinning": pins, "clients": exact_clients(10_000) + wildcard_clients(10)})
    last = cert("CN=client9999,O=Bench Partner")
    report(
        "10,000 exact + 10 wildcard clients, hit on the last exact",
        timed(evaluator(mixed, last, issuing.cert), iterations),
    )

    print("Per request in a warm function (a new ClientCertificate each time, as the handler makes)")
    exact = AccessPolicy.from_dict({"pinning": pins, "clients": exact_clients(10_000)})

    def new_object() -> object:
        return exact.evaluate(ClientCertificate(last.cert), issuing.cert, "GET", "/pets/7")

    report("10,000 exact clients, same client seen before", timed(new_object, iterations))
    fresh = [ClientCertificate(issuing.issue(f"CN=new{i},O=Bench Partner", key=key).cert) for i in range(2000)]
    it = iter(fresh)
    report("first sight of a certificate (fold its names, then look up)", timed(lambda: cert_facts(next(it)), 1500))


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def bench_cache(gets: int) -> None:
    import boto3
    from moto import mock_aws

    from authorizer.sources.blob import CachedBlob, S3Fetcher

    print("CachedBlob over S3 (moto in-process, fake clock)")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="policy.json", Body=json.dumps({"clients": exact_clients(1000)}).encode())
        sent: list[int] = []
        s3.meta.events.register("before-send.s3.GetObject", lambda **_: sent.append(1))
        now = [0.0]
        cache = CachedBlob(
            "s3://bench/policy.json",
            lambda data: AccessPolicy.from_dict(json.loads(data)),
            S3Fetcher(client_factory=lambda: s3),
            ttl=60.0,
            clock=lambda: now[0],
        )
        t0 = time.perf_counter()
        cache.get()
        first_ms = (time.perf_counter() - t0) * 1000
        print(f"  first load (GET + parse of 1,000 clients): {first_ms:.1f} ms, {len(sent)} request(s)")

        def warm_get() -> object:
            now[0] += 29.0 / (gets + 200)  # stays inside the TTL, warm-up calls included
            return cache.get()

        figures = timed(warm_get, gets)
        within = len(sent) - 1
        verdict = "OK" if within == 0 else "OVER the target of 0"
        print(f"  {gets} gets within one TTL: {within} S3 request(s) after the first load  {verdict}")
        report("CachedBlob.get() within the TTL", figures)
        root = CA.root("Bench Root CA")
        issuing = root.intermediate("Bench Issuing CA")
        leaf = issuing.issue("CN=client999,O=Bench Partner", key=shared_key("p256")).cert

        def warm_decision() -> object:
            now[0] += 29.0 / (gets // 2 + 200)
            return cache.get().value.evaluate(ClientCertificate(leaf), issuing.cert, "GET", "/pets/7")

        report("warm decision: get() + evaluate, new ClientCertificate", timed(warm_decision, gets // 2))
        print(f"  S3 requests during those decisions: {len(sent) - 1}")
        now[0] = 60.0
        before = len(sent)
        cache.get()
        print(f"  after the TTL: {len(sent) - before} conditional request(s) (304, no re-parse)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--skip-s3", action="store_true", help="skip the moto part (importing it takes a while)")
    args = parser.parse_args()
    bench_evaluate(args.iterations)
    if not args.skip_s3:
        bench_cache(args.iterations)


if __name__ == "__main__":
    main()
