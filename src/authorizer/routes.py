"""Route rules: ``"VERB /path"`` with ``*`` for one path segment and ``**`` for the rest.

A rule is checked twice with different strength: here, exactly (``*`` is one non-empty segment),
on every request; and by API Gateway, through the IAM policy the response lists, where IAM's
``*`` also matches across ``/``. The authorizer's own check is the one that enforces the
one-segment rule; the IAM form exists so that a cached Allow never covers more than the rule's
own verb and path prefix.

Decisions where the issue is silent:

* ``*`` matches exactly one non-empty segment; ``**`` (only as the last segment) matches one or
  more segments, so ``GET /pets/**`` does not allow ``GET /pets`` (IAM's ``pets/*`` would not
  either). ``/`` has no segments: allow it with ``GET /``.
* API Gateway templates are accepted: ``{id}`` is ``*`` and ``{proxy+}`` is ``**``.
* A wildcard must be a whole segment (``/pets/a*`` is refused) and ``?`` is refused: both would
  be IAM wildcards with a different meaning.
* Paths are case-sensitive, as API Gateway's are; verbs are not (``get`` is ``GET``). A trailing
  slash is significant (``/pets/`` is not ``/pets``); empty segments never match ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .reasons import ConfigError

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
ROUTE_FORM = 'expected "VERB /path"'

_TEMPLATE = re.compile(r"\{[A-Za-z0-9_.-]+\}")
_GREEDY_TEMPLATE = re.compile(r"\{[A-Za-z0-9_.-]+\+\}")
_BAD_CHARS = re.compile(r"[\s?#*{}]")
_IAM_SAFE = re.compile(r"[A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class RouteRule:
    """One ``"VERB /path"`` entry; ``*`` = one segment, ``**`` = the rest, ``ANY`` = every verb.

    ``path`` keeps the canonical form (templates written as ``*`` and ``**``), so two rules that
    mean the same compare equal and the IAM resource derives from it directly.
    """

    verb: str
    path: str
    _exact: str | None = field(init=False, repr=False, compare=False, default=None)
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        verb, path = _validate(self.verb, self.path, "route")
        object.__setattr__(self, "verb", verb)
        object.__setattr__(self, "path", path)
        if "*" in path:
            object.__setattr__(self, "_regex", _compile(path))
        else:
            object.__setattr__(self, "_exact", path)

    @classmethod
    def parse(cls, text: str, path: str) -> RouteRule:
        """Parse ``"GET /pets/*"``; ``path`` is the field's location for the ConfigError."""
        if not isinstance(text, str):
            raise ConfigError(path, f"{ROUTE_FORM}, got {type(text).__name__}")
        known = _PARSED.get(text)
        if known is not None:
            return known
        parts = text.split()
        if len(parts) != 2:
            raise ConfigError(path, f"{ROUTE_FORM}, got {text!r}")
        verb, route_path = _validate(parts[0], parts[1], path)
        rule = cls(verb, route_path)
        if len(_PARSED) < 4096:  # documents repeat the same few routes across many clients
            _PARSED[text] = rule
        return rule

    def matches(self, verb: str, request_path: str) -> bool:
        """Whether the request ``verb`` and ``request_path`` (e.g. ``/pets/1``) are this route."""
        if self.verb not in ("ANY", verb) and self.verb != verb.upper():
            return False
        if self._exact is not None:
            return self._exact == request_path
        assert self._regex is not None
        return self._regex.fullmatch(request_path) is not None

    def iam_verb(self) -> str:
        """The verb part of the method ARN: ``*`` for ``ANY``."""
        return "*" if self.verb == "ANY" else self.verb

    def iam_resource(self) -> str:
        """The path part of the method ARN: no leading ``/``, ``*`` and ``**`` both as IAM's ``*``."""
        return "/".join("*" if seg in ("*", "**") else seg for seg in self.path[1:].split("/"))

    def __str__(self) -> str:
        return f"{self.verb} {self.path}"


_PARSED: dict[str, RouteRule] = {}


def _validate(verb: str, path: str, where: str) -> tuple[str, str]:
    """Canonical ``(VERB, /path)`` or a ConfigError at ``where`` saying what is wrong."""
    upper = verb.upper()
    if upper not in VERBS:
        raise ConfigError(where, f"{ROUTE_FORM}: unknown verb {verb!r} (use one of {', '.join(VERBS)})")
    if not path.startswith("/"):
        raise ConfigError(where, f"{ROUTE_FORM}: the path must start with '/', got {path!r}")
    if path == "/":
        return upper, path
    segments = path[1:].split("/")
    out: list[str] = []
    for i, raw in enumerate(segments):
        last = i == len(segments) - 1
        seg = "**" if _GREEDY_TEMPLATE.fullmatch(raw) else "*" if _TEMPLATE.fullmatch(raw) else raw
        if seg == "**" and not last:
            raise ConfigError(where, f"{ROUTE_FORM}: '**' may only be the last segment of {path!r}")
        if seg not in ("*", "**"):
            if seg == "" and not last:
                raise ConfigError(where, f"{ROUTE_FORM}: empty segment in {path!r}")
            if _BAD_CHARS.search(seg):
                raise ConfigError(
                    where,
                    f"{ROUTE_FORM}: segment {seg!r} of {path!r}: wildcards must be a whole segment "
                    "('*' or '**') and '?', '#' and spaces are not allowed",
                )
            if seg and not _IAM_SAFE.fullmatch(seg):
                # The Allow policy names every route as an IAM resource, built with Powertools,
                # which accepts only these characters: refuse the route now, not at request time.
                raise ConfigError(
                    where,
                    f"{ROUTE_FORM}: segment {seg!r} of {path!r} may only hold letters, digits, '.', '_', '+' and '-'",
                )
        out.append(seg)
    return upper, "/" + "/".join(out)


def _compile(path: str) -> re.Pattern[str]:
    parts: list[str] = []
    for seg in path[1:].split("/"):
        if seg == "*":
            parts.append("[^/]+")
        elif seg == "**":
            parts.append("[^/]+(?:/[^/]*)*")
        else:
            parts.append(re.escape(seg))
    return re.compile("/" + "/".join(parts))
