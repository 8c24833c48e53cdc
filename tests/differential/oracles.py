"""The judges of a generated PKI: our validator, ``openssl verify`` and ``cryptography``'s verifier.

The ``openssl verify`` flags, and why:

- ``-CAfile root.pem`` holds only the self-signed anchor and ``-untrusted`` every other CA
  certificate: API Gateway's bundle meaning (self-signed = anchor, the rest intermediates), and
  without ``-partial_chain`` OpenSSL, like us, must reach that self-signed anchor.
- ``-purpose sslclient``: what a TLS server checks on a client certificate, and the command the
  issue compares with. It makes OpenSSL check the leaf's EKU (clientAuth when present, as we do)
  but also two things RFC 5280 path validation does not: a leaf keyUsage must allow
  digitalSignature or keyAgreement, and an EKU on a *CA* must allow clientAuth. Those two are named
  OpenSSL rules in ``explain.py``. Without a purpose OpenSSL checks no EKU at all, which would
  hide our own EKU rule instead.
- ``-policy_check -policy 2.5.29.32.0``: RFC 5280 policy processing with user-initial-policy-set
  {anyPolicy}, initial-explicit-policy false: our ``PolicyInputs()`` defaults. Some examples draw
  other §6.1.1 inputs: ``-policy OID`` per acceptable policy, ``-explicit_policy``,
  ``-inhibit_map``, ``-inhibit_any``, and the same ``PolicyInputs`` for us.
- ``-attime``: the fixed validation time.
- No ``-x509_strict``: it adds encoding-hygiene refusals (a CA without keyUsage, a missing AKI, a
  non-critical basicConstraints) that the product explicitly does not refuse; instead the one
  place where lax OpenSSL is laxer than RFC 5280 (a v3 CA without basicConstraints) is a named rule.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from authorizer.certificate import ClientCertificate
from authorizer.reasons import AuthorizerError
from authorizer.validation import ChainValidator, EkuMode, PolicyInputs, TrustStore
from tests.differential.build import BuiltPki
from tests.differential.spec import InputsSpec

#: High enough that the product's deployment limit (4) is never what a generated path tests.
DIFFERENTIAL_MAX_CHAIN = 16

DEFAULT_INPUTS = InputsSpec()
OPENSSL_FLAGS = ("-purpose", "sslclient", "-policy_check")


def openssl_policy_flags(inputs: InputsSpec) -> list[str]:
    flags = [f for oid in inputs.acceptable for f in ("-policy", oid)]
    flags += ["-explicit_policy"] if inputs.require_explicit else []
    flags += ["-inhibit_map"] if inputs.inhibit_mapping else []
    return flags + (["-inhibit_any"] if inputs.inhibit_any else [])


def policy_inputs(inputs: InputsSpec) -> PolicyInputs:
    return PolicyInputs(
        acceptable=frozenset(inputs.acceptable),
        require_explicit=inputs.require_explicit,
        inhibit_mapping=inputs.inhibit_mapping,
        inhibit_any=inputs.inhibit_any,
    )


@dataclass(frozen=True)
class Judgement:
    accepted: bool
    reason: str  # ALLOWED or our reason code; for OpenSSL "OK" or its error name
    detail: str


def ours(
    pki: BuiltPki, at: dt.datetime, inputs: InputsSpec = DEFAULT_INPUTS, max_chain_length: int = DIFFERENTIAL_MAX_CHAIN
) -> Judgement:
    validator = ChainValidator(
        TrustStore.from_certs([pki.anchor], list(pki.intermediates)),
        eku=EkuMode.CLIENT_AUTH,
        max_chain_length=max_chain_length,
        policies=policy_inputs(inputs),
        cache_size=0,
    )
    try:
        validator.validate(ClientCertificate(pki.leaf), at)
    except AuthorizerError as exc:
        return Judgement(False, exc.reason.value, exc.detail)
    return Judgement(True, "ALLOWED", "")


_ERROR = re.compile(r"error (\d+) at (\d+) depth lookup: (.*)")


def openssl(pki: BuiltPki, at: dt.datetime, folder: Path, inputs: InputsSpec = DEFAULT_INPUTS) -> Judgement:
    root, untrusted, leaf = pki.write(folder)
    args = [
        "openssl",
        "verify",
        *OPENSSL_FLAGS,
        *openssl_policy_flags(inputs),
        "-attime",
        str(int(at.timestamp())),
        "-CAfile",
        str(root),
    ]
    if pki.intermediates:
        args += ["-untrusted", str(untrusted)]
    done = subprocess.run([*args, str(leaf)], capture_output=True, text=True, timeout=30, check=False)
    text = (done.stdout + done.stderr).strip()
    if done.returncode == 0:
        return Judgement(True, "OK", text)
    found = _ERROR.search(text)
    return Judgement(False, f"X509_V_ERR {found.group(1)} at depth {found.group(2)}" if found else "error", text)


def cryptography_client_verifier(pki: BuiltPki, at: dt.datetime) -> Judgement:
    """``cryptography.x509.verification``'s client verifier (the CA/B Forum web-PKI profile)."""
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    verifier = PolicyBuilder().store(Store([pki.anchor])).time(at).max_chain_depth(8).build_client_verifier()
    try:
        verifier.verify(pki.leaf, list(pki.intermediates))
    except VerificationError as exc:
        return Judgement(False, "VerificationError", str(exc))
    return Judgement(True, "OK", "")
