"""The virtual clock of a shared institution, moved for all its processes at once (issue 17,
D196).

Every ``eessi serve --shared --virtual-clock`` process of an institution has its own
:class:`~eessi.clock.VirtualClock`. ``POST /api/clock`` on any of them moves the
institution's time (:class:`SharedClockControl`): the new time is journaled (pseudo case
:data:`CLOCK_LOG`, so a process that starts or takes a partition over later catches up: the
latest time logged, ``SharedInstitution.journal_time``), then every partition is moved
(:class:`MoveClock`): this process's partitions here, the others' by their owners through the
queue of admin requests. Moving a partition sets its process's clock (never backwards),
releases the messages held until a time now passed, ticks its desk (reminders, deadlines) and
waits, boundedly, until what that sent is delivered. The answer gathers what became due in
every partition, whichever process owns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from eessi.clock import VirtualClock
from eessi.node.clock_control import SETTLE_WITHIN, ClockControl, Moved, collect_step

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["CLOCK_LOG", "ClockMoved", "MoveClock", "SharedClockControl", "catch_up"]

#: Pseudo case of a shared institution's journal where every move of its clock is logged.
CLOCK_LOG: Final = "~clock"


def catch_up(clock: Any, when: datetime | None) -> bool:
    """Move a virtual ``clock`` forward to ``when`` (never back); whether it moved."""
    if when is None or not isinstance(clock, VirtualClock) or clock.now() >= when:
        return False
    clock.set(when)
    return True


@dataclass(frozen=True, slots=True)
class ClockMoved:
    """What moving one partition set off (pickled back to the process that moved the clock)."""

    released: list[str]
    step: Any
    messages: list[str]
    settled: bool


@dataclass(frozen=True, slots=True)
class MoveClock:
    """Move a partition to ``to``: run by the partition's owner (queued like an admin
    request when the owner is another process)."""

    to: datetime
    settle_within: float = SETTLE_WITHIN

    async def run(self, node: Institution) -> ClockMoved:
        catch_up(node.clock, self.to)
        held = set(node.held)
        node.release_due()
        released = sorted(held - set(node.held))
        messages: list[str] = []
        step = await node.tick(messages=messages)
        try:
            async with asyncio.timeout(self.settle_within):
                await node.idle()
            settled = True
        except TimeoutError:
            settled = False
        return ClockMoved(released, step, messages, settled)


class SharedClockControl(ClockControl):
    """``POST /api/clock`` of a process of a shared institution (module docstring)."""

    def __init__(
        self,
        front: Institution,
        clock: VirtualClock,
        *,
        record: Callable[[datetime], Awaitable[None]],
        move: Callable[[MoveClock], Awaitable[list[ClockMoved]]],
    ) -> None:
        super().__init__(clock, [front])
        self._front = front
        self._record = record
        self._move = move

    async def move_to(self, when: datetime, *, settle_within: float = SETTLE_WITHIN) -> Moved:
        async with self._lock:
            before = self.clock.now()
            self.clock.set(when)  # (ValueError if earlier: the route refuses that first)
            await self._record(when)
            moved = Moved(before=before, now=when)
            ir_id = self._front.id
            for answer in await self._move(MoveClock(when, settle_within)):
                moved.released.extend(
                    {"institution": ir_id, "message_id": mid} for mid in answer.released
                )
                collect_step(moved, ir_id, answer.step, answer.messages)
                moved.settled = moved.settled and answer.settled
            return moved
