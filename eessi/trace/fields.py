"""A document as a flat map of fields: ``XPath -> value``, the unit of trace comparison.

Comparing documents field by field (rather than byte by byte) is what makes a divergence
readable ("``/S072/entitlementConfirmed/value``: recorded ``01``, now ``02``") and lets volatile
fields (IDs, creation times) be ignored by path. The map is built from the XML itself, not from
the SED models, so it works for any document a trace may hold: every SED type and version, a
document the models would refuse, a header.

Paths use local names (no namespace prefixes: the version is compared separately) and a
1-based position ``[n]`` only where an element has siblings of the same name
(``.../PINPersonInEachInstitution/PersonalIdentificationNumber[2]/country/value``). A leaf's
value is its text with surrounding white space removed; attributes appear as ``.../@name``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from functools import lru_cache

from lxml import etree

from eessi.errors import SedError
from eessi.sed import xmlsafe

__all__ = ["DEFAULT_IGNORE", "IgnoreRules", "field_map", "strip_positions"]

#: Fields that differ between two runs of the same exchange by nature: document and message
#: IDs (UUIDs from the ID generator), case IDs, creation times. ``--ignore`` adds to these.
DEFAULT_IGNORE: tuple[str, ...] = (
    "//sedId",
    "//instanceIdentifier",
    "//creationDateAndTime",
    "//caseId",
    "//attachmentId",
)

_POSITION = re.compile(r"\[\d+\]")


def strip_positions(path: str) -> str:
    """``/a/b[2]/c`` -> ``/a/b/c``."""
    return _POSITION.sub("", path)


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _walk(element: etree._Element, path: str, out: dict[str, str]) -> None:
    for name, value in element.attrib.items():
        out[f"{path}/@{_local(name)}"] = str(value)
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        out[path] = (element.text or "").strip()
        return
    counts: dict[str, int] = {}
    for child in children:
        name = _local(child.tag)
        counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    for child in children:
        name = _local(child.tag)
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            _walk(child, f"{path}/{name}[{seen[name]}]", out)
        else:
            _walk(child, f"{path}/{name}", out)


def field_map(data: bytes) -> dict[str, str]:
    """The fields of an XML document in document order; a document that is not XML becomes
    ``{"/": "<not XML: ...>"}`` (so a comparison still reports it instead of failing)."""
    if not data:
        return {}
    try:
        root = xmlsafe.parse(data)
    except SedError as exc:
        return {"/": f"<not XML: {exc.message}>"}
    out: dict[str, str] = {}
    _walk(root, "/" + _local(root.tag), out)
    return out


class IgnoreRules:
    """Which field paths a comparison skips.

    A rule ``//name`` (or ``//a/b``) matches that element anywhere; any other rule is an
    absolute path. ``*`` and ``?`` are wildcards; positions ``[n]`` in paths are ignored unless
    the rule itself has them.
    """

    def __init__(self, rules: Iterable[str] = DEFAULT_IGNORE) -> None:
        self.rules = tuple(rules)
        patterns: list[tuple[str, bool]] = []
        for rule in self.rules:
            positional = bool(_POSITION.search(rule))
            pattern = "*/" + rule[2:] if rule.startswith("//") else rule
            # fnmatch reads "[2]" as a character class; match brackets literally.
            patterns.append((pattern.replace("[", "[[]"), positional))
        self._patterns = tuple(patterns)
        self.ignored = lru_cache(maxsize=4096)(self._ignored)

    def _ignored(self, path: str) -> bool:
        bare = strip_positions(path)
        for pattern, positional in self._patterns:
            if fnmatch.fnmatchcase(path if positional else bare, pattern):
                return True
        return False
