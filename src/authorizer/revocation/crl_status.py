"""A certificate's status from the CRLs at hand, by RFC 5280 6.3.3.

For each of the certificate's distribution points (see :mod:`.crl_scope`), every complete
CRL in scope is applied (6.3.3 (d) would skip one that adds no reason to those covered; we
apply it anyway, so that a listing in any authentic CRL is a revocation):

* it must be current and signed by a key allowed to sign it (:mod:`.crl_signer`: the issuer's
  own key, or another certificate of the CRL issuer whose own path is validated to the same
  trust anchor, with keyUsage cRLSign, and not itself revoked);
* when delta CRLs of the same scope are at hand, the newest current one whose BaseCRLNumber
  the complete CRL satisfies is applied on top (its entries add revocations, its
  removeFromCRL entries lift them); a delta that exists for this base but cannot be used
  (stale, unreadable) leaves "not listed" UNKNOWN rather than trusting an outdated base, while
  a listing in the base stays a revocation; a delta whose signature does not verify with the
  base's signer is not its delta and is ignored;
* an entry naming the certificate (its issuer and serial: indirect CRLs list several issuers)
  makes it REVOKED.

GOOD only when the covered reasons are all reasons; anything short of that is UNKNOWN with
what was missing. Alone, a delta CRL can prove a revocation, never that a certificate is good;
a current, authentic delta newer than every base used that lists the certificate makes it
REVOKED whatever the bases said.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509

from ..dn import DNKey
from .crl import CrlIndex
from .crl_scope import ALL_REASONS, Point, in_scope, key_of, points, reason_names, same_scope
from .status import RevocationStatus

#: ``signer_validator(cert, intermediates, at) -> path`` (cert first, anchor last); raises
#: when the certificate has no valid path. The shape of ``ChainValidator.validate_signer``.
SignerValidator = Callable[[x509.Certificate, Sequence[x509.Certificate], dt.datetime], Sequence[x509.Certificate]]
#: The CRLs that may speak for a certificate (used for a CRL signer's own status).
CrlsFor = Callable[[x509.Certificate], Sequence[CrlIndex]]
log = logging.getLogger(__name__)

#: How deep a CRL signer's own revocation check may recurse.
MAX_DEPTH = 3


@dataclass(frozen=True)
class CrlContext:
    at: dt.datetime
    skew: dt.timedelta
    signer_validator: SignerValidator | None = None
    #: Certificates that may be CRL signers or their intermediates (truststore, --crl inputs).
    pool: Sequence[x509.Certificate] = ()
    crls_for: CrlsFor | None = None
    depth: int = 0
    #: DER of the certificates whose status is being decided up the stack (no cycles).
    busy: frozenset[bytes] = field(default_factory=frozenset)

    def deeper(self, cert_der: bytes) -> CrlContext:
        return replace(self, depth=self.depth + 1, busy=self.busy | {cert_der})


@dataclass(frozen=True)
class CrlAnswer:
    status: RevocationStatus
    detail: str
    #: The window in which the answer holds (for the status cache): GOOD/REVOKED only.
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    #: The CRLs that decided (their ``source`` names), comma-separated.
    source: str = ""


def unknown(detail: str) -> CrlAnswer:
    return CrlAnswer(RevocationStatus.UNKNOWN, detail)


@dataclass
class _Window:
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def add(self, start: dt.datetime, end: dt.datetime | None) -> None:
        self.start = start if self.start is None else max(self.start, start)
        if end is not None:
            self.end = end if self.end is None else min(self.end, end)


def decide(
    cert: x509.Certificate, path: Sequence[x509.Certificate], crls: Sequence[CrlIndex], ctx: CrlContext
) -> CrlAnswer:
    """Status of ``cert`` whose verified path is ``path`` (``cert`` first, anchor last)."""
    if ctx.depth > MAX_DEPTH:
        return unknown("CRL signer paths nest too deeply")
    issuer_key = key_of(cert.issuer)
    complete = [c for c in crls if not c.delta]
    deltas = [c for c in crls if c.delta]
    covered: frozenset[x509.ReasonFlags] = frozenset()
    problems: list[str] = []
    window = _Window()
    used: list[str] = []
    bases: list[CrlIndex] = []
    #: A complete CRL listing the certificate was dropped: never GOOD from the others then.
    listing_discarded = False
    for point in points(cert):
        for crl in complete:
            try:
                applied = _apply(crl, point, cert, issuer_key, path, deltas, ctx)
            except Exception as exc:  # a bug or a parser surprise disqualifies this CRL only
                log.exception("CRL %s could not be applied", crl.source)
                applied = f"internal error applying the CRL ({type(exc).__name__})"
                listing_discarded = listing_discarded or crl.lists(issuer_key, cert.serial_number)
            if isinstance(applied, str):
                problems.append(f"{crl.source}: {applied}")
                continue
            for used_crl, until in applied.windows:
                window.add(used_crl.this_update, until)
            if applied.listed_in is not None:
                where = applied.listed_in
                return CrlAnswer(RevocationStatus.REVOKED, f"listed in {where}", window.start, window.end, where)
            covered = covered | applied.reasons
            used.extend(c.source for c, _ in applied.windows if c.source not in used)
            if crl.number is not None:
                bases.append(crl)
    # REVOKED wins: a current, authentic delta CRL that lists the certificate and is newer than
    # every complete CRL of its own scope used (or was not applied to one) is a revocation,
    # whatever they said. cRLNumbers only order the CRLs of one scope (RFC 5280 5.2.3).
    revoked = _listed_in_a_delta(cert, issuer_key, path, deltas, ctx, skip=used, bases=bases)
    if revoked is not None:
        return revoked
    if listing_discarded:
        problems.append("a complete CRL that lists the certificate could not be applied")
    elif covered >= ALL_REASONS:
        detail = "not listed in a current CRL" + (" (with its delta CRL)" if len(used) > 1 else "")
        if len(used) > 1:
            detail = f"not listed in the current CRLs {', '.join(used)}"
        return CrlAnswer(RevocationStatus.GOOD, detail, window.start, window.end, ",".join(used))
    problems.extend(
        f"{d.source}: not listed in a delta CRL (which never proves good without its complete CRL)"
        for d in deltas
        if d.source not in used and d.issuer_key in (issuer_key, *(key_of(n) for n in _crl_issuers(cert)))
    )
    if covered:
        problems.append(f"current CRLs cover only the reasons {reason_names(covered)}")
    unique = list(dict.fromkeys(problems))  # a CRL is tried at every distribution point
    return unknown("; ".join(unique) or "no CRL from this certificate's issuer")


@dataclass(frozen=True)
class _Applied:
    #: The CRL that lists the certificate, or None.
    listed_in: str | None
    reasons: frozenset[x509.ReasonFlags]
    #: The CRLs used, each with the end of its contribution (nextUpdate, signer path end).
    windows: tuple[tuple[CrlIndex, dt.datetime | None], ...]


def _apply(
    crl: CrlIndex,
    point: Point,
    cert: x509.Certificate,
    issuer_key: DNKey,
    path: Sequence[x509.Certificate],
    deltas: Sequence[CrlIndex],
    ctx: CrlContext,
) -> _Applied | str:
    """One complete CRL at one distribution point: what it says, or why it cannot say
    anything. Every CRL in scope is applied, even one that adds no reason to those already
    covered (RFC 5280 6.3.3 (d) would skip it): a listing in any of them is a revocation."""
    from .crl_signer import find_signer

    if crl.unusable:
        return crl.unusable
    why, reasons = in_scope(crl, point, cert, issuer_key)
    if why is not None:
        return why
    why = crl.is_current(ctx.at, ctx.skew)
    if why is not None:
        return why
    signer, why = find_signer(crl, issuer_key, path, ctx)
    if signer is None:
        return why
    serial = cert.serial_number
    listed_in = crl.source if crl.lists(issuer_key, serial) else None
    windows: list[tuple[CrlIndex, dt.datetime | None]] = [(crl, crl.next_update), (crl, signer.valid_until)]
    delta, why = _delta_for(crl, deltas, signer.spki, ctx)
    if why is not None:
        # An unusable delta makes a "not listed" unprovable, never a listing: a current,
        # authentic base that lists the certificate is a revocation whatever its delta.
        return _Applied(listed_in, reasons, tuple(windows)) if listed_in is not None else why
    if delta is not None:
        if delta.unlists(issuer_key, serial):
            listed_in = None
        if delta.lists(issuer_key, serial):
            listed_in = delta.source
        windows.append((delta, delta.next_update))
    return _Applied(listed_in, reasons, tuple(windows))


def _delta_for(
    crl: CrlIndex, deltas: Sequence[CrlIndex], spki: bytes, ctx: CrlContext
) -> tuple[CrlIndex | None, str | None]:
    """The delta CRL to apply to the complete ``crl`` (or None), or why the base cannot be used."""
    if crl.number is None:
        return None, None
    base_number = crl.number
    mine = [
        d
        for d in deltas
        if same_scope(d, crl)
        and d.base_number is not None
        and d.base_number <= base_number
        and d.number is not None
        and d.number > base_number
    ]
    if not mine:
        return None, None
    # A delta whose signature does not verify with the base's signer is not this base's delta
    # (anyone can post one on a plain-http distribution point): it is ignored, so that it can
    # neither disqualify an authentic base nor lift a revocation.
    mine = [d for d in mine if d.signed_by_spki(spki)]
    if not mine:
        return None, None
    usable = [d for d in mine if d.unusable is None and d.is_current(ctx.at, ctx.skew) is None]
    if not usable:
        d = mine[0]
        why = d.unusable or d.is_current(ctx.at, ctx.skew)
        return None, f"its delta CRL {d.source} cannot be used ({why})"
    return max(usable, key=lambda d: d.number or 0), None


def _listed_in_a_delta(
    cert: x509.Certificate,
    issuer_key: DNKey,
    path: Sequence[x509.Certificate],
    deltas: Sequence[CrlIndex],
    ctx: CrlContext,
    *,
    skip: Sequence[str],
    bases: Sequence[CrlIndex],
) -> CrlAnswer | None:
    """A delta CRL alone proves a revocation when it is in scope, current, correctly signed
    and lists the certificate; it never proves anything else. Deltas already applied to a
    base (``skip``) and deltas not newer than the newest base of their own scope used are
    left out: that base supersedes them."""
    from .crl_signer import find_signer

    for delta in deltas:
        if delta.unusable or delta.source in skip or not delta.lists(issuer_key, cert.serial_number):
            continue
        newer_than = max((b.number or 0 for b in bases if same_scope(delta, b)), default=None)
        if newer_than is not None and delta.number is not None and delta.number <= newer_than:
            continue
        if not any(in_scope(delta, p, cert, issuer_key)[0] is None for p in points(cert)):
            continue
        if delta.is_current(ctx.at, ctx.skew) is not None:
            continue
        signer, _ = find_signer(delta, issuer_key, path, ctx)
        if signer is not None:
            return CrlAnswer(
                RevocationStatus.REVOKED,
                f"listed in the delta CRL {delta.source}",
                delta.this_update,
                delta.next_update,
                delta.source,
            )
    return None


def _crl_issuers(cert: x509.Certificate) -> list[x509.Name]:
    return [n.value for p in points(cert) for n in p.crl_issuer or () if isinstance(n, x509.DirectoryName)]
