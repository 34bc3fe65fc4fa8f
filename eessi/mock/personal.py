"""What in a mock fund's rules is personal data, for whoever pseudonymises a run.

A rule may name a person (``match.person``: a PIN of any country, or the fund's record key
``household/member``), hold text that names one (string literals of ``match.xpath``, the
values of an answer's ``overrides``) or carry a whole document (a ``send`` effect's
``template``). :func:`pseudonymise_rule` rewrites a rule's data form (as ``GET
/api/mock/rules`` lists it, as journaled) with the replacements a :class:`Pseudonyms` gives,
and :func:`pseudonymise_mock` the ``mocks`` entry of a trace's run configuration (the rules a
fund started with and its journaled rule changes, :mod:`eessi.mock.rules_log`).

The mock layer knows the shape of its rules; the pseudonymiser
(:mod:`eessi.trace.pseudonymise`) knows how to replace a PIN, a name or a document: used
together, a person rule keeps matching the pseudonymised documents of the same run (the same
keyed replacement of the same PIN or record key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Pseudonyms", "pseudonymise_mock", "pseudonymise_rule"]

#: A string literal of an XPath expression ('...' or "...").
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")


class Pseudonyms(Protocol):
    """The replacements :func:`pseudonymise_rule` needs (``eessi.trace.pseudonymise``'s
    ``Pseudonymiser`` has them)."""

    def pin(self, value: str) -> str:
        """A PIN's pseudonym (the same for the same PIN)."""
        ...

    def identifier(self, value: str) -> str:
        """A household or member ID's pseudonym."""
        ...

    def free_text(self, text: str) -> str:
        """Text with the names and PINs known so far replaced."""
        ...

    def xml(self, payload: bytes) -> bytes:
        """A document with its personal data replaced (the same bytes if it is not XML)."""
        ...


def _person(value: str, p: Pseudonyms) -> str:
    if "/" in value:  # the fund's record key: household/member
        return "/".join(p.identifier(part) for part in value.split("/"))
    return p.pin(value)


def _xpath(expression: str, p: Pseudonyms) -> str:
    return _LITERAL.sub(
        lambda m: m.group()[0] + p.free_text(m.group()[1:-1]) + m.group()[0], expression
    )


def _text(value: Any, p: Pseudonyms) -> Any:
    if isinstance(value, str):
        return p.free_text(value)
    if isinstance(value, Mapping):
        return {k: _text(v, p) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v, p) for v in value]
    return value


def _template(text: str, p: Pseudonyms) -> str:
    new = p.xml(text.encode("utf-8"))
    if new == text.encode("utf-8"):  # not XML (an invalid one on purpose), or nothing personal
        return p.free_text(text)
    return new.decode("utf-8")


def pseudonymise_rule(rule: Mapping[str, Any], p: Pseudonyms) -> dict[str, Any]:
    """``rule`` (its data form) with the personal data in it replaced; the rest as it was."""
    out = dict(rule)
    match = rule.get("match")
    if isinstance(match, Mapping):
        m = dict(match)
        if isinstance(m.get("person"), str):
            m["person"] = _person(m["person"], p)
        if isinstance(m.get("xpath"), str):
            m["xpath"] = _xpath(m["xpath"], p)
        out["match"] = m
    effect = rule.get("effect")
    if isinstance(effect, Mapping):
        e = dict(effect)
        if "overrides" in e:
            e["overrides"] = _text(e["overrides"], p)
        if isinstance(e.get("template"), str):
            e["template"] = _template(e["template"], p)
        out["effect"] = e
    return out


def pseudonymise_mock(mock: Mapping[str, Any], p: Pseudonyms) -> dict[str, Any]:
    """A ``mocks`` entry of a run configuration (``rules``: those the fund started with;
    ``changes``: its journaled rule changes) with the personal data of every rule replaced."""
    out = dict(mock)
    rules = mock.get("rules")
    if isinstance(rules, list):
        out["rules"] = [pseudonymise_rule(r, p) if isinstance(r, Mapping) else r for r in rules]
    changes = mock.get("changes")
    if isinstance(changes, list):
        new: list[Any] = []
        for change in changes:
            data = change.get("data") if isinstance(change, Mapping) else None
            rule = data.get("rule") if isinstance(data, Mapping) else None
            if (
                isinstance(change, Mapping)
                and isinstance(data, Mapping)
                and isinstance(rule, Mapping)
            ):
                change = {**change, "data": {**data, "rule": pseudonymise_rule(rule, p)}}
            new.append(change)  # a removal names a rule, a reset a case: nothing personal
        out["changes"] = new
    return out
