"""A SED as the Messages page shows it: numbered lines, each validation error at its line.

The errors are the validator's (:func:`eessi.sed.validate.validate`), with the line it gives.
A document already written on several lines is shown byte for byte, so those lines are the
document's own. A document on one line (as some senders write them) is shown indented
(``lxml``'s ``pretty_print``) and validated again as shown, so that each error lands on the
line of the element it is about: the indentation adds only whitespace between elements, which
the SED schemas ignore, so the errors are the same ones.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from eessi.errors import SedError
from eessi.sed import xmlsafe
from eessi.sed.validate import validate

__all__ = ["xml_view"]


def xml_view(payload: bytes) -> dict[str, Any]:
    """``{"lines": [...], "pretty": bool, "sed", "version", "ok", "errors": [...]}``; each
    error has ``code``, ``message``, ``xpath``, ``line`` (1-based, into ``lines``, or ``None``
    when the validator could not place it)."""
    report = validate(payload)
    shown = payload
    pretty = False
    if payload.count(b"\n") <= 1 and payload.strip():
        indented = _indented(payload)
        if indented is not None and indented != payload:
            shown, pretty = indented, True
            report = validate(indented)
    text = shown.decode("utf-8", errors="replace")
    lines = text.splitlines() or [""]
    errors = []
    for issue in report.errors:
        line = issue.line if issue.line is not None and 1 <= issue.line <= len(lines) else None
        errors.append({**issue.to_dict(), "line": line})
    return {
        "sed": report.sed,
        "version": report.version,
        "ok": report.ok,
        "pretty": pretty,
        "lines": lines,
        "errors": errors,
    }


def _indented(payload: bytes) -> bytes | None:
    try:
        root = xmlsafe.parse(payload)
    except SedError:
        return None  # not XML: shown as it is, with the syntax error's own line
    for element in root.iter():
        if element.tail is not None and not element.tail.strip():
            element.tail = None
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
    data: bytes = etree.tostring(
        root.getroottree(), pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )
    return data
