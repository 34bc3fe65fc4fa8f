"""A trace as a sequence diagram: one arrow per message (not per journal record).

A message recorded by both sides appears once. Its status is the receiver's when the receiver's
journal is in the trace (``processed``, ``rejected``, ``refused``), else the sender's
(``acknowledged``, ``failed``...): the furthest the message is known to have got.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eessi.journal.base import Direction
from eessi.render.sequence import Arrow
from eessi.trace.format import Trace, TraceMessage

__all__ = ["arrows", "participants"]


def arrows(
    messages: Sequence[TraceMessage],
    *,
    short_case: bool = False,
    notes: Mapping[tuple[str, str], str] | None = None,
) -> list[Arrow]:
    """One :class:`Arrow` per (sender, message ID), in the order of its first record;
    ``notes`` adds a word to some of them (by (sender, message ID), e.g. a divergence)."""
    first: dict[tuple[str, str], int] = {}
    records: list[list[TraceMessage]] = []
    for m in messages:
        key = (m.record.sender, m.record.message_id)
        if key not in first:
            first[key] = len(records)
            records.append([])
        records[first[key]].append(m)
    out: list[Arrow] = []
    for group in records:
        inbound = next((m for m in group if m.record.direction is Direction.IN), None)
        outbound = next((m for m in group if m.record.direction is Direction.OUT), None)
        shown = inbound or outbound or group[0]
        r = (outbound or shown).record
        case = r.conversation_id
        if short_case and len(case) > 10:
            case = case[:9] + "…"
        out.append(
            Arrow(
                sender=r.sender,
                receiver=r.receiver,
                sed=r.sed_type,
                case=case,
                status=shown.record.status.value,
                at=r.created_at,
                note=(notes or {}).get((r.sender, r.message_id), ""),
            )
        )
    return out


def participants(trace: Trace) -> list[str]:
    """IR IDs in directory order (the CNS first in the default directory), those that appear."""
    ids = [t.get("id") for t in trace.header.directory.get("institution", [])]
    seen = {p for m in trace.messages for p in (m.record.sender, m.record.receiver)}
    ordered = [i for i in ids if isinstance(i, str) and i in seen]
    return ordered + sorted(seen - set(ordered))
