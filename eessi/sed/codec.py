"""XML encoder and decoder for the SED models: one generic walker over the field metadata.

Every model field carries an :class:`~eessi.sed.model.XmlField` (element path, kind, version);
:func:`encode_node` writes fields in declaration order (= the schema sequence) and
:func:`decode_node` reads them back, so the thirteen SEDs and the header need no serializer of
their own.

Output is deterministic: ``<?xml version='1.0' encoding='UTF-8'?>``, the root in its namespace
with a fixed prefix, children unqualified (SEDs) or qualified (the header), two-space
indentation. The same object always gives the same bytes, and decoding then re-encoding bytes
we produced gives them back unchanged.

Decoding is strict about structure it does not know: an element that no field maps (outside an
XML signature) is an error, so a document of another SED or version is never half-read. It is
not a validator: element order and cardinalities are the schema's job (``eessi.sed.validate``).

lxml errors are translated here into :mod:`eessi.errors` exceptions.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MemberDescriptorType
from typing import Any, Final, TypeVar, cast

from lxml import etree

from eessi.errors import (
    SedError,
    SedModelError,
    UnknownSedError,
    UnsupportedVersionError,
    XmlSyntaxError,
)
from eessi.sed import xmlsafe
from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS, namespace, parse_namespace
from eessi.sed.model import Node, XmlField, version_at_least, xml_fields

__all__ = [
    "DSIG_NS",
    "decode_node",
    "decode_root",
    "decode_sed",
    "decode_sed_element",
    "encode_node",
    "encode_root",
    "encode_sed",
    "parse",
    "sed_identity",
]

N = TypeVar("N", bound=Node)

#: XML signature namespace: a ``ds:Signature`` at the end of a SED is skipped on decoding.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
#: Prefix of the SED root element.
SED_PREFIX = "sed"


# --- encoding ---------------------------------------------------------------------------


def _is_empty(spec: XmlField, value: object) -> bool:
    return value is None or (spec.many and value == ())


def _text_of(spec: XmlField, value: object) -> str:
    if spec.kind == "yesno":
        return "01" if value else "02"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, _dt.date):  # date and datetime
        return value.isoformat()
    return str(value)


def encode_node(
    element: etree._Element, node: Node, version: str, ns: str | None, where: str
) -> None:
    """Append ``node``'s fields to ``element`` in schema order.

    ``ns`` qualifies child elements (``None``: unqualified). Consecutive fields under the same
    wrapper path share one wrapper element.
    """
    stack: list[tuple[str, etree._Element]] = []
    for name, spec in xml_fields(type(node)):
        value = getattr(node, name)
        if _is_empty(spec, value):
            continue
        if spec.since is not None and not version_at_least(version, spec.since):
            raise SedError(
                f"{type(node).__name__}.{name} ({'/'.join(spec.path)}) does not exist in "
                f"version {version} (it was added in {spec.since})",
                code="sed.field-not-in-version",
                where=where,
                hint=f"leave it unset for a {version} document, or encode as {spec.since}",
            )
        wrappers = spec.path if spec.choice and not spec.many else spec.path[:-1]
        k = 0
        while k < len(stack) and k < len(wrappers) and stack[k][0] == wrappers[k]:
            k += 1
        del stack[k:]
        parent = stack[-1][1] if stack else element
        for w in wrappers[k:]:
            parent = etree.SubElement(parent, _q(ns, w))
            stack.append((w, parent))
        items = value if spec.many else (value,)
        for item in items:
            if spec.choice:
                holder = parent
                if spec.many:
                    holder = etree.SubElement(parent, _q(ns, spec.name))
                leaf = next(n for n, c in spec.choice if isinstance(item, c))
                child = etree.SubElement(holder, _q(ns, leaf))
                encode_node(child, item, version, ns, f"{where}/{'/'.join((*spec.path, leaf))}")
            elif isinstance(spec.kind, type) and issubclass(spec.kind, Node):
                child = etree.SubElement(parent, _q(ns, spec.name))
                encode_node(child, item, version, ns, f"{where}/{'/'.join(spec.path)}")
            else:
                etree.SubElement(parent, _q(ns, spec.name)).text = _text_of(spec, item)


def _q(ns: str | None, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


# The fast encoder writes the serialized text directly, byte-identical to building the tree
# with :func:`encode_node`, ``etree.indent(root, space="  ")`` and ``etree.tostring(...,
# pretty_print=True)`` (``tests/sed/test_codec.py`` checks the two against each other): an
# element with children opens and closes on its own indented line, a leaf holds its text inline,
# an element with neither is self-closed, text escapes ``& < >`` and CR exactly as libxml2 does.
# It is about 4x cheaper than building lxml elements (P3 in docs/performance.md).
# Its helpers are all named ``_encode_*``, so a profile can tell them from the decoder's.

#: ``"\n"`` plus two spaces per depth, for the first 64 depths.
_INDENT: Final = tuple("\n" + "  " * d for d in range(64))


def _encode_escape(text: str) -> str:
    """Text content as libxml2 serializes it (UTF-8 output: only ``& < >`` and CR escaped)."""
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        text = (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\r", "&#13;")
        )
    return text


def _encode_enum(value: Any) -> str:
    return str(value.value)


def _encode_yesno(value: Any) -> str:
    return "01" if value else "02"


def _encode_date(value: Any) -> str:
    return cast(str, value.isoformat())


def _encode_text(value: Any) -> str:
    return _encode_escape(value) if isinstance(value, str) else _encode_escape(str(value))


@dataclass(frozen=True, slots=True)
class _Out:
    """How to write one field: tags (with the prefix) and the text converter, once per class."""

    name: str
    spec: XmlField
    #: Wrapper element names (as written, prefixed when qualified).
    wrappers: tuple[str, ...]
    #: Start/end tag of the leaf, nested element or per-item choice holder.
    open: str
    close: str
    #: For a choice: (class, start tag, end tag, error-path suffix) per alternative.
    choice: tuple[tuple[type[Node], str, str, str], ...]
    #: ``/`` + the element path, for error paths.
    suffix: str
    node_kind: type[Node] | None
    text: Callable[[Any], str]


_OUT_PLANS: dict[tuple[type, str | None], tuple[_Out, ...]] = {}
_AT_LEAST: dict[tuple[str, str], bool] = {}


def _version_ok(version: str, since: str) -> bool:
    ok = _AT_LEAST.get((version, since))
    if ok is None:
        ok = _AT_LEAST[(version, since)] = version_at_least(version, since)
    return ok


def _encode_plan(cls: type[Node], prefix: str | None) -> tuple[_Out, ...]:
    plan = _OUT_PLANS.get((cls, prefix))
    if plan is None:
        p = f"{prefix}:" if prefix else ""
        outs = []
        for name, spec in xml_fields(cls):
            kind = spec.kind
            text: Callable[[Any], str]
            if kind == "yesno":
                text = _encode_yesno
            elif isinstance(kind, type) and issubclass(kind, Enum):
                text = _encode_enum
            elif kind in ("date", "datetime"):
                text = _encode_date
            else:
                text = _encode_text
            wrappers = spec.path if spec.choice and not spec.many else spec.path[:-1]
            outs.append(
                _Out(
                    name=name,
                    spec=spec,
                    wrappers=tuple(p + w for w in wrappers),
                    open=f"<{p}{spec.name}>",
                    close=f"</{p}{spec.name}>",
                    choice=tuple(
                        (c, f"<{p}{n}>", f"</{p}{n}>", "/" + "/".join((*spec.path, n)))
                        for n, c in spec.choice
                    ),
                    suffix="/" + "/".join(spec.path),
                    node_kind=kind if isinstance(kind, type) and issubclass(kind, Node) else None,
                    text=text,
                )
            )
        plan = _OUT_PLANS[(cls, prefix)] = tuple(outs)
    return plan


def _join_where(where: object) -> str:
    """A lazily built error path (``(parent, suffix)`` pairs down from a string) as text."""
    parts: list[str] = []
    while isinstance(where, tuple):
        where, suffix = where
        parts.append(suffix)
    parts.append(cast(str, where))
    return "".join(reversed(parts))


# The encoders are generated: one function per (class, prefix, depth), compiled once from the
# encoding plan (as the one-pass decoder is, D180, D181), with the indentation and tags of each
# line as constants and the wrapper elements opened and closed by precomputed transitions (which
# wrappers are open depends on which optional fields have values): wrappers shared by
# consecutive fields, children in schema order, an element with no children self-closed.
# ``tests/sed/test_codec.py`` compares the bytes with lxml's.

_Encoder = Callable[[list[str], Any, str, object, "str | None", str, str], None]
_ENCODERS: dict[tuple[type, str | None, int], _Encoder] = {}


def _encoder(cls: type[Node], prefix: str | None, depth: int) -> _Encoder:
    key = (cls, prefix, depth)
    found = _ENCODERS.get(key)
    if found is None:
        # A placeholder while generating (a class nested in itself goes through the lookup).
        _ENCODERS[key] = lambda *a: _encoder(cls, prefix, depth)(*a)
        found = _ENCODERS[key] = _generate_encoder(cls, prefix, depth)
    return found


def _encode_since_error(cls: type, name: str, spec: XmlField, version: str, where: object) -> None:
    raise SedError(
        f"{cls.__name__}.{name} ({'/'.join(spec.path)}) does not exist in "
        f"version {version} (it was added in {spec.since})",
        code="sed.field-not-in-version",
        where=_join_where(where),
        hint=f"leave it unset for a {version} document, or encode as {spec.since}",
    )


def _encode_transition(old: tuple[str, ...], new: tuple[str, ...], depth: int) -> str:
    """The lines that close the wrappers ``old`` and open ``new`` (children of ``depth``)."""
    k = 0
    while k < len(old) and k < len(new) and old[k] == new[k]:
        k += 1
    parts = [f"{_INDENT[depth + j]}</{old[j - 1]}>" for j in range(len(old), k, -1)]
    parts += [f"{_INDENT[depth + j]}<{new[j - 1]}>" for j in range(k + 1, len(new) + 1)]
    return "".join(parts)


def _generate_encoder(cls: type[Node], prefix: str | None, depth: int) -> _Encoder:
    """Write, compile and return the encoder of ``cls``'s element at ``depth``: called with the
    element's own start line, end line and self-closed line (``None``: children only)."""
    env: dict[str, Any] = {
        "_ok": _version_ok,
        "_since": _encode_since_error,
        "_cls": cls,
        "_isinstance": isinstance,
    }
    lines = [
        "def encode(out, node, version, where, head, tail, empty):",
        "    if head is not None:",
        "        at = len(out)",
        "        out.append(head)",
        "    st = 0",
    ]
    states: dict[tuple[str, ...], int] = {(): 0}
    seen_states: list[int] = [0]  # the states a field may find open (those of fields before)
    for i, o in enumerate(_encode_plan(cls, prefix)):
        spec = o.spec
        state = states.setdefault(o.wrappers, len(states))
        by_state = {s: p for p, s in states.items()}
        v = f"v{i}"
        lines.append(f"    {v} = node.{o.name}")
        lines.append(f"    if {v}:" if spec.many else f"    if {v} is not None:")
        pad = "        "
        if spec.since is not None:
            env[f"_s{i}"] = spec
            lines.append(f"{pad}if not _ok(version, {spec.since!r}):")
            lines.append(f"{pad}    _since(_cls, {o.name!r}, _s{i}, version, where)")
        others = [s for s in seen_states if s != state]
        if others:
            env[f"_t{i}"] = {s: _encode_transition(by_state[s], o.wrappers, depth) for s in others}
            lines.append(f"{pad}if st != {state}:")
            lines.append(f"{pad}    out.append(_t{i}[st])")
            lines.append(f"{pad}    st = {state}")
        if state not in seen_states:
            seen_states.append(state)
        d = depth + len(o.wrappers) + 1
        indent = _INDENT[d]
        # A repeated field loops over its items; a single one writes its value once (D403).
        if spec.many:
            lines.append(f"{pad}for x in {v}:")
            body = pad + "    "
        else:
            lines.append(f"{pad}x = {v}")
            body = pad
        if o.choice:
            holder = d + 1 if spec.many else d
            alts = []
            for k, (alt_cls, open_, close, suffix) in enumerate(o.choice):
                env[f"_a{i}_{k}"] = _encoder(alt_cls, prefix, holder)
                env[f"_w{i}_{k}"] = suffix
                hi = _INDENT[holder]
                alts.append((alt_cls, k, hi + open_, hi + close, f"{hi}{open_[:-1]}/>"))
            if spec.many:
                lines.append(f"{body}out.append({indent + o.open!r})")
            first = True
            for alt_cls, k, head, tail, empty in alts:
                env[f"_k{i}_{k}"] = alt_cls
                kw = "if" if first else "elif"
                first = False
                lines.append(f"{body}{kw} _isinstance(x, _k{i}_{k}):")
                lines.append(
                    f"{body}    _a{i}_{k}(out, x, version, (where, _w{i}_{k}),"
                    f" {head!r}, {tail!r}, {empty!r})"
                )
            if spec.many:
                lines.append(f"{body}out.append({indent + o.close!r})")
        elif o.node_kind is not None:
            env[f"_e{i}"] = _encoder(o.node_kind, prefix, d)
            env[f"_w{i}"] = o.suffix
            head, tail = indent + o.open, indent + o.close
            empty = f"{indent}{o.open[:-1]}/>"
            lines.append(
                f"{body}_e{i}(out, x, version, (where, _w{i}), {head!r}, {tail!r}, {empty!r})"
            )
        else:
            env[f"_x{i}"] = o.text
            lines.append(f"{body}out.append({indent + o.open!r} + _x{i}(x) + {o.close!r})")
    ends = {s: _encode_transition(p, (), depth) for p, s in states.items() if s}
    if ends:
        env["_end"] = ends
        lines.append("    if st:")
        lines.append("        out.append(_end[st])")
    lines.append("    if head is not None:")
    lines.append("        if len(out) == at + 1:")
    lines.append("            out[at] = empty")
    lines.append("        else:")
    lines.append("            out.append(tail)")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<encoder of {cls.__name__} at depth {depth}>", "exec"), env)
    return cast(_Encoder, env["encode"])


def encode_root(
    node: Node,
    *,
    root_ns: str,
    root_name: str,
    prefix: str,
    version: str,
    qualified: bool = False,
) -> bytes:
    """Serialize ``node`` as a whole document: declaration, root ``prefix:root_name``."""
    tag = f"{prefix}:{root_name}"
    out = [f"<?xml version='1.0' encoding='UTF-8'?>\n<{tag} xmlns:{prefix}=\"{root_ns}\">"]
    _encoder(type(node), prefix if qualified else None, 0)(
        out, node, version, f"/{root_name}", None, "", ""
    )
    if len(out) == 1:
        out[0] = out[0][:-1] + "/>"
    else:
        out.append(f"\n</{tag}>")
    out.append("\n")
    return "".join(out).encode("utf-8")


def encode_sed(doc: Any) -> bytes:
    """Bytes of a SED document (a :class:`eessi.sed.documents.Document`)."""
    version: str = doc.version
    code: str = doc.code
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"cannot encode {code} in version {version!r}",
            hint=f"supported versions: {', '.join(SUPPORTED_VERSIONS)}",
            details={"sed": code, "version": version},
        )
    return encode_root(
        doc, root_ns=namespace(code, version), root_name=code, prefix=SED_PREFIX, version=version
    )


# --- decoding ---------------------------------------------------------------------------


def parse(data: bytes) -> etree._Element:
    """Parse untrusted ``data`` with the project's hardened parser (:mod:`eessi.sed.xmlsafe`):
    no DTD, no entities, no network, bounded size and depth.

    Raises :class:`XmlSyntaxError` for empty or malformed input and :class:`HostileXmlError`
    for a DOCTYPE or oversized input.
    """
    if not isinstance(data, bytes | bytearray):
        raise XmlSyntaxError(
            f"expected bytes, got {type(data).__name__}", hint="pass the document's raw bytes"
        )
    return xmlsafe.parse(bytes(data))


def _where(element: etree._Element, where: str) -> str:
    line = element.sourceline
    return f"{where} (line {line})" if line else where


def _leaf_value(spec: XmlField, child: etree._Element, where: str) -> object:
    """The value of one leaf element (the general path; :func:`_decode` inlines the common
    cases and falls back here to raise the error)."""
    if any(isinstance(c.tag, str) for c in child):
        raise SedError(
            f"element <{etree.QName(child).localname}> must hold text, not elements",
            code="sed.unexpected-element",
            where=_where(child, where),
        )
    text = child.text or ""
    kind = spec.kind
    try:
        if kind == "yesno":
            return {"01": True, "02": False}[text]
        if kind == "int":
            if not text.strip().lstrip("+-").isdigit():
                raise ValueError(text)
            return int(text)
        if kind == "date":
            return _dt.date.fromisoformat(text)
        if kind == "datetime":
            return _dt.datetime.fromisoformat(text)
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(text)
    except (ValueError, KeyError):
        if isinstance(kind, type) and issubclass(kind, Enum):
            expected = ", ".join(str(m.value) for m in kind)
        elif kind == "yesno":
            expected = "01 (yes) or 02 (no)"
        elif kind == "int":
            expected = "an integer"
        else:
            expected = f"an ISO {kind}"
        raise SedError(
            f"{text!r} is not a valid value here",
            code="sed.bad-value",
            where=_where(child, where),
            hint=f"expected {expected}",
        ) from None
    return text


class _Bad(SedModelError):
    """A leaf converter could not read its text: :func:`_leaf_value` then says why."""

    def __init__(self) -> None:
        super().__init__("a leaf's text cannot be read")


def _read_yesno(text: str) -> object:
    if text == "01":
        return True
    if text == "02":
        return False
    raise _Bad


def _read_int(text: str) -> object:
    if not text.strip().lstrip("+-").isdigit():
        raise _Bad
    return int(text)


def _read_date(text: str) -> object:
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise _Bad from None


def _read_datetime(text: str) -> object:
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad from None


def _read_enum(kind: type[Enum]) -> Callable[[str], object]:
    members = kind._value2member_map_

    def read(text: str) -> object:
        try:
            return members[text]
        except KeyError:
            raise _Bad from None

    return read


def _reader_for(kind: Any) -> Callable[[str], object] | None:
    """Text -> value for a leaf kind (``None``: the text itself)."""
    if kind == "yesno":
        return _read_yesno
    if kind == "int":
        return _read_int
    if kind == "date":
        return _read_date
    if kind == "datetime":
        return _read_datetime
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _read_enum(kind)
    return None


def _check_for(spec: XmlField) -> Callable[[Any], bool] | None:
    """A check of one decoded value, exactly as strict as ``Node.__post_init__`` for the types
    the decoder produces (``None``: the type alone is enough). Decoded dates, booleans, enum
    members and nested nodes are of the right type by construction; text cannot hold a
    character XML cannot carry (the parser refuses them). What remains: code lists, lengths
    and patterns of text, ``min_value`` of integers, aware datetimes."""
    kind = spec.kind
    if spec.choice or kind in ("date", "yesno") or isinstance(kind, type):
        return None
    if kind == "datetime":
        return lambda v: v.tzinfo is not None
    if kind == "int":
        low = spec.min_value
        return None if low is None else (lambda v: v >= low)
    codes, lo, hi, pattern = spec.codes, spec.min_len, spec.max_len, spec.pattern
    match = pattern.fullmatch if pattern is not None else None

    def check(v: str) -> bool:
        n = len(v)
        return (
            n >= lo
            and (hi is None or n <= hi)
            and (codes is None or v in codes)
            and (match is None or match(v) is not None)
        )

    return check


def _failed_check_source(spec: XmlField, value: str, env: dict[str, Any], key: str) -> str | None:
    """The one-pass decoder's form of :func:`_check_for`: a Python expression that is true
    when ``value`` (a variable name) fails the check, written inline instead of a call per
    decoded value (D402); the names it needs go in ``env`` under ``key``. ``None``: nothing to
    check. Exactly as strict as :func:`_check_for` (tests/sed/test_codec.py)."""
    kind = spec.kind
    if spec.choice or kind in ("date", "yesno") or isinstance(kind, type):
        return None
    if kind == "datetime":
        return f"{value}.tzinfo is None"
    if kind == "int":
        low = spec.min_value
        return None if low is None else f"{value} < {low!r}"
    fails = []
    if spec.min_len > 0 or spec.max_len is not None:
        bounds = f"{spec.min_len!r} <= len({value})"
        if spec.max_len is not None:
            bounds += f" <= {spec.max_len!r}"
        fails.append(f"not {bounds}")
    if spec.codes is not None:
        env[f"_codes{key}"] = spec.codes
        fails.append(f"{value} not in _codes{key}")
    if spec.pattern is not None:
        env[f"_match{key}"] = spec.pattern.fullmatch
        fails.append(f"_match{key}({value}) is None")
    return " or ".join(fails) or None


@dataclass(frozen=True, slots=True)
class _Step:
    """How to read one field: qualified tags precomputed once per (class, namespace)."""

    name: str
    spec: XmlField
    wrappers: tuple[str, ...]
    #: Each wrapper's tag and its path from the element (the key of resolved wrappers).
    wrapper_keys: tuple[tuple[str, str], ...]
    #: Tag of the repeated leaf / nested element / per-item choice holder.
    tag: str
    #: For a choice: qualified tag -> class.
    choice: dict[str, type[Node]]
    node_kind: type[Node] | None
    #: ``/`` + the field's element path (error paths are built from it only on failure).
    suffix: str
    #: Text -> value for a leaf (``None``: text).
    read: Callable[[str], object] | None
    #: Check of a decoded value (``None``: nothing to check).
    check: Callable[[Any], bool] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything the decoder needs about one class, computed once per (class, namespace)."""

    steps: tuple[_Step, ...]
    #: The dataclass's field names: the trusted constructor sets exactly these.
    fields: frozenset[str]


_PLANS: dict[tuple[type, str | None], _Plan] = {}


def _plan(cls: type[Node], ns: str | None) -> _Plan:
    plan = _PLANS.get((cls, ns))
    if plan is None:
        steps = []
        for name, spec in xml_fields(cls):
            wrappers = spec.path if spec.choice and not spec.many else spec.path[:-1]
            kind = spec.kind
            node_kind = kind if isinstance(kind, type) and issubclass(kind, Node) else None
            steps.append(
                _Step(
                    name=name,
                    spec=spec,
                    wrappers=tuple(_q(ns, w) for w in wrappers),
                    wrapper_keys=tuple(
                        (_q(ns, w), "/".join(wrappers[: i + 1])) for i, w in enumerate(wrappers)
                    ),
                    tag=_q(ns, spec.name),
                    choice={_q(ns, n): c for n, c in spec.choice},
                    node_kind=node_kind,
                    suffix="/" + "/".join(spec.path) if spec.path else "",
                    read=None if node_kind is not None or spec.choice else _reader_for(kind),
                    check=_check_for(spec),
                )
            )
        names = frozenset(f.name for f in dataclasses.fields(cast(Any, cls)))
        if cls.__post_init__ is not Node.__post_init__:
            # A subclass that does more on construction always goes through it.
            names = frozenset({"(own __post_init__)"})
        plan = _PLANS[(cls, ns)] = _Plan(steps=tuple(steps), fields=names)
    return plan


class _Reader:
    """State of one decoding pass: the elements used, and how many elements were looked at.

    ``listed`` counts the element children of every element whose children the decoder
    listed (each element's children are listed once). Every element used is one of those, so
    when ``len(seen) == listed`` every element of the tree was used, and the walk of
    :func:`_check_all_seen` (which names the first one that was not) can be skipped.
    """

    __slots__ = ("listed", "seen", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self.seen: set[etree._Element] = set()
        self.listed = 0


def _index(parent: etree._Element, reader: _Reader) -> dict[str, list[etree._Element]]:
    """``parent``'s element children by tag (comments and processing instructions skipped)."""
    index: dict[str, list[etree._Element]] = {}
    n = 0
    for child in parent:
        tag = child.tag
        if type(tag) is not str:  # a comment or processing instruction
            continue
        n += 1
        found = index.get(tag)
        if found is None:
            index[tag] = [child]
        else:
            found.append(child)
    reader.listed += n
    return index


def decode_node(
    element: etree._Element,
    cls: type[N],
    reader: _Reader,
    ns: str | None,
    where: str,
    extra: Mapping[str, object] | None = None,
) -> N:
    """Build a ``cls`` from ``element``'s children; every element used is marked as seen.

    ``extra`` gives constructor arguments that are not XML fields (a document's version).
    """
    return _decode(element, cls, reader, ns, where, extra)


def _decode(
    element: etree._Element,
    cls: type[N],
    reader: _Reader,
    ns: str | None,
    where: object,
    extra: Mapping[str, object] | None,
) -> N:
    """:func:`decode_node` with ``where`` built lazily (see :func:`_join_where`): the error
    paths cost nothing unless something fails."""
    kwargs: dict[str, object] = dict(extra) if extra else {}
    seen = reader.seen
    plan = _plan(cls, ns)
    ok = True
    # Wrappers already resolved in this element, by path: (wrapper element, its index).
    wrapped: dict[str, tuple[etree._Element | None, dict[str, list[etree._Element]]]] = {}
    top = _index(element, reader)
    for step in plan.steps:
        spec = step.spec
        index = top
        parent: etree._Element | None = element
        for w, key in step.wrapper_keys:
            known = wrapped.get(key)
            if known is None:
                found = index.get(w)
                if found:
                    parent = found[0]
                    seen.add(parent)
                    known = wrapped[key] = (parent, _index(parent, reader))
                else:
                    known = wrapped[key] = (None, {})
            parent, index = known
            if parent is None:
                break
        values: list[object] = []
        if parent is not None:
            if step.choice:
                holders = index.get(step.tag, []) if spec.many else [parent]
                for holder in holders:
                    if spec.many:  # otherwise the holder is ``parent``, already counted
                        seen.add(holder)
                    for child in holder:
                        tag = child.tag
                        if type(tag) is not str:
                            continue
                        if spec.many:  # a repeated holder: its children are listed here
                            reader.listed += 1
                        sub_cls = step.choice.get(tag)
                        if sub_cls is not None:
                            seen.add(child)
                            values.append(
                                _decode(child, sub_cls, reader, ns, (where, step.suffix), None)
                            )
            elif step.node_kind is not None:
                for child in index.get(step.tag, ()):
                    seen.add(child)
                    values.append(
                        _decode(child, step.node_kind, reader, ns, (where, step.suffix), None)
                    )
            else:
                read = step.read
                for child in index.get(step.tag, ()):
                    seen.add(child)
                    if len(child):
                        values.append(_leaf_value(spec, child, _join_where((where, step.suffix))))
                        continue
                    text = child.text or ""
                    if read is None:
                        values.append(text)
                        continue
                    try:
                        values.append(read(text))
                    except _Bad:
                        values.append(_leaf_value(spec, child, _join_where((where, step.suffix))))
        if values and spec.since is not None and not _version_ok(reader.version, spec.since):
            raise SedError(
                f"element {'/'.join(spec.path)} does not exist in version {reader.version}",
                code="sed.field-not-in-version",
                where=_where(element, _join_where(where)),
                hint=f"it was added in {spec.since}; declare that version's namespace",
            )
        check = step.check
        if spec.many:
            if ok:
                n = len(values)
                if n < spec.min_items or (spec.max_items is not None and n > spec.max_items):
                    ok = False
                elif check is not None:
                    ok = all(check(v) for v in values)
            kwargs[step.name] = tuple(values)
        elif len(values) > 1:
            raise SedError(
                f"{len(values)} elements where one is allowed",
                code="sed.unexpected-element",
                where=_where(element, _join_where((where, step.suffix))),
            )
        elif values:
            value = values[0]
            if ok and check is not None:
                ok = check(value)
            kwargs[step.name] = value
        else:
            kwargs[step.name] = None
            if not spec.optional:
                ok = False
    try:
        if ok and plan.fields == kwargs.keys():
            # Trusted construction: every field was checked above, as strictly as
            # Node.__post_init__ would for these types; the cross-field rules still run.
            node = object.__new__(cls)
            for name, value in kwargs.items():
                object.__setattr__(node, name, value)
            node._invariants()
            return node
        # Something is off (or the class has fields the XML does not fill): the ordinary
        # constructor raises the model's own error, with its message.
        factory = cast(Callable[..., N], cls)
        return factory(**kwargs)
    except SedModelError as exc:
        raise SedError(
            f"{exc.message}",
            code="sed.bad-value",
            where=_where(element, _join_where(where)),
            hint=exc.hint,
        ) from None


# The one-pass decoder (D180): one pass over the tree, no bookkeeping of used elements. Each
# (class, namespace) gets a decoding function generated once from the same field metadata as
# the general decoder's plan: a loop over the element's children comparing each tag with the
# fields' tags in schema order (wrappers are nested loops), the leaf readers, the checks and the
# trusted construction. Every element met must be one of those tags, every single field found at
# most once, every wrapper at most once; anything else (an unknown or repeated element, a leaf
# holding elements, a bad value, a check that fails, a missing field, a field of a later
# version, a class whose fields the XML does not fill, a broken cross-field rule, a
# ``ds:Signature``) raises :class:`_Irregular` (or the reader's ``_Bad``) and the document is
# decoded again by :func:`_decode`, which names the problem exactly as before. On a regular
# document both build the same object (``tests/sed/test_codec.py``).


class _Irregular(SedModelError):
    """The one-pass decoder met something it does not decode: :func:`_decode` takes over."""

    def __init__(self) -> None:
        super().__init__("the one-pass decoder does not decode this document")


_MISSING: Final = object()
_FastDecoder = Callable[[etree._Element, str, Mapping[str, object] | None], Any]
#: Generated decoders by (class, namespace); ``None``: the class has no one-pass decoder.
_FAST: dict[tuple[type, str | None], _FastDecoder | None] = {}


def _no_fast_decoder(element: etree._Element, version: str, extra: object) -> Any:
    raise _Irregular


def _fast_decoder(cls: type[Node], ns: str | None) -> _FastDecoder:
    key = (cls, ns)
    found = _FAST.get(key)
    if found is not None:
        return found
    # A placeholder while generating (a class nested in itself goes through the lookup).
    _FAST[key] = lambda e, v, x: _fast_decoder(cls, ns)(e, v, x)
    try:
        made = _generate_decoder(cls, ns)
    except _Irregular:
        made = _no_fast_decoder
    _FAST[key] = made
    return made


def _generate_decoder(cls: type[Node], ns: str | None) -> _FastDecoder:
    """Write, compile and return the one-pass decoder of ``cls`` (``_Irregular``: none)."""
    plan = _plan(cls, ns)
    env: dict[str, Any] = {
        "_M": _MISSING,
        "_I": _Irregular,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_ok": _version_ok,
        "_SedModelError": SedModelError,
        "_cls": cls,
    }
    # The tag tree: tag -> ("leaf"|"node"|"alt"|"holder", field number, argument) or
    # ("wrap", wrapper number, subtree).
    tree: dict[str, tuple[str, int, Any]] = {}
    wrappers = 0
    for i, step in enumerate(plan.steps):
        tags = tree
        for w in step.wrappers:
            entry = tags.get(w)
            if entry is None:
                wrappers += 1
                entry = tags[w] = ("wrap", wrappers, {})
            elif entry[0] != "wrap":
                raise _Irregular
            tags = entry[2]
        if step.choice and step.spec.many:
            added: list[tuple[str, tuple[str, int, Any]]] = [(step.tag, ("holder", i, step.choice))]
        elif step.choice:
            added = [(tag, ("alt", i, sub)) for tag, sub in step.choice.items()]
        elif step.node_kind is not None:
            added = [(step.tag, ("node", i, step.node_kind))]
        else:
            added = [(step.tag, ("leaf", i, step.read))]
        for tag, entry in added:
            if tag in tags:
                raise _Irregular
            tags[tag] = entry
    lines = ["def decode(element, version, extra):"]
    names = [f"f{i}" for i in range(len(plan.steps))]
    if names:
        lines.append("    " + " = ".join(names) + " = _M")
    if wrappers:
        lines.append("    " + " = ".join(f"w{k}" for k in range(1, wrappers + 1)) + " = False")
    counter = [0]

    def sub_decoder(kind: type[Node]) -> str:
        counter[0] += 1
        name = f"_d{counter[0]}"
        env[name] = _fast_decoder(kind, ns)
        return name

    def store(i: int, value: str, pad: str) -> None:
        if plan.steps[i].spec.many:
            lines.append(f"{pad}if f{i} is _M:")
            lines.append(f"{pad}    f{i} = [{value}]")
            lines.append(f"{pad}else:")
            lines.append(f"{pad}    f{i}.append({value})")
        else:
            lines.append(f"{pad}if f{i} is not _M:")
            lines.append(f"{pad}    raise _I")
            lines.append(f"{pad}f{i} = {value}")

    def walk(tags: dict[str, tuple[str, int, Any]], parent: str, depth: int) -> None:
        pad = "    " * (depth + 1)
        c, t = f"c{depth}", f"t{depth}"
        lines.append(f"{pad}for {c} in {parent}:")
        lines.append(f"{pad}    {t} = {c}.tag")
        first = True
        for tag, (kind, i, arg) in tags.items():
            lines.append(f"{pad}    {'if' if first else 'elif'} {t} == {tag!r}:")
            first = False
            inner = pad + "        "
            if kind == "wrap":
                lines.append(f"{inner}if w{i}:")
                lines.append(f"{inner}    raise _I")
                lines.append(f"{inner}w{i} = True")
                walk(arg, c, depth + 2)
            elif kind == "leaf":
                lines.append(f"{inner}if len({c}):")
                lines.append(f"{inner}    raise _I")
                if arg is None:
                    store(i, f"{c}.text or ''", inner)
                else:
                    env[f"_r{i}"] = arg
                    store(i, f"_r{i}({c}.text or '')", inner)
            elif kind in ("node", "alt"):
                store(i, f"{sub_decoder(arg)}({c}, version, None)", inner)
            else:  # a repeated choice holder: each of its children is one item
                a, ta = f"a{depth}", f"ta{depth}"
                lines.append(f"{inner}for {a} in {c}:")
                lines.append(f"{inner}    {ta} = {a}.tag")
                alt_first = True
                for alt_tag, alt_cls in arg.items():
                    kw = "if" if alt_first else "elif"
                    alt_first = False
                    lines.append(f"{inner}    {kw} {ta} == {alt_tag!r}:")
                    value = f"{sub_decoder(alt_cls)}({a}, version, None)"
                    lines.append(f"{inner}        if f{i} is _M:")
                    lines.append(f"{inner}            f{i} = [{value}]")
                    lines.append(f"{inner}        else:")
                    lines.append(f"{inner}            f{i}.append({value})")
                lines.append(f"{inner}    elif type({ta}) is str:")
                lines.append(f"{inner}        raise _I")
        if first:  # no field at all: only comments and processing instructions may be here
            lines.append(f"{pad}    if type({t}) is str:")
        else:
            lines.append(f"{pad}    elif type({t}) is str:  # not a comment or PI: unknown")
        lines.append(f"{pad}        raise _I")

    walk(tree, "element", 0)
    # Finishing: missing fields, repeated ones into tuples, versions, checks.
    for i, step in enumerate(plan.steps):
        spec = step.spec
        f = f"f{i}"
        if spec.many:
            lines.append(f"    if {f} is _M:")
            lines.append(f"        {f} = ()")
            if spec.min_items > 0:
                lines.append("        raise _I")
            lines.append("    else:")
        else:
            lines.append(f"    if {f} is _M:")
            lines.append(f"        {f} = None")
            if not spec.optional:
                lines.append("        raise _I")
            lines.append("    else:")
        body = []
        if spec.since is not None:
            body.append(f"if not _ok(version, {spec.since!r}):")
            body.append("    raise _I")
        if spec.many:
            body.append(f"{f} = tuple({f})")
            bounds = []
            if spec.min_items > 0:
                bounds.append(f"len({f}) < {spec.min_items}")
            if spec.max_items is not None:
                bounds.append(f"len({f}) > {spec.max_items}")
            if bounds:
                body.append(f"if {' or '.join(bounds)}:")
                body.append("    raise _I")
            failed = _failed_check_source(spec, "v", env, str(i))
            if failed is not None:
                body.append(f"for v in {f}:")
                body.append(f"    if {failed}:")
                body.append("        raise _I")
        else:
            failed = _failed_check_source(spec, f, env, str(i))
            if failed is not None:
                body.append(f"if {failed}:")
                body.append("    raise _I")
        lines.extend("        " + b for b in body or ["pass"])
    # Construction: trusted when the XML fields (and the extra arguments) are the class's
    # fields, as in the general decoder; otherwise the constructor.
    xml_names = [step.name for step in plan.steps]
    lines.append("    try:")
    lines.append("        if extra is None:")
    if plan.fields == frozenset(xml_names):
        lines.append("            node = _new(_cls)")
        for i, n in enumerate(xml_names):
            # A slot's own setter skips a frozen class's __setattr__ (as compact.py's makers).
            slot = getattr(cls, n, None)
            if isinstance(slot, MemberDescriptorType):
                env[f"_s{i}"] = slot.__set__
                lines.append(f"            _s{i}(node, f{i})")
            else:
                lines.append(f"            _set(node, {n!r}, f{i})")
        if cls._invariants is not Node._invariants:  # a class with rules of its own (D402)
            lines.append("            node._invariants()")
        lines.append("            return node")
    else:
        kwargs = ", ".join(f"{n}=f{i}" for i, n in enumerate(xml_names))
        lines.append(f"            return _cls({kwargs})")
    values = ", ".join(f"{n!r}: f{i}" for i, n in enumerate(xml_names))
    lines.append(f"        kwargs = {{**extra, {values}}}")
    lines.append("        if _fields == kwargs.keys():")
    lines.append("            node = _new(_cls)")
    lines.append("            for name, value in kwargs.items():")
    lines.append("                _set(node, name, value)")
    lines.append("            node._invariants()")
    lines.append("            return node")
    lines.append("        return _cls(**kwargs)")
    lines.append("    except _SedModelError:")
    lines.append("        raise _I from None")
    env["_fields"] = plan.fields
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<one-pass decoder of {cls.__name__}>", "exec"), env)
    return cast(_FastDecoder, env["decode"])


def _fast_decode(
    element: etree._Element,
    cls: type[N],
    ns: str | None,
    version: str,
    extra: Mapping[str, object] | None,
) -> N:
    """``cls`` from ``element`` in one pass, or :class:`_Irregular` (see above)."""
    decoder = _FAST.get((cls, ns)) or _fast_decoder(cls, ns)
    return cast(N, decoder(element, version, extra))


def _check_all_seen(root: etree._Element, seen: set[etree._Element], where: str) -> None:
    for el in root.iterdescendants(etree.Element):
        if el in seen:
            continue
        if any(a.tag == f"{{{DSIG_NS}}}Signature" for a in (el, *el.iterancestors())):
            continue
        path = root.getroottree().getpath(el)
        raise SedError(
            f"unexpected element <{etree.QName(el).localname}>",
            code="sed.unexpected-element",
            where=f"{where}: {path} (line {el.sourceline})",
            hint="the element is not part of this document type and version",
        )


def decode_root(
    root: etree._Element,
    cls: type[N],
    *,
    version: str,
    qualified_ns: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> N:
    """Decode a parsed root element as ``cls`` (root name and namespace already checked)."""
    try:
        return _fast_decode(root, cls, qualified_ns, version, extra)
    except (_Irregular, SedModelError):  # _Bad included: read again, to say what is wrong
        pass
    reader = _Reader(version)
    name = etree.QName(root).localname
    node = _decode(root, cls, reader, qualified_ns, f"/{name}", extra)
    if len(reader.seen) != reader.listed:
        _check_all_seen(root, reader.seen, f"/{name}")
    return node


#: ``(code, version)`` of the root tags already identified.
_IDENTITIES: dict[str, tuple[str, str]] = {}


def sed_identity(root: etree._Element) -> tuple[str, str]:
    """``(code, version)`` named by a SED root element; raises if it names none we know."""
    known = _IDENTITIES.get(root.tag)
    if known is not None:
        return known
    qname = etree.QName(root)
    parsed = parse_namespace(qname.namespace or "")
    if parsed is None:
        raise UnknownSedError(
            f"root element <{qname.localname}> in namespace {qname.namespace!r} is not a SED",
            where="/",
            hint="a SED root is in http://ec.europa.eu/eessi/ns/<major>_<minor>/<CODE>",
        )
    code, version = parsed
    if code != qname.localname:
        raise UnknownSedError(
            f"root element <{qname.localname}> does not match its namespace's SED {code}",
            where="/",
            hint="the root element is named after the SED code",
        )
    if code not in SEDS:
        raise UnknownSedError(
            f"unknown SED type {code!r}",
            where="/",
            hint=f"known types: {', '.join(sorted(SEDS))}",
            details={"sed": code},
        )
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"{code} version {version} is not supported",
            where="/",
            hint=f"supported versions: {', '.join(SUPPORTED_VERSIONS)}",
            details={"sed": code, "version": version},
        )
    _IDENTITIES[root.tag] = (code, version)
    return code, version


def decode_sed(data: bytes, classes: Mapping[str, type[N]], expected: str | None = None) -> N:
    """Decode SED bytes into the class registered for its code.

    With ``expected``, a document of another SED raises :class:`UnknownSedError`.
    """
    return decode_sed_element(parse(data), classes, expected)


def decode_sed_element(
    root: etree._Element, classes: Mapping[str, type[N]], expected: str | None = None
) -> N:
    """Decode an already parsed SED root element (see :func:`decode_sed`)."""
    code, version = sed_identity(root)
    if expected is not None and code != expected:
        raise UnknownSedError(
            f"expected a {expected} document, got {code}",
            where="/",
            hint=f"decode it with {code}.from_xml or eessi.sed.documents.from_xml",
            details={"expected": expected, "sed": code},
        )
    return decode_root(root, classes[code], version=version, extra={"version": version})
