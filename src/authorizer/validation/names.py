"""Name constraints (RFC 5280 §4.2.1.10, §6.1.3(b)-(c), §6.1.4(g)) for every name form.

The state is the list of permitted-subtree sets met so far (one per CA that had any, kept per
name form) and the union of excluded subtrees: a name must fall within at least one permitted
subtree of its form *in every set* (that is the intersection of §6.1.4(g), without computing
it) and within no excluded subtree. A form no CA constrained is unconstrained.

Forms: directoryName (the subject, when not empty, and directoryName SANs; RDN prefix as
RFC 4518-normalized names), rfc822Name (SANs and every emailAddress of the subject: OpenSSL's
reading, stricter than "only without a SAN"), dNSName (label-wise suffix; a leading dot means
subdomains only), URI (the host of the authority: exact, or subdomains with a leading dot; a URI
without a host is outside any permitted URI subtree), iPAddress (v4 and v6 networks). Any other
form (otherName, registeredID) that a constraint names and the certificate carries cannot be
judged, so it fails closed.

Hostile input is bounded: at most ``MAX_SUBTREES`` subtrees per extension and ``budget``
comparisons per path (a 2,048-constraint CA is refused at once, not compared).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..dn import DNKey, format_key, name_key
from .facts import CertFacts

MAX_SUBTREES = 512
MAX_COMPARISONS = 16_384

_DIR, _EMAIL, _DNS, _URI, _IP = "directoryName", "rfc822Name", "dNSName", "URI", "iPAddress"


class NameConstraintError(ValueError):
    """A name outside the constraints, or constraints too large to judge."""


@dataclass(frozen=True)
class Subtree:
    form: str
    value: object  # DNKey, str (lower-cased where the form is case-insensitive), ip_network
    text: str


def _subtrees(names: list[x509.GeneralName] | None) -> tuple[Subtree, ...]:
    out: list[Subtree] = []
    for gn in names or ():
        if isinstance(gn, x509.DirectoryName):
            out.append(Subtree(_DIR, name_key(gn.value), format_key(name_key(gn.value))))
        elif isinstance(gn, x509.RFC822Name):
            out.append(Subtree(_EMAIL, gn.value, gn.value))
        elif isinstance(gn, x509.DNSName):
            out.append(Subtree(_DNS, gn.value.lower(), gn.value))
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append(Subtree(_URI, gn.value.lower(), gn.value))
        elif isinstance(gn, x509.IPAddress):
            out.append(Subtree(_IP, gn.value, str(gn.value)))
        else:
            out.append(Subtree(type(gn).__name__, None, type(gn).__name__))
    return tuple(out)


@dataclass(frozen=True)
class NameConstraintState:
    """Constraints accumulated down a path (immutable: a memoized CA state is shared).

    Subtrees are kept by form, so checking a name touches only the subtrees of its form.
    """

    permitted: tuple[tuple[tuple[str, tuple[Subtree, ...]], ...], ...] = ()  # per CA: (form, subtrees)
    excluded: tuple[tuple[str, tuple[Subtree, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.permitted and not self.excluded

    def add(self, nc: x509.NameConstraints, who: str) -> NameConstraintState:
        permitted, excluded = _subtrees(nc.permitted_subtrees), _subtrees(nc.excluded_subtrees)
        if len(permitted) + len(excluded) > MAX_SUBTREES:
            raise NameConstraintError(
                f"{who} has {len(permitted) + len(excluded)} subtrees, more than the {MAX_SUBTREES} judged"
            )
        return NameConstraintState(
            self.permitted + ((_by_form(permitted),) if permitted else ()),
            self.excluded + _by_form(excluded),
        )

    def check(self, facts: CertFacts, who: str, budget: list[int], *, leaf: bool = False) -> None:
        """Raise :class:`NameConstraintError` unless every name of ``facts`` is allowed."""
        if self.empty:
            return
        for form, value, text in _names_of(facts, leaf=leaf):
            self._check_one(form, value, text, who, budget)

    def _check_one(self, form: str, value: object, text: str, who: str, budget: list[int]) -> None:
        for subtree_form, subtrees in self.excluded:
            if subtree_form == form:
                for subtree in subtrees:
                    if _within(subtree, form, value, budget):
                        raise NameConstraintError(
                            f"{who}: {form} {text} is within the excluded {subtree.form} {subtree.text}"
                        )
        for per_ca in self.permitted:
            for subtree_form, relevant in per_ca:
                if subtree_form == form and not any(_within(s, form, value, budget) for s in relevant):
                    allowed = ", ".join(s.text for s in relevant[:3]) + (" ..." if len(relevant) > 3 else "")
                    raise NameConstraintError(f"{who}: {form} {text} is outside the permitted {form} {allowed}")


def _by_form(subtrees: tuple[Subtree, ...]) -> tuple[tuple[str, tuple[Subtree, ...]], ...]:
    forms: dict[str, list[Subtree]] = {}
    for subtree in subtrees:
        forms.setdefault(subtree.form, []).append(subtree)
    return tuple((form, tuple(items)) for form, items in forms.items())


#: OpenSSL's reading of a host-like common name (letters, digits, '-', '_', '*', dots between
#: non-empty labels, at least one dot): checked as a dNSName when the leaf has no dNSName SAN,
#: so a constrained CA cannot mint a client named by CN outside its domain.
_HOSTLIKE_CN = re.compile(r"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)+\.?")


def _names_of(facts: CertFacts, *, leaf: bool) -> list[tuple[str, object, str]]:
    names: list[tuple[str, object, str]] = []
    if not facts.subject_empty:
        names.append((_DIR, facts.subject_key, format_key(facts.subject_key)))
    names.extend((_EMAIL, e, e) for e in facts.emails_in_subject)
    has_dns = False
    for gn in facts.sans:
        if isinstance(gn, x509.DirectoryName):
            key = name_key(gn.value)
            names.append((_DIR, key, format_key(key)))
        elif isinstance(gn, x509.RFC822Name):
            names.append((_EMAIL, gn.value, gn.value))
        elif isinstance(gn, x509.DNSName):
            has_dns = True
            names.append((_DNS, gn.value.lower(), gn.value))
        elif isinstance(gn, x509.UniformResourceIdentifier):
            names.append((_URI, gn.value, gn.value))
        elif isinstance(gn, x509.IPAddress):
            names.append((_IP, gn.value, str(gn.value)))
        else:
            names.append((type(gn).__name__, gn, type(gn).__name__))
    if leaf and not has_dns:
        for attr in facts.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            if isinstance(attr.value, str) and _HOSTLIKE_CN.fullmatch(attr.value):
                names.append((_DNS, attr.value.lower(), f"{attr.value} (the subject's CN)"))
    return names


def _within(subtree: Subtree, form: str, value: object, budget: list[int]) -> bool:
    budget[0] -= 1
    if budget[0] < 0:
        raise NameConstraintError(f"more than {MAX_COMPARISONS} name comparisons on one path")
    if form in _ASCII_FORMS and isinstance(value, str) and not value.isascii():
        # IA5String holds ASCII only; a raw UTF-8 look-alike ("ｅｖｉｌ.com") cannot be compared.
        raise NameConstraintError(f"{form} {value!r} is not ASCII and cannot be checked against a constraint")
    if form == _DIR:
        assert isinstance(value, tuple) and isinstance(subtree.value, tuple)
        return _dn_within(value, subtree.value)
    if form == _DNS:
        assert isinstance(value, str) and isinstance(subtree.value, str)
        return _host_within(value, subtree.value, dns=True)
    if form == _EMAIL:
        assert isinstance(value, str) and isinstance(subtree.value, str)
        return _email_within(value, subtree.value)
    if form == _URI:
        assert isinstance(value, str) and isinstance(subtree.value, str)
        return _host_within(_uri_host(value), subtree.value, dns=False)
    if form == _IP:
        return _ip_within(value, subtree.value)
    # otherName, registeredID ...: a constraint of a form we cannot compare fails closed, for
    # excluded and permitted subtrees alike.
    raise NameConstraintError(f"{form} names cannot be checked against a {subtree.form} constraint")


_ASCII_FORMS = frozenset({"rfc822Name", "dNSName", "URI"})


def _dn_within(name: DNKey, base: DNKey) -> bool:
    return len(name) >= len(base) and name[: len(base)] == base


def _host_within(host: str, constraint: str, *, dns: bool) -> bool:
    """``constraint`` ``example.com``: that host and (for dNSName) its subdomains; ``.example.com``:
    subdomains only; an empty dNSName constraint: every name. A trailing dot means nothing."""
    host = host.lower().rstrip(".")
    constraint = constraint.lower().rstrip(".")
    if not constraint:
        return dns
    if constraint.startswith("."):
        return host.endswith(constraint) and len(host) > len(constraint)
    if host == constraint:
        return True
    return dns and host.endswith("." + constraint)


def _email_within(mailbox: str, constraint: str) -> bool:
    local, at, domain = mailbox.rpartition("@")
    if not at or not local or not domain:
        raise NameConstraintError(f"rfc822Name {mailbox!r} is not a mailbox and cannot be checked")
    if "@" in constraint:
        c_local, _, c_domain = constraint.rpartition("@")
        return local == c_local and domain.lower().rstrip(".") == c_domain.lower().rstrip(".")
    return _host_within(domain, constraint, dns=False)


def _uri_host(uri: str) -> str:
    """The host of ``scheme://host[:port]/...``. Anything readers disagree on (no ``//``
    authority, userinfo, a backslash or percent-encoding in the authority, an empty host) cannot
    be checked against a URI constraint, permitted or excluded: it fails closed, as in OpenSSL."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme or "\\" in uri:
        raise NameConstraintError(f"URI {uri!r} has no authority this validator can compare")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority or "%" in authority or not authority:
        raise NameConstraintError(f"URI {uri!r} has an authority this validator will not compare")
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        host = None
    if not host:
        raise NameConstraintError(f"URI {uri!r} has no host")
    return host


def _ip_within(value: object, network: object) -> bool:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address) and isinstance(
        network, ipaddress.IPv4Network | ipaddress.IPv6Network
    ):
        return value.version == network.version and value in network
    return False
