"""Benchmark: hostile bundles are refused in milliseconds. Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_validation.py

* a 100-CA loop: 100 truststore CAs that share one name and one key certify each other;
* a 2,048-constraint chain: an intermediate with 2,048 permitted dNSName subtrees above a leaf
  with 64 DNS names;
* the largest legitimate name-constraint load the caps admit (512 subtrees x 32 names),
  for scale. Targets: each refusal <= 50 ms.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from authorizer.certificate import ClientCertificate
from authorizer.devpki import CA, shared_key
from authorizer.reasons import AuthorizerError
from authorizer.validation import ChainValidator, TrustStore

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
START, END = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2045, 1, 1, tzinfo=dt.UTC)


def _ca(subject: x509.Name, issuer: x509.Name, key: object, signer: object, exts=()) -> x509.Certificate:  # type: ignore[no-untyped-def]
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    for ext in exts:
        b = b.add_extension(ext, critical=True)
    return b.sign(signer, hashes.SHA256())  # type: ignore[arg-type]


def timed(validator: ChainValidator, leaf: x509.Certificate, runs: int = 7) -> tuple[float, str]:
    samples, outcome = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        try:
            validator.validate(ClientCertificate(leaf), NOW)
            outcome = "ALLOWED"
        except AuthorizerError as exc:
            outcome = f"{exc.reason.value}: {exc.detail[:90]}"
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000, outcome


def loop() -> None:
    key = shared_key("p256", 1)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Loop CA")])
    cas = [_ca(name, name, key, key) for _ in range(100)]
    root = CA.root("Unrelated Root")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "victim")]))
        .issuer_name(name)
        .public_key(shared_key("p256", 2).public_key())
        .serial_number(5)
        .not_valid_before(START)
        .not_valid_after(END)
        .sign(key, hashes.SHA256())
    )
    v = ChainValidator(TrustStore.from_certs([root.cert], cas), cache_size=0)
    ms, outcome = timed(v, leaf)
    print(f"  100-CA loop                    {ms:7.2f} ms  (target <= 50 ms)  {outcome}")


def constraints(count: int, names: int, label: str) -> None:
    root = CA.root("NC Root")
    key = shared_key("p256", 3)
    subtrees = [x509.DNSName(f"h{i}.example.org") for i in range(count)]
    inter_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "NC Issuing")])
    inter = _ca(inter_name, root.name, key, root.key, [x509.NameConstraints(subtrees, None)])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "many names")]))
        .issuer_name(inter_name)
        .public_key(shared_key("p256", 4).public_key())
        .serial_number(6)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"n{i}.h{count - 1}.example.org") for i in range(names)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    v = ChainValidator(TrustStore.from_certs([root.cert], [inter]), cache_size=0)
    ms, outcome = timed(v, leaf)
    print(f"  {label:<30} {ms:7.2f} ms  {outcome}")


def main() -> None:
    print("hostile bundles (median of 7)")
    loop()
    constraints(2048, 64, "2,048-constraint chain")
    constraints(512, 32, "512 subtrees x 32 names")


if __name__ == "__main__":
    main()
