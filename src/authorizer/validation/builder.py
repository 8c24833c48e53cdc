"""Path building: every candidate issuer, with backtracking, loops refused, hard limits.

Like Go's ``crypto/x509`` ``buildChains``: issuers are looked up by (RFC 4518-normalized)
name, tried in order of preference (an issuer whose subjectKeyIdentifier matches the child's
authorityKeyIdentifier first, one valid at the request's time before one that is not), each
link's signature is verified before the link is used, and a path ends at the first trust
anchor. A certificate never appears twice in a path, nor does a (subject, key) pair (RFC 4158
loop detection, which still lets a self-issued key-rollover certificate sit between two
certificates of the same name). Every issuer considered counts against ``MAX_EDGES`` and every
path against ``MAX_DEPTH``, so a hostile bundle (a 100-CA loop, thousands of same-named CAs)
costs milliseconds, never the function's time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ..dn import DNKey
from .facts import CertFacts
from .rules import signature_valid
from .state import PathValidationError

MAX_DEPTH = 16
MAX_EDGES = 256


def _spki(cert: x509.Certificate) -> bytes | None:
    """The SubjectPublicKeyInfo, or None for a key cryptography cannot load (no signature
    verifies with such a key, so it never forms a link)."""
    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


@dataclass
class Pool:
    """The certificates a path may use: indexed truststore facts plus a request's extras."""

    by_name: dict[DNKey, list[CertFacts]]
    anchors: frozenset[int]  # id() of the anchor certificates
    signatures: dict[tuple[int, int], bool]  # (id(child), id(parent)) -> verified, truststore pairs only
    cacheable: frozenset[int]  # id() of certificates whose signature results may be cached
    extras: dict[DNKey, list[CertFacts]] = field(default_factory=dict)
    keys: dict[int, tuple[object, str]] = field(default_factory=dict)  # id(cert) -> (public key, kind)

    def issuers(self, facts: CertFacts, at: dt.datetime) -> list[CertFacts]:
        found = [*self.by_name.get(facts.issuer_key, ()), *self.extras.get(facts.issuer_key, ())]
        if len(found) > 1:
            aki = facts.aki

            def rank(c: CertFacts) -> tuple[int, int]:
                key_match = 0 if aki is None or c.ski is None else (0 if c.ski == aki else 1)
                current = 0 if c.not_before <= at <= c.not_after else 1
                return (key_match, current)

            found.sort(key=rank)
        return found

    def signed_by(self, child: CertFacts, parent: CertFacts) -> bool:
        key = (id(child.cert), id(parent.cert))
        cacheable = key[0] in self.cacheable and key[1] in self.cacheable
        if cacheable and key in self.signatures:
            return self.signatures[key]
        known = self.keys.get(key[1])
        try:
            ok = signature_valid(child.cert, *known) if known else signature_valid(child.cert, parent.cert.public_key())
        except (ValueError, TypeError, UnsupportedAlgorithm):  # a key cryptography cannot load
            ok = False
        if cacheable:
            self.signatures[key] = ok
        return ok


@dataclass
class Search:
    """One path search: the limits spent and where the deepest partial path stopped."""

    pool: Pool
    at: dt.datetime
    max_length: int
    edges: int = 0
    named: bool = False  # some certificate carried the leaf's issuer name
    signed: bool = False  # and one of them verified the leaf's signature

    def paths(self, leaf: CertFacts) -> Iterator[list[CertFacts]]:
        """Complete candidate paths (leaf first, anchor last), best first."""
        yield from self._extend([leaf])

    def _extend(self, path: list[CertFacts]) -> Iterator[list[CertFacts]]:
        top = path[-1]
        for cand in self.pool.issuers(top, self.at):
            if len(path) == 1:
                self.named = True
            self.edges += 1
            if self.edges > MAX_EDGES:
                raise PathValidationError(
                    "path building", "", f"more than {MAX_EDGES} issuer candidates tried; refusing the bundle's maze"
                )
            if _in_path(cand, path) or not self.pool.signed_by(top, cand):
                continue
            if len(path) == 1:
                self.signed = True
            full = [*path, cand]
            if id(cand.cert) in self.pool.anchors:
                yield full
            elif len(full) <= min(self.max_length, MAX_DEPTH - 1):
                yield from self._extend(full)


def _in_path(cand: CertFacts, path: Sequence[CertFacts]) -> bool:
    """The candidate is already in the path, or repeats a CA's (subject, key). The leaf is not
    compared by subject: a candidate with the leaf's name and key would make it self-signed,
    which is refused before path building."""
    for i, p in enumerate(path):
        if p.cert is cand.cert or p.cert == cand.cert:
            return True
        if i and p.subject_key == cand.subject_key:
            key = _spki(cand.cert)
            if key is not None and key == _spki(p.cert):
                return True
    return False
