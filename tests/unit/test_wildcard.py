"""Issue 10, defect 7: wildcard matching is linear in the value, whatever the pattern.

``spiffe://**a**a**a**a**b`` against a 400-character SAN URI took 77 s with the regular
expression the pattern used to compile to. The semantics stay those of that expression
(``*`` = one or more non-separator characters, ``**`` = one or more of any): checked here
exhaustively against it on every short value over a small alphabet.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest

from authorizer.policy import AccessPolicy, cert_facts
from authorizer.wildcard import Wildcard


def reference(text: str, separators: str) -> re.Pattern[str]:
    """The regular expression patterns compiled to before (exact, but backtracking)."""
    one = f"[^{re.escape(separators)}]+" if separators else ".+"
    parts = re.split(r"(\*\*|\*)", text)
    return re.compile("".join(".+" if p == "**" else one if p == "*" else re.escape(p) for p in parts), re.DOTALL)


PATTERNS = [
    "*", "**", "a*", "*a", "a*b", "a**b", "*.a", "**.a", "*a*", "**a**", "a*b*a", "*/*", "**/*", "*/**",
    "a**a**b", "**a*a**", "*.*", "a.*.b", "**b", "b**", "*ab*", "a*.**b", "a*a", "aa*aa",
]  # fmt: skip
ALPHABET = "ab./"


@pytest.mark.parametrize("separators", ["", ".", "/"])
def test_same_answers_as_the_regular_expression_on_every_short_value(separators: str) -> None:
    values = ["".join(p) for n in range(7) for p in itertools.product(ALPHABET, repeat=n)]
    for text in PATTERNS:
        fast, slow = Wildcard(text, separators), reference(text, separators)
        for value in values:
            assert fast.fullmatch(value) == (slow.fullmatch(value) is not None), (text, separators, value)


@pytest.mark.parametrize(
    ("pattern", "separators", "prefix"),
    [
        ("spiffe://**a**a**a**a**b", "/?#", "spiffe://"),
        ("**a**a**a**a**a**a**a**a**b", "", ""),
        ("*a*a*a*a*a*a*a*a*b", "", ""),
        ("*a*a*a*a*a*a*a*a*b", "/?#", ""),
        ("**.a*a*a.**a**b", ".", "x."),
    ],
)
def test_hostile_patterns_against_a_400_character_value_are_fast(pattern: str, separators: str, prefix: str) -> None:
    matcher = Wildcard(pattern, separators)
    value = prefix + "a" * 400  # no final "b": every way of splitting the value must fail
    start = time.perf_counter()
    for _ in range(20):
        assert not matcher.fullmatch(value)
        assert matcher.fullmatch(value + "b") == (
            reference(pattern, separators).fullmatch(prefix + "a" * 30 + "b") is not None
        )
    # 40 matches of 400 characters: milliseconds when linear; the old expression took 77 s for one.
    assert time.perf_counter() - start < 2.0


class _CountingStr(str):
    """A value that counts the characters a matcher reads from it."""

    reads = 0

    def __iter__(self) -> Iterator[str]:
        for ch in str.__iter__(self):
            type(self).reads += 1
            yield ch


def test_each_character_of_the_value_is_read_at_most_once() -> None:
    """Bounded work, counted rather than timed: a backtracking matcher re-reads the value.

    The patterns have a ``*`` bounded by separators, so after the literal parts are found in
    order the value goes through the character-by-character automaton."""
    for pattern, expected in (("*a*a*a*b", True), ("**a*a**b", True), ("*a*.*b", False)):
        matcher = Wildcard(pattern, ".")
        for n in (400, 800, 1600):
            value = _CountingStr("a" * n + "b")
            _CountingStr.reads = 0
            assert matcher.fullmatch(value) is expected
            assert _CountingStr.reads <= len(value)
            dotted = reference(pattern, ".").fullmatch("a" * 30 + ".b") is not None
            assert matcher.fullmatch(_CountingStr("a" * n + ".b")) is dotted


def test_a_client_policy_with_a_hostile_pattern_decides_quickly() -> None:
    from cryptography import x509

    from authorizer.certificate import ClientCertificate
    from tests.pki import CA

    leaf = CA.root("Wildcard Root").issue(
        "CN=w", sans=[x509.UniformResourceIdentifier("spiffe://example.org/" + "a" * 400)]
    )
    policy = AccessPolicy.from_dict(
        {"deny": [{"match": {"san_uri": "spiffe://**a**a**a**a**b"}}], "clients": [
            {"name": "c", "match": {"san_uri": "spiffe://example.org/**a**a**a"}, "routes": ["GET /"]}
        ]}
    )  # fmt: skip
    cert = ClientCertificate(leaf.cert)
    start = time.perf_counter()
    grant = policy.evaluate(cert, None, "GET", "/")
    assert grant.client_name == "c"
    assert cert_facts(cert).uris[0].endswith("a" * 400)
    assert time.perf_counter() - start < 2.0
