"""Validate a SED document: which SED it is, which version, and whether it obeys its schema.

The document says what it is: the root element's namespace ``http://ec.europa.eu/eessi/ns/4_4/S071``
names the SED type and CDM version (:func:`eessi.sed.catalogue.parse_namespace`), and the root's
local name must repeat the type. Each way a document can fail has its own issue code, so a
sender (or a test) can tell them apart:

==========================  ===============================================================
``sed.too-large``           more bytes than the limit, refused before parsing
``sed.hostile``             a DOCTYPE/DTD (entity attacks), refused before parsing
``sed.too-deep``            nesting beyond the depth limit
``sed.not-xml``             empty, or not well-formed XML (with line and column)
``sed.wrong-namespace``     the root is a SED name in no or the wrong namespace
``sed.unknown-type``        the namespace names a SED nobody here knows (``S999``)
``sed.unsupported-version`` a version this receiver does not support (says which it does)
``sed.schema-violation``    breaks the schema (one issue per error, with XPath and line)
==========================  ===============================================================

Two entry points share one code path: :func:`validate` returns a :class:`ValidationReport`
(for tools and ``eessi validate``); :func:`validate_or_raise` returns the parsed tree for the
transport's hot path and raises the matching :class:`~eessi.errors.SedError` otherwise. The
happy path is bare lxml (hardened parse, one dict lookup for the root tag, the cached compiled
schema); everything that makes errors readable runs only for documents that already failed.
:func:`eessi.sed.explain.explain` goes further for those, with xmlschema (an
:class:`Explanation` per issue: reason, expected elements, path).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from lxml import etree

from eessi.errors import (
    SedError,
    SedInvalidError,
    UnknownSedError,
    UnsupportedVersionError,
)
from eessi.sed import xmlsafe
from eessi.sed.catalogue import SEDS, namespace, parse_namespace
from eessi.sed.schemas import SchemaSet, default_schemas

__all__ = [
    "MAX_ISSUES",
    "Explanation",
    "ValidatedSed",
    "ValidationIssue",
    "ValidationReport",
    "issues_from_error",
    "validate",
    "validate_or_raise",
]

#: At most this many schema issues are reported per document (the rest are counted).
MAX_ISSUES = 50

_DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_LONG_PATTERN = re.compile(r"pattern '([^']{60})[^']+'")
_LONG_SET = re.compile(r"set \{([^}]{60})[^}]+\}")


@dataclass(frozen=True, slots=True)
class Explanation:
    """xmlschema's account of one schema issue (:func:`eessi.sed.explain.explain`)."""

    #: Why, in xmlschema's words.
    reason: str
    #: Element names the content model expected at that point (empty if it names none).
    expected: tuple[str, ...] = ()
    #: The path of the element xmlschema blames (the parent, for a wrong or missing child).
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "expected": list(self.expected), "path": self.path}


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One reason a document is refused."""

    #: Stable code, e.g. ``"sed.schema-violation"``.
    code: str
    message: str
    #: Where in the document, as an XPath with ``sed:`` bound to the SED's namespace.
    xpath: str | None = None
    line: int | None = None
    column: int | None = None
    #: Only when asked for (``eessi validate --explain``): xmlschema's account of the issue.
    explanation: Explanation | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "xpath": self.xpath,
            "line": self.line,
            "column": self.column,
        }
        if self.explanation is not None:
            out["explanation"] = self.explanation.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The verdict on one document: what it is (if that could be told) and its issues."""

    sed: str | None
    version: str | None
    ok: bool
    errors: tuple[ValidationIssue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sed": self.sed,
            "version": self.version,
            "ok": self.ok,
            "errors": [issue.to_dict() for issue in self.errors],
        }


class ValidatedSed(NamedTuple):
    """A document that passed: its parsed root element, SED code and version."""

    root: etree._Element
    sed: str
    version: str


def validate(
    data: bytes,
    *,
    schemas: SchemaSet | None = None,
    accept_versions: Collection[str] | None = None,
    max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
    max_depth: int = xmlsafe.DEFAULT_MAX_DEPTH,
) -> ValidationReport:
    """Check ``data`` and report; never raises for a bad document (only for broken schemas).

    ``schemas`` defaults to our own set; ``accept_versions`` narrows the versions this side
    accepts (a receiver that supports only 4.4 passes ``["4.4"]``).
    """
    try:
        _root, known = _check(data, schemas, accept_versions, max_bytes, max_depth, None)
    except SedError as exc:
        if exc.code == "sed.schema":  # our own schema set is broken: not the document's fault
            raise
        return ValidationReport(
            exc.details.get("sed"), exc.details.get("version"), False, issues_from_error(exc)
        )
    return known.ok_report


def validate_or_raise(
    data: bytes,
    *,
    schemas: SchemaSet | None = None,
    accept_versions: Collection[str] | None = None,
    max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
    max_depth: int = xmlsafe.DEFAULT_MAX_DEPTH,
    where: str | None = None,
) -> ValidatedSed:
    """The parsed, schema-valid document, or a :class:`SedError` saying why not.

    Raises :class:`~eessi.errors.HostileXmlError`, :class:`~eessi.errors.XmlSyntaxError`,
    :class:`~eessi.errors.UnknownSedError` (also code ``sed.wrong-namespace``),
    :class:`~eessi.errors.UnsupportedVersionError`, or :class:`~eessi.errors.SedInvalidError`
    whose ``details["issues"]`` lists every schema issue (see :func:`issues_from_error`).
    """
    root, known = _check(data, schemas, accept_versions, max_bytes, max_depth, where)
    return ValidatedSed(root, known.sed, known.version)


@dataclass(frozen=True, slots=True)
class _Known:
    """Everything the hot path needs for one root tag, cached in ``SchemaSet.by_root_tag``."""

    sed: str
    version: str
    schema: etree.XMLSchema
    #: Reports are immutable: one instance serves every valid document of this type.
    ok_report: ValidationReport


def _check(
    data: bytes,
    schemas: SchemaSet | None,
    accept_versions: Collection[str] | None,
    max_bytes: int,
    max_depth: int,
    where: str | None,
) -> tuple[etree._Element, _Known]:
    root = xmlsafe.parse(data, max_bytes=max_bytes, max_depth=max_depth, where=where)
    if schemas is None:
        schemas = default_schemas()
    known: _Known | None = schemas.by_root_tag.get(root.tag)
    if known is None:
        known = _learn(root, schemas, where)
    if accept_versions is not None and known.version not in accept_versions:
        raise _unsupported(known.sed, known.version, schemas, accept_versions, where, _line(root))
    if known.schema.validate(root):
        return root, known
    raise _invalid(root, known.sed, known.version, known.schema.error_log, where, data)


def _learn(root: etree._Element, schemas: SchemaSet, where: str | None) -> _Known:
    """Identify a root tag met for the first time, and cache what validating it needs."""
    code, version = _identify(root, where)
    schema = schemas.lookup(code, version)
    if schema is None:
        raise _unsupported(code, version, schemas, None, where, _line(root))
    known = _Known(code, version, schema, ValidationReport(code, version, True))
    schemas.by_root_tag[root.tag] = known
    return known


def issues_from_error(exc: SedError) -> tuple[ValidationIssue, ...]:
    """The issues an error stands for: its schema issues, or one issue made from the error."""
    listed = exc.details.get("issues")
    if listed:
        return tuple(ValidationIssue(**item) for item in listed)
    return (
        ValidationIssue(
            exc.code,
            exc.message,
            exc.details.get("xpath"),
            exc.details.get("line"),
            exc.details.get("column"),
        ),
    )


# --- identification -------------------------------------------------------------------------


def _identify(root: etree._Element, where: str | None) -> tuple[str, str]:
    qname = etree.QName(root)
    ns, local = qname.namespace, qname.localname
    parsed = parse_namespace(ns) if ns else None
    if parsed is None:
        if local in SEDS:
            expected = namespace(local)
            found = f"namespace {ns}" if ns else "no namespace"
            raise UnknownSedError(
                f"root element {local} is in {found}; expected {expected}",
                code="sed.wrong-namespace",
                where=where,
                hint="a SED root element must be in its EESSI namespace (.../ns/4_4/<CODE>)",
                details={"sed": local, "xpath": f"/{local}", "line": root.sourceline},
            )
        raise UnknownSedError(
            f"root element {qname.text} is not a SED",
            where=where,
            hint=f"known SEDs: {', '.join(sorted(SEDS))}",
            details={"xpath": f"/{local}", "line": root.sourceline},
        )
    code, version = parsed
    if local != code:
        raise UnknownSedError(
            f"root element {local} is in the namespace of {code} ({ns})",
            code="sed.wrong-namespace",
            where=where,
            hint=f"the root element's name must be the SED code of its namespace ({code})",
            details={"xpath": f"/{local}", "line": root.sourceline},
        )
    if code not in SEDS:
        raise UnknownSedError(
            f"unknown SED type {code} (namespace {ns})",
            where=where,
            hint=f"known SEDs: {', '.join(sorted(SEDS))}",
            details={
                "sed": code,
                "version": version,
                "xpath": f"/sed:{code}",
                "line": root.sourceline,
            },
        )
    return parsed


def _unsupported(
    code: str,
    version: str,
    schemas: SchemaSet,
    accept_versions: Collection[str] | None,
    where: str | None,
    line: int | None,
) -> UnsupportedVersionError:
    available = schemas.supported(code)
    supported = [v for v in available if accept_versions is None or v in accept_versions]
    if supported:
        message = (
            f"{code} version {version} is not supported; "
            f"this receiver supports {code} in version {', '.join(supported)} only"
        )
    elif accept_versions is not None and available:
        message = (
            f"{code} version {version} is not supported; this receiver accepts version "
            f"{', '.join(sorted(accept_versions))} only and has no schema for that"
        )
    else:
        message = f"{code} is not supported: no schema for it in {schemas.directory}"
    return UnsupportedVersionError(
        message,
        where=where,
        hint="send the document in a supported version",
        details={
            "sed": code,
            "version": version,
            "supported": supported,
            "xpath": f"/sed:{code}",
            "line": line,
        },
    )


# --- schema issues (failure path only) -----------------------------------------------------


def _invalid(
    root: etree._Element,
    code: str,
    version: str,
    log: etree._ListErrorLog,
    where: str | None,
    data: bytes | None = None,
) -> SedInvalidError:
    sed_ns = namespace(code, version)
    entries = list(log)
    issues = [_issue(root, entry, sed_ns, data) for entry in entries[:MAX_ISSUES]]
    if not issues:  # libxml2 said "invalid" without a reason: still refuse, still say so
        issues = [ValidationIssue("sed.schema-violation", "the document breaks its schema")]
    first = issues[0]
    more = len(entries) - 1
    summary = f"{code} {version} breaks its schema: {first.message}"
    if first.xpath:
        summary += f" (at {first.xpath}, line {first.line})"
    if more > 0:
        summary += f"; and {more} more issue{'s' if more > 1 else ''}"
    return SedInvalidError(
        summary,
        code="sed.schema-violation",
        where=where,
        hint="fix the document against schemas/README.md, or see details['issues']",
        details={
            "sed": code,
            "version": version,
            "issues": [issue.to_dict() for issue in issues],
            "issue_count": len(entries),
        },
    )


def _issue(
    root: etree._Element, entry: etree._LogEntry, sed_ns: str, data: bytes | None = None
) -> ValidationIssue:
    message = entry.message.replace("{" + sed_ns + "}", "sed:").replace("{" + _DSIG_NS + "}", "ds:")
    message = _LONG_PATTERN.sub(r"pattern '\1...'", message)
    message = _LONG_SET.sub(r"set {\1...}", message).rstrip(".")
    # libxml2 reports schema errors against a node, which has a line but no column (always 0):
    # the column is found again from the node's start tag in the source.
    column = entry.column or None
    if column is None and data is not None and entry.path:
        node = _node_at(root, entry.path)
        if node is not None and node.sourceline == entry.line:
            column = xmlsafe.start_tag_column(data, node)
    return ValidationIssue(
        "sed.schema-violation",
        message,
        _readable_path(root, entry.path, sed_ns),
        entry.line or None,
        column,
    )


def _node_at(root: etree._Element, path: str) -> etree._Element | None:
    """The one element at libxml2's node ``path`` (``None`` if it names none or several)."""
    try:
        found = root.xpath(path, namespaces=_prefixes(root.iter()))
    except etree.XPathError:
        return None
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return found[0]
    return None


def _readable_path(root: etree._Element, path: str | None, sed_ns: str) -> str | None:
    """libxml2's node path, rewritten with ``sed:`` for the SED namespace and no ``*`` steps."""
    if not path:
        return None
    namespaces = _prefixes(root.iter())
    try:
        found = root.xpath(path, namespaces=namespaces)
    except etree.XPathError:
        found = None
    if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], etree._Element):
        return path
    element = found[0]
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        steps.append(_step(node, sed_ns))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def _step(node: etree._Element, sed_ns: str) -> str:
    qname = etree.QName(node)
    uri = cast("str | None", qname.namespace)  # the stubs say str; unqualified gives None
    if uri is None:
        name = qname.localname
    elif uri == sed_ns:
        name = f"sed:{qname.localname}"
    elif uri == _DSIG_NS:
        name = f"ds:{qname.localname}"
    else:
        name = qname.text
    parent = node.getparent()
    if parent is None:
        return name
    same = [sibling for sibling in parent if sibling.tag == node.tag]
    return name if len(same) == 1 else f"{name}[{same.index(node) + 1}]"


def _prefixes(elements: Iterable[etree._Element]) -> dict[str, str]:
    out: dict[str, str] = {}
    for element in elements:
        for prefix, uri in element.nsmap.items():
            if prefix:
                out.setdefault(prefix, uri)
    return out


def _line(element: etree._Element) -> int | None:
    line: object = element.sourceline  # lxml-stubs types it as "..."; it is int | None
    return line if isinstance(line, int) else None
