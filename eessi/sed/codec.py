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

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar, cast

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
    root = etree.Element(_q(root_ns, root_name), nsmap={prefix: root_ns})
    encode_node(root, node, version, root_ns if qualified else None, f"/{root_name}")
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


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


@dataclass(frozen=True, slots=True)
class _Step:
    """How to read one field: qualified tags precomputed once per (class, namespace)."""

    name: str
    spec: XmlField
    wrappers: tuple[str, ...]
    #: Tag of the repeated leaf / nested element / per-item choice holder.
    tag: str
    #: For a choice: qualified tag -> class.
    choice: dict[str, type[Node]]
    node_kind: type[Node] | None


_PLANS: dict[tuple[type, str | None], tuple[_Step, ...]] = {}


def _plan(cls: type[Node], ns: str | None) -> tuple[_Step, ...]:
    plan = _PLANS.get((cls, ns))
    if plan is None:
        steps = []
        for name, spec in xml_fields(cls):
            wrappers = spec.path if spec.choice and not spec.many else spec.path[:-1]
            kind = spec.kind
            steps.append(
                _Step(
                    name=name,
                    spec=spec,
                    wrappers=tuple(_q(ns, w) for w in wrappers),
                    tag=_q(ns, spec.name),
                    choice={_q(ns, n): c for n, c in spec.choice},
                    node_kind=kind if isinstance(kind, type) and issubclass(kind, Node) else None,
                )
            )
        plan = _PLANS[(cls, ns)] = tuple(steps)
    return plan


class _Reader:
    """State of one decoding pass: elements used, and each element's children by tag."""

    __slots__ = ("_index", "seen", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self.seen: set[etree._Element] = set()
        self._index: dict[etree._Element, dict[str, list[etree._Element]]] = {}

    def children(self, parent: etree._Element, tag: str) -> list[etree._Element]:
        index = self._index.get(parent)
        if index is None:
            index = {}
            for child in parent:
                if isinstance(child.tag, str):
                    index.setdefault(child.tag, []).append(child)
            self._index[parent] = index
        return index.get(tag, [])


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
    kwargs: dict[str, object] = dict(extra or {})
    seen = reader.seen
    version = reader.version
    for step in _plan(cls, ns):
        spec = step.spec
        parent: etree._Element | None = element
        for w in step.wrappers:
            assert parent is not None
            found = reader.children(parent, w)
            if not found:
                parent = None
                break
            parent = found[0]
            seen.add(parent)
        values: list[object] = []
        if parent is not None:
            if step.choice:
                holders = reader.children(parent, step.tag) if spec.many else [parent]
                for holder in holders:
                    seen.add(holder)
                    for child in holder:
                        sub = step.choice.get(child.tag) if isinstance(child.tag, str) else None
                        if sub is not None:
                            seen.add(child)
                            values.append(
                                decode_node(child, sub, reader, ns, _path(where, spec), None)
                            )
            else:
                for child in reader.children(parent, step.tag):
                    seen.add(child)
                    if step.node_kind is not None:
                        values.append(
                            decode_node(child, step.node_kind, reader, ns, _path(where, spec), None)
                        )
                    else:
                        values.append(_leaf_value(spec, child, _path(where, spec)))
        if values and spec.since is not None and not version_at_least(version, spec.since):
            raise SedError(
                f"element {'/'.join(spec.path)} does not exist in version {version}",
                code="sed.field-not-in-version",
                where=_where(element, where),
                hint=f"it was added in {spec.since}; declare that version's namespace",
            )
        if spec.many:
            kwargs[step.name] = tuple(values)
        elif len(values) > 1:
            raise SedError(
                f"{len(values)} elements where one is allowed",
                code="sed.unexpected-element",
                where=_where(element, _path(where, spec)),
            )
        else:
            kwargs[step.name] = values[0] if values else None
    factory = cast(Callable[..., N], cls)
    try:
        return factory(**kwargs)
    except SedModelError as exc:
        raise SedError(
            f"{exc.message}",
            code="sed.bad-value",
            where=_where(element, where),
            hint=exc.hint,
        ) from None


def _path(where: str, spec: XmlField) -> str:
    return f"{where}/{'/'.join(spec.path)}" if spec.path else where


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
    reader = _Reader(version)
    name = etree.QName(root).localname
    node = decode_node(root, cls, reader, qualified_ns, f"/{name}", extra)
    _check_all_seen(root, reader.seen, f"/{name}")
    return node


def sed_identity(root: etree._Element) -> tuple[str, str]:
    """``(code, version)`` named by a SED root element; raises if it names none we know."""
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
