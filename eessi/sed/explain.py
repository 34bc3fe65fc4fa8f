"""Explain why a document failed validation: xmlschema's reason, the expected elements, the path.

Validation itself is libxml2's (:mod:`eessi.sed.validate`: fast, on the hot path). Its messages
are terse (``Element 'dateBirth': This element is not expected. Expected is ( forename ).``)
and it says nothing of what an element's parent wanted. For a document that has **already
failed**, :func:`explain` asks `xmlschema <https://xmlschema.readthedocs.io>`_ about the same
document and attaches to each libxml2 issue the matching xmlschema error's explanation:

* ``reason``: xmlschema's sentence (``Unexpected child with tag 'dateBirth' at position 2.
  Tag 'forename' expected.``, ``value must be one of ['01', '02', '98']``);
* ``expected``: the element names the content model wanted there (``["forename"]``), if any;
* ``path``: the path of the element xmlschema blames (for a wrong or missing child, its parent).

This is the failure path only: compiling a schema with xmlschema takes a few hundred ms (cached
per schema file), so nothing here runs for a valid document. The document is the one
:func:`eessi.sed.xmlsafe.parse` already parsed (hardened); xmlschema reads schemas from local
files only, never the network. Its errors are translated here into
:class:`~eessi.errors.SchemaError`; none leaves this module.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from eessi.errors import SchemaError, SedError
from eessi.sed import xmlsafe
from eessi.sed.catalogue import namespace
from eessi.sed.schemas import SchemaSet, default_schemas
from eessi.sed.validate import Explanation, ValidationIssue, ValidationReport

__all__ = ["Explanation", "explain"]

_DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def explain(
    data: bytes, report: ValidationReport, *, schemas: SchemaSet | None = None
) -> ValidationReport:
    """``report`` with an :class:`Explanation` on each of its schema issues xmlschema matches.

    A valid report, or one refused before the schema (not XML, unknown SED, unsupported
    version), comes back unchanged: there is nothing a schema can explain.
    """
    if report.ok or report.sed is None or report.version is None:
        return report
    if not any(issue.code == "sed.schema-violation" for issue in report.errors):
        return report
    schemas = schemas if schemas is not None else default_schemas()
    path = schemas.paths.get((report.sed, report.version))
    if path is None:
        return report
    try:
        root = xmlsafe.parse(data)
    except SedError:  # pragma: no cover - it parsed a moment ago in validate()
        return report
    tree = root.getroottree()
    errors = _errors(_schema(path.resolve()), root, tree)
    sed_ns = namespace(report.sed, report.version)
    prefixes = {**_prefixes(root), "sed": sed_ns, "ds": _DSIG_NS}
    explained = []
    for issue in report.errors:
        found = _match(issue, root, tree, prefixes, errors)
        explained.append(replace(issue, explanation=found) if found else issue)
    return replace(report, errors=tuple(explained))


@dataclass(frozen=True, slots=True)
class _Error:
    #: ``tree.getpath`` of the element blamed, and of the offending child (children errors).
    at: str | None
    child: str | None
    line: int | None
    explanation: Explanation


@functools.lru_cache(maxsize=64)
def _schema(path: Path) -> Any:
    """xmlschema's schema for one XSD file (local files only), compiled once per process."""
    try:
        return xmlschema.XMLSchema(str(path), allow="local")
    except (xmlschema.XMLSchemaException, OSError) as exc:
        raise SchemaError(
            f"xmlschema cannot read the schema {path.name}: {exc}",
            where=str(path),
            hint="validate without --explain (libxml2 reads it), or fix the schema set",
            details={"error": type(exc).__name__},
        ) from None


def _errors(schema: Any, root: etree._Element, tree: etree._ElementTree) -> list[_Error]:
    out: list[_Error] = []
    try:
        found = list(schema.iter_errors(root))
    except xmlschema.XMLSchemaException as exc:  # pragma: no cover - a schema xmlschema fails
        raise SchemaError(
            f"xmlschema could not check the document: {exc}",
            hint="validate without --explain",
            details={"error": type(exc).__name__},
        ) from None
    for error in found:
        elem = error.elem if isinstance(error.elem, etree._Element) else None
        child = None
        index = getattr(error, "index", None)
        if elem is not None and isinstance(index, int) and 0 <= index < len(elem):
            child = tree.getpath(elem[index])
        expected = tuple(_name(p) for p in (getattr(error, "expected", None) or ()))
        out.append(
            _Error(
                tree.getpath(elem) if elem is not None else None,
                child,
                error.sourceline,
                Explanation(str(error.reason or error.message), expected, error.path),
            )
        )
    return out


def _match(
    issue: ValidationIssue,
    root: etree._Element,
    tree: etree._ElementTree,
    prefixes: dict[str, str],
    errors: list[_Error],
) -> Explanation | None:
    """The xmlschema error about the element libxml2 blamed: about it as a child, else about
    it, else about its line."""
    if issue.code != "sed.schema-violation":
        return None
    at = _element_path(issue.xpath, root, tree, prefixes)
    if at is not None:
        for error in errors:
            if error.child == at:
                return error.explanation
        for error in errors:
            if error.at == at and error.child is None:
                return error.explanation
    for error in errors:
        if issue.line is not None and error.line == issue.line:
            return error.explanation
    return None


def _element_path(
    xpath: str | None, root: etree._Element, tree: etree._ElementTree, prefixes: dict[str, str]
) -> str | None:
    if not xpath:
        return None
    try:
        found = root.xpath(xpath, namespaces=prefixes)
    except etree.XPathError:
        return None
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return tree.getpath(found[0])
    return None


def _name(particle: Any) -> str:
    name = getattr(particle, "prefixed_name", None) or getattr(particle, "name", None)
    return str(name) if name else str(particle)


def _prefixes(root: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for element in root.iter():
        for prefix, uri in element.nsmap.items():
            if prefix:
                out.setdefault(prefix, uri)
    return out
