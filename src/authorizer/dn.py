"""Distinguished names compared as parsed names (RFC 4514 strings, RFC 4518-style folding).

A policy names a client by a DN string such as ``CN=client1,O=Partner A``; the certificate
carries an ``x509.Name``. Neither side is ever compared as raw text: both become a
:data:`DNKey`, a tuple of RDNs in DER order (most significant first), each RDN a sorted tuple
of ``(attribute OID, folded value)`` pairs. So attribute types, values and their order matter,
a multi-valued RDN compares as a set, escapes are decoded, and case, Unicode compatibility forms
and insignificant spaces do not matter.

The parser is our own rather than ``x509.Name.from_rfc4514_string``: that one refuses a space
after a comma (``CN=a, O=b``, the form most tools print), knows few attribute names (no ``E``,
``SERIALNUMBER``), is case-sensitive about them, rejects a CN over 64 characters and keeps a
``#hex`` value as the raw bytes of its BER encoding instead of the string inside.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

#: One attribute of an RDN: the dotted OID and its folded value (``#hex`` for binary values).
AttrKey = tuple[str, str]
#: A whole name: RDNs in DER order, each a sorted tuple of attribute keys.
DNKey = tuple[tuple[AttrKey, ...], ...]


class DNSyntaxError(ValueError):
    """The text is not an RFC 4514 distinguished name; the message says where and why."""


_NAMES: dict[str, ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "COMMONNAME": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "COUNTRYNAME": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "LOCALITYNAME": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "STATEORPROVINCENAME": NameOID.STATE_OR_PROVINCE_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "ORGANIZATIONNAME": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "ORGANIZATIONALUNITNAME": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "STREETADDRESS": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "DOMAINCOMPONENT": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "USERID": NameOID.USER_ID,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "SN": NameOID.SURNAME,
    "SURNAME": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
    "INITIALS": NameOID.INITIALS,
    "PSEUDONYM": NameOID.PSEUDONYM,
    "GENERATIONQUALIFIER": NameOID.GENERATION_QUALIFIER,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "POSTALCODE": NameOID.POSTAL_CODE,
    "BUSINESSCATEGORY": NameOID.BUSINESS_CATEGORY,
    "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER,
    "JURISDICTIONC": NameOID.JURISDICTION_COUNTRY_NAME,
    "JURISDICTIONCOUNTRYNAME": NameOID.JURISDICTION_COUNTRY_NAME,
}

#: Short names for display, e.g. ``2.5.4.3`` -> ``CN``.
_SHORT = {oid.dotted_string: name for name, oid in _NAMES.items() if len(name) <= 2 or name == "UID"}

_OID_RE = re.compile(r"(?:OID\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)", re.IGNORECASE)
_TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_PLAIN_RUN = re.compile(r'[^,+"\\<>;=]+')
_HEX_VALUE = re.compile(r"#([0-9a-fA-F]+)")
_SPECIALS = frozenset(',+"\\<>;=# ')

# RFC 4518 section 2.2: code points mapped to nothing, and those mapped to a space.
_TO_NOTHING = re.compile(
    "[\u00ad\u1806\u034f\u180b-\u180d\ufe00-\ufe0f\ufffc\u200b"
    "\u0000-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f\u06dd\u070f\u180e\u200c-\u200f"
    "\u202a-\u202e\u2060-\u2063\u206a-\u206f\ufeff\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_SPACES = re.compile(r"[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def fold(value: str) -> str:
    """Fold a directory string for caseIgnoreMatch (RFC 4518): map, case-fold, NFKC, spaces.

    Leading and trailing spaces go and inner runs become one space, so ``"Partner  A "`` equals
    ``"partner a"``. Every attribute is folded this way, including ``C``, ``DC`` and
    ``emailAddress`` whose matching rules are case-insensitive too.
    """
    mapped = _TO_NOTHING.sub("", value)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", mapped).casefold())
    return _SPACES.sub(" ", folded).strip(" ")


def _attr_key(oid: str, value: str | bytes) -> AttrKey:
    if isinstance(value, bytes):
        return (oid, "#" + value.hex())
    return (oid, fold(value))


def name_key(name: x509.Name) -> DNKey:
    """The comparison key of a certificate's subject or issuer."""
    return tuple(tuple(sorted(_attr_key(attr.oid.dotted_string, attr.value) for attr in rdn)) for rdn in name.rdns)


def parse_dn(text: str) -> DNKey:
    """Parse an RFC 4514 string into its comparison key (string order is reversed to DER order).

    Tolerated beyond the strict grammar, as LDAPv2 and most tools do: spaces around ``,``,
    ``+`` and ``=``, attribute names in any case, and the long names (``commonName``). Raises
    :class:`DNSyntaxError` for anything else, e.g. an unknown attribute name or a bad escape.
    """
    if not text.strip():
        raise DNSyntaxError("empty distinguished name")
    rdns = [tuple(sorted(rdn)) for rdn in _Parser(text).parse()]
    return tuple(reversed(rdns))


def format_key(key: DNKey) -> str:
    """A readable form of a key, for summaries and log details (not a round-trippable DN)."""
    return ",".join("+".join(f"{_SHORT.get(oid, oid)}={value}" for oid, value in rdn) for rdn in reversed(key))


class _Parser:
    """A small recursive-descent RFC 4514 parser over one string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> DNSyntaxError:
        return DNSyntaxError(f"{message} at character {self.pos + 1}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def parse(self) -> list[list[AttrKey]]:
        rdns: list[list[AttrKey]] = []
        rdn: list[AttrKey] = []
        while True:
            rdn.append(self.attribute())
            self.skip_spaces()
            if self.pos >= len(self.text):
                rdns.append(rdn)
                return rdns
            sep = self.text[self.pos]
            self.pos += 1
            if sep == ",":
                rdns.append(rdn)
                rdn = []
            elif sep != "+":
                raise self.error(f"expected ',' or '+', found {sep!r}")

    def attribute(self) -> AttrKey:
        self.skip_spaces()
        oid = self.attribute_type()
        self.skip_spaces()
        if self.pos >= len(self.text) or self.text[self.pos] != "=":
            raise self.error("expected '=' after the attribute type")
        self.pos += 1
        self.skip_spaces()
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            return (oid, self.hex_value())
        return (oid, fold(self.string_value()))

    def attribute_type(self) -> str:
        m = _OID_RE.match(self.text, self.pos) or _TYPE_RE.match(self.text, self.pos)
        if m is None:
            raise self.error("expected an attribute type (e.g. CN) or a dotted OID")
        self.pos = m.end()
        if m.re is _OID_RE:
            return m.group(1)
        oid = _NAMES.get(m.group(0).upper())
        if oid is None:
            raise DNSyntaxError(f"unknown attribute type {m.group(0)!r}: use a dotted OID for it")
        return oid.dotted_string

    def string_value(self) -> str:
        out: list[str] = []
        pending = bytearray()  # consecutive \XX escapes form one UTF-8 sequence
        text = self.text
        while self.pos < len(text):
            plain = _PLAIN_RUN.match(text, self.pos)
            if plain is not None:  # the common case: a run of ordinary characters in one step
                self._flush(pending, out)
                out.append(plain.group(0))
                self.pos = plain.end()
                continue
            ch = text[self.pos]
            if ch in ",+":
                break
            if ch == "\\":
                nxt = text[self.pos + 1 : self.pos + 3]
                if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                    pending.append(int(nxt, 16))
                    self.pos += 3
                    continue
                if nxt[:1] and nxt[0] in _SPECIALS:
                    self._flush(pending, out)
                    out.append(nxt[0])
                    self.pos += 2
                    continue
                raise self.error('bad escape (use \\ before one of ,+"\\<>;=# and space, or two hex digits)')
            raise self.error(f"unescaped {ch!r} in a value")
        self._flush(pending, out)
        return "".join(out)

    def _flush(self, pending: bytearray, out: list[str]) -> None:
        if pending:
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                raise self.error("hex escapes are not valid UTF-8") from None
            pending.clear()

    def hex_value(self) -> str:
        """``#`` followed by the hex BER encoding: strings are decoded, anything else kept as hex."""
        m = _HEX_VALUE.match(self.text, self.pos)
        if m is None or len(m.group(1)) % 2:
            raise self.error("expected hex pairs after '#'")
        self.pos = m.end()
        der = bytes.fromhex(m.group(1))
        text = _decode_der_string(der)
        return fold(text) if text is not None else "#" + der.hex()


# DER string types and how their contents decode.
_STRING_TAGS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x14: "latin-1",
    0x1A: "ascii",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}


def _decode_der_string(der: bytes) -> str | None:
    if len(der) < 2 or der[0] not in _STRING_TAGS:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return None
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if offset + length != len(der):
        return None
    try:
        return der[offset:].decode(_STRING_TAGS[der[0]])
    except UnicodeDecodeError:
        return None


def attribute_values(key: DNKey, oid: ObjectIdentifier) -> Iterable[str]:
    """The folded values of one attribute type in a key (e.g. every CN)."""
    dotted = oid.dotted_string
    for rdn in key:
        for attr_oid, value in rdn:
            if attr_oid == dotted:
                yield value
