"""Differential test: generated PKIs judged by our validator and by ``openssl verify``.

Every example must get the same verdict from both, or the disagreement must be accounted for by
one named rule of ``explain.py`` (a product rule or a documented OpenSSL behaviour), proven by
its counterfactual. An unexplained disagreement fails the test and leaves its PEMs, the spec and
both verdicts under ``build/differential-failures/`` to become a fixture in ``cases/``.

The tally of every verdict class is written to ``$DIFFERENTIAL_REPORT`` (``make differential``
prints it) so the run's figures can be quoted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given

from tests.differential.build import AT, build
from tests.differential.explain import Unexplained, explain
from tests.differential.oracles import Judgement, openssl, ours
from tests.differential.spec import PkiSpec, features, pki_specs

pytestmark = pytest.mark.differential

FAILURES = Path(os.environ.get("DIFFERENTIAL_FAILURES", "build/differential-failures"))
TALLY: Counter[str] = Counter()
COVERAGE: Counter[str] = Counter()


def judge_both(spec: PkiSpec, folder: Path) -> tuple[Judgement, Judgement]:
    pki = build(spec)
    return ours(pki, AT, spec.inputs), openssl(pki, AT, folder, spec.inputs)


def save_reproducer(spec: PkiSpec, mine: Judgement, theirs: Judgement, folder: Path, why: str) -> Path:
    digest = hashlib.sha256(repr(spec).encode()).hexdigest()[:12]
    target = FAILURES / digest
    build(spec).write(target)
    (target / "case.json").write_text(
        json.dumps(
            {"spec": repr(spec), "ours": vars(mine), "openssl": vars(theirs), "why": why, "at": AT.isoformat()},
            indent=2,
        )
    )
    return target


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    target = os.environ.get("DIFFERENTIAL_REPORT")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(path.read_text()) if path.exists() else {}
        previous["openssl"] = dict(TALLY.most_common())
        previous["openssl_coverage"] = dict(sorted(COVERAGE.items()))
        path.write_text(json.dumps(previous, indent=2))


@given(pki_specs)
def test_our_verdict_matches_openssl_verify_or_a_named_rule(spec: PkiSpec) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        mine, theirs = judge_both(spec, folder)
        for feature in features(spec):
            COVERAGE[f"{feature}: {'accepted' if mine.accepted else 'refused'}"] += 1
        if mine.accepted == theirs.accepted:
            TALLY["agree: both accept" if mine.accepted else f"agree: both refuse ({mine.reason})"] += 1
            return

        def agree(variant: PkiSpec) -> bool:
            a, b = judge_both(variant, folder / "variant")
            return a.accepted == b.accepted

        try:
            rule = explain(spec, mine.accepted, mine.reason, agree)
        except Unexplained as exc:
            saved = save_reproducer(spec, mine, theirs, folder, str(exc))
            TALLY["UNEXPLAINED"] += 1
            raise Unexplained(
                f"{exc}\nours: {mine}\nopenssl: {theirs.reason}: {theirs.detail[-300:]}\nreproducer: {saved}"
            ) from None
        TALLY[f"explained: {rule}"] += 1
