"""NIST PKITS (2011): every one of the 246 cases of ``pkits.json`` with its own inputs.

The fixtures come from the git-ignored cache that ``make unit``/``make test`` fill with
``scripts/fetch_pkits.py`` before pytest (never from the network here). Expectations: no error
-> Allow (chain valid with PKITS's path length, revocation GOOD); PathValidationError -> a
chain-stage Deny; RevokedError -> REVOKED; InsufficientRevinfoError/StaleRevinfoError ->
REVOCATION_UNKNOWN; the cases in ``exceptions.py`` -> exactly the reason listed there.
"""

from __future__ import annotations

import pytest

from .cases import MISSING, Case, Stage, available, load_cases
from .exceptions import EXCEPTIONS
from .harness import HAVE_VALIDATOR, INTERIM_SECTIONS, applicable, expected, judge

CASES: list[Case] = list(load_cases()) if available() else []


def test_pkits_cache_is_present() -> None:
    """CI must always have the cache (``make unit`` fetches it); a bare ``pytest`` without it
    says so loudly instead of passing quietly."""
    if not available():
        pytest.skip(MISSING)
    assert len(CASES) == 246
    assert {c.id for c in CASES} >= set(EXCEPTIONS), "an exception names a case PKITS does not have"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_pkits_case(case: Case) -> None:
    why = applicable(case)
    if why is not None:
        pytest.skip(why)
    ok, got = judge(case)
    stage, reason = expected(case)
    want = stage.value + (f" {reason.value}" if reason else "")
    assert ok, f"PKITS {case.section} {case}: expected {want}, got {got}"


def test_the_interim_run_covers_every_revocation_case() -> None:
    """Without the validator the revocation sections still all run: none of them is skipped
    except a product-rule exception the validator enforces."""
    if not available():
        pytest.skip(MISSING)
    if HAVE_VALIDATOR:
        runnable = [c for c in CASES if applicable(c) is None]
        assert len(runnable) == len(CASES)
        return
    revocation = [c for c in CASES if c.section in INTERIM_SECTIONS]
    skipped = [c.id for c in revocation if applicable(c) is not None]
    assert skipped == [c for c in sorted(EXCEPTIONS) if c[:3] in ("404", "414", "415")]
    assert sum(1 for c in revocation if c.expected is not Stage.ALLOW) > 30
