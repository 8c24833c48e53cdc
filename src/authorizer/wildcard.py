"""Wildcard patterns matched in time linear in the value, whatever the pattern.

``*`` is one or more characters other than the value's separators (one DNS label, one URI path
segment, the local part of an email); ``**`` is one or more characters of any kind. The value is
chosen by the client (a SAN of its certificate), so matching must never backtrack: a regular
expression such as ``.+a.+a.+a.+b`` against 400 characters took 77 s in ``re``.

Patterns with one wildcard are a prefix, a suffix and a middle checked with string methods.
With more, the literal parts are first looked for left to right with ``str.find`` (leftmost
placement, each after the previous one and a character for the wildcard between): that is the
exact answer when every wildcard may cross separators (``**``, or any wildcard of a CN), and a
necessary condition otherwise. A value that passes it and whose pattern has a ``*`` bounded by
separators then runs a bit-parallel NFA (Shift-And with loops): one integer holds every pattern
position reachable so far, and each character of the value costs a few integer operations, so
the work is ``len(value)`` steps of ``O(len(pattern) / 64)`` each and never more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SPLIT = re.compile(r"(\*\*|\*)")


@dataclass(frozen=True)
class Wildcard:
    """A compiled pattern; :meth:`fullmatch` says whether a whole value fits."""

    text: str
    separators: str
    _single: tuple[str, str, bool] | None = field(init=False, repr=False, compare=False, default=None)
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())  # literals
    _crossing: bool = field(init=False, repr=False, compare=False, default=False)  # every wildcard is **
    _min_len: int = field(init=False, repr=False, compare=False, default=0)
    _literals: dict[str, int] = field(init=False, repr=False, compare=False, default_factory=dict)
    _star: int = field(init=False, repr=False, compare=False, default=0)  # positions of '*'
    _any: int = field(init=False, repr=False, compare=False, default=0)  # positions of '**'
    _final: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        parts = [p for p in _SPLIT.split(self.text) if p]
        wildcards = [p for p in parts if p in ("*", "**")]
        if len(wildcards) == 1:
            i = parts.index(wildcards[0])
            prefix = "".join(parts[:i])
            suffix = "".join(parts[i + 1 :])
            object.__setattr__(self, "_single", (prefix, suffix, wildcards[0] == "**"))
            return
        literal_parts: list[str] = [""]
        for part in parts:
            if part in ("*", "**"):
                literal_parts.append("")
            else:
                literal_parts[-1] += part
        object.__setattr__(self, "_parts", tuple(literal_parts))
        object.__setattr__(self, "_crossing", not self.separators or "*" not in wildcards)
        object.__setattr__(self, "_min_len", sum(map(len, literal_parts)) + len(literal_parts) - 1)
        if self._crossing:  # the in-order search is the whole answer: skip a call level
            object.__setattr__(self, "fullmatch", self._in_order)
        literals: dict[str, int] = {}
        star = any_ = 0
        pos = 0
        for part in parts:
            if part == "*":
                star |= 1 << pos
                pos += 1
            elif part == "**":
                any_ |= 1 << pos
                pos += 1
            else:
                for ch in part:
                    literals[ch] = literals.get(ch, 0) | (1 << pos)
                    pos += 1
        object.__setattr__(self, "_literals", literals)
        object.__setattr__(self, "_star", star)
        object.__setattr__(self, "_any", any_)
        object.__setattr__(self, "_final", 1 << pos)

    def fullmatch(self, value: str) -> bool:
        single = self._single
        if single is not None:
            prefix, suffix, crosses = single
            if len(value) <= len(prefix) + len(suffix) or not value.startswith(prefix) or not value.endswith(suffix):
                return False
            if crosses:
                return True
            middle = value[len(prefix) : len(value) - len(suffix)]
            return not any(sep in middle for sep in self.separators)
        if not self._in_order(value):
            return False
        if self._crossing:
            return True
        literals, star, any_, seps = self._literals, self._star, self._any, self.separators
        # Bit j set: the first j tokens of the pattern match the value read so far. A wildcard
        # token at position j moves j -> j+1 on a character it accepts, and its loop keeps
        # j+1 set for the next ones (bit j+1 is reachable only through that wildcard).
        state = 1
        for ch in value:
            wild = any_ if ch in seps else any_ | star
            state = ((state & (literals.get(ch, 0) | wild)) << 1) | (state & (wild << 1))
            if not state:
                return False
        return bool(state & self._final)

    def _in_order(self, value: str) -> bool:
        """Whether the literal parts fit left to right, one character or more apart (C-speed
        string searches; leftmost placement is optimal when wildcards may hold anything)."""
        parts = self._parts
        first, last = parts[0], parts[-1]
        if len(value) < self._min_len or not value.startswith(first) or not value.endswith(last):
            return False
        pos = len(first)
        end = len(value) - len(last)
        for literal in parts[1:-1]:
            found = value.find(literal, pos + 1, end - 1)
            if found < 0:
                return False
            pos = found + len(literal)
        return pos < end
