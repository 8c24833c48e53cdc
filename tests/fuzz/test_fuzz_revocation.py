"""Properties of the CRL and OCSP parsers and of the revocation checker on mutated DER (issue 10).

* ``CrlIndex.from_bytes`` raises only ``CrlError``, and what it returns can be asked
  ``is_current``/``verdict`` without an exception (far-future dates are valid dates);
* ``ocsp.evaluate`` never raises, and never says GOOD for an answer whose signed part changed;
* one unparsable CRL source disqualifies only itself: with a broken copy first and the good CRL
  second, a valid certificate is GOOD and a revoked one REVOKED; with only the broken copy, a
  revoked certificate is never GOOD.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import example, given
from hypothesis import strategies as st

from authorizer.devpki import make_crl
from authorizer.revocation import ocsp as ocsp_eval
from authorizer.revocation.checker import RevocationChecker
from authorizer.revocation.config import RevocationConfig
from authorizer.revocation.crl import CrlError, CrlIndex
from authorizer.revocation.status import RevocationStatus
from tests.fuzz import mutate
from tests.pki import CA, NOW

DAY = dt.timedelta(days=1)
SKEW = dt.timedelta(seconds=300)
FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
GOOD, REVOKED, UNKNOWN = RevocationStatus.GOOD, RevocationStatus.REVOKED, RevocationStatus.UNKNOWN

ROOT = CA.root("Fuzz Root")
ISSUING = ROOT.intermediate("Fuzz Issuing")
VALID = ISSUING.issue("CN=fuzz valid", serial=0x5001).cert
REVOKED_CERT = ISSUING.issue("CN=fuzz revoked", serial=0x5002).cert


def der_of(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


CRL = der_of(make_crl(ISSUING, (0x5002, 0x7777), this_update=NOW - DAY, next_update=NOW + DAY))


def ocsp_answer(cert: x509.Certificate, status: ocsp.OCSPCertStatus, next_update: dt.datetime) -> bytes:
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert,
        issuer=ISSUING.cert,
        algorithm=hashes.SHA256(),
        cert_status=status,
        this_update=NOW - DAY,
        next_update=next_update,
        revocation_time=NOW - DAY if status is ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ISSUING.cert)
    signed = builder.sign(ISSUING.key, hashes.SHA256())  # type: ignore[arg-type]
    return signed.public_bytes(serialization.Encoding.DER)


OCSP_GOOD = ocsp_answer(VALID, ocsp.OCSPCertStatus.GOOD, NOW + DAY)
OCSP_REVOKED = ocsp_answer(REVOKED_CERT, ocsp.OCSPCertStatus.REVOKED, NOW + DAY)
OCSP_FAR_FUTURE = ocsp_answer(VALID, ocsp.OCSPCertStatus.GOOD, FAR_FUTURE)


def with_version(der: bytes, version: int) -> bytes:
    """The CRL with its version INTEGER (the first field of TBSCertList) set to ``version``."""
    tree = mutate.parse(der)
    assert tree.children and tree.children[0].children
    tree.children[0].children[0].raw = bytes([version])
    return mutate.encode(tree)


def with_duplicate_extension(der: bytes) -> bytes:
    """The CRL with its first CRL extension listed twice (the signature no longer matches)."""
    tree = mutate.parse(der)
    assert tree.children and tree.children[0].children
    explicit = tree.children[0].children[-1]  # [0] crlExtensions
    assert explicit.tag == 0xA0 and explicit.children
    extensions = explicit.children[0].children
    assert extensions
    extensions.append(mutate.parse(mutate.encode(extensions[0])))
    return mutate.encode(tree)


CRL_FAR_FUTURE = der_of(make_crl(ISSUING, (0x5002,), this_update=NOW - DAY, next_update=FAR_FUTURE))
BROKEN_CRLS = [with_version(CRL, 5), with_duplicate_extension(CRL)]


def crl_mutations() -> st.SearchStrategy[bytes]:
    return st.one_of(mutate.byte_mutation(CRL), mutate.der_mutation(CRL), mutate.der_mutation(CRL_FAR_FUTURE))


# -- the CRL parser ------------------------------------------------------------------------------------


@given(crl_mutations())
@example(BROKEN_CRLS[0])
@example(BROKEN_CRLS[1])
@example(CRL_FAR_FUTURE)
def test_crl_parser_raises_only_crl_error(der: bytes) -> None:
    try:
        index = CrlIndex.from_bytes(der, "fuzz")
    except CrlError:
        return
    index.is_current(NOW, SKEW)
    index.signed_by(ISSUING.cert)
    for cert in (VALID, REVOKED_CERT):
        index.verdict(cert, ISSUING.cert, NOW, SKEW)


@given(crl_mutations())
def test_pem_wrapping_changes_nothing(der: bytes) -> None:
    """The same bytes as PEM parse or fail exactly like the DER (one parser, two envelopes)."""

    def outcome(data: bytes) -> object:
        try:
            index = CrlIndex.from_bytes(data, "fuzz")
        except CrlError:
            return "error"
        except Exception as exc:  # reported by the property above; here only the agreement counts
            return type(exc).__name__
        return (index.issuer, index.this_update, index.next_update, frozenset(index.serials), index.unusable)

    assert outcome(der) == outcome(mutate.pem_of(der, "X509 CRL").encode())


# -- the OCSP evaluator --------------------------------------------------------------------------------


def ocsp_mutations() -> st.SearchStrategy[tuple[bytes, x509.Certificate, bytes]]:
    base = st.sampled_from([(OCSP_GOOD, VALID), (OCSP_REVOKED, REVOKED_CERT)])
    return base.flatmap(
        lambda pair: st.tuples(
            st.one_of(mutate.byte_mutation(pair[0]), mutate.der_mutation(pair[0])), st.just(pair[1]), st.just(pair[0])
        )
    )


@given(ocsp_mutations())
@example((OCSP_FAR_FUTURE, VALID, OCSP_GOOD))
def test_ocsp_evaluate_never_raises_and_a_changed_answer_is_never_good(case: tuple[bytes, Any, bytes]) -> None:
    data, cert, original = case
    answer = ocsp_eval.evaluate(data, cert, ISSUING.cert, nonce=None, at=NOW, skew=SKEW, max_age=DAY)
    assert isinstance(answer, ocsp_eval.OcspAnswer)
    if answer.status is GOOD and data != original:
        # only a far-future answer built (and signed) above, or an unsigned-part edit, may be GOOD
        resp = ocsp.load_der_ocsp_response(data)
        assert resp.tbs_response_bytes in {
            ocsp.load_der_ocsp_response(o).tbs_response_bytes for o in (OCSP_GOOD, OCSP_FAR_FUTURE)
        }


# -- the checker: a broken source disqualifies only itself ---------------------------------------------

_names = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("crl-sources")
    (path / "good.crl").write_bytes(CRL)
    yield path


def checker(folder: Path, broken: bytes, *, with_good: bool) -> RevocationChecker:
    name = folder / f"broken-{next(_names)}.crl"
    name.write_bytes(broken)
    urls = [str(name)] + ([str(folder / "good.crl")] if with_good else [])
    config = RevocationConfig.from_dict(
        {
            "scope": "leaf",
            "ocsp": {"enabled": False},
            "crl": {"urls": urls, "use_distribution_points": False},
            "retry_seconds": 0,
        }
    )
    return RevocationChecker(config)


@given(crl_mutations())
@example(BROKEN_CRLS[0])
@example(BROKEN_CRLS[1])
def test_a_broken_first_source_disqualifies_only_itself(folder: Path, broken: bytes) -> None:
    chk = checker(folder, broken, with_good=True)
    try:
        valid = chk.check([VALID, ISSUING.cert, ROOT.cert], NOW)
        revoked = chk.check([REVOKED_CERT, ISSUING.cert, ROOT.cert], NOW)
    finally:
        chk.close()
    assert valid.status in (GOOD, REVOKED), valid.detail  # REVOKED only if the mutant still lists it validly
    assert revoked.status is REVOKED, revoked.detail
    if valid.status is REVOKED:
        # a mutant that is still a correctly signed CRL of this issuer listing the serial cannot exist
        pytest.fail(f"valid certificate revoked by a mutated CRL: {valid.detail}")


@given(crl_mutations())
def test_a_mutated_crl_alone_never_makes_a_revoked_certificate_good(folder: Path, broken: bytes) -> None:
    chk = checker(folder, broken, with_good=False)
    try:
        outcome = chk.check([REVOKED_CERT, ISSUING.cert, ROOT.cert], NOW)
    finally:
        chk.close()
    assert outcome.status is not GOOD, outcome.detail
