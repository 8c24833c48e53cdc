"""Who may call what: last-intermediate pinning, a deny list, and a client allow list with routes.

API Gateway trusts every CA in the truststore and lets every trusted client call every route.
This module is where the policy document narrows that: it is validated once per load into
frozen objects (a bad document is refused with the field's path, e.g.
``clients[2].routes[0]: expected "VERB /path"``), and :meth:`AccessPolicy.evaluate` then decides
per request, in this order: pinning (``ISSUER_NOT_PINNED``), deny (``CLIENT_DENIED``), clients
(``CLIENT_NOT_ALLOWED``), routes (``ROUTE_NOT_ALLOWED``).

Evaluation is a few dictionary look-ups, not a scan: exact matches (cert_sha256, issuer+serial,
subject, exact SAN or CN values, issuer) are indexed at load time, wildcard patterns by their
literal prefix or suffix (``spiffe://example.org/device/`` of ``spiffe://example.org/device/*``),
and only patterns with a ``*`` at both ends (``*-fleet-*``, ``**``) are scanned. The document's
order still decides: of all entries that fully match, the lowest index wins.

Wildcards in ``subject_cn``, ``san_dns``, ``san_uri`` and ``san_email`` (decided here, the issue
is silent):

* ``*`` matches one or more characters that are not the value's separator: ``.`` in a DNS name
  (one label: ``*.example.com`` matches ``a.example.com``, not ``a.b.example.com``), ``/`` in a
  URI (one path segment, and never ``?`` or ``#``: ``spiffe://example.org/device/*`` matches
  ``.../device/d1`` but not ``.../device/d1/x`` nor ``.../device/``), ``@`` in an email; a CN has
  no separator.
* ``**`` matches one or more characters of any kind (``**.example.com``, ``spiffe://td/ns/**``).
* A pattern without ``*`` is an exact value. There is no escape for a literal ``*``.

Comparison: ``subject``, ``issuer`` and ``subject_cn`` are folded as directory strings (case,
NFKC, spaces; see :mod:`authorizer.dn`); DNS names case-insensitively (IDNs as A-labels);
emails with the domain case-insensitive and the local part exact (RFC 5280 section 7.5); URIs
with scheme and authority case-insensitive and the path exact (RFC 3986 section 6.2.2.1).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certder import ECDSA_SIGNATURE_OIDS, CertificateDer, equivalent_fingerprints
from ..certificate import ClientCertificate
from ..reasons import AuthorizerError, ConfigError, Reason
from ..routes import RouteRule
from .facts import cert_facts
from .index import _Index
from .match import Match, _object, _sha256_hex, _spki_b64, _string

_NOTE_KEYS = ("comment", "description")
_CLIENT_KEYS = ("name", "match", "routes", *_NOTE_KEYS)
_DENY_KEYS = ("name", "match", *_NOTE_KEYS)
_PIN_KEYS = ("name", "spki_sha256", "cert_sha256", *_NOTE_KEYS)

#: Lines of client entries ``summary`` lists before it says "... and N more".
SUMMARY_CLIENTS = 20

# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Pin:
    """One pinned issuer: every digest it sets must match the leaf's direct issuer."""

    name: str | None
    spki_sha256: bytes | None
    cert_sha256: str | None

    def fits(self, spki: bytes, certs: frozenset[str]) -> bool:
        """``certs``: the SHA-256 of every encoding of the issuer certificate (see CertFacts)."""
        return (self.spki_sha256 is None or self.spki_sha256 == spki) and (
            self.cert_sha256 is None or self.cert_sha256 in certs
        )

    def describe(self) -> str:
        parts = [self.name] if self.name else []
        if self.spki_sha256 is not None:
            parts.append(f"spki_sha256={base64.b64encode(self.spki_sha256).decode()}")
        if self.cert_sha256 is not None:
            parts.append(f"cert_sha256={self.cert_sha256}")
        return " ".join(parts)


@dataclass(frozen=True)
class Client:
    name: str
    match: Match
    routes: tuple[RouteRule, ...]

    def allows(self, verb: str, request_path: str) -> bool:
        for rule in self.routes:  # noqa: SIM110 - hot path: no generator
            if rule.matches(verb, request_path):
                return True
        return False


@dataclass(frozen=True)
class DenyRule:
    name: str | None
    match: Match


@dataclass(frozen=True)
class Grant:
    """What an allowed certificate may do: its principal and routes (``None`` = every route)."""

    principal_id: str
    client_name: str | None
    routes: tuple[RouteRule, ...] | None


#: Digests of issuer certificates by object identity. The truststore's certificates are the same
#: objects request after request, and ``hash()`` of an ``x509.Certificate`` costs as much as the
#: rest of the evaluation; the entry keeps a reference to its certificate, so an ``id`` can never
#: be reused for another certificate while it is cached.
_ISSUER_DIGESTS: dict[int, tuple[x509.Certificate, bytes, str, frozenset[str]]] = {}


def issuer_digests(issuer: x509.Certificate) -> tuple[bytes, str, frozenset[str]]:
    """``(SHA-256 of the SPKI DER, hex SHA-256 of the certificate DER, the hex SHA-256 of every
    encoding of the same signed certificate)``, cached per issuer."""
    hit = _ISSUER_DIGESTS.get(id(issuer))
    if hit is not None and hit[0] is issuer:
        return hit[1], hit[2], hit[3]
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = issuer.public_bytes(serialization.Encoding.DER)
    cert_hex = hashlib.sha256(der).hexdigest()
    try:
        ecdsa = issuer.signature_algorithm_oid.dotted_string in ECDSA_SIGNATURE_OIDS
        encodings = equivalent_fingerprints(CertificateDer(der), ecdsa) | {cert_hex}
    except ValueError:  # a truststore certificate that is not strict DER: its own hash only
        encodings = frozenset({cert_hex})
    digests = (hashlib.sha256(spki).digest(), cert_hex, encodings)
    if len(_ISSUER_DIGESTS) >= 256:
        _ISSUER_DIGESTS.clear()
    _ISSUER_DIGESTS[id(issuer)] = (issuer, *digests)
    return digests


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class AccessPolicy:
    """The validated ``pinning``, ``deny`` and ``clients`` of one policy document.

    ``pins`` / ``clients`` are ``None`` when the document has no such key: no pinning, and
    every certificate that passed the chain may call every route.
    """

    pins: tuple[Pin, ...] | None = None
    deny: tuple[DenyRule, ...] = ()
    clients: tuple[Client, ...] | None = None
    _deny_matches: tuple[Match, ...] = field(init=False, repr=False, compare=False, default=())
    _deny_index: _Index = field(init=False, repr=False, compare=False)
    _by_policy: bool = field(init=False, repr=False, compare=False, default=False)
    _client_matches: tuple[Match, ...] = field(init=False, repr=False, compare=False, default=())
    _client_index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        deny_matches = tuple(d.match for d in self.deny)
        client_matches = tuple(c.match for c in self.clients or ())
        object.__setattr__(self, "_deny_matches", deny_matches)
        object.__setattr__(self, "_deny_index", _Index.build(deny_matches))
        object.__setattr__(self, "_client_matches", client_matches)
        object.__setattr__(self, "_client_index", _Index.build(client_matches))
        uses_policy = any(m.policy is not None for m in (*deny_matches, *client_matches))
        object.__setattr__(self, "_by_policy", uses_policy)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AccessPolicy:
        """Validate the document's ``pinning``, ``deny`` and ``clients`` (other keys are ignored).

        Raises :class:`ConfigError` naming the field (``clients[2].routes[0]``) and the problem.
        """
        if not isinstance(doc, Mapping):
            raise ConfigError("", "the policy document must be a JSON object")
        return cls(
            pins=_pins(doc["pinning"]) if "pinning" in doc else None,
            deny=_deny(doc["deny"]) if "deny" in doc else (),
            clients=_clients(doc["clients"]) if "clients" in doc else None,
        )

    def evaluate(
        self,
        cert: ClientCertificate,
        issuer: x509.Certificate | None,
        verb: str | None,
        request_path: str | None,
        policies: Iterable[str] = (),
    ) -> Grant:
        """Decide for one request. ``issuer`` must be the leaf's direct issuer from the *verified*
        chain (``chain[1]``); it is what pinning checks.

        Raises :class:`AuthorizerError` with ``ISSUER_NOT_PINNED``, ``CLIENT_DENIED``,
        ``CLIENT_NOT_ALLOWED`` or ``ROUTE_NOT_ALLOWED``, checked in that order. With ``verb`` or
        ``request_path`` ``None`` there is no request: the route check is skipped and the grant
        says what the certificate may call (``mtls-authorizer verify`` uses this).
        """
        if self.pins is not None:
            self._check_pin(issuer)
        if not self.deny and self.clients is None:
            # Nothing to match: skip deriving the certificate's match keys (tens of µs on first sight).
            return Grant(
                principal_id=cert.subject or f"sha256:{cert.fingerprint_sha256}", client_name=None, routes=None
            )
        facts = cert_facts(cert)
        if self._by_policy:
            facts = dataclasses.replace(facts, policies=frozenset(policies))
        if self.deny:
            hit = self._deny_index.first(self._deny_matches, facts)
            if hit is not None:
                rule = self.deny[hit]
                label = f"deny[{hit}]" + (f" ({rule.name})" if rule.name else "")
                raise AuthorizerError(Reason.CLIENT_DENIED, f"{cert.subject} matches {label}")
        if self.clients is None:
            principal = cert.subject or f"sha256:{facts.fingerprint}"
            return Grant(principal_id=principal, client_name=None, routes=None)
        found = self._client_index.first(self._client_matches, facts)
        if found is None:
            raise AuthorizerError(Reason.CLIENT_NOT_ALLOWED, f"no entry of clients matches {cert.subject}")
        client = self.clients[found]
        if verb is not None and request_path is not None and not client.allows(verb, request_path):
            raise AuthorizerError(
                Reason.ROUTE_NOT_ALLOWED, f"client {client.name!r} may not call {verb} {request_path}"
            )
        return Grant(principal_id=client.name, client_name=client.name, routes=client.routes)

    def _check_pin(self, issuer: x509.Certificate | None) -> None:
        assert self.pins is not None
        if issuer is None:
            raise AuthorizerError(Reason.ISSUER_NOT_PINNED, "no issuer certificate to check against the pins")
        spki, cert_hex, encodings = issuer_digests(issuer)
        if not any(p.fits(spki, encodings) for p in self.pins):
            raise AuthorizerError(
                Reason.ISSUER_NOT_PINNED,
                f"issuer {issuer.subject.rfc4514_string()} (cert_sha256 {cert_hex}) is not pinned",
            )

    def summary(self) -> list[str]:
        """Short lines for ``check-config``: what this policy allows."""
        lines: list[str] = []
        if self.pins is None:
            lines.append("pinning: none (any issuer the truststore accepts)")
        else:
            lines.append(f"pinning: the leaf's direct issuer must be one of {len(self.pins)} pinned issuer(s)")
            lines.extend(f"  - {p.describe()}" for p in self.pins)
        if self.deny:
            lines.append(f"deny: {len(self.deny)} rule(s), checked first")
            lines.extend(
                f"  - deny[{i}]{' ' + d.name if d.name else ''}: {d.match.describe()}"
                for i, d in enumerate(self.deny[:SUMMARY_CLIENTS])
            )
            if len(self.deny) > SUMMARY_CLIENTS:
                lines.append(f"  ... and {len(self.deny) - SUMMARY_CLIENTS} more")
        else:
            lines.append("deny: none")
        if self.clients is None:
            lines.append("clients: not listed: every certificate that passes the checks may call every route")
            return lines
        wildcards = self._client_index.wildcards
        lines.append(
            f"clients: {len(self.clients)} entr{'y' if len(self.clients) == 1 else 'ies'} "
            f"({len(self.clients) - wildcards} exact, {wildcards} wildcard); any other certificate is refused"
        )
        for c in self.clients[:SUMMARY_CLIENTS]:
            routes = ", ".join(str(r) for r in c.routes) or "no routes"
            lines.append(f"  - {c.name} [{c.match.describe()}]: {routes}")
        if len(self.clients) > SUMMARY_CLIENTS:
            lines.append(f"  ... and {len(self.clients) - SUMMARY_CLIENTS} more")
        return lines


# --------------------------------------------------------------------------- document sections


def _list(raw: Any, path: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ConfigError(path, "expected a list")
    return raw


def _optional_name(raw: Mapping[str, Any], path: str) -> str | None:
    return _string(raw["name"], f"{path}.name") if "name" in raw else None


def _pins(raw: Any) -> tuple[Pin, ...]:
    section = _object(raw, "pinning", ("issuers", *_NOTE_KEYS))
    if "issuers" not in section:
        raise ConfigError("pinning.issuers", 'required (remove "pinning" to accept any issuer)')
    entries = _list(section["issuers"], "pinning.issuers")
    if not entries:
        raise ConfigError("pinning.issuers", "empty: it would refuse every certificate")
    pins: list[Pin] = []
    for i, item in enumerate(entries):
        path = f"pinning.issuers[{i}]"
        entry = _object(item, path, _PIN_KEYS)
        if "spki_sha256" not in entry and "cert_sha256" not in entry:
            raise ConfigError(path, "needs spki_sha256 and/or cert_sha256")
        pins.append(
            Pin(
                name=_optional_name(entry, path),
                spki_sha256=_spki_b64(entry["spki_sha256"], f"{path}.spki_sha256") if "spki_sha256" in entry else None,
                cert_sha256=_sha256_hex(entry["cert_sha256"], f"{path}.cert_sha256")
                if "cert_sha256" in entry
                else None,
            )
        )
    return tuple(pins)


def _deny(raw: Any) -> tuple[DenyRule, ...]:
    rules: list[DenyRule] = []
    for i, item in enumerate(_list(raw, "deny")):
        path = f"deny[{i}]"
        entry = _object(item, path, _DENY_KEYS)
        if "match" not in entry:
            raise ConfigError(f"{path}.match", "required")
        rules.append(DenyRule(name=_optional_name(entry, path), match=Match.from_dict(entry["match"], f"{path}.match")))
    return tuple(rules)


def _clients(raw: Any) -> tuple[Client, ...]:
    clients: list[Client] = []
    for i, item in enumerate(_list(raw, "clients")):
        path = f"clients[{i}]"
        entry = _object(item, path, _CLIENT_KEYS)
        for key in ("name", "match", "routes"):
            if key not in entry:
                raise ConfigError(f"{path}.{key}", "required")
        name = _string(entry["name"], f"{path}.name")
        match = Match.from_dict(entry["match"], f"{path}.match")
        routes = tuple(
            RouteRule.parse(text, f"{path}.routes[{j}]")
            for j, text in enumerate(_list(entry["routes"], f"{path}.routes"))
        )
        clients.append(Client(name=name, match=match, routes=routes))
    return tuple(clients)
