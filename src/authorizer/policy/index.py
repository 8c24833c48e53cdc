"""Entries indexed by exact key or wildcard anchor, so evaluation is a few look-ups, not a scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..dn import DNKey
from .facts import CertFacts
from .match import Match, Pattern

# --------------------------------------------------------------------------- index


#: The keys of a match that take wildcards, with the CertFacts field holding their values.
_PATTERN_FIELDS: tuple[tuple[str, str], ...] = (
    ("san_uri", "uris"),
    ("san_dns", "dns"),
    ("san_email", "emails"),
    ("subject_cn", "cns"),
)


@dataclass(frozen=True)
class _Anchors:
    """Wildcard entries of one kind by their literal prefix (or suffix) of each length used.

    A value can only fit ``spiffe://example.org/fleet7/*`` if it starts with
    ``spiffe://example.org/fleet7/``, so looking up ``value[:n]`` for each distinct prefix
    length ``n`` finds every candidate without scanning the entries.
    """

    field: str
    suffix: bool
    lengths: tuple[int, ...]
    table: Mapping[str, tuple[int, ...]]

    def candidates(self, f: CertFacts, out: list[int]) -> None:
        values: tuple[str, ...] = getattr(f, self.field)
        table = self.table
        for v in values:
            for n in self.lengths:
                if n <= len(v):
                    hit = table.get(v[-n:] if self.suffix else v[:n])
                    if hit:
                        out.extend(hit)


@dataclass(frozen=True)
class _Index:
    """Entry numbers by exact key or wildcard anchor, and the few entries that must be scanned.

    Each entry is filed under one key only, its most selective: every key of a match must fit
    anyway, and :meth:`first` confirms each candidate with the full match.
    """

    by_cert: Mapping[str, tuple[int, ...]]
    by_issuer_serial: Mapping[tuple[DNKey, int], tuple[int, ...]]
    by_subject: Mapping[DNKey, tuple[int, ...]]
    by_value: tuple[tuple[str, Mapping[str, tuple[int, ...]]], ...]  # (CertFacts field, table)
    by_issuer: Mapping[DNKey, tuple[int, ...]]
    anchors: tuple[_Anchors, ...]
    scan: tuple[int, ...]

    @classmethod
    def build(cls, matches: Sequence[Match]) -> _Index:
        exact: dict[str, dict[Any, list[int]]] = {}
        anchored: dict[tuple[str, bool], dict[str, list[int]]] = {}
        scan: list[int] = []
        for i, m in enumerate(matches):
            slot = _exact_slot(m)
            if slot is not None:
                exact.setdefault(slot[0], {}).setdefault(slot[1], []).append(i)
                continue
            anchor = _anchor(m)
            if anchor is not None:
                anchored.setdefault(anchor[:2], {}).setdefault(anchor[2], []).append(i)
            else:
                scan.append(i)

        def table(name: str) -> dict[Any, tuple[int, ...]]:
            return {k: tuple(v) for k, v in exact.get(name, {}).items()}

        return cls(
            by_cert=table("cert"),
            by_issuer_serial=table("issuer_serial"),
            by_subject=table("subject"),
            by_value=tuple((fld, table(fld)) for _, fld in _PATTERN_FIELDS if exact.get(fld)),
            by_issuer=table("issuer"),
            anchors=tuple(
                _Anchors(
                    field=fld,
                    suffix=suffix,
                    lengths=tuple(sorted({len(k) for k in entries})),
                    table={k: tuple(v) for k, v in entries.items()},
                )
                for (fld, suffix), entries in anchored.items()
            ),
            scan=tuple(scan),
        )

    @property
    def wildcards(self) -> int:
        """How many entries are found through a wildcard (anchored or scanned)."""
        return len(self.scan) + sum(len(v) for a in self.anchors for v in a.table.values())

    def first(self, matches: Sequence[Match], f: CertFacts) -> int | None:
        """The lowest entry number whose match fits ``f``, or ``None``."""
        found: list[int] = []
        if self.by_cert:
            for fp in f.fingerprints:
                hit = self.by_cert.get(fp)
                if hit:
                    found.extend(hit)
        for hit in (
            self.by_issuer_serial.get((f.issuer, f.serial)) if self.by_issuer_serial else None,
            self.by_subject.get(f.subject),
            self.by_issuer.get(f.issuer) if self.by_issuer else None,
        ):
            if hit:
                found.extend(hit)
        for fld, values_table in self.by_value:
            for v in getattr(f, fld):
                hit = values_table.get(v)
                if hit:
                    found.extend(hit)
        for anchors in self.anchors:
            anchors.candidates(f, found)
        best: int | None = None
        if found:
            found.sort()
            for i in found:
                if matches[i].fits(f):
                    best = i
                    break
        for i in self.scan:
            if best is not None and i > best:
                break
            if matches[i].fits(f):
                return i
        return best


def _exact_slot(m: Match) -> tuple[str, Any] | None:
    """The most selective exact key of a match, as (table name, key)."""
    if m.cert_sha256 is not None:
        return ("cert", m.cert_sha256)
    if m.issuer is not None and m.serial is not None:
        return ("issuer_serial", (m.issuer, m.serial))
    if m.subject is not None:
        return ("subject", m.subject)
    for key, fld in _PATTERN_FIELDS:
        pattern: Pattern | None = getattr(m, key)
        if pattern is not None and pattern.exact is not None:
            return (fld, pattern.exact)
    if m.issuer is not None:
        return ("issuer", m.issuer)
    return None


def _anchor(m: Match) -> tuple[str, bool, str] | None:
    """(CertFacts field, is-suffix, literal) for the longest literal end of a wildcard pattern."""
    best: tuple[str, bool, str] | None = None
    for key, fld in _PATTERN_FIELDS:
        pattern: Pattern | None = getattr(m, key)
        if pattern is None:
            continue
        prefix, suffix = pattern.prefix, pattern.suffix
        literal, is_suffix = (suffix, True) if len(suffix) > len(prefix) else (prefix, False)
        if literal and (best is None or len(literal) > len(best[2])):
            best = (fld, is_suffix, literal)
    return best
