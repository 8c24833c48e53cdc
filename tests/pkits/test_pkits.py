"""NIST PKITS (2011): every one of the 246 cases of ``pkits.json`` with its own inputs.

The fixtures come from the git-ignored cache that ``make unit``/``make test`` fill with
``scripts/fetch_pkits.py`` before pytest (never from the network here). Expectations: no error
-> Allow (chain valid with PKITS's path length, revocation GOOD); PathValidationError -> a
chain-stage Deny; RevokedError -> REVOKED; InsufficientRevinfoError/StaleRevinfoError ->
REVOCATION_UNKNOWN; the cases in ``exceptions.py`` -> exactly the reason listed there.
"""

from __future__ import annotations

import pytest

from .cases import MISSING, Case, available, load_cases
from .exceptions import EXCEPTIONS
from .harness import expected, judge

CASES: list[Case] = list(load_cases()) if available() else []
#: PKITS 4.4.14/4.4.15 have a negative serial on purpose; cryptography warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Parsed a serial number")


def test_pkits_cache_is_present() -> None:
    """CI must always have the cache (``make unit`` fetches it); a bare ``pytest`` without it
    says so loudly instead of passing quietly."""
    if not available():
        pytest.skip(MISSING)
    assert len(CASES) == 246
    assert {c.id for c in CASES} >= set(EXCEPTIONS), "an exception names a case PKITS does not have"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_pkits_case(case: Case) -> None:
    ok, got = judge(case)
    stage, reason = expected(case)
    want = stage.value + (f" {reason.value}" if reason else "")
    assert ok, f"PKITS {case.section} {case}: expected {want}, got {got}"
