"""Truststore loading and path verification, with API Gateway's own rules on top.

Path building and RFC 5280 checks are ``cryptography.x509.verification``'s; this module adds
what it leaves out and what API Gateway enforces: the *leaf's* key strength (the verifier checks
CA keys only), SHA-256+ signatures and P-256/P-384 curves on every certificate of the path, at
most four certificates from leaf to root, and a self-signed leaf refused. When the verifier
fails it says little ("candidates exhausted"), so a failed path is diagnosed by walking the
candidate issuers to name the real reason (``ISSUER_NOT_FOUND``, ``EXPIRED`` ...).

The verifier is rebuilt for every request (about 1 µs) because ``PolicyBuilder`` fixes its
validation time: a verifier kept warm would accept a certificate after it expired. Verified
paths are cached by the PEM's hash, and each hit re-checks every certificate's validity window
against the request's time, so a repeat client pays no signature check and an expiry still
takes effect to the second.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .certificate import ClientCertificate, parse_pem_certificate
from .reasons import AuthorizerError, Reason

#: API Gateway: "the maximum chain length is four" (leaf to root, both included).
MAX_CHAIN_LENGTH = 4
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_ALLOWED_CURVES = ("secp256r1", "secp384r1")
_ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")


class EkuMode(enum.StrEnum):
    """Which extended key usage a certificate must allow (when it has an EKU extension at all)."""

    CLIENT_AUTH = "clientAuth"
    SERVER_AUTH = "serverAuth"
    ANY = "any"


def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued *and* verifiable with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, Exception):
        return False
    return True


def algorithm_problem(cert: x509.Certificate) -> str | None:
    """API Gateway's algorithm rules for one certificate, or ``None`` when it complies."""
    try:
        sig_hash = cert.signature_hash_algorithm
    except Exception:
        return f"unsupported signature algorithm {cert.signature_algorithm_oid.dotted_string}"
    if not isinstance(sig_hash, _STRONG_HASHES):
        name = sig_hash.name if sig_hash is not None else cert.signature_algorithm_oid._name
        return f"signature algorithm {name} (SHA-256 or stronger required)"
    try:
        key = cert.public_key()
    except Exception:
        return "public key cannot be read"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"RSA key of {key.key_size} bits (2048 or more required)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _ALLOWED_CURVES:
            return f"EC key on {key.curve.name} (P-256 or P-384 required)"
        return None
    return f"{type(key).__name__.removesuffix('PublicKey') or 'unknown'} key (RSA or ECDSA P-256/P-384 required)"


def validity_problem(cert: x509.Certificate, at: dt.datetime) -> AuthorizerError | None:
    if cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return None
    return outside_window(cert, at)


def outside_window(cert: x509.Certificate, at: dt.datetime) -> AuthorizerError:
    """The error for a certificate known to be outside its validity window at ``at``."""
    if at < cert.not_valid_before_utc:
        return AuthorizerError(
            Reason.NOT_YET_VALID, f"{_name(cert)} is not valid before {cert.not_valid_before_utc.isoformat()}"
        )
    return AuthorizerError(Reason.EXPIRED, f"{_name(cert)} expired at {cert.not_valid_after_utc.isoformat()}")


def _name(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}'"


@dataclass(frozen=True)
class TrustStore:
    """The truststore bundle: anchors and intermediates for path building.

    ``id`` is the SHA-256 of the certificates, so caches keyed on it follow a bundle change.
    """

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    id: str
    store: Store = field(compare=False, repr=False)

    @classmethod
    def from_certs(
        cls, anchors: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()
    ) -> TrustStore:
        a, i = tuple(anchors), tuple(intermediates)
        if not a:
            raise ValueError("the truststore holds no trust anchor (no self-signed CA certificate)")
        digest = hashlib.sha256()
        for cert in (*a, *i):
            digest.update(cert.fingerprint(hashes.SHA256()))
        return cls(a, i, digest.hexdigest(), Store(list(a)))

    @classmethod
    def from_bundle(cls, certs: Sequence[x509.Certificate]) -> TrustStore:
        """API Gateway's meaning: self-signed certificates are anchors, the rest intermediates."""
        anchors = [c for c in certs if is_self_signed(c)]
        return cls.from_certs(anchors, [c for c in certs if not is_self_signed(c)])

    @classmethod
    def from_pem(cls, data: bytes, source: str = "truststore") -> TrustStore:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValueError(f"{source}: no readable PEM certificate ({str(exc)[:120]})") from None
        return cls.from_bundle(certs)

    def problems(self, at: dt.datetime) -> list[str]:
        """What API Gateway would warn about only on a domain update: expired or weak CAs."""
        out = []
        for cert in (*self.anchors, *self.intermediates):
            err = validity_problem(cert, at)
            if err is not None:
                out.append(err.detail)
            alg = algorithm_problem(cert)
            if alg is not None:
                out.append(f"{_name(cert)}: {alg}")
        return out


@dataclass(frozen=True)
class _TrustedCA:
    """A CA certificate's facts that every path through it needs."""

    name: str
    not_before: dt.datetime
    not_after: dt.datetime
    problem: str | None  # API Gateway's algorithm rules

    @classmethod
    def of(cls, cert: x509.Certificate) -> _TrustedCA:
        return cls(
            cert.subject.rfc4514_string(), cert.not_valid_before_utc, cert.not_valid_after_utc, algorithm_problem(cert)
        )


#: Extensions that constrain the leaves below a CA by their content: a path through such a CA
#: is never reused for another leaf (see ChainValidator._prove).
_CONSTRAINING = frozenset(
    {
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.INHIBIT_ANY_POLICY,
        ExtensionOID.POLICY_MAPPINGS,
    }
)


@dataclass(frozen=True)
class _ProvenIssuer:
    """The verified path from an issuing intermediate to its anchor (issuer first)."""

    chain: tuple[x509.Certificate, ...]
    issuer_dn: str
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True)
class VerifiedPath:
    """A verified chain, leaf first and trust anchor last."""

    leaf: ClientCertificate
    chain: tuple[x509.Certificate, ...]
    valid_from: dt.datetime  # the latest notBefore of the path
    valid_until: dt.datetime  # the earliest notAfter of the path

    @property
    def issuer(self) -> x509.Certificate | None:
        """The leaf's direct issuer (``None`` only if the leaf itself were the anchor)."""
        return self.chain[1] if len(self.chain) > 1 else None

    def describe(self) -> list[str]:
        return [c.subject.rfc4514_string() for c in self.chain]


def _extension_policies(eku: EkuMode) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """(CA policy, EE policy) for the EKU mode.

    A missing SAN and a missing AKI are accepted on the leaf: private-PKI client certificates
    often have neither, and both only help path building. For ``clientAuth`` the verifier's own
    EKU rule is kept (EKU optional, but when present it must list clientAuth); the other modes
    replace it with an explicit validator, never with ``permit_all()`` (which would accept a CA
    certificate as a leaf).
    """
    ee = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, None)
    )
    ca = ExtensionPolicy.webpki_defaults_ca()
    if eku is EkuMode.CLIENT_AUTH:
        return ca, ee
    if eku is EkuMode.ANY:
        return (
            ca.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None),
            ee.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None),
        )
    wanted = ExtendedKeyUsageOID.SERVER_AUTH

    def ee_eku(_policy: object, _cert: x509.Certificate, ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and wanted not in ext:
            raise ValueError("required EKU serverAuth not found")

    def ca_eku(_policy: object, _cert: x509.Certificate, ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and wanted not in ext and _ANY_EKU not in ext:
            raise ValueError("CA EKU allows neither serverAuth nor anyExtendedKeyUsage")

    return (
        ca.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, ca_eku),
        ee.may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, ee_eku),
    )


class ChainValidator:
    """Verifies client certificates against one truststore with one set of rules.

    Long-lived (one per truststore version in a warm Lambda); thread-safe.
    """

    def __init__(
        self,
        truststore: TrustStore,
        *,
        eku: EkuMode = EkuMode.CLIENT_AUTH,
        max_chain_length: int = MAX_CHAIN_LENGTH,
        cache_size: int = 4096,
        prove_issuers: bool = True,
    ) -> None:
        self.truststore = truststore
        self.prove_issuers = prove_issuers
        self.eku = eku
        self.max_chain_length = max_chain_length
        self._ca_policy, self._ee_policy = _extension_policies(eku)
        # What a path needs to know about each truststore certificate, computed once: the
        # verifier hands back these very objects, so a request pays only for its own leaf.
        self._trusted = {id(c): _TrustedCA.of(c) for c in (*truststore.anchors, *truststore.intermediates)}
        self._cache: OrderedDict[bytes, VerifiedPath] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # Proven issuers (see _fast_path): id(intermediate) -> the verified path above a leaf,
        # from that intermediate to the anchor, and a Store holding those intermediates.
        self._proven: dict[int, _ProvenIssuer] = {}
        # An intermediate whose subject another truststore certificate shares (a cross-signed or
        # re-issued CA) may sit on several paths; the full verification might pick another one
        # for another leaf (and check that one's revocation), so it is never proven.
        names = Counter(c.subject for c in (*truststore.anchors, *truststore.intermediates))
        self._ambiguous = {id(c) for c in truststore.intermediates if names[c.subject] > 1}
        self._proven_store: Store | None = None
        self.fast_paths = 0  # decisions that took the proven-issuer path (tests, benchmarks)

    # -- public API ---------------------------------------------------------------------------

    def validate_pem(self, pem: str, at: dt.datetime) -> VerifiedPath:
        """Verify the PEM from an event. Repeat clients are answered from the path cache."""
        data = pem.encode("utf-8", "replace")
        key = hashlib.sha256(data).digest()
        hit = self._cache.get(key)
        if hit is not None and hit.valid_from <= at <= hit.valid_until:
            return hit
        leaf = parse_pem_certificate(data)
        path = self.validate(leaf, at)
        if self._cache_size:
            with self._lock:
                self._cache[key] = path
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return path

    def validate(
        self, leaf: ClientCertificate, at: dt.datetime, extra_intermediates: Sequence[x509.Certificate] = ()
    ) -> VerifiedPath:
        """Verify ``leaf`` at ``at``; raises ``AuthorizerError`` with the most precise reason."""
        cert = leaf.cert
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        if not not_before <= at <= not_after:
            raise outside_window(cert, at)
        problem = algorithm_problem(cert)
        if problem is not None:
            raise AuthorizerError(Reason.INSECURE_ALGORITHM, f"client certificate {_name(cert)}: {problem}")
        if not extra_intermediates and self._proven_store is not None:
            fast = self._fast_path(leaf, at, not_before, not_after)
            if fast is not None:
                return fast
        verifier = (
            PolicyBuilder()
            .store(self.truststore.store)
            .time(at)
            .max_chain_depth(8)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        intermediates = [*self.truststore.intermediates, *extra_intermediates]
        try:
            verified = verifier.verify(cert, intermediates)
        except VerificationError as exc:
            raise self._diagnose(cert, intermediates, at, _verification_message(exc)) from None
        chain = verified.chain
        if len(chain) == 1:
            # The leaf is itself in the truststore: still a self-signed client certificate.
            raise _self_signed(cert)
        cas = [self._trusted.get(id(ca)) or _TrustedCA.of(ca) for ca in chain[1:]]
        for ca, info in zip(chain[1:], cas, strict=True):
            if info.problem is not None:
                raise AuthorizerError(Reason.INSECURE_ALGORITHM, f"CA certificate {_name(ca)}: {info.problem}")
        if len(chain) > self.max_chain_length:
            raise AuthorizerError(
                Reason.CHAIN_TOO_LONG,
                f"the path has {len(chain)} certificates, more than the {self.max_chain_length} API Gateway allows",
            )
        leaf.know_issuer_dn(cas[0].name)
        leaf.know_sans(verified.subjects)
        if self.prove_issuers and not extra_intermediates:
            self._prove(chain)
        return VerifiedPath(
            leaf,
            tuple(chain),
            max(not_before, *(info.not_before for info in cas)),
            min(not_after, *(info.not_after for info in cas)),
        )

    # -- proven issuers -----------------------------------------------------------------------

    def _prove(self, chain: Sequence[x509.Certificate]) -> None:
        """Remember the part of a verified path above its leaf, so that the next new leaf of the
        same issuing intermediate pays for one signature instead of the whole path.

        Only when nothing above the leaf could constrain a *different* leaf differently: the
        issuer is a truststore intermediate (not an anchor, not sent by a client) whose subject
        no other truststore certificate shares, and no certificate above the leaf has name or
        policy constraints. Everything else the path
        proved (signatures, basic constraints, key usage, the CAs' EKU under this validator's
        mode, path lengths for a leaf directly below the issuer, API Gateway's algorithm rules)
        holds for any leaf directly below the same issuer; validity windows are re-checked at
        every request.
        """
        issuer = chain[1]
        key = id(issuer)
        if (
            key in self._proven
            or key in self._ambiguous
            or len(chain) < 3
            or not any(c is issuer for c in self.truststore.intermediates)
        ):
            return
        upper = tuple(chain[1:])
        for cert in upper:
            if any(ext.oid in _CONSTRAINING for ext in cert.extensions):
                return
        infos = [self._trusted[id(c)] for c in upper]
        proven = _ProvenIssuer(
            upper,
            infos[0].name,
            max(i.not_before for i in infos),
            min(i.not_after for i in infos),
        )
        with self._lock:
            self._proven[key] = proven
            self._proven_store = Store([p.chain[0] for p in self._proven.values()])

    def _fast_path(
        self, leaf: ClientCertificate, at: dt.datetime, not_before: dt.datetime, not_after: dt.datetime
    ) -> VerifiedPath | None:
        """Verify ``leaf`` directly against the proven issuers (as anchors, depth 0).

        ``None`` means "take the full path", which also names the reason of any refusal: a leaf
        of another issuer, an expired intermediate, anything at all the fast path does not
        accept is decided by the full verification.
        """
        store = self._proven_store
        assert store is not None
        verifier = (
            PolicyBuilder()
            .store(store)
            .time(at)
            .max_chain_depth(0)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf.cert, [])
        except VerificationError:
            return None
        chain = verified.chain
        proven = self._proven.get(id(chain[-1])) if len(chain) == 2 else None
        if proven is None or not proven.valid_from <= at <= proven.valid_until:
            return None
        self.fast_paths += 1
        leaf.know_issuer_dn(proven.issuer_dn)
        leaf.know_sans(verified.subjects)
        return VerifiedPath(
            leaf,
            (chain[0], *proven.chain),
            max(not_before, proven.valid_from),
            min(not_after, proven.valid_until),
        )

    # -- diagnosis of a failed path -----------------------------------------------------------

    def _diagnose(
        self, leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], at: dt.datetime, message: str
    ) -> AuthorizerError:
        """Name the reason a path failed by walking candidate issuers (by name and signature).

        Only runs on refusals, so its cost does not matter; the first defect found on the most
        promising path wins, and a path without a visible defect falls back to ``CHAIN_INVALID``
        with the verifier's own message (constraints, key usage, EKU ...).
        """
        if is_self_signed(leaf):
            return _self_signed(leaf)
        anchors = self.truststore.anchors
        pool = [*intermediates, *anchors]
        found: list[AuthorizerError] = []

        def issuers_of(cert: x509.Certificate) -> list[x509.Certificate]:
            out = []
            for cand in pool:
                if cand.subject == cert.issuer and cand is not cert:
                    try:
                        cert.verify_directly_issued_by(cand)
                    except Exception:  # noqa: S112 - wrong key or algorithm: not an issuer
                        continue
                    out.append(cand)
            return out

        def walk(cert: x509.Certificate, depth: int, seen: tuple[bytes, ...]) -> bool:
            """True when an anchor is reached without a defect on the way."""
            if depth > 8:
                return False
            clean = False
            for cand in issuers_of(cert):
                fp = cand.fingerprint(hashes.SHA256())
                if fp in seen:
                    continue
                err = validity_problem(cand, at)
                if err is None and (alg := algorithm_problem(cand)) is not None:
                    err = AuthorizerError(Reason.INSECURE_ALGORITHM, f"CA certificate {_name(cand)}: {alg}")
                if err is not None:
                    found.append(err)
                    continue
                if cand in anchors:
                    if depth + 2 > self.max_chain_length:
                        found.append(
                            AuthorizerError(
                                Reason.CHAIN_TOO_LONG,
                                f"the shortest path has {depth + 2} certificates, more than {self.max_chain_length}",
                            )
                        )
                        continue
                    clean = True
                elif walk(cand, depth + 1, (*seen, fp)):
                    clean = True
            return clean

        if not any(c.subject == leaf.issuer for c in pool):
            return AuthorizerError(
                Reason.ISSUER_NOT_FOUND,
                f"no certificate in the truststore is named '{leaf.issuer.rfc4514_string()}'",
            )
        if not issuers_of(leaf):
            return AuthorizerError(
                Reason.ISSUER_NOT_FOUND,
                f"no truststore certificate named '{leaf.issuer.rfc4514_string()}' "
                "verifies the client certificate's signature",
            )
        if walk(leaf, 0, ()):
            return AuthorizerError(Reason.CHAIN_INVALID, message)
        if found:
            return found[0]
        return AuthorizerError(
            Reason.ISSUER_NOT_FOUND, f"no path from the client certificate to a trust anchor ({message})"
        )


def _self_signed(cert: x509.Certificate) -> AuthorizerError:
    return AuthorizerError(Reason.SELF_SIGNED, f"{_name(cert)} is self-signed; a client certificate must be CA-issued")


def _verification_message(exc: VerificationError) -> str:
    text = str(exc).removeprefix("validation failed: ")
    # cryptography appends a repr of the certificate; keep the reason, name the certificate briefly.
    return text.split(" (encountered processing", 1)[0][:300]
