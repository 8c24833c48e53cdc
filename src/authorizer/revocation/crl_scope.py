"""Whether a CRL is in scope for a certificate's distribution point (RFC 5280 6.3.3 (b), (c)).

A certificate names where its status is published in its CRL distribution points (CDP); a
CRL says what it covers in its issuing distribution point (IDP). One CRL covers one
distribution point of a certificate when:

* its issuer is the certificate's issuer, or, for a point with a ``cRLIssuer``, that cRLIssuer,
  and then the CRL must be indirect (IDP ``indirectCRL``);
* when the IDP names a distribution point, one of its names matches one of the point's names
  (``fullName``, or ``nameRelativeToCRLIssuer`` appended to the CRL issuer's or the
  certificate's issuer name), or, when the point has no name, one of its cRLIssuer names;
* ``onlyContainsUserCerts`` / ``onlyContainsCACerts`` / ``onlyContainsAttributeCerts`` admit
  the certificate.

It then covers the reasons the IDP's ``onlySomeReasons`` and the point's ``reasons`` share
(every reason when absent). A certificate without a CDP has one implicit point: its issuer's
CRLs for every reason. AWS Private CA's partitioned CRLs are exactly this: each CRL's IDP
names the partition's URL, and each certificate's CDP names its partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509

from ..dn import DNKey, name_key
from .crl import CrlIndex


@lru_cache(maxsize=4096)
def key_of(name: x509.Name) -> DNKey:
    """:func:`authorizer.dn.name_key`, memoised: the same few issuer names come back on every
    cold check, and folding them costs more than the rest of a CRL lookup."""
    return name_key(name)


#: Every reason a distribution point can cover (``unspecified`` and ``removeFromCRL`` are
#: reason codes of entries, not of partitions).
ALL_REASONS: frozenset[x509.ReasonFlags] = frozenset(
    r for r in x509.ReasonFlags if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)
)


@dataclass(frozen=True)
class Point:
    """One distribution point of a certificate (or the implicit one)."""

    full_name: tuple[x509.GeneralName, ...] | None
    relative_name: x509.RelativeDistinguishedName | None
    reasons: frozenset[x509.ReasonFlags] | None
    crl_issuer: tuple[x509.GeneralName, ...] | None

    @classmethod
    def of(cls, dp: x509.DistributionPoint) -> Point:
        return cls(
            tuple(dp.full_name) if dp.full_name is not None else None,
            dp.relative_name,
            dp.reasons,
            tuple(dp.crl_issuer) if dp.crl_issuer is not None else None,
        )


IMPLICIT = Point(None, None, None, None)


def points(cert: x509.Certificate) -> list[Point]:
    """The certificate's distribution points, or the implicit one when it has no CDP."""
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return [IMPLICIT]
    found = [Point.of(dp) for dp in cdp]
    return found or [IMPLICIT]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _directory_names(names: Iterable[x509.GeneralName] | None) -> list[x509.Name]:
    return [n.value for n in names or () if isinstance(n, x509.DirectoryName)]


def _under(base: x509.Name, rdn: x509.RelativeDistinguishedName) -> x509.GeneralName:
    return x509.DirectoryName(x509.Name([*base.rdns, rdn]))


def _keys(names: Iterable[x509.GeneralName]) -> set[object]:
    """Comparable forms: directory names by their RFC 4518 key, the rest as themselves."""
    out: set[object] = set()
    for n in names:
        out.add(("dn", key_of(n.value)) if isinstance(n, x509.DirectoryName) else n)
    return out


def _point_names(point: Point, cert_issuer: x509.Name) -> Sequence[x509.GeneralName] | None:
    if point.full_name is not None:
        return point.full_name
    if point.relative_name is not None:
        crl_issuers = _directory_names(point.crl_issuer)
        base = crl_issuers[0] if crl_issuers else cert_issuer
        return [_under(base, point.relative_name)]
    return None


def in_scope(
    crl: CrlIndex, point: Point, cert: x509.Certificate, cert_issuer_key: DNKey
) -> tuple[str | None, frozenset[x509.ReasonFlags]]:
    """``(why not, reasons covered)``: why ``crl`` does not cover ``cert`` at ``point``
    (None when it does) and the reasons it covers there."""
    idp = crl.idp
    if point.crl_issuer is not None:
        if crl.issuer_key not in {key_of(n) for n in _directory_names(point.crl_issuer)}:
            return "CRL issuer is not the distribution point's cRLIssuer", frozenset()
        if idp is None or not idp.indirect_crl:
            return "the distribution point's cRLIssuer requires an indirect CRL", frozenset()
    elif crl.issuer_key != cert_issuer_key:
        return "CRL names another issuer", frozenset()
    reasons = ALL_REASONS
    if idp is not None:
        if idp.full_name is not None or idp.relative_name is not None:
            scoped = (
                list(idp.full_name) if idp.full_name is not None else [_under(crl.issuer, idp.relative_name)]  # type: ignore[arg-type]
            )
            wanted = _point_names(point, cert.issuer)
            if wanted is None:
                wanted = list(point.crl_issuer or ())
            if not _keys(scoped) & _keys(wanted):
                return "CRL is scoped to a distribution point the certificate does not name", frozenset()
        ca = is_ca(cert)
        if idp.only_contains_user_certs and ca:
            return "CRL only covers end-entity certificates", frozenset()
        if idp.only_contains_ca_certs and not ca:
            return "CRL only covers CA certificates", frozenset()
        if idp.only_contains_attribute_certs:
            return "CRL only covers attribute certificates", frozenset()
        if idp.only_some_reasons is not None:
            reasons = reasons & idp.only_some_reasons
    if point.reasons is not None:
        reasons = reasons & point.reasons
    return None, frozenset(reasons)


def same_scope(a: CrlIndex, b: CrlIndex) -> bool:
    """A delta CRL applies to a complete CRL of the same issuer and the same IDP (5.2.4)."""
    return a.issuer_key == b.issuer_key and a.idp == b.idp


def reason_names(reasons: Iterable[x509.ReasonFlags]) -> str:
    return ", ".join(sorted(r.value for r in reasons)) or "none"
