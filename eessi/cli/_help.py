"""Help text of the commands: every ``--help`` ends with examples, printed as written.

``add_parser(..., **examples("eessi up", "eessi up --port-base 9100"))`` sets the epilog and a
formatter that wraps descriptions as argparse does but keeps the example lines whole (the
default formatter would run them together into one paragraph). Not a command itself: the
dispatcher skips modules whose name starts with ``_``.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["EXAMPLES_HEADING", "HelpFormatter", "examples"]

#: The line that opens the examples of a command's help.
EXAMPLES_HEADING = "examples:"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the examples keep their lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADING):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def examples(*commands: str) -> dict[str, Any]:
    """Keywords for ``add_parser`` that end the command's help with ``commands``, one a line."""
    lines = [EXAMPLES_HEADING, *(f"  {command}" for command in commands)]
    return {"epilog": "\n".join(lines), "formatter_class": HelpFormatter}
