"""Run one PKITS case through the product: the chain validator, then the revocation checker.

* Trust anchor ``TrustAnchorRootCertificate.crt``; the case's ``other_certs`` are the extra
  intermediates; ``ChainValidator(max_chain_length=16, policies=PolicyInputs(...))`` from the
  case's params; validation time 2022-05-01T00:00:00Z (what pyhanko-certvalidator's own PKITS
  run uses; inside every PKITS validity window).
* Unless the case says ``revocation: false``: a checker whose only sources are the case's CRLs
  plus ``TrustAnchorRootCRL.crl`` (as pyhanko's harness adds it to every case), scope chain,
  every certificate below the anchor covered (``verify --crl``), CRL signers other than the
  issuer validated by the same validator's ``validate_signer`` to the same anchor.

``python -m tests.pkits.harness`` prints the pass counts per section.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from authorizer.certificate import parse_pem_certificate
from authorizer.reasons import AuthorizerError, Reason
from authorizer.revocation.checker import RevocationChecker
from authorizer.validation import ANY_POLICY, ChainValidator, PolicyInputs, TrustStore

from .cases import ANCHOR, ANCHOR_CRL, Case, Stage, available, cert_der, crl_der, load_cases, load_cert
from .exceptions import EXCEPTIONS

AT = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)
MAX_CHAIN_LENGTH = 16


@dataclass(frozen=True)
class Outcome:
    stage: Stage
    reason: Reason | None
    detail: str
    path_len: int | None = None

    def __str__(self) -> str:
        return f"{self.stage.value} {self.reason.value if self.reason else ''} {self.detail}".strip()


def _maybe_cert(name: str) -> x509.Certificate | None:
    try:
        return load_cert(name)
    except ValueError:
        return None  # e.g. a DSA key without parameters: cryptography cannot parse it


def _validator(anchor: x509.Certificate, case: Case) -> ChainValidator:
    p = case.params
    wanted = p.get("user_initial_policy_set", [ANY_POLICY])
    assert isinstance(wanted, list)
    policies = PolicyInputs(
        acceptable=frozenset(ANY_POLICY if o == "any_policy" else str(o) for o in wanted),
        require_explicit=bool(p.get("initial_explicit_policy", False)),
        inhibit_mapping=bool(p.get("initial_policy_mapping_inhibit", False)),
        inhibit_any=bool(p.get("initial_any_policy_inhibit", False)),
    )
    store = TrustStore.from_certs([anchor], [])
    return ChainValidator(store, max_chain_length=MAX_CHAIN_LENGTH, policies=policies)


def run(case: Case) -> Outcome:
    anchor = load_cert(ANCHOR)
    others = [c for c in (_maybe_cert(n) for n in case.other_certs) if c is not None]
    pem = "-----BEGIN CERTIFICATE-----\n" + _b64(case.cert) + "\n-----END CERTIFICATE-----\n"
    validator = _validator(anchor, case)
    try:
        leaf = parse_pem_certificate(pem)
        chain = list(validator.validate(leaf, AT, others).chain)
    except AuthorizerError as exc:
        return Outcome(Stage.CHAIN, exc.reason, exc.detail)
    if not case.revocation:
        return Outcome(Stage.ALLOW, None, "chain valid (revocation not part of this case)", len(chain))

    def signer_validator(
        cert: x509.Certificate, pool: Sequence[x509.Certificate], at: dt.datetime
    ) -> Sequence[x509.Certificate]:
        return validator.validate_signer(cert, at, pool).chain

    crls = [(name, crl_der(name)) for name in (ANCHOR_CRL, *case.crls)]
    checker = RevocationChecker.from_crl_bytes(
        crls, scope="chain", signer_validator=signer_validator, signer_pool=[*others, anchor]
    )
    try:
        outcome = checker.check(chain, AT)
    finally:
        checker.close()
    err = outcome.error("deny")
    if err is None:
        return Outcome(Stage.ALLOW, None, outcome.detail, len(chain))
    return Outcome(Stage(err.reason.value), err.reason, err.detail, len(chain))


def _b64(name: str) -> str:
    """The certificate as PEM body lines (64 characters, as RFC 7468 wants)."""
    text = base64.b64encode(cert_der(name)).decode("ascii")
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def expected(case: Case) -> tuple[Stage, Reason | None]:
    refused = EXCEPTIONS.get(case.id)
    if refused is not None:
        stage = (
            Stage.CHAIN
            if refused.reason not in (Reason.REVOKED, Reason.REVOCATION_UNKNOWN)
            else Stage(refused.reason.value)
        )
        return stage, refused.reason
    return case.expected, None


def judge(case: Case) -> tuple[bool, Outcome]:
    got = run(case)
    stage, reason = expected(case)
    ok = got.stage is stage and (reason is None or got.reason is reason)
    if ok and stage is Stage.ALLOW and got.path_len is not None:
        ok = got.path_len == case.path_len
    return ok, got


def main() -> int:
    if not available():
        print("PKITS cache absent: run `make pkits`", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.ERROR)  # the checker's warnings are the cases' details
    warnings.filterwarnings("ignore", "Parsed a serial number")  # PKITS 4.4.14/15: negative serials
    totals: Counter[str] = Counter()
    per_section: dict[str, Counter[str]] = {}
    failures: list[str] = []
    for case in load_cases():
        section = per_section.setdefault(case.section, Counter())
        ok, got = judge(case)
        key = "passed" if ok else "failed"
        section[key] += 1
        totals[key] += 1
        if not ok:
            failures.append(f"  {case} expected {expected(case)[0].value}: got {got}")
    print(f"PKITS through authorizer.validation and authorizer.revocation, at {AT:%Y-%m-%d}")
    for name in sorted(per_section, key=lambda s: tuple(int(x) for x in s.split("."))):
        c = per_section[name]
        print(f"  {name:<5} passed {c['passed']:3d}  failed {c['failed']:3d}")
    counts = f"passed {totals['passed']}, failed {totals['failed']}"
    print(f"total: {counts} of {len(load_cases())}")
    print("\n".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
