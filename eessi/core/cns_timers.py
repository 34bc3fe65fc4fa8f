"""The CNS desk when time passes: X009 reminders of overdue replies, documents reminded once.

:class:`~eessi.core.messages.TimePassed` ticks every case whose deadline passed (the desk keeps
a :class:`~eessi.core.desk.DueIndex`, so the others are not looked at); when a reply is overdue
the case machine says so and the transaction sends an X009
(:class:`~eessi.core.messages.ReminderSent`). Documents asked for outside EESSI (R4-R8, R15,
R16) are reminded once (:class:`~eessi.core.messages.DocumentsReminder`) when still missing
``CnsParams.documents_within`` after the request; what the CNS service must decide (R11, R18)
is never reminded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eessi.core.facts import DocumentKind
from eessi.core.messages import DocumentsReminder

if TYPE_CHECKING:
    from eessi.core.cns import CnsRun, DocumentRequest

__all__ = ["asked_due", "time_passed"]


def asked_due(within: timedelta | None, requests: Iterable[DocumentRequest]) -> datetime | None:
    """When the first of these requests is to be reminded (``within`` after it was made; None:
    never)."""
    if within is None:
        return None
    due = [r.asked_at + within for r in requests if not r.reminded and r.party != "cns_service"]
    return min(due) if due else None


def time_passed(run: CnsRun, now: datetime) -> None:
    """Tick every case (X009 reminders), then remind overdue document requests once.

    Only cases and members the desk's due indexes name are looked at: the others have
    nothing due (same outputs as looking at all of them, in the same order)."""
    run.taken_cases = run.desk._due_cases.take(now)
    run.tx.tick(now, run.taken_cases)
    within = run.p.documents_within
    if within is None:
        return
    run.taken_asked = run.desk._due_asked.take(now)
    for ref in sorted(run.taken_asked):
        if ref not in run.asked:
            continue
        requests = run.asked[ref]
        due = [
            r
            for r in requests
            if not r.reminded and r.party != "cns_service" and r.asked_at + within <= now
        ]
        if not due:
            continue
        missing = {(m.kind, m.rule) for m in run.decide(ref).missing}
        groups: dict[tuple[str, str], list[DocumentKind]] = {}
        for r in due:
            if (r.kind, r.rule) in missing:
                groups.setdefault((r.rule, r.party), []).append(r.kind)
        for (rule_id, party), kinds in groups.items():
            run.tx.emit(DocumentsReminder(ref, tuple(kinds), rule_id, party))
        run.asked[ref] = tuple(replace(r, reminded=True) if r in due else r for r in requests)
