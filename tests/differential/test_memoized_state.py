"""Metamorphic test of the validator's memory: a ChainValidator that has already judged other
clients of the same CAs, at other times, must give each client the verdict a fresh validator
gives it.

The validator memoizes the §6.1 state after a path's CA part, signature results between
truststore certificates and verified paths by PEM (issue 8, "as fast as before"); only validity
windows are re-checked per request. This property draws a PKI, a second client of the same
issuing CA and a sequence of (client, time) requests, and replays it on one long-lived validator
(``validate`` and ``validate_pem``), comparing every verdict with a fresh validator's.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from authorizer.certificate import ClientCertificate
from authorizer.reasons import AuthorizerError
from authorizer.validation import ChainValidator, EkuMode, TrustStore
from tests.differential.build import AT, build
from tests.differential.oracles import DIFFERENTIAL_MAX_CHAIN, policy_inputs
from tests.differential.spec import PkiSpec, leaf_specs, pki_specs

pytestmark = pytest.mark.differential

#: The validation time, and times when the "expired", "not-yet" and boundary windows flip.
TIMES = (
    AT,
    AT + dt.timedelta(seconds=1),
    dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
    dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
)


def verdict(validator: ChainValidator, pem: str, at: dt.datetime, *, by_pem: bool) -> tuple[bool, str]:
    try:
        if by_pem:
            validator.validate_pem(pem, at)
        else:
            from cryptography import x509

            validator.validate(ClientCertificate(x509.load_pem_x509_certificate(pem.encode())), at)
    except AuthorizerError as exc:
        return False, exc.reason.value
    return True, "ALLOWED"


@given(
    pki_specs,
    leaf_specs(),
    st.lists(st.tuples(st.sampled_from([0, 1]), st.sampled_from(TIMES), st.booleans()), min_size=2, max_size=6),
)
def test_a_validator_with_memory_judges_like_a_fresh_one(spec: PkiSpec, second, requests) -> None:  # type: ignore[no-untyped-def]
    pki = build(spec)
    clients = [pki.leaf, pki.another_leaf(second)]
    pems = [c.public_bytes(Encoding.PEM).decode() for c in clients]

    def validator(cache_size: int) -> ChainValidator:
        return ChainValidator(
            TrustStore.from_certs([pki.anchor], list(pki.intermediates)),
            eku=EkuMode.CLIENT_AUTH,
            max_chain_length=DIFFERENTIAL_MAX_CHAIN,
            policies=policy_inputs(spec.inputs),
            cache_size=cache_size,
        )

    remembering = validator(4096)
    for which, at, by_pem in requests:
        fresh = verdict(validator(0), pems[which], at, by_pem=False)
        assert verdict(remembering, pems[which], at, by_pem=by_pem) == fresh, (which, at, by_pem)
