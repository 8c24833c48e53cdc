"""Benchmark: revocation. Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_revocation.py [--sizes 10000,100000,1000000] [--no-compare]

* CRLs of 10k, 100k and 1M entries (RSA-2048 CA, random 159-bit serials, a reason code on every
  entry, as large public CAs publish them), generated once and cached in the temp directory:
  time from DER bytes to a ready index, signature check time (digest of the TBS during indexing
  plus the verification itself), memory added by the index (tracemalloc for Python objects, and
  RSS), lookup time (a hit and a miss, and the full per-certificate verdict). With comparison,
  the same operations through cryptography's own API (``is_signature_valid``,
  ``get_revoked_certificate_by_serial_number``).
  Targets: 1M lookup <= 10 µs, signature check <= 100 ms, index <= 100 MiB.
* warm ``check()`` of a leaf + intermediate chain with cached revocation (the 1M CRL, and OCSP),
  on the same certificate objects and on freshly parsed ones (as each request parses its leaf).
  Target: <= 20 µs added to a decision.
* OCSP round trip against a local ``openssl ocsp`` responder (nonce on, answer verified).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.revocation_servers

from authorizer.devpki import CA, make_crl, make_large_crl_der
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl import CrlIndex

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CACHE = Path(tempfile.gettempdir()) / "apigw-mtls-bench-crl"


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Median of 7 batches of ``n`` calls, per call, in µs."""
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def the_ca() -> CA:
    """The benchmark CA, kept with the cached CRLs (they are only valid for its key)."""
    CACHE.mkdir(exist_ok=True)
    key_file, cert_file = CACHE / "ca.key", CACHE / "ca.pem"
    if key_file.exists() and cert_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        return CA(cert=x509.load_pem_x509_certificate(cert_file.read_bytes()), key=key)  # type: ignore[arg-type]
    ca = CA.root("Bench CRL CA", key="rsa2048")
    key_file.write_bytes(ca.key_pem)
    cert_file.write_bytes(ca.cert_pem)
    return ca


def crl_der(ca: CA, n: int) -> tuple[bytes, list[int]]:
    path = CACHE / f"crl-{n}.der"
    if path.exists():
        data = path.read_bytes()
    else:
        t = time.perf_counter()
        serials = [x509.random_serial_number() for _ in range(n)]
        data = make_large_crl_der(ca, serials, this_update=NOW - DAY, next_update=NOW + 7 * DAY, with_reason=True)
        path.write_bytes(data)
        print(f"  (generated {n:,}-entry CRL in {time.perf_counter() - t:.1f} s, cached in {path})")
    crl = x509.load_der_x509_crl(data)
    sample = []
    for i, entry in enumerate(crl):
        if i % max(1, n // 1000) == 0:
            sample.append(entry.serial_number)
    return data, sample


def bench_crl(ca: CA, n: int, compare: bool) -> CrlIndex:
    data, sample = crl_der(ca, n)
    print(f"\nCRL with {n:,} entries ({len(data) / 2**20:.1f} MiB DER)")
    builds = []
    for _ in range(3 if n < 1_000_000 else 1):
        gc.collect()
        t = time.perf_counter()
        index = CrlIndex.from_bytes(data, f"bench-{n}")
        builds.append(time.perf_counter() - t)
        del index
    gc.collect()
    before = rss_mib()
    t = time.perf_counter()
    index = CrlIndex.from_bytes(data, f"bench-{n}")
    build = time.perf_counter() - t
    gc.collect()
    rss_added = rss_mib() - before
    print(f"  DER bytes -> ready index        {min([*builds, build]) * 1000:9.1f} ms")
    # The signature check: digest of the TBS (done while indexing) + verification of that digest.
    crl = x509.load_der_x509_crl(data)
    from authorizer.revocation.crl import _SignedPart, tbs_bytes

    t = time.perf_counter()
    signed = _SignedPart.of(crl, tbs_bytes(data))
    digest_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    ok = signed.verify(ca.cert.public_key())
    verify_ms = (time.perf_counter() - t) * 1000
    print(
        f"  signature check                 {digest_ms + verify_ms:9.1f} ms"
        f"  (TBS digest {digest_ms:.1f} ms + verify {verify_ms:.2f} ms, valid={ok})"
    )
    del crl, signed
    gc.collect()
    tracemalloc.start()
    traced = CrlIndex.from_bytes(data, "traced")
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    gc.collect()
    print(
        f"  memory added by the index       {current / 2**20:9.1f} MiB (tracemalloc; peak {peak / 2**20:.1f} MiB),"
        f" RSS +{rss_added:.1f} MiB"
    )
    serials = index.serials
    hit, miss = sample[len(sample) // 2], 0xDEADBEEF
    print(f"  lookup (hit)                    {per_call_us(lambda: hit in serials, 200_000):9.3f} µs")
    print(f"  lookup (miss)                   {per_call_us(lambda: miss in serials, 200_000):9.3f} µs")
    leaf = ca.issue("CN=bench leaf", serial=hit).cert
    skew = dt.timedelta(minutes=5)
    assert index.verdict(leaf, ca.cert, NOW, skew).revoked
    print(
        f"  verdict (issuer, time, scope)   {per_call_us(lambda: index.verdict(leaf, ca.cert, NOW, skew), 20_000):9.3f} µs"
    )
    if compare:
        crl = x509.load_der_x509_crl(data)
        t = time.perf_counter()
        crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
        print(f"  cryptography is_signature_valid {(time.perf_counter() - t) * 1000:9.1f} ms  (re-encodes the CRL)")
        t = time.perf_counter()
        crl.get_revoked_certificate_by_serial_number(miss)
        print(f"  cryptography lookup by serial   {(time.perf_counter() - t) * 1e6:9.1f} µs  (linear scan)")
    return index


def bench_warm(ca: CA, big: CrlIndex | None) -> None:
    print("\nwarm check() with cached revocation (leaf + intermediate below the anchor)")
    issuing = ca.intermediate("Bench Issuing")
    leaf = issuing.issue("CN=warm leaf", serial=0x1234567).cert
    small_root = make_crl(ca, [], this_update=NOW - DAY, next_update=NOW + DAY)
    issuing_crl = make_crl(issuing, [5, 6, 7], this_update=NOW - DAY, next_update=NOW + DAY)
    chk = RevocationChecker.from_crl_bytes(
        [
            ("root", small_root.public_bytes(serialization.Encoding.DER)),
            ("issuing", issuing_crl.public_bytes(serialization.Encoding.DER)),
        ]
    )
    chain = [leaf, issuing.cert, ca.cert]
    assert chk.check(chain, NOW).status.value == "GOOD"
    print(f"  CRL, same objects               {per_call_us(lambda: chk.check(chain, NOW), 20_000):9.2f} µs")
    ders = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    fresh = [[x509.load_der_x509_certificate(d) for d in ders] for _ in range(2000)]
    it = iter(fresh * 100)
    print(f"  CRL, freshly parsed certs       {per_call_us(lambda: chk.check(next(it), NOW), 2000):9.2f} µs")
    if big is not None:
        # the 1M-entry CRL's issuer as intermediate: cold verdict per certificate, no status cache
        big_leaf = ca.issue("CN=big leaf", serial=0x7777).cert
        skew = dt.timedelta(minutes=5)
        print(
            f"  1M CRL verdict, uncached        {per_call_us(lambda: big.verdict(big_leaf, ca.cert, NOW, skew), 20_000):9.2f} µs"
        )


def bench_ocsp(n: int) -> None:
    from tests.revocation_servers import OpenSslOcspResponder

    print("\nOCSP round trip against a local openssl ocsp responder (nonce on, answer verified)")
    root = CA.root("Bench OCSP Root")
    issuing = root.intermediate("Bench OCSP Issuing")
    leaf = issuing.issue("CN=ocsp leaf").cert
    responder = OpenSslOcspResponder(issuing, [(leaf, None)], nmin=60)
    try:
        config = RevocationConfig.from_dict(
            {
                "scope": "leaf",
                "ocsp": {"responder_url": responder.url},
                "crl": {"enabled": False},
                "allowed_hosts": [responder.host],
            }
        )
        chk = RevocationChecker(config)
        chain = [leaf, issuing.cert, root.cert]
        times = []
        for _ in range(n):
            chk.status_cache.clear()
            now = dt.datetime.now(dt.UTC)
            t = time.perf_counter()
            out = chk.check(chain, now)
            times.append((time.perf_counter() - t) * 1000)
            assert out.status.value == "GOOD", out.detail
        times.sort()
        print(
            f"  check() with one OCSP query     {statistics.median(times):9.2f} ms median,"
            f" p90 {times[int(len(times) * 0.9)]:.2f} ms (n={n})"
        )
        now = dt.datetime.now(dt.UTC)
        print(f"  warm check() (cached OCSP)      {per_call_us(lambda: chk.check(chain, now), 20_000):9.2f} µs")
    finally:
        responder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-compare", action="store_true", help="skip cryptography's own (slow) CRL calls")
    parser.add_argument("--ocsp", type=int, default=50, help="OCSP round trips")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, cryptography {__import__('cryptography').__version__}")
    ca = the_ca()
    big = None
    for n in (int(s) for s in args.sizes.split(",") if s):
        index = bench_crl(ca, n, not args.no_compare)
        big = index if n >= 1_000_000 else big
        if big is not index:
            del index
    bench_warm(ca, big)
    bench_ocsp(args.ocsp)
    print(f"\nmax RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
