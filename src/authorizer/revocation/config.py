"""The ``revocation`` section of the policy document, parsed and validated once.

The field names are a contract (see ARCHITECTURE.md): ``scope``, ``on_unknown``, ``prefer``,
``ocsp{enabled, responder_url, timeout_ms, nonce}``, ``crl{enabled, urls,
use_distribution_points, index{beside, urls, audit}}``, ``budget_ms``, ``allowed_hosts``. Every
other field is an addition with a default, so a minimal ``{"revocation": {}}`` means "check the
whole chain, OCSP then CRL, deny when unknown".

Nothing here imports the HTTP or OCSP machinery: a policy without revocation never pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..reasons import ConfigError

Scope = Literal["leaf", "chain"]
OnUnknown = Literal["deny", "allow"]
Prefer = Literal["ocsp", "crl"]

#: API Gateway gives the whole authorizer 10 s; revocation must leave room for the rest.
MAX_BUDGET_MS = 8000


def _obj(data: Any, path: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(path, "expected an object")
    return data


def _unknown_keys(data: Mapping[str, Any], known: set[str], path: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}.{key}", "unknown field")


def _bool(data: Mapping[str, Any], key: str, default: bool, path: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", "expected true or false")
    return value


def _pos_int(
    data: Mapping[str, Any], key: str, default: int | None, path: str, *, maximum: int | None = None, zero: bool = False
) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (value == 0 and not zero):
        raise ConfigError(f"{path}.{key}", "expected a non-negative integer" if zero else "expected a positive integer")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{path}.{key}", f"at most {maximum}")
    return value


def _req_int(data: Mapping[str, Any], key: str, default: int, path: str, **kw: Any) -> int:
    value = _pos_int(data, key, default, path, **kw)
    if value is None:
        raise ConfigError(f"{path}.{key}", "expected a positive integer")
    return value


def _choice(data: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...], path: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ConfigError(f"{path}.{key}", "expected one of " + ", ".join(repr(c) for c in choices))
    return str(value)


def _http_url(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ConfigError(path, "expected an http:// or https:// URL")
    return value


def _crl_source(value: Any, path: str) -> str:
    """http, https, s3:// or a local file (a path or file://); nothing else."""
    if not isinstance(value, str) or not value:
        raise ConfigError(path, "expected a URL or a path")
    lower = value.lower()
    if "://" in value and not lower.startswith(("http://", "https://", "s3://", "file://")):
        raise ConfigError(path, "only http, https, s3 and local files are supported")
    return value


def _index_source(value: Any, path: str) -> str:
    """An index location: s3:// or a local file only. An index is read with no TLS-level or
    signature-level trust of its own from the transport; over plain http anybody on the path
    could swap it (docs/crl-index-format.md, "Trust")."""
    where = _crl_source(value, path)
    if where.lower().startswith(("http://", "https://")):
        raise ConfigError(path, "a CRL index is read from s3:// or a local file only")
    return where


def _index_key(value: Any, path: str) -> bytes | None:
    """``crl.index.public_key``: base64 of a P-256 SubjectPublicKeyInfo (DER), or absent."""
    if value is None:
        return None
    import base64
    import binascii

    from .crl_idx_sig import public_key_from_der

    if not isinstance(value, str):
        raise ConfigError(path, "expected base64 of a P-256 SubjectPublicKeyInfo")
    try:
        der = base64.b64decode(value, validate=True)
        public_key_from_der(der)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(path, f"expected base64 of a P-256 SubjectPublicKeyInfo ({exc})") from None
    return der


def _host(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or "/" in value or "@" in value:
        raise ConfigError(path, "expected a host name or host:port")
    return value.strip().lower()


@dataclass(frozen=True)
class OcspConfig:
    enabled: bool = True
    responder_url: str | None = None  # overrides the certificates' AIA when set
    timeout_ms: int = 800
    nonce: bool = True
    max_bytes: int = 64 * 1024
    #: How long an answer without nextUpdate is considered current (and cached).
    max_age_seconds: int = 3600


@dataclass(frozen=True)
class CrlIndexConfig:
    """``crl.index``: where CRL indexes are looked for (docs/crl-index-format.md).

    ``beside``: ``<crl>.idx`` next to every ``s3://`` or local CRL source; ``urls``: an index
    URI (``s3://`` or a local file) per CRL source (of any kind, http included); ``audit``: check each index a container
    uses against the CRL it names, in the background.
    """

    beside: bool = True
    urls: tuple[tuple[str, str], ...] = ()
    audit: bool = True
    #: DER SubjectPublicKeyInfo (P-256) that verifies index signatures, from ``public_key``
    #: (base64). None: the key named by the ``CRL_INDEX_KEY_ID`` environment variable (KMS); with
    #: neither, no index is used.
    public_key: bytes | None = None

    def uri_for(self, crl_uri: str) -> str | None:
        for source, index in self.urls:
            if source == crl_uri:
                return index
        if not self.beside or crl_uri.startswith(("static:", "http://", "https://")):
            return None
        return crl_uri + ".idx"

    @classmethod
    def from_dict(cls, data: Any, path: str) -> CrlIndexConfig:
        d = _obj(data, path)
        _unknown_keys(d, {"beside", "urls", "audit", "public_key"}, path)
        urls = _obj(d.get("urls"), f"{path}.urls")
        return cls(
            beside=_bool(d, "beside", True, path),
            urls=tuple((_crl_source(k, f"{path}.urls"), _index_source(v, f"{path}.urls.{k}")) for k, v in urls.items()),
            audit=_bool(d, "audit", True, path),
            public_key=_index_key(d.get("public_key"), f"{path}.public_key"),
        )


@dataclass(frozen=True)
class CrlConfig:
    enabled: bool = True
    urls: tuple[str, ...] = ()
    use_distribution_points: bool = True
    timeout_ms: int = 2000
    max_bytes: int = 64 * 1024 * 1024
    #: Revalidate a cached CRL (conditionally: ETag/Last-Modified) at least this often even
    #: before its nextUpdate, so a CRL published early is seen. None: only at nextUpdate.
    refresh_seconds: int | None = 3600
    #: Indexes of these CRLs (docs/crl-index-format.md).
    index: CrlIndexConfig = field(default_factory=CrlIndexConfig)


@dataclass(frozen=True)
class RevocationConfig:
    """How revocation is checked. See the module docstring for the document fields."""

    scope: Scope = "chain"
    on_unknown: OnUnknown = "deny"
    prefer: Prefer = "ocsp"
    ocsp: OcspConfig = field(default_factory=OcspConfig)
    crl: CrlConfig = field(default_factory=CrlConfig)
    budget_ms: int = 2500
    allowed_hosts: tuple[str, ...] = ()
    #: Tolerated clock difference when comparing thisUpdate/nextUpdate.
    skew_seconds: int = 300
    #: After a source failed, wait this long before contacting it again (the failure is
    #: remembered meanwhile), so a dead responder does not cost every request a timeout.
    retry_seconds: int = 5
    max_redirects: int = 3
    #: Certificates of one chain checked concurrently.
    max_workers: int = 4
    #: With True (the CLI's --crl mode), only CRLs count: OCSP is off and every certificate in
    #: scope must be covered by a valid CRL.
    require_crl_coverage: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "revocation") -> RevocationConfig:
        data = _obj(data, path)
        _unknown_keys(
            data,
            {
                "scope",
                "on_unknown",
                "prefer",
                "ocsp",
                "crl",
                "budget_ms",
                "allowed_hosts",
                "skew_seconds",
                "retry_seconds",
                "max_redirects",
                "max_workers",
                "require_crl_coverage",
            },
            path,
        )
        op = f"{path}.ocsp"
        o = _obj(data.get("ocsp"), op)
        _unknown_keys(o, {"enabled", "responder_url", "timeout_ms", "nonce", "max_bytes", "max_age_seconds"}, op)
        responder = o.get("responder_url")
        ocsp = OcspConfig(
            enabled=_bool(o, "enabled", True, op),
            responder_url=None if responder is None else _http_url(responder, f"{op}.responder_url"),
            timeout_ms=_req_int(o, "timeout_ms", 800, op, maximum=MAX_BUDGET_MS),
            nonce=_bool(o, "nonce", True, op),
            max_bytes=_req_int(o, "max_bytes", 64 * 1024, op),
            max_age_seconds=_req_int(o, "max_age_seconds", 3600, op),
        )
        cp = f"{path}.crl"
        c = _obj(data.get("crl"), cp)
        _unknown_keys(
            c, {"enabled", "urls", "use_distribution_points", "timeout_ms", "max_bytes", "refresh_seconds", "index"}, cp
        )
        urls = c.get("urls", [])
        if not isinstance(urls, list):
            raise ConfigError(f"{cp}.urls", "expected a list")
        crl = CrlConfig(
            enabled=_bool(c, "enabled", True, cp),
            urls=tuple(_crl_source(u, f"{cp}.urls[{i}]") for i, u in enumerate(urls)),
            use_distribution_points=_bool(c, "use_distribution_points", True, cp),
            timeout_ms=_req_int(c, "timeout_ms", 2000, cp, maximum=MAX_BUDGET_MS),
            max_bytes=_req_int(c, "max_bytes", 64 * 1024 * 1024, cp),
            refresh_seconds=_pos_int(c, "refresh_seconds", 3600, cp),
            index=CrlIndexConfig.from_dict(c.get("index"), f"{cp}.index"),
        )
        hosts = data.get("allowed_hosts", [])
        if hosts is None:
            hosts = []
        if not isinstance(hosts, list):
            raise ConfigError(f"{path}.allowed_hosts", "expected a list")
        cfg = cls(
            scope=_choice(data, "scope", "chain", ("leaf", "chain"), path),  # type: ignore[arg-type]
            on_unknown=_choice(data, "on_unknown", "deny", ("deny", "allow"), path),  # type: ignore[arg-type]
            prefer=_choice(data, "prefer", "ocsp", ("ocsp", "crl"), path),  # type: ignore[arg-type]
            ocsp=ocsp,
            crl=crl,
            budget_ms=_req_int(data, "budget_ms", 2500, path, maximum=MAX_BUDGET_MS),
            allowed_hosts=tuple(_host(h, f"{path}.allowed_hosts[{i}]") for i, h in enumerate(hosts)),
            skew_seconds=_req_int(data, "skew_seconds", 300, path, zero=True, maximum=86400),
            retry_seconds=_req_int(data, "retry_seconds", 5, path, zero=True),
            max_redirects=_req_int(data, "max_redirects", 3, path, zero=True, maximum=10),
            max_workers=_req_int(data, "max_workers", 4, path, maximum=32),
            require_crl_coverage=_bool(data, "require_crl_coverage", False, path),
        )
        if not cfg.ocsp.enabled and not cfg.crl.enabled:
            raise ConfigError(path, "both ocsp and crl are disabled: remove the section to turn revocation off")
        return cfg

    @property
    def order(self) -> tuple[str, ...]:
        """The methods tried for each certificate, in order."""
        if self.require_crl_coverage:
            return ("crl",)
        methods = ("ocsp", "crl") if self.prefer == "ocsp" else ("crl", "ocsp")
        return tuple(m for m in methods if (self.ocsp.enabled if m == "ocsp" else self.crl.enabled))

    def describe(self) -> str:
        names = {"ocsp": "OCSP", "crl": "CRL"}
        methods = " then ".join(names[m] for m in self.order)
        extra = []
        if self.crl.enabled and self.crl.urls:
            extra.append(f"{len(self.crl.urls)} configured CRL source(s)")
        if self.crl.enabled and self.crl.index.urls:
            extra.append(f"{len(self.crl.index.urls)} named CRL index(es)")
        if self.crl.enabled and (self.crl.index.beside or self.crl.index.urls) and not self.crl.index.audit:
            extra.append("CRL indexes trusted without audit")
        if self.require_crl_coverage:
            extra.append("every certificate must be covered by a CRL")
        if self.allowed_hosts:
            extra.append("hosts: " + ", ".join(self.allowed_hosts))
        tail = (", " + ", ".join(extra)) if extra else ""
        return f"revocation: {self.scope}, {methods}, on_unknown={self.on_unknown}, budget {self.budget_ms} ms{tail}"
