"""Property of the policy's wildcard patterns on client-chosen names (issue 10, defect 7).

A ``san_uri``/``san_dns``/``subject_cn`` pattern is the operator's, the name is the client's: the
match must agree with the documented meaning (``*`` one or more characters within a segment,
``**`` one or more characters of anything) and take time linear in the name whatever the
pattern. The oracle below is a position-set simulation, O(len(pattern) * len(name)).
"""

from __future__ import annotations

import time

from hypothesis import example, given
from hypothesis import strategies as st

from authorizer.policy import Pattern

SEPARATORS = "/?#"
#: Linear matching of 400 characters takes microseconds; the backtracking matcher took 77 s.
BOUND_S = 0.25


def tokens(pattern: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append("**")
            i += 2
        elif pattern[i] == "*":
            out.append("*")
            i += 1
        else:
            out.append(pattern[i])
            i += 1
    return out


def reference(pattern: str, name: str, separators: str = SEPARATORS) -> bool:
    n = len(name)
    current = {0}
    for tok in tokens(pattern):
        if not current:
            return False
        if tok == "**":
            start = min(current)
            current = set(range(start + 1, n + 1))
        elif tok == "*":
            nxt: set[int] = set()
            for j in range(1, n + 1):
                if name[j - 1] not in separators and ((j - 1) in current or (j - 1) in nxt):
                    nxt.add(j)
            current = nxt
        else:
            current = {i + 1 for i in current if i < n and name[i] == tok}
    return n in current


patterns = (
    st.lists(st.sampled_from(["**", "*", "a", "b", "/", ".", "spiffe://"]), min_size=1, max_size=14)
    .map("".join)
    .filter(lambda p: "***" not in p)
)
names = st.one_of(
    st.text(alphabet="ab/.", max_size=60),
    st.builds(lambda n, tail: "a" * n + tail, st.integers(0, 400), st.sampled_from(["", "b", "/b", "a/"])),
)


@given(patterns, names)
@example("spiffe://**a**a**a**a**b", "spiffe://" + "a" * 400)
@example("**a*a*a*a*b", "a" * 400)
@example("*a*a*a*a*b", "a" * 400)
def test_wildcards_match_as_documented_in_linear_time(pattern: str, name: str) -> None:
    compiled = Pattern.compile(pattern, SEPARATORS)
    start = time.perf_counter()
    got = compiled.fits([name])
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, (pattern, len(name), elapsed)
    assert got == reference(pattern, name), (pattern, name)
