"""Mutation strategies for the fuzz properties: raw bytes, DER trees, PEM text, JSON values.

Two kinds of DER mutation, because they find different bugs:

* byte-level (flip a bit, overwrite, insert, delete, truncate) inside a chosen region: mostly
  unparsable results, which exercise the "malformed" paths;
* structure-aware: the DER is parsed into a tree of TLVs (descending into constructed types and
  into OCTET/BIT STRINGs that hold DER, such as extension values and ECDSA signatures), one node
  is changed (new content, new tag, deleted, duplicated, dates replaced by far-future ones) and
  the tree is re-encoded with correct lengths. The result is well-formed DER that means
  something else: a version cryptography refuses, a duplicate extension, nextUpdate in 9999.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# -- a minimal DER tree ----------------------------------------------------------------------------


@dataclass
class Node:
    tag: int
    raw: bytes = b""
    children: list[Node] | None = None
    #: bytes before the nested DER inside a primitive wrapper (the BIT STRING unused-bits octet)
    prefix: bytes = b""
    nested: bool = False  # an OCTET/BIT STRING whose content is DER (``children`` holds it)
    path: tuple[int, ...] = field(default=(), compare=False)


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tag")
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated content")
    return tag, pos, pos + length


def _parse_all(data: bytes, path: tuple[int, ...]) -> list[Node]:
    nodes: list[Node] = []
    pos = 0
    while pos < len(data):
        tag, start, end = _header(data, pos)
        nodes.append(_node(tag, data[start:end], (*path, len(nodes))))
        pos = end
    return nodes


def _node(tag: int, content: bytes, path: tuple[int, ...]) -> Node:
    if tag & 0x20:
        return Node(tag, children=_parse_all(content, path), path=path)
    if tag in (0x03, 0x04) and content:
        prefix = content[:1] if tag == 0x03 else b""
        inner = content[len(prefix) :]
        if inner[:1] in (b"\x30", b"\x31"):
            try:
                return Node(tag, children=_parse_all(inner, path), prefix=prefix, nested=True, path=path)
            except ValueError:
                pass
    return Node(tag, raw=content, path=path)


def parse(der: bytes) -> Node:
    tag, start, end = _header(der, 0)
    return _node(tag, der[start:end], (0,))


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(node: Node) -> bytes:
    children = node.children
    content = node.raw if children is None else node.prefix + b"".join(encode(c) for c in children)
    return bytes([node.tag]) + encode_length(len(content)) + content


def walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children or ():
        out.extend(walk(child))
    return out


def region(der: bytes, *path: int) -> tuple[int, int]:
    """Byte offsets ``[start, end)`` of the TLV at ``path`` (child indexes below the top TLV)."""
    node_start = 0
    _, content_start, node_end = _header(der, 0)
    for index in path:
        pos = content_start
        for _ in range(index):
            pos = _header(der, pos)[2]
        node_start = pos
        _, content_start, node_end = _header(der, pos)
    return node_start, node_end


# -- strategies ----------------------------------------------------------------------------------

#: Stands for a 5,000-digit integer in a document (Python cannot even ``str()`` one by default);
#: :func:`dumps` writes the digits.
BIG_INT = "\x00BIGINT\x00"
FAR_FUTURE = [b"99991231235959Z", b"99991231235960Z", b"00000101000000Z", b"20500101000000Z"]


@st.composite
def byte_mutation(draw: st.DrawFn, base: bytes, lo: int = 0, hi: int | None = None) -> bytes:
    """1-4 byte-level edits of ``base`` inside ``[lo, hi)``; always different from ``base``."""
    hi = len(base) if hi is None else hi
    data = bytearray(base)
    # the first edit is a bit flip inside the region, so the result always differs there
    pos = draw(st.integers(lo, hi - 1))
    data[pos] ^= 1 << draw(st.integers(0, 7))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate"]))
        end = min(hi, len(data))
        if end <= lo:
            break
        pos = draw(st.integers(lo, end - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        else:
            n = draw(st.integers(1, 16))
            data[pos:pos] = data[pos : pos + n]
    if bytes(data) == base:  # a later edit undid the first one
        data[lo] ^= 0x01
    return bytes(data)


def der_mutation(base: bytes, under: tuple[int, ...] = ()) -> st.SearchStrategy[bytes]:
    """One structure-aware edit of a node below ``(0, *under)``, re-encoded; never ``base``."""
    return _der_mutation(base, under).filter(lambda out: out != base)


@st.composite
def _der_mutation(draw: st.DrawFn, base: bytes, under: tuple[int, ...] = ()) -> bytes:
    """One structure-aware edit of a node whose path starts with ``(0, *under)``; re-encoded."""
    tree = parse(base)
    prefix = (0, *under)
    nodes = [n for n in walk(tree) if n.path[: len(prefix)] == prefix and n.path != prefix]
    target = draw(st.sampled_from(nodes))
    parent = next(n for n in walk(tree) if n.children is not None and any(c is target for c in n.children))
    siblings = parent.children
    assert siblings is not None
    index = next(i for i, c in enumerate(siblings) if c is target)
    op = draw(st.sampled_from(["content", "tag", "delete", "duplicate", "swap", "integer", "time", "prefix"]))
    if op == "content" or (target.children is not None and op in ("integer", "time")):
        target.children, target.nested, target.prefix = None, False, b""
        target.raw = draw(st.binary(max_size=40))
    elif op == "tag":
        target.tag = draw(st.integers(0, 255).filter(lambda t: t & 0x1F != 0x1F))
    elif op == "delete":
        siblings.pop(index)
    elif op == "duplicate":
        copy = parse(encode(target))
        siblings.insert(index, copy)
    elif op == "swap" and len(siblings) > 1:
        other = draw(st.integers(0, len(siblings) - 1))
        siblings[index], siblings[other] = siblings[other], siblings[index]
    elif op == "integer":
        value = draw(st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, 3, 255, -1])))
        target.tag, target.raw = 0x02, value.to_bytes((value.bit_length() + 8) // 8 or 1, "big", signed=True)
    elif op == "time":
        target.tag = draw(st.sampled_from([0x17, 0x18]))
        target.raw = draw(st.sampled_from(FAR_FUTURE)) if target.tag == 0x18 else draw(st.binary(max_size=15))
    elif op == "prefix" and target.tag == 0x03:
        target.prefix = bytes([draw(st.integers(1, 7))]) if target.nested else target.prefix
        if not target.nested:
            target.raw = bytes([draw(st.integers(1, 8))]) + target.raw[1:]
    else:
        target.raw = draw(st.binary(min_size=1, max_size=8))
        target.children = None
    return encode(tree)  # may equal ``base`` (a swap of equal siblings): callers filter


def pem_of(der: bytes, label: str = "CERTIFICATE") -> str:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


#: Characters that stress text handling: lone surrogates, NUL, controls, non-BMP, RTL.
NASTY_CHARS = ["\ud800", "\udfff", "\x00", "\n", "\r", "\x1b", "\u202e", "\U0001f600", "é", "%", "*", "/", "'", '"']

nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY_CHARS), st.characters(codec="utf-8"), st.just("a")), max_size=40
).map("".join)


@st.composite
def pem_mutation(draw: st.DrawFn, pem: str) -> str:
    """Text-level edits of a PEM: base64 characters, lines, labels, whitespace, duplicates."""
    text = pem
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["char", "line", "label", "space", "double", "truncate", "junk"]))
        lines = text.split("\n")
        if op == "char" and len(text) > 60:
            pos = draw(st.integers(28, len(text) - 27))
            text = text[:pos] + draw(st.sampled_from([*NASTY_CHARS, "A", "=", "-", "+", "!"])) + text[pos + 1 :]
        elif op == "line" and len(lines) > 2:
            del lines[draw(st.integers(1, len(lines) - 2))]
            text = "\n".join(lines)
        elif op == "label":
            label = draw(st.sampled_from(["X509 CRL", "CERTIFICATE REQUEST", "", "CERT"]))
            text = text.replace("CERTIFICATE", label, 1)
        elif op == "space":
            text = text.replace("\n", draw(st.sampled_from(["\r\n", " ", "\n\n", "\t", "\\n"])))
        elif op == "double":
            text = text + text
        elif op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        else:
            text = draw(nasty_text) + text + draw(nasty_text)
    return text


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 10**400, 2**63, float("nan"), float("inf"), -float("inf"), 1e400, 1e-400, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)),
    max_leaves=12,
)


def deep(depth: int, leaf: Any = 1, kind: str = "list") -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def paths(doc: Any, prefix: tuple[Any, ...] = (), limit: int = 12) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (dict keys and list indexes), at most ``limit`` deep."""
    out = [prefix]
    if len(prefix) >= limit:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(paths(v, (*prefix, k), limit))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(paths(v, (*prefix, i), limit))
    return out


@st.composite
def json_mutation(draw: st.DrawFn, doc: Any) -> Any:
    """1-3 edits of a JSON document: replace, delete or add a value anywhere (values include NaN,
    1e400, 5,000-digit integers, nesting thousands deep, lone surrogates)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(doc)))
        value = draw(
            st.one_of(
                json_values,
                st.builds(deep, st.integers(50, 5000), json_scalars, st.sampled_from(["list", "dict"])),
                st.just(BIG_INT),
            )
        )
        if not where:
            doc = value if draw(st.booleans()) else doc
            continue
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        key = where[-1]
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if op == "replace":
            parent[key] = value
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(nasty_text)] = value
        else:
            parent.insert(key, value)
    return doc


def dumps(doc: Any) -> str:
    """JSON text of ``doc`` as a file would hold it (NaN/Infinity as Python's json writes them);
    documents too deep for the encoder are written by hand."""
    try:
        text = json.dumps(doc)
    except RecursionError:
        text = _dumps_iter(doc)
    return text.replace(json.dumps(BIG_INT), "9" * 5000)


def _dumps_iter(doc: Any) -> str:
    out: list[str] = []
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, list):
            stack.append(_Raw("]"))
            for i, v in reversed(list(enumerate(item))):
                stack.append(v)
                if i:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        elif isinstance(item, dict):
            stack.append(_Raw("}"))
            for i, (k, v) in reversed(list(enumerate(item.items()))):
                stack.append(v)
                stack.append(_Raw(json.dumps(k) + ":"))
                if i:
                    stack.append(_Raw(","))
            stack.append(_Raw("{"))
        else:
            out.append(json.dumps(item))
    return "".join(out)


@dataclass(frozen=True)
class _Raw:
    text: str
