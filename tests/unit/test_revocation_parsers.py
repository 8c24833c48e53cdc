"""Mutated CRL and OCSP DER (issue 10): a parser raises only its own error type, applying a
mutant never raises, and a mutant whose signed bytes changed never proves anything.

A fixed budget of seeded mutations (byte flips, truncations, insertions, deletions, length
bumps) of real structures made here: an indirect CRL with an issuing distribution point,
reason codes and certificateIssuer entries, a delta CRL, and an OCSP answer.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from authorizer.devpki import make_crl
from authorizer.revocation import ocsp as ocsp_mod
from authorizer.revocation.crl import CrlError, CrlIndex, tbs_bytes
from authorizer.revocation.crl_status import CrlContext, decide
from authorizer.revocation.status import RevocationStatus
from tests.pki import CA, NOW

DAY = dt.timedelta(days=1)
SKEW = dt.timedelta(minutes=5)
BUDGET = 1500


def mutants(data: bytes, seed: int, count: int = BUDGET) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(5)
            pos = rng.randrange(len(b))
            if kind == 0:
                b[pos] ^= 1 << rng.randrange(8)
            elif kind == 1:
                del b[pos:]
            elif kind == 2:
                b[pos:pos] = bytes([rng.randrange(256)])
            elif kind == 3:
                del b[pos]
            else:
                b[pos] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF))
            if not b:
                b = bytearray(b"\x30")
        yield bytes(b)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("Mutation Root")
    return root, root.intermediate("Mutation Issuing")


def indirect_crl(ca: CA, other: CA) -> bytes:
    entries = [
        x509.RevokedCertificateBuilder()
        .serial_number(0x10)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
        .build(),
        x509.RevokedCertificateBuilder()
        .serial_number(0x11)
        .revocation_date(NOW - DAY)
        .add_extension(x509.CertificateIssuer([x509.DirectoryName(other.cert.subject)]), critical=True)
        .build(),
    ]
    scope = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier("http://127.0.0.1/p1.crl")],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=True,
        only_contains_attribute_certs=False,
    )
    crl = x509.CertificateRevocationListBuilder(
        issuer_name=ca.cert.subject,
        last_update=NOW - DAY,
        next_update=NOW + DAY,
        revoked_certificates=entries,
        extensions=[
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(7)),
            x509.Extension(scope.oid, True, scope),
        ],
    ).sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.DER)


def delta_crl(ca: CA) -> bytes:
    crl = make_crl(
        ca,
        [(0x20, x509.ReasonFlags.remove_from_crl), 0x21],
        this_update=NOW - DAY,
        next_update=NOW + DAY,
        crl_number=9,
        extensions=[(x509.DeltaCRLIndicator(8), True)],
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _signed(der: bytes) -> tuple[bytes, bytes] | None:
    try:
        return tbs_bytes(der), x509.load_der_x509_crl(der).signature
    except Exception:
        return None


@pytest.mark.parametrize("make", [indirect_crl, lambda ca, _o: delta_crl(ca)], ids=["indirect", "delta"])
def test_mutated_crls_fail_only_as_crl_errors_and_prove_nothing(
    pki: tuple[CA, CA], make: Callable[[CA, CA], bytes]
) -> None:
    root, issuing = pki
    original = make(issuing, root)
    signed = _signed(original)
    ctx = CrlContext(NOW, SKEW)
    leaves = [issuing.issue("CN=m", serial=s).cert for s in (0x10, 0x21, 0x99)]
    parsed = refused = 0
    for i, data in enumerate(mutants(original, seed=len(original))):
        try:
            index = CrlIndex.from_bytes(data, f"mutant{i}")
        except CrlError:
            refused += 1
            continue
        parsed += 1
        same = _signed(data) == signed
        for leaf in leaves:
            answer = decide(leaf, (leaf, issuing.cert, root.cert), (index,), ctx)  # never raises
            if not same:
                assert answer.status is RevocationStatus.UNKNOWN, (i, answer)
    assert refused > BUDGET // 2 and parsed > 0


def test_mutated_ocsp_answers_are_unknown_never_an_exception(pki: tuple[CA, CA]) -> None:
    _root, issuing = pki
    leaf = issuing.issue("CN=ocsp mutant").cert
    resp = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=issuing.cert,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - DAY,
            next_update=NOW + DAY,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuing.cert)
        .sign(issuing.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    original = resp.public_bytes(serialization.Encoding.DER)
    assert ocsp_mod.evaluate(original, leaf, issuing.cert, nonce=None, at=NOW, skew=SKEW, max_age=DAY).status is (
        RevocationStatus.GOOD
    )
    tbs, sig = resp.tbs_response_bytes, resp.signature
    for data in mutants(original, seed=7):
        answer = ocsp_mod.evaluate(data, leaf, issuing.cert, nonce=None, at=NOW, skew=SKEW, max_age=DAY)
        if answer.status is not RevocationStatus.UNKNOWN:
            again = ocsp.load_der_ocsp_response(data)
            assert (again.tbs_response_bytes, again.signature) == (tbs, sig)
