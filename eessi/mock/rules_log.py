"""Rule changes of a mock fund, journaled with the rest of the node, and replayed at start.

A rule set over the admin API is part of the test's setup: a restart of the node (same
journal) must not drop it. Each change is appended, before it takes effect, as an event of
the pseudo case :data:`RULES_LOG` of the fund's own journal (like the node's input log,
``~inputs``: no table of its own, nothing to migrate):

* ``rule-added`` ``{"rule": {...}}``: the rule as ``GET /api/mock/rules`` lists it (with its
  ``origin`` and ``added_at``);
* ``rule-removed`` ``{"id": ...}``;
* ``reset`` ``{"case": null}``: back to the profile's rules; ``{"case": ID}``: that case's
  rules dropped.

:func:`replay` applies them in order to a fund's book when the node starts (after its desk is
restored, before anything is processed). Per-case counters (``nth``, ``fail``) are not
journaled: after a restart they count afresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from eessi.errors import ConfigError
from eessi.journal import Journal
from eessi.mock.behaviour import Behaviours, Rule, parse_rule

__all__ = ["RULES_LOG", "journal_change", "replay", "rule_from_log"]

#: Pseudo case ID of a mock fund's rule changes in its journal.
RULES_LOG: Final = "~mock-rules"


async def journal_change(
    journal: Journal, changes: Sequence[tuple[str, Mapping[str, Any]]], *, at: datetime
) -> None:
    """Append rule changes ``(kind, data)`` in one transaction (durable when this returns)."""
    async with journal.transaction() as tx:
        await tx.append_events(RULES_LOG, changes, at=at)


def rule_from_log(data: Mapping[str, Any]) -> Rule:
    """A rule as journaled (its listing form) back to a :class:`Rule`."""
    body = {k: data[k] for k in ("id", "match", "effect") if k in data}
    rule = parse_rule(body, where=f"journaled rule {data.get('id')!r}")
    return dataclasses.replace(
        rule, origin=str(data.get("origin", "api")), added_at=data.get("added_at")
    )


async def replay(
    journal: Journal, book: Behaviours, *, failed: Callable[[str, str], None] | None = None
) -> int:
    """Apply the journaled rule changes to ``book``, in order; how many were applied. A
    journaled rule that no longer parses (a profile or catalogue changed) is skipped and
    reported to ``failed(rule_id, reason)``."""
    applied = 0
    for event in await journal.case_events(RULES_LOG):
        data = event.data
        if event.kind == "rule-added":
            try:
                book.add(rule_from_log(data["rule"]))
            except (ConfigError, KeyError, TypeError) as exc:
                if failed is not None:
                    failed(str(data.get("rule", {}).get("id")), str(exc))
                continue
        elif event.kind == "rule-removed":
            book.remove(str(data["id"]))
        elif event.kind == "reset":
            case = data.get("case")
            if case is None:
                book.reset()
            else:
                book.reset_case(str(case))
        else:
            continue
        applied += 1
    return applied
