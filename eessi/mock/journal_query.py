"""Namespace-aware XPath over the documents a mock received.

A tester asks "did the fund receive an S072 that confirms the entitlement?" as an XPath over
the received SED. SED roots are namespaced (``http://ec.europa.eu/eessi/ns/4_4/S072``) and a
sender may write any prefix, or none. So queries name namespaces, never prefixes of the
document: the prefixes of the query are bound here, and matching is **prefix-insensitive**
(the document's own prefixes do not matter).

Bound for every document, version-insensitive (bound to the document's own root namespace):

* ``sed``: the SED's namespace (``/sed:S072/...``);
* the SED type itself: ``S072`` (``/S072:S072/confirmed``... is legal XPath: a prefix may be
  any NCName);

and whatever the caller passes in ``namespaces``.
Children of SED roots are unqualified in the CDM, so only the root step needs a prefix::

    matches(payload, "/sed:S041/Reply/inReplyS040/value = '03'")
    select(payload, "/sed:*/Person/PersonIdentification/familyName")  # -> ["Weber"]

Documents are parsed with the hardened parser (:mod:`eessi.sed.xmlsafe`); a payload that is
not XML simply matches nothing (a mock may well receive garbage on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from lxml import etree

from eessi.errors import ConfigError, SedError
from eessi.sed import xmlsafe
from eessi.sed.catalogue import SEDS, parse_namespace

__all__ = ["check_rule_xpath", "compile_xpath", "matches", "namespaces_for", "select"]


def namespaces_for(root: etree._Element, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The prefixes a query may use on this document (see the module docstring)."""
    ns: dict[str, str] = {}
    uri = etree.QName(root).namespace
    if uri:
        ns["sed"] = uri
        parsed = parse_namespace(uri)
        if parsed is not None:
            ns[parsed[0]] = uri
    if extra:
        ns.update(extra)
    return ns


@lru_cache(maxsize=256)
def _compiled(xpath: str) -> etree.XPath:
    # Namespaces are bound per call (they depend on the document), so compile without them
    # just to check the syntax early.
    return etree.XPath(xpath)


def compile_xpath(xpath: str) -> None:
    """Check ``xpath``'s syntax; a :class:`ConfigError` (``mock.bad-xpath``) if it is wrong."""
    try:
        _compiled(xpath)
    except (etree.XPathSyntaxError, ValueError) as exc:  # ValueError: a NUL, control character
        raise ConfigError(
            f"not an XPath expression: {exc}",
            code="mock.bad-xpath",
            where=xpath,
            hint="write XPath 1.0, e.g. /sed:S041/Reply/inReplyS040/value = '03'",
        ) from None


@lru_cache(maxsize=1024)
def _bound(xpath: str, namespaces: tuple[tuple[str, str], ...]) -> etree.XPath:
    # Compiled once per expression and namespace set (a rule's XPath: once per SED version).
    return etree.XPath(xpath, namespaces=dict(namespaces))


def check_rule_xpath(xpath: str) -> None:
    """Check a rule's XPath when the rule is made: its syntax, and that it uses only the
    prefixes bound for every document (``sed`` and the SED types); a :class:`ConfigError`
    (``mock.bad-xpath``) otherwise."""
    compile_xpath(xpath)
    probe = dict.fromkeys(("sed", *SEDS), "urn:eessi-sim:probe")
    try:
        _bound(xpath, tuple(sorted(probe.items())))(etree.Element("probe"))
    except etree.XPathError as exc:
        raise ConfigError(
            f"cannot evaluate the XPath: {exc}",
            code="mock.bad-xpath",
            where=xpath,
            hint="use the prefixes bound for every SED: sed, or the SED type (S072)",
        ) from None


def _evaluate(payload: bytes, xpath: str, namespaces: Mapping[str, str] | None) -> Any:
    compile_xpath(xpath)
    try:
        root = xmlsafe.parse(payload)
    except SedError:
        return None
    try:
        bound = namespaces_for(root, namespaces)
        return _bound(xpath, tuple(sorted(bound.items())))(root)
    except etree.XPathEvalError as exc:
        raise ConfigError(
            f"cannot evaluate the XPath: {exc}",
            code="mock.bad-xpath",
            where=xpath,
            hint="bind every prefix you use (sed, the SED type, or pass namespaces)",
        ) from None


def select(payload: bytes, xpath: str, namespaces: Mapping[str, str] | None = None) -> list[str]:
    """The string values the XPath selects (text of elements, values of attributes, or the
    one result of a scalar expression); ``[]`` when nothing matches or the payload is not
    XML."""
    result = _evaluate(payload, xpath, namespaces)
    if result is None:
        return []
    if isinstance(result, list):
        out: list[str] = []
        for item in result:
            if isinstance(item, etree._Element):
                out.append("".join(str(x) for x in item.itertext()))
            else:
                out.append(str(item))
        return out
    if isinstance(result, bool):
        return ["true"] if result else []
    return [str(result)]


def matches(payload: bytes, xpath: str, namespaces: Mapping[str, str] | None = None) -> bool:
    """Whether the XPath selects something (a node set) or is true (a boolean expression)."""
    result = _evaluate(payload, xpath, namespaces)
    if result is None:
        return False
    if isinstance(result, list):
        return bool(result)
    if isinstance(result, float):
        return result == result and result != 0  # NaN and 0 are false, as in XPath
    return bool(result)
