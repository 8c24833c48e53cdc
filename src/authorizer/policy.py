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
import binascii
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from .certder import ECDSA_SIGNATURE_OIDS, CertificateDer, equivalent_fingerprints
from .certificate import PARSE_ERRORS, ClientCertificate
from .dn import DNKey, DNSyntaxError, attribute_values, fold, format_key, name_key, parse_dn
from .reasons import AuthorizerError, ConfigError, Reason
from .routes import VERBS, RouteRule
from .wildcard import Wildcard

__all__ = [
    "VERBS",
    "AccessPolicy",
    "CertFacts",
    "Grant",
    "Match",
    "Pattern",
    "Pin",
    "RouteRule",
    "cert_facts",
]

MATCH_KEYS = ("subject", "subject_cn", "san_dns", "san_uri", "san_email", "issuer", "serial", "cert_sha256")
_NOTE_KEYS = ("comment", "description")
_CLIENT_KEYS = ("name", "match", "routes", *_NOTE_KEYS)
_DENY_KEYS = ("name", "match", *_NOTE_KEYS)
_PIN_KEYS = ("name", "spki_sha256", "cert_sha256", *_NOTE_KEYS)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SERIAL_HEX = re.compile(r"[0-9a-f]+(?::[0-9a-f]+)*")
#: Lines of client entries ``summary`` lists before it says "... and N more".
SUMMARY_CLIENTS = 20


# --------------------------------------------------------------------------- certificate facts


@dataclass(frozen=True)
class CertFacts:
    """The values of one certificate that matching needs, folded once.

    Folding a DN costs a few microseconds; a warm function sees the same clients again and
    again, so :func:`cert_facts` keeps these by fingerprint.
    """

    fingerprint: str
    subject: DNKey
    issuer: DNKey
    serial: int
    cns: tuple[str, ...]
    dns: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    der: bytes = field(compare=False, repr=False)
    ecdsa_signed: bool = field(compare=False, repr=False)

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        """``fingerprint`` and the SHA-256 of every other encoding of the same signed certificate
        (an ECDSA signature's ``(r, n - s)`` twin): what ``cert_sha256`` rules compare against.
        Computed on first use, so only when a rule has a ``cert_sha256``."""
        return equivalent_fingerprints(CertificateDer(self.der), self.ecdsa_signed) | {self.fingerprint}


_FACTS: dict[str, CertFacts] = {}
_FACTS_MAX = 4096
_FACTS_LOCK = threading.Lock()


def cert_facts(cert: ClientCertificate) -> CertFacts:
    """Facts of ``cert``, from a small process-wide cache keyed by the SHA-256 fingerprint."""
    fp = cert.fingerprint_sha256
    facts = _FACTS.get(fp)
    if facts is None:
        try:
            facts = _compute_facts(fp, cert)
        except PARSE_ERRORS as exc:  # cryptography parses names and extensions lazily
            raise AuthorizerError(Reason.CERT_MALFORMED, f"names or SANs do not parse: {str(exc)[:200]}") from None
        with _FACTS_LOCK:
            if len(_FACTS) >= _FACTS_MAX:
                _FACTS.clear()  # crude but bounded; a warm function rarely sees 4096 clients
            _FACTS[fp] = facts
    return facts


def _compute_facts(fp: str, leaf: ClientCertificate) -> CertFacts:
    cert = leaf.cert
    subject = name_key(cert.subject)
    dns: list[str] = []
    uris: list[str] = []
    emails: list[str] = []
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        dns = [_fold_dns(v) for v in sans.get_values_for_type(x509.DNSName)]
        uris = [_fold_uri(v) for v in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        emails = [_fold_email(v) for v in sans.get_values_for_type(x509.RFC822Name)]
    return CertFacts(
        fingerprint=fp,
        subject=subject,
        issuer=name_key(cert.issuer),
        serial=cert.serial_number,
        cns=tuple(attribute_values(subject, NameOID.COMMON_NAME)),
        dns=tuple(dns),
        uris=tuple(uris),
        emails=tuple(emails),
        der=leaf.der,
        ecdsa_signed=leaf.is_ecdsa_signed,
    )


def _fold_dns(value: str) -> str:
    return value.lower().rstrip(".")


def _fold_uri(value: str) -> str:
    """Scheme and authority are case-insensitive (RFC 3986 section 6.2.2.1), the rest is not:
    a deny rule on ``spiffe://example.org/...`` must also catch ``SPIFFE://Example.ORG/...``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    authority, slash, tail = rest.partition("/")
    return f"{scheme.lower()}://{authority.lower()}{slash}{tail}"


def _fold_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


# --------------------------------------------------------------------------- match patterns


@dataclass(frozen=True)
class Pattern:
    """A value with optional ``*`` / ``**`` wildcards, already folded like the certificate's."""

    text: str
    exact: str | None = None
    #: Matched in time linear in the value (never a backtracking regex: the value is the client's).
    wildcard: Wildcard | None = field(default=None, compare=False, repr=False)

    @classmethod
    def compile(cls, text: str, separators: str) -> Pattern:
        if "*" not in text:
            return cls(text, exact=text)
        return cls(text, wildcard=Wildcard(text, separators))

    @property
    def prefix(self) -> str:
        """The literal text before the first ``*`` (every fitting value starts with it)."""
        return self.text.split("*", 1)[0]

    @property
    def suffix(self) -> str:
        """The literal text after the last ``*`` (every fitting value ends with it)."""
        return self.text.rsplit("*", 1)[-1]

    def fits(self, values: Iterable[str]) -> bool:
        if self.exact is not None:
            return self.exact in values
        assert self.wildcard is not None
        match = self.wildcard.fullmatch
        for v in values:  # noqa: SIM110 - a loop is cheaper than any() and its generator here
            if match(v):
                return True
        return False


@dataclass(frozen=True)
class Match:
    """One ``match`` object: every key it sets must fit the certificate."""

    subject: DNKey | None = None
    subject_cn: Pattern | None = None
    san_dns: Pattern | None = None
    san_uri: Pattern | None = None
    san_email: Pattern | None = None
    issuer: DNKey | None = None
    serial: int | None = None
    cert_sha256: str | None = None

    def fits(self, f: CertFacts) -> bool:
        return (
            (self.cert_sha256 is None or self.cert_sha256 in f.fingerprints)
            and (self.issuer is None or self.issuer == f.issuer)
            and (self.serial is None or self.serial == f.serial)
            and (self.subject is None or self.subject == f.subject)
            and (self.subject_cn is None or self.subject_cn.fits(f.cns))
            and (self.san_dns is None or self.san_dns.fits(f.dns))
            and (self.san_uri is None or self.san_uri.fits(f.uris))
            and (self.san_email is None or self.san_email.fits(f.emails))
        )

    def describe(self) -> str:
        out: list[str] = []
        if self.subject is not None:
            out.append(f"subject={format_key(self.subject)}")
        for key in ("subject_cn", "san_dns", "san_uri", "san_email"):
            pat: Pattern | None = getattr(self, key)
            if pat is not None:
                out.append(f"{key}={pat.text}")
        if self.issuer is not None:
            out.append(f"issuer={format_key(self.issuer)}")
        if self.serial is not None:
            out.append(f"serial={self.serial:#x}")
        if self.cert_sha256 is not None:
            out.append(f"cert_sha256={self.cert_sha256[:16]}...")
        return " ".join(out)

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> Match:
        if not isinstance(raw, Mapping):
            raise ConfigError(path, "expected an object")
        unknown = [k for k in raw if k not in MATCH_KEYS]
        if unknown:
            names = ", ".join(f'"{k}"' for k in unknown)
            raise ConfigError(path, f"unknown key(s) {names} (known: {', '.join(MATCH_KEYS)})")
        if not any(k in raw for k in MATCH_KEYS if k != "serial"):
            if "serial" in raw:
                raise ConfigError(f"{path}.serial", 'a serial is only meaningful with its issuer: add "issuer"')
            keys = ", ".join(k for k in MATCH_KEYS if k != "serial")
            raise ConfigError(path, f"needs at least one of {keys}")
        if "serial" in raw and "issuer" not in raw:
            raise ConfigError(f"{path}.serial", 'a serial is only meaningful with its issuer: add "issuer"')
        return cls(
            subject=_dn(raw, "subject", path),
            subject_cn=_pattern(raw, "subject_cn", path, _check_cn, ""),
            san_dns=_pattern(raw, "san_dns", path, _check_dns, "."),
            san_uri=_pattern(raw, "san_uri", path, _check_uri, "/?#"),
            san_email=_pattern(raw, "san_email", path, _check_email, "@"),
            issuer=_dn(raw, "issuer", path),
            serial=_serial(raw["serial"], f"{path}.serial") if "serial" in raw else None,
            cert_sha256=_sha256_hex(raw["cert_sha256"], f"{path}.cert_sha256") if "cert_sha256" in raw else None,
        )


def _string(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(path, "expected a non-empty string")
    return raw.strip()


def _dn(raw: Mapping[str, Any], key: str, path: str) -> DNKey | None:
    if key not in raw:
        return None
    text = _string(raw[key], f"{path}.{key}")
    try:
        return parse_dn(text)
    except DNSyntaxError as exc:
        raise ConfigError(f"{path}.{key}", f"not an RFC 4514 distinguished name: {exc}") from None


def _pattern(
    raw: Mapping[str, Any], key: str, path: str, normalize: Callable[[str, str], str], separators: str
) -> Pattern | None:
    if key not in raw:
        return None
    where = f"{path}.{key}"
    value = normalize(_string(raw[key], where), where)
    if "***" in value:
        raise ConfigError(where, "use '*' (one label or segment) or '**' (anything), not '***'")
    return Pattern.compile(value, separators)


def _check_cn(text: str, where: str) -> str:
    return fold(text)


def _check_uri(text: str, where: str) -> str:
    return _fold_uri(_check_nonempty(text, where))


def _check_dns(text: str, where: str) -> str:
    if not text.isascii():
        raise ConfigError(where, "write internationalized names as A-labels (xn--...)")
    if any(c.isspace() for c in text):
        raise ConfigError(where, "a DNS name has no spaces")
    return _fold_dns(text)


def _check_email(text: str, where: str) -> str:
    if "@" not in text:
        raise ConfigError(where, "expected local@domain (use '*@example.com' for any local part)")
    return _fold_email(text)


def _check_nonempty(text: str, where: str) -> str:
    return text


def _serial(raw: Any, path: str) -> int:
    """``0x1f``, ``1f`` and ``01:f0`` (openssl's form) are hex; a JSON number is decimal.

    A string of decimal digits such as ``"31"`` is refused unless it reads the same in both
    bases: a deny rule aimed at the wrong serial would silently deny nothing.
    """
    if isinstance(raw, bool):
        raise ConfigError(path, 'expected "0x..." hex, hex digits or a non-negative integer')
    if isinstance(raw, int):
        if raw < 0:
            raise ConfigError(path, "a serial is not negative")
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text.isdecimal() and int(text, 10) != int(text, 16):
            raise ConfigError(path, f'"{text}" is ambiguous: write "0x{text}" for hex or the JSON number {int(text)}')
        text = text.removeprefix("0x")
        if _SERIAL_HEX.fullmatch(text):
            return int(text.replace(":", ""), 16)
    raise ConfigError(path, 'expected "0x..." hex, hex digits or a non-negative integer')


def _sha256_hex(raw: Any, path: str) -> str:
    text = raw.strip().lower().replace(":", "") if isinstance(raw, str) else ""
    if not _HEX64.fullmatch(text):
        raise ConfigError(path, "not hex of 32 bytes (a SHA-256 digest)")
    return text


def _spki_b64(raw: Any, path: str) -> bytes:
    """Standard or URL-safe base64, padding optional (``openssl ... | base64`` or HPKP style)."""
    digest = b""
    if isinstance(raw, str):
        text = raw.strip().replace("-", "+").replace("_", "/")
        try:
            digest = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
    if len(digest) != 32:
        raise ConfigError(path, "not base64 of 32 bytes (a SHA-256 digest)")
    return digest


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
    _client_matches: tuple[Match, ...] = field(init=False, repr=False, compare=False, default=())
    _client_index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        deny_matches = tuple(d.match for d in self.deny)
        client_matches = tuple(c.match for c in self.clients or ())
        object.__setattr__(self, "_deny_matches", deny_matches)
        object.__setattr__(self, "_deny_index", _Index.build(deny_matches))
        object.__setattr__(self, "_client_matches", client_matches)
        object.__setattr__(self, "_client_index", _Index.build(client_matches))

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


def _object(raw: Any, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(path, "expected an object")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        names = ", ".join(f'"{k}"' for k in unknown)
        raise ConfigError(path, f"unknown key(s) {names} (known: {', '.join(allowed)})")
    return raw


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
