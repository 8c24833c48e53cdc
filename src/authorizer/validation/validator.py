"""Client certificate validation: RFC 5280 §6.1 on our own path building, then product rules.

Per request, a new client certificate costs its own parse, one lookup of its issuer by name,
one signature check and the §6.1 steps for itself: the state after a path's CA part (working
name, path length, name constraints, the policy graph, the counters) depends only on those
certificates and the inputs, so it is computed once per CA path and memoized; signature results
between truststore certificates are memoized too. Validity windows are the only time-dependent
facts and are checked at every request, for every certificate of the path. Verified paths are
cached by the PEM's hash; a hit re-checks the path's validity window against the request's time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..certificate import ClientCertificate, parse_pem_certificate
from ..dn import DNKey
from ..reasons import AuthorizerError, Reason
from .builder import MAX_DEPTH, Pool, Search, only_path_above
from .facts import CertFacts, MalformedCertificate, facts_of
from .names import MAX_COMPARISONS
from .policies import PolicyInputs
from .product import client_rules, self_signed, self_signed_error
from .rules import MAX_CHAIN_LENGTH, EkuMode, algorithm_problem, key_kind, name_of, outside_window
from .state import WorkingState, finish, process_ca, start
from .truststore import TrustStore

_MEMO_SIZE = 1024


@dataclass(eq=False)
class _CaPart:
    """A memoized CA part of a path: its chain and validity window, and the §6.1 state after
    it or the error it raises for any leaf (filled once, then only read)."""

    chain: tuple[x509.Certificate, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    state: WorkingState | None = None
    error: AuthorizerError | None = None


@dataclass(frozen=True)
class VerifiedPath:
    """A verified chain, leaf first and trust anchor last, with the path's valid policies."""

    leaf: ClientCertificate
    chain: tuple[x509.Certificate, ...]
    valid_from: dt.datetime  # the latest notBefore of the path
    valid_until: dt.datetime  # the earliest notAfter of the path
    policies: tuple[str, ...] = ()

    @property
    def issuer(self) -> x509.Certificate | None:
        """The leaf's direct issuer (``None`` only if the leaf itself were the anchor)."""
        return self.chain[1] if len(self.chain) > 1 else None

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1]

    def describe(self) -> list[str]:
        return [name_of(c).strip("'") for c in self.chain]


class ChainValidator:
    """Validates certificates against one truststore with one set of rules.

    Long-lived (one per truststore version and settings in a warm Lambda); thread-safe.
    """

    def __init__(
        self,
        truststore: TrustStore,
        *,
        eku: EkuMode = EkuMode.CLIENT_AUTH,
        max_chain_length: int = MAX_CHAIN_LENGTH,
        policies: PolicyInputs | None = None,
        cache_size: int = 4096,
        prove_issuers: bool = True,
    ) -> None:
        self.truststore = truststore
        self.eku = eku
        self.max_chain_length = max_chain_length
        self.policies = policies or PolicyInputs()
        self.memoize = prove_issuers
        self._cache: OrderedDict[bytes, VerifiedPath] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._memo: OrderedDict[tuple[int, ...], _CaPart] = OrderedDict()
        #: id(issuer) -> its only path to an anchor, or None when a search must decide.
        self._only_above: dict[int, list[CertFacts] | None] = {}
        self.memo_hits = 0  # CA states reused (tests, benchmarks)
        self._facts: dict[int, CertFacts] = {}
        self._unreadable: dict[int, str] = {}
        self._problems: dict[int, str | None] = {}
        self._names: dict[int, str] = {}
        by_name: dict[DNKey, list[CertFacts]] = {}
        certs = (*truststore.anchors, *truststore.intermediates)
        for cert in certs:
            try:
                facts = facts_of(cert)
            except MalformedCertificate as exc:
                self._unreadable[id(cert)] = str(exc)
                continue
            self._facts[id(cert)] = facts
            self._problems[id(cert)] = algorithm_problem(cert)
            self._names[id(cert)] = name_of(cert).strip("'")
            by_name.setdefault(facts.subject_key, []).append(facts)
        ids = frozenset(self._facts)
        keys: dict[int, tuple[object, str]] = {}
        for cert in certs:
            if id(cert) in self._facts:
                try:
                    key = cert.public_key()
                except (ValueError, UnsupportedAlgorithm):
                    continue
                keys[id(cert)] = (key, key_kind(key))
        self._pool = Pool(by_name, frozenset(id(c) for c in truststore.anchors), {}, ids, keys=keys)

    # -- public API ---------------------------------------------------------------------------

    def validate_pem(self, pem: str, at: dt.datetime) -> VerifiedPath:
        """Validate the PEM from an event. Repeat clients are answered from the path cache."""
        data = pem.encode("utf-8", "replace")
        key = hashlib.sha256(data).digest()
        hit = self._cache.get(key)
        if hit is not None and hit.valid_from <= at <= hit.valid_until:
            return hit
        path = self.validate(parse_pem_certificate(data), at)
        if self._cache_size:
            with self._lock:
                self._cache[key] = path
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return path

    def validate(
        self, leaf: ClientCertificate, at: dt.datetime, extra_intermediates: Sequence[x509.Certificate] = ()
    ) -> VerifiedPath:
        """Validate a client certificate at ``at``; raises ``AuthorizerError`` with the most
        precise reason (``PathValidationError`` names the §6.1 step and the certificate)."""
        cert = leaf.cert
        # checked_certificate (every event's PEM) has checked the encoding already.
        facts = _leaf_facts(cert, check_encoding=not leaf.__dict__.get("encoding_checked"))
        facts.tbs = leaf.__dict__.get("tbs")  # sliced from the DER by checked_certificate
        if not facts.not_before <= at <= facts.not_after:
            raise outside_window(cert, at)
        problem = algorithm_problem(cert)
        if problem is not None:
            raise AuthorizerError(Reason.INSECURE_ALGORITHM, f"client certificate {name_of(cert)}: {problem}")
        path = self._search(facts, at, extra_intermediates, client=True, holder=leaf)
        leaf.know_issuer_dn(self._names.get(id(path.chain[1])) or name_of(path.chain[1]).strip("'"))
        leaf.know_sans(facts.sans)
        return path

    def validate_signer(
        self, cert: x509.Certificate, at: dt.datetime, extra_intermediates: Sequence[x509.Certificate] = ()
    ) -> VerifiedPath:
        """RFC 5280 §6.3.3(f): the path of a CRL or OCSP signing certificate to a truststore
        anchor, by §6.1 and the algorithm rules, without the client-only rules (EKU, "not a CA",
        "not self-signed"). A truststore anchor is its own path."""
        for anchor in self.truststore.anchors:
            if anchor is cert or anchor == cert:
                if not anchor.not_valid_before_utc <= at <= anchor.not_valid_after_utc:
                    raise outside_window(anchor, at)
                return VerifiedPath(
                    ClientCertificate(anchor), (anchor,), anchor.not_valid_before_utc, anchor.not_valid_after_utc
                )
        facts = _leaf_facts(cert)
        if not facts.not_before <= at <= facts.not_after:
            raise outside_window(cert, at)
        problem = algorithm_problem(cert)
        if problem is not None:
            raise AuthorizerError(Reason.INSECURE_ALGORITHM, f"signer {name_of(cert)}: {problem}")
        return self._search(facts, at, extra_intermediates, client=False)

    # -- path search --------------------------------------------------------------------------

    def _search(
        self,
        leaf: CertFacts,
        at: dt.datetime,
        extra: Sequence[x509.Certificate],
        *,
        client: bool,
        holder: ClientCertificate | None = None,
    ) -> VerifiedPath:
        pool = self._pool
        if not extra:
            found = self._only_path(leaf, at, client=client, holder=holder)
            if found is not None:
                return found
        else:
            extras: dict[DNKey, list[CertFacts]] = {}
            for cert in extra:
                try:
                    f = facts_of(cert)
                except MalformedCertificate:
                    continue
                extras.setdefault(f.subject_key, []).append(f)
            pool = Pool(pool.by_name, pool.anchors, pool.signatures, pool.cacheable, extras, pool.keys)
        search = Search(pool, at, self.max_chain_length)
        errors: list[tuple[int, AuthorizerError]] = []
        for candidate in search.paths(leaf):
            try:
                return self._judge(candidate, at, client=client, holder=holder)
            except AuthorizerError as exc:
                errors.append((len(candidate), exc))
        if errors:
            raise min(errors, key=lambda e: e[0])[1]
        if client and self_signed(leaf):
            raise self_signed_error(leaf.cert)
        issuer = name_of_issuer(leaf.cert)
        if not search.named:
            raise AuthorizerError(Reason.ISSUER_NOT_FOUND, f"no certificate in the truststore is named '{issuer}'")
        if not search.signed:
            raise AuthorizerError(
                Reason.ISSUER_NOT_FOUND,
                f"no truststore certificate named '{issuer}' verifies the certificate's signature",
            )
        raise AuthorizerError(Reason.ISSUER_NOT_FOUND, f"no path from '{issuer}' to a trust anchor of the truststore")

    def _only_path(
        self, leaf: CertFacts, at: dt.datetime, *, client: bool, holder: ClientCertificate | None
    ) -> VerifiedPath | None:
        """The common case without the search's machinery: one truststore certificate carries
        the leaf's issuer name and exactly one path leads from it to an anchor (see
        :func:`only_path_above`), so the search could only find that path; it is judged the
        same way, and its error is the search's. ``None``: let the search decide."""
        issuers = self._pool.by_name.get(leaf.issuer_key)
        if issuers is None or len(issuers) != 1:
            return None
        issuer = issuers[0]
        key = id(issuer.cert)
        if key in self._only_above:
            above = self._only_above[key]
        else:
            above = only_path_above(self._pool, issuer, min(self.max_chain_length, MAX_DEPTH - 1))
            self._only_above[key] = above
        if above is None or issuer.cert == leaf.cert or not self._pool.signed_by(leaf, issuer):
            return None
        return self._judge([leaf, *above], at, client=client, holder=holder)

    def _judge(
        self, path: list[CertFacts], at: dt.datetime, *, client: bool, holder: ClientCertificate | None
    ) -> VerifiedPath:
        """Every rule on one complete candidate path (leaf first, anchor last)."""
        part = self._ca_part(path[1:])
        if not part.valid_from <= at <= part.valid_until:
            for ca in reversed(path[1:]):
                if not ca.not_before <= at <= ca.not_after:
                    raise outside_window(ca.cert, at)
        if part.error is not None:
            raise part.error.with_traceback(None)  # shared by every leaf below: no traceback growth
        assert part.state is not None
        leaf = path[0]
        policies = finish(part.state, leaf, self.policies, [MAX_COMPARISONS])
        if client:
            client_rules(path, self.eku, self._pool.keys.get(id(path[1].cert)))
        return VerifiedPath(
            holder or ClientCertificate(leaf.cert),
            (leaf.cert, *part.chain),
            max(leaf.not_before, part.valid_from),
            min(leaf.not_after, part.valid_until),
            policies,
        )

    def _ca_part(self, cas: list[CertFacts]) -> _CaPart:
        """Everything about a path's CA part (anchor last in ``cas``) that does not depend on the
        leaf or the time, memoized when every CA is a truststore certificate."""
        key = tuple(id(c.cert) for c in cas)
        memo = self.memoize and all(k in self._facts for k in key)
        if memo:
            hit = self._memo.get(key)
            if hit is not None:
                self.memo_hits += 1
                return hit
        part = _CaPart(
            tuple(c.cert for c in cas),
            max(c.not_before for c in cas),
            min(c.not_after for c in cas),
        )
        try:
            part.state = self._process(cas)
        except AuthorizerError as exc:
            part.error = exc
        if memo:
            with self._lock:
                self._memo[key] = part
                if len(self._memo) > _MEMO_SIZE:
                    self._memo.popitem(last=False)
        return part

    def _process(self, cas: list[CertFacts]) -> WorkingState:
        """API Gateway's rules and RFC 5280 §6.1 from the anchor down to the last intermediate."""
        for ca in reversed(cas):
            problem = self._problems[id(ca.cert)] if id(ca.cert) in self._problems else algorithm_problem(ca.cert)
            if problem is not None:
                raise AuthorizerError(Reason.INSECURE_ALGORITHM, f"CA certificate {name_of(ca.cert)}: {problem}")
        if len(cas) + 1 > self.max_chain_length:
            raise AuthorizerError(
                Reason.CHAIN_TOO_LONG,
                f"the path has {len(cas) + 1} certificates, more than the {self.max_chain_length} allowed",
            )
        state = start(cas[-1], self.policies, len(cas))
        budget = [MAX_COMPARISONS]
        for ca in reversed(cas[:-1]):
            state = process_ca(state, ca, budget)
        return state


def _leaf_facts(cert: x509.Certificate, *, check_encoding: bool = True) -> CertFacts:
    try:
        return facts_of(cert, check_encoding=check_encoding)
    except MalformedCertificate as exc:
        raise AuthorizerError(Reason.CERT_MALFORMED, str(exc)) from None


def name_of_issuer(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except Exception:
        return "<undecodable issuer>"
