"""Where a certificate says its revocation status is published (CDP and AIA, http(s) only),
and its subject for messages."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID


def subject_of(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unprintable subject)"


def _uris(names: Iterable[x509.GeneralName] | None) -> list[str]:
    return [n.value for n in names or () if isinstance(n, x509.UniformResourceIdentifier)]


def is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def cdp_urls(cert: x509.Certificate) -> list[str]:
    """http(s) CRL distribution points of ``cert`` (other schemes count as no source). A point
    with a cRLIssuer names an indirect CRL: fetched too, and used only when its signer's own
    path validates (see :mod:`.crl_signer`)."""
    try:
        cdps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls: list[str] = []
    for dp in cdps:
        urls.extend(u for u in _uris(dp.full_name) if is_http(u) and u not in urls)
    return urls


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and is_http(d.access_location.value)
    ]
