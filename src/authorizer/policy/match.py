"""One ``match`` object of a client or deny entry: its keys, their patterns, their parsing."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dn import DNKey, DNSyntaxError, fold, format_key, parse_dn
from ..reasons import ConfigError
from ..validation.policies import OID_PATTERN
from ..wildcard import Wildcard
from .facts import CertFacts, _fold_dns, _fold_email, _fold_uri

MATCH_KEYS = (
    "subject",
    "subject_cn",
    "san_dns",
    "san_uri",
    "san_email",
    "issuer",
    "serial",
    "cert_sha256",
    "policy",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SERIAL_HEX = re.compile(r"[0-9a-f]+(?::[0-9a-f]+)*")


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
    #: A certificate policy OID the verified path must carry. anyPolicy in the path does not
    #: stand in for it: to accept anyPolicy paths for an OID, ask for that OID in
    #: ``validation.policies.acceptable`` (RFC 5280 §6.1.5(g) then names it).
    policy: str | None = None

    def fits(self, f: CertFacts) -> bool:
        return (
            (self.cert_sha256 is None or self.cert_sha256 in f.fingerprints)
            and (self.policy is None or self.policy in f.policies)
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
        if self.policy is not None:
            out.append(f"policy={self.policy}")
        return " ".join(out)

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> Match:
        raw = _object(raw, path, MATCH_KEYS)
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
            policy=_policy_oid(raw["policy"], f"{path}.policy") if "policy" in raw else None,
        )


def _object(raw: Any, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    """``raw`` as an object whose keys are all ``allowed``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(path, "expected an object")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        names = ", ".join(f'"{k}"' for k in unknown)
        raise ConfigError(path, f"unknown key(s) {names} (known: {', '.join(allowed)})")
    return raw


def _policy_oid(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not OID_PATTERN.fullmatch(raw):
        raise ConfigError(path, f'expected a certificate policy OID such as "1.3.6.1.4.1.99.1", got {raw!r}')
    return raw


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
        if len(text) > 128:  # 20 octets are 40 hex digits (59 with colons); int() refuses 4,300+
            raise ConfigError(path, f"a serial of {len(text)} characters is longer than any certificate's")
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
