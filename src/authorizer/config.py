"""The policy document: parsed and validated once per load into frozen, typed objects.

Field names are a contract (see ARCHITECTURE.md): fields may be added, none renamed. Every error
names the field as a path (``cache.ttl_seconds: expected a number of seconds ...``) so an operator can fix
the document from the log line alone. Sections owned by other modules (``pinning``/``clients``/
``deny`` by :mod:`authorizer.policy`, ``revocation`` by :mod:`authorizer.revocation`) are parsed
by them, here, so that a loaded ``PolicyConfig`` is complete and valid or not loaded at all.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .reasons import ConfigError
from .validation import ANY_POLICY, MAX_CHAIN_LENGTH, EkuMode, PolicyInputs
from .validation.policies import OID_PATTERN

if TYPE_CHECKING:
    from .policy import AccessPolicy
    from .revocation.config import RevocationConfig

SUPPORTED_VERSIONS = (1,)
_TOP_LEVEL = {
    "version",
    "truststore",
    "pinning",
    "revocation",
    "clients",
    "deny",
    "cache",
    "validation",
    "response",
    "description",
    "$schema",
    "comment",
}


class Http2Response(enum.StrEnum):
    """HTTP API payload 2.0 answers with the simple response or, when configured, an IAM policy."""

    SIMPLE = "simple"
    IAM = "iam"


@dataclass(frozen=True)
class TruststoreRef:
    uri: str
    version: str | None = None


@dataclass(frozen=True)
class CacheSettings:
    ttl_seconds: float = 60.0
    max_stale_seconds: float = 3600.0
    #: The longest a decision waits for a refresh of the document and truststore together;
    #: past it the last good copies answer (Lambda's own timeout is a few seconds).
    refresh_deadline_seconds: float = 1.0


@dataclass(frozen=True)
class ValidationSettings:
    eku: EkuMode = EkuMode.CLIENT_AUTH
    max_chain_length: int = MAX_CHAIN_LENGTH
    policies: PolicyInputs = field(default_factory=PolicyInputs)


@dataclass(frozen=True)
class PolicyConfig:
    version: int
    truststore: TruststoreRef
    access: AccessPolicy
    revocation: RevocationConfig | None = None
    cache: CacheSettings = CacheSettings()
    validation: ValidationSettings = ValidationSettings()
    http2_response: Http2Response = Http2Response.SIMPLE
    source: str = field(default="", compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_json(cls, data: bytes, source: str = "") -> PolicyConfig:
        return cls.from_dict(load_json(data, source or "policy document"), source)

    @classmethod
    def from_dict(cls, doc: object, source: str = "") -> PolicyConfig:
        from .policy import AccessPolicy

        if not isinstance(doc, Mapping):
            raise ConfigError("", "the policy document must be a JSON object")
        # Unknown top-level fields are kept as warnings, not errors: documents written by other
        # tools may carry fields of their own, and the contract only promises ours.
        warnings = tuple(f"{k}: unknown top-level field, ignored" for k in sorted(set(doc) - _TOP_LEVEL))
        version = doc.get("version")
        if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
            raise ConfigError("version", f"expected one of {list(SUPPORTED_VERSIONS)}, got {version!r}")
        revocation = None
        if "revocation" in doc and doc["revocation"] is not None:
            from .revocation.config import RevocationConfig

            revocation = RevocationConfig.from_dict(_mapping(doc["revocation"], "revocation"), "revocation")
            if revocation.crl.urls and source:
                # Like the truststore, a relative CRL source is read next to the policy document.
                urls = tuple(resolve_relative(u, source) for u in revocation.crl.urls)
                revocation = dataclasses.replace(revocation, crl=dataclasses.replace(revocation.crl, urls=urls))
        return cls(
            version=int(version),
            truststore=_truststore(doc.get("truststore"), source),
            access=AccessPolicy.from_dict(doc),
            revocation=revocation,
            cache=_cache(doc.get("cache")),
            validation=_validation(doc.get("validation")),
            http2_response=_http2(doc.get("response")),
            source=source,
            warnings=warnings,
        )

    def summary(self) -> list[str]:
        """Human lines for ``check-config`` and the load log."""
        lines = [
            f"truststore: {self.truststore.uri}"
            + (f" (version {self.truststore.version})" if self.truststore.version else ""),
            f"validation: EKU {self.validation.eku.value}, at most {self.validation.max_chain_length} certificates",
            f"policies: {self.validation.policies.describe()}",
            f"cache: re-read every {self.cache.ttl_seconds:g} s, last good kept {self.cache.max_stale_seconds:g} s, "
            f"a refresh waits at most {self.cache.refresh_deadline_seconds:g} s",
            f"HTTP API 2.0 answers: {self.http2_response.value} response",
        ]
        lines.append(self.revocation.describe() if self.revocation else "revocation: none (no 'revocation' section)")
        lines.extend(self.access.summary())
        lines.extend(f"warning: {w}" for w in self.warnings)
        return lines


#: How deep a policy document may nest (the deepest real one is 5 levels: clients[].match.*).
MAX_DEPTH = 32
#: Longest integer literal read as a number (a serial of 20 octets has 49 decimal digits).
MAX_INT_DIGITS = 64
#: Largest value of a duration in seconds (a year).
MAX_SECONDS = 365 * 24 * 3600
#: Bounds of ``cache.refresh_deadline_seconds`` (Lambda gives the function a few seconds).
MIN_DEADLINE, MAX_DEADLINE = 0.05, 5.0


class _Unusable:
    """A JSON number that must not become a Python number: ``NaN``, ``Infinity``, a float that
    overflows (``1e400``) or an integer of thousands of digits. Kept as a marker while parsing so
    that :func:`load_json` can name the field that holds it."""

    __slots__ = ("text", "why")

    def __init__(self, text: str, why: str) -> None:
        self.text, self.why = text[:20] + ("..." if len(text) > 20 else ""), why

    def __repr__(self) -> str:
        return self.text


def _parse_float(text: str) -> float | _Unusable:
    value = float(text)
    return value if math.isfinite(value) else _Unusable(text, "not a finite number")


def _parse_int(text: str) -> int | _Unusable:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return _Unusable(text, f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_constant(text: str) -> _Unusable:
    return _Unusable(text, "not a finite number (NaN and Infinity are not JSON)")


def load_json(data: bytes, what: str) -> Any:
    """Parse a policy document: any problem is a ``ConfigError`` naming the field, never a
    ``RecursionError``, ``ValueError`` or ``OverflowError``; ``NaN``, ``Infinity``, ``1e400`` and
    huge integers are refused wherever they are, nesting deeper than :data:`MAX_DEPTH` too."""
    try:
        doc = json.loads(data, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("", f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError("", f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    # An explicit stack, not recursion: the document may be as deep as the JSON parser allowed.
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, _Unusable):
            raise ConfigError(path, f"{value.text} is {value.why}")
        if isinstance(value, str) and not _encodable(value):
            raise ConfigError(path, "holds a lone surrogate (\\ud800-\\udfff): not text")
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise ConfigError(path, f"nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                if isinstance(key, str) and not _encodable(key):
                    raise ConfigError(path, "a key holds a lone surrogate (\\ud800-\\udfff): not text")
                child_path = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
                stack.append((child, child_path, depth + 1))
    return doc


def _encodable(text: str) -> bool:
    """JSON's \\uXXXX escapes can spell a lone surrogate, which no UTF-8 log line can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def resolve_relative(uri: str, base: str) -> str:
    """A relative truststore URI is read next to the policy document (file or S3 prefix)."""
    if not uri or "://" in uri or uri.startswith("/") or not base:
        return uri
    if base.startswith("s3://"):
        bucket_key = base[len("s3://") :]
        bucket, _, key = bucket_key.partition("/")
        return f"s3://{bucket}/{posixpath.join(posixpath.dirname(key), uri)}"
    if base.startswith("file://"):
        return "file://" + posixpath.join(posixpath.dirname(base[len("file://") :]), uri)
    return posixpath.join(posixpath.dirname(base), uri)


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected an object, got {type(value).__name__}")
    return value


def _only(section: Mapping[str, Any], path: str, known: set[str]) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})")


def _number(section: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = section.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= MAX_SECONDS)  # also False for NaN
    ):
        raise ConfigError(f"{path}.{key}", f"expected a number of seconds from 0 to {MAX_SECONDS}, got {value!r}")
    return float(value)


def _truststore(value: object, source: str) -> TruststoreRef:
    section = _mapping(value, "truststore")
    _only(section, "truststore", {"uri", "version"})
    uri = section.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError("truststore.uri", "expected a path, file:// or s3:// URI")
    if "://" in uri and not uri.startswith(("file://", "s3://")):
        raise ConfigError("truststore.uri", f"unsupported scheme in {uri!r}: use a path, file:// or s3://")
    version = section.get("version")
    if version is not None and not (isinstance(version, str) and version):
        raise ConfigError("truststore.version", "expected an S3 object version id (string)")
    return TruststoreRef(resolve_relative(uri, source), version)


def _cache(value: object) -> CacheSettings:
    if value is None:
        return CacheSettings()
    section = _mapping(value, "cache")
    _only(section, "cache", {"ttl_seconds", "max_stale_seconds", "refresh_deadline_seconds"})
    deadline = _number(section, "refresh_deadline_seconds", "cache", 1.0)
    if not MIN_DEADLINE <= deadline <= MAX_DEADLINE:
        where = "cache.refresh_deadline_seconds"
        raise ConfigError(where, f"expected a number from {MIN_DEADLINE} to {MAX_DEADLINE}, got {deadline:g}")
    return CacheSettings(
        _number(section, "ttl_seconds", "cache", 60.0), _number(section, "max_stale_seconds", "cache", 3600.0), deadline
    )


def _validation(value: object) -> ValidationSettings:
    if value is None:
        return ValidationSettings()
    section = _mapping(value, "validation")
    _only(section, "validation", {"eku", "max_chain_length", "policies"})
    eku = section.get("eku", EkuMode.CLIENT_AUTH.value)
    try:
        mode = EkuMode(eku)
    except ValueError:
        raise ConfigError("validation.eku", f"expected one of {[m.value for m in EkuMode]}, got {eku!r}") from None
    length = section.get("max_chain_length", MAX_CHAIN_LENGTH)
    if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= MAX_CHAIN_LENGTH:
        raise ConfigError(
            "validation.max_chain_length",
            f"expected an integer from 2 to {MAX_CHAIN_LENGTH} (API Gateway's limit)",
        )
    return ValidationSettings(mode, length, _policy_inputs(section.get("policies")))


def _policy_inputs(value: object) -> PolicyInputs:
    """``validation.policies``: RFC 5280 §6.1.1's user-initial-policy-set and three flags."""
    if value is None:
        return PolicyInputs()
    path = "validation.policies"
    section = _mapping(value, path)
    _only(section, path, {"acceptable", "require_explicit", "inhibit_mapping", "inhibit_any"})
    acceptable = section.get("acceptable", [ANY_POLICY])
    if not isinstance(acceptable, list) or not acceptable or len(acceptable) > 256:
        raise ConfigError(f"{path}.acceptable", 'expected a list of 1 to 256 policy OIDs ("2.5.29.32.0" is anyPolicy)')
    for i, oid in enumerate(acceptable):
        if not isinstance(oid, str) or not OID_PATTERN.fullmatch(oid):
            raise ConfigError(
                f"{path}.acceptable[{i}]", f'expected a dotted OID such as "1.3.6.1.4.1.99.1", got {oid!r}'
            )
    flags = {}
    for key in ("require_explicit", "inhibit_mapping", "inhibit_any"):
        flag = section.get(key, False)
        if not isinstance(flag, bool):
            raise ConfigError(f"{path}.{key}", f"expected true or false, got {flag!r}")
        flags[key] = flag
    return PolicyInputs(frozenset(acceptable), **flags)


def _http2(value: object) -> Http2Response:
    if value is None:
        return Http2Response.SIMPLE
    section = _mapping(value, "response")
    _only(section, "response", {"http2"})
    mode = section.get("http2", Http2Response.SIMPLE.value)
    try:
        return Http2Response(mode)
    except ValueError:
        raise ConfigError("response.http2", f"expected 'simple' or 'iam', got {mode!r}") from None
