"""Moving a virtual clock over HTTP: every institution that shares it moves together.

``eessi up --virtual-clock`` gives every institution of the network one
:class:`~eessi.clock.VirtualClock`; ``eessi serve --virtual-clock`` gives its one institution its
own. A :class:`ClockControl` is that clock with the institutions that read it (the
:class:`~eessi.node.network.Network` attaches one to each of its institutions, see
:func:`attach`; a lone node gets one of its own on first use, :func:`control_of`). Moving it
(``POST /api/clock``, :meth:`ClockControl.move_to`) sets the clock, then for each institution
releases the held messages whose time has come and ticks its desk (reminders of overdue
replies), and waits (boundedly) until the network has delivered what that sent. The answer says
what became due: reminders sent (X009, with case and counterparty), deadlines passed (the case
machine's ``reminder-due`` and ``escalation-due`` events), held messages released.

A move is one jump: a reminder due on day 60 of a ``P2M`` move is sent at the new time, once.
Moves are serialised (one lock per clock); the clock never goes backwards except by a reset
(:meth:`ClockControl.rewind`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from eessi.clock import Clock, VirtualClock
from eessi.core import case as case_machine
from eessi.core.messages import CaseEvent, ReminderSent
from eessi.errors import ConfigError
from eessi.node.records import event_case, event_json

__all__ = [
    "SETTLE_WITHIN",
    "ClockControl",
    "ClockTarget",
    "Moved",
    "attach",
    "attach_reset",
    "collect_step",
    "control_of",
    "reset_busy",
    "reset_of",
]

#: How long (real seconds) a move waits for what it set off to be delivered before answering.
SETTLE_WITHIN = 10.0


@runtime_checkable
class ClockTarget(Protocol):
    """What a clock move needs of an institution (the node satisfies it)."""

    @property
    def id(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def held(self) -> list[str]: ...

    @property
    def busy(self) -> int: ...

    def release_due(self) -> int: ...

    async def tick(self, *, messages: list[str] | None = None) -> Any: ...

    async def idle(self) -> None: ...


@dataclass(slots=True)
class Moved:
    """What one move of the clock set off (the JSON answer of ``POST /api/clock``)."""

    before: datetime
    now: datetime
    reminders: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    released: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    settled: bool = True

    def to_json(self, *, start: datetime) -> dict[str, Any]:
        return {
            "virtual": True,
            "start": start.isoformat(),
            "before": self.before.isoformat(),
            "now": self.now.isoformat(),
            "reminders": self.reminders,
            "deadlines": self.deadlines,
            "released": self.released,
            "messages": self.messages,
            "events": self.events,
            "settled": self.settled,
        }


class ClockControl:
    """One virtual clock and the institutions that read it."""

    def __init__(self, clock: VirtualClock, members: Iterable[ClockTarget] = ()) -> None:
        self.clock = clock
        #: Where the clock stood when the run began (a reset goes back there).
        self.start = clock.now()
        self.members: list[ClockTarget] = list(members)
        self._lock = asyncio.Lock()

    async def move_to(self, when: datetime, *, settle_within: float = SETTLE_WITHIN) -> Moved:
        """Set the clock to ``when`` (not earlier than now: :class:`ValueError`), then release
        and tick every member; what became due."""
        async with self._lock:
            before = self.clock.now()
            self.clock.set(when)
            moved = Moved(before=before, now=self.clock.now())
            for member in self.members:
                held = set(member.held)
                member.release_due()
                for mid in sorted(held - set(member.held)):
                    moved.released.append({"institution": member.id, "message_id": mid})
            for member in self.members:
                ids: list[str] = []
                step = await member.tick(messages=ids)
                collect_step(moved, member.id, step, ids)
            moved.settled = await self._settle(settle_within)
            return moved

    async def _settle(self, within: float) -> bool:
        """Wait until every member is idle at once, at most ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                while True:
                    for member in self.members:
                        await member.idle()
                    if all(m.busy == 0 for m in self.members):
                        return True
        except TimeoutError:
            return False

    def rewind(self) -> datetime:
        """Back to :attr:`start` (a reset of the whole run)."""
        return self.clock.rewind(self.start)


def collect_step(moved: Moved, ir_id: str, step: Any, ids: list[str]) -> None:
    """Add what ``step`` (a tick of ``ir_id``'s desk) set off to ``moved``; ``ids``: the
    messages it journaled."""
    outgoing = tuple(getattr(step, "outgoing", ()))
    receivers = {o.document_id: o.receiver for o in outgoing}
    moved.messages.extend({"institution": ir_id, "message_id": m} for m in ids)
    for event in getattr(step, "events", ()):
        kind, data = event_json(event)
        moved.events.append(
            {"institution": ir_id, "kind": kind, "case_id": event_case(event), "data": data}
        )
        if isinstance(event, ReminderSent):
            moved.reminders.append(
                {
                    "institution": ir_id,
                    "sed": "X009",
                    "case_id": event.case_id,
                    "counterparty": receivers.get(event.document_id),
                    "document_id": event.document_id,
                    "awaited_sed": event.awaited_sed,
                }
            )
        elif isinstance(event, CaseEvent) and isinstance(
            event.event, case_machine.ReminderDue | case_machine.EscalationDue
        ):
            inner = event.event
            due = (
                inner.deadline if isinstance(inner, case_machine.ReminderDue) else inner.due
            ).isoformat()
            moved.deadlines.append(
                {
                    "institution": ir_id,
                    "case_id": event.case_id,
                    "kind": "reply"
                    if isinstance(inner, case_machine.ReminderDue)
                    else "escalation",
                    "awaited_sed": inner.awaited_sed,
                    "document_id": inner.document_id,
                    "due": due,
                }
            )


_CONTROLS: weakref.WeakKeyDictionary[Any, ClockControl] = weakref.WeakKeyDictionary()


def attach(control: ClockControl, member: ClockTarget) -> None:
    """Make ``member`` one of the institutions ``control`` moves (and find it from there)."""
    if member not in control.members:
        control.members.append(member)
    _CONTROLS[member] = control


def control_of(member: ClockTarget) -> ClockControl | None:
    """The control that moves ``member``'s clock; for a lone node on a virtual clock, one of
    its own (made on first use); None on the wall clock (it cannot be moved)."""
    found = _CONTROLS.get(member)
    if found is not None:
        return found
    clock = member.clock
    if not isinstance(clock, VirtualClock):
        return None
    control = ClockControl(clock)
    attach(control, member)
    return control


#: What ``POST /api/reset`` calls for an institution of a network (``Network.reset``).
Reset = Callable[[], Awaitable[dict[str, object]]]
_RESETS: weakref.WeakKeyDictionary[Any, Reset] = weakref.WeakKeyDictionary()


def attach_reset(member: Any, reset: Reset) -> None:
    """``reset`` is what resets the network ``member`` belongs to."""
    _RESETS[member] = reset


def reset_of(member: Any) -> Reset | None:
    """The reset of ``member``'s network, if it runs in one (``eessi up``)."""
    return _RESETS.get(member)


def reset_busy(what: str, drain_within: float) -> ConfigError:
    """The refusal of a ``POST /api/reset`` that found ``what`` still busy after waiting
    ``drain_within`` seconds (``network.busy``: nothing was reset)."""
    return ConfigError(
        f"{what} did not settle within {drain_within:g} s",
        where="POST /api/reset",
        hint="wait until the flows finish (a failing peer is retried for a while),"
        " then reset again",
        code="network.busy",
    )
