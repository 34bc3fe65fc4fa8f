"""Hand-written documents a mock sends as they are: SED templates with placeholders.

A rule's ``send`` effect carries a template (inline XML, or a file) that replaces the answer
the fund's desk made. Placeholders are ``{name}`` with a known name (:data:`PLACEHOLDERS`);
anything else in braces is left alone only if it is not a placeholder-like ``{word}`` (an
unknown one is an error when the rule is made, so a typo never travels).

When the rule is made the template is rendered with sample values and validated against its
SED schema (:func:`eessi.sed.validate.validate_or_raise`), unless it is marked ``invalid``:
then it is sent as written, for testing how a system reacts to a broken document on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from eessi.errors import ConfigError, SedError
from eessi.sed.validate import validate_or_raise

__all__ = ["PLACEHOLDERS", "SAMPLE", "check_template", "read_template", "render"]

#: The placeholders a template may use, and what they become.
PLACEHOLDERS: Final[dict[str, str]] = {
    "case": "the case ID (ConversationId)",
    "message_id": "the MessageId of the document sent",
    "answers": "the ID of the document answered (empty if none)",
    "today": "the node's date, YYYY-MM-DD",
    "now": "the node's time, ISO 8601",
    "sender": "the fund's IR ID",
    "receiver": "the receiver's IR ID",
    "family_name": "the family name of the person of the document answered",
    "forename": "the forename of that person",
    "birth_date": "that person's date of birth, YYYY-MM-DD",
    "pin": "that person's first PIN",
}
#: Sample values used to validate a template when the rule is made.
SAMPLE: Final[dict[str, str]] = {
    "case": "FR-000000000000",
    "message_id": "00000000-0000-4000-8000-000000000000",
    "answers": "00000000-0000-4000-8000-000000000001",
    "today": "2026-01-01",
    "now": "2026-01-01T00:00:00+00:00",
    "sender": "FR:CPAM5701",
    "receiver": "LU:CNS00001",
    "family_name": "Sample",
    "forename": "Sam",
    "birth_date": "1990-01-01",
    "pin": "0000000000000",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_template(file: str) -> str:
    """The text of a template file (UTF-8); a :class:`ConfigError` if it cannot be read."""
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the template file {file!r}: {exc}",
            code="mock.bad-template",
            where=file,
            hint="give a readable UTF-8 file (relative paths: from the working directory)",
        ) from None


def render(template: str, values: Mapping[str, str]) -> bytes:
    """The template with its placeholders replaced (XML-escaped), as UTF-8 bytes."""

    def sub(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if value is None:
            return m.group(0)
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return _PLACEHOLDER.sub(sub, template).encode("utf-8")


def check_template(template: str, *, invalid: bool, where: str) -> str | None:
    """Check a template when its rule is made; the SED type it sends (``None`` for a
    deliberately invalid one). Unknown placeholders are refused either way."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(PLACEHOLDERS))
    if unknown:
        raise ConfigError(
            f"unknown placeholder {{{unknown[0]}}} in the template",
            code="mock.bad-template",
            where=where,
            hint="placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
        )
    if invalid:
        return None
    try:
        valid = validate_or_raise(render(template, SAMPLE), where="the template")
    except SedError as exc:
        at = f" ({exc.where})" if exc.where and exc.where != "the template" else ""
        raise ConfigError(
            f"the template is not a valid SED{at}: {exc.message}",
            code="mock.bad-template",
            where=where,
            hint='fix it, or mark it "invalid": true to send it broken on purpose',
            details={"error": exc.code},
        ) from None
    return valid.sed
