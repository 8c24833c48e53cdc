"""Route rules: every wildcard form, the IAM form, and the exact parse errors."""

from __future__ import annotations

import pytest

from authorizer.reasons import ConfigError
from authorizer.routes import RouteRule


def rule(text: str) -> RouteRule:
    return RouteRule.parse(text, "clients[0].routes[0]")


@pytest.mark.parametrize(
    ("text", "verb", "path", "expected"),
    [
        # exact
        ("GET /pets", "GET", "/pets", True),
        ("GET /pets", "GET", "/pets/", False),
        ("GET /pets", "GET", "/pets/1", False),
        ("GET /pets", "GET", "/Pets", False),  # paths are case-sensitive
        ("GET /pets", "POST", "/pets", False),
        ("get /pets", "GET", "/pets", True),  # verbs are not
        ("GET /pets", "get", "/pets", True),
        ("GET /", "GET", "/", True),
        ("GET /", "GET", "/pets", False),
        # * is one non-empty segment
        ("GET /pets/*", "GET", "/pets/1", True),
        ("GET /pets/*", "GET", "/pets/1/toys", False),
        ("GET /pets/*", "GET", "/pets/", False),
        ("GET /pets/*", "GET", "/pets", False),
        ("GET /pets/*/toys", "GET", "/pets/1/toys", True),
        ("GET /pets/*/toys", "GET", "/pets/1/2/toys", False),
        ("GET /pets/*/toys", "GET", "/pets//toys", False),
        ("GET /*", "GET", "/anything", True),
        ("GET /*", "GET", "/", False),
        # ** is the rest: one or more segments
        ("GET /pets/**", "GET", "/pets/1", True),
        ("GET /pets/**", "GET", "/pets/1/toys/2", True),
        ("GET /pets/**", "GET", "/pets/1/", True),
        ("GET /pets/**", "GET", "/pets", False),
        ("GET /pets/**", "GET", "/pets/", False),
        ("GET /pets/**", "GET", "/petshop/1", False),
        ("GET /**", "GET", "/a/b/c", True),
        ("GET /**", "GET", "/", False),
        ("GET /*/**", "GET", "/a/b", True),
        ("GET /*/**", "GET", "/a", False),
        # API Gateway templates
        ("GET /pets/{id}", "GET", "/pets/7", True),
        ("GET /pets/{id}", "GET", "/pets/7/x", False),
        ("GET /files/{proxy+}", "GET", "/files/a/b", True),
        # ANY is every verb
        ("ANY /pets", "DELETE", "/pets", True),
        ("ANY /pets", "OPTIONS", "/pets", True),
        ("ANY /pets/*", "PATCH", "/pets/1", True),
        ("ANY /pets/*", "PATCH", "/pets", False),
        # regex metacharacters in literal segments are literal
        ("GET /a.b", "GET", "/aXb", False),
        ("GET /a.b/*", "GET", "/a.b/c", True),
        ("GET /v1+x/*", "GET", "/v1+x/c", True),
    ],
)
def test_matches(text: str, verb: str, path: str, expected: bool) -> None:
    assert rule(text).matches(verb, path) is expected


@pytest.mark.parametrize(
    ("text", "iam_verb", "iam_resource"),
    [
        ("GET /pets", "GET", "pets"),
        ("GET /pets/*", "GET", "pets/*"),
        ("GET /pets/**", "GET", "pets/*"),
        ("POST /pets/*/toys", "POST", "pets/*/toys"),
        ("ANY /pets", "*", "pets"),
        ("GET /", "GET", ""),
        ("GET /pets/{id}", "GET", "pets/*"),
        ("GET /files/{proxy+}", "GET", "files/*"),
    ],
)
def test_iam_form(text: str, iam_verb: str, iam_resource: str) -> None:
    r = rule(text)
    assert r.iam_verb() == iam_verb
    assert r.iam_resource() == iam_resource


def test_canonical_form_and_equality() -> None:
    assert rule("get /pets/{id}") == RouteRule("GET", "/pets/*")
    assert str(rule("any /x/{p+}")) == "ANY /x/**"
    assert rule("  GET   /pets  ") == RouteRule("GET", "/pets")


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("GET", ""),
        ("/pets", ""),
        ("GET /pets extra", ""),
        ("", ""),
        ("GOT /pets", "unknown verb 'GOT'"),
        ("TRACE /pets", "unknown verb 'TRACE'"),
        ("GET pets", "must start with '/'"),
        ("GET /pets/**/x", "'**' may only be the last segment"),
        ("GET /pets/a*", "wildcards must be a whole segment"),
        ("GET /pets/***", "wildcards must be a whole segment"),
        ("GET /pets?x=1", "wildcards must be a whole segment"),
        ("GET /a//b", "empty segment"),
    ],
)
def test_parse_errors_name_the_field(text: str, detail: str) -> None:
    with pytest.raises(ConfigError) as info:
        rule(text)
    err = info.value
    assert err.path == "clients[0].routes[0]"
    assert err.message.startswith('expected "VERB /path"')
    assert detail in err.message
    assert str(err).startswith('CONFIG_INVALID: clients[0].routes[0]: expected "VERB /path"')


def test_not_a_string() -> None:
    with pytest.raises(ConfigError, match=r'clients\[0\].routes\[0\]: expected "VERB /path", got int'):
        rule(42)  # type: ignore[arg-type]


def test_direct_construction_validates() -> None:
    with pytest.raises(ConfigError):
        RouteRule("GET", "pets")
