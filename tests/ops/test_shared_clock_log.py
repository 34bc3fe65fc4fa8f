"""The time of a shared institution (D196, D281): the latest of its clock log, as the server
finds it (one row, not the log read whole), whatever order the processes logged their moves
in and however many other events the journal holds. A real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eessi.journal.postgres import PostgresJournal
from eessi.node.shared_clock import CLOCK_LOG

START = datetime(2026, 1, 5, 9, tzinfo=UTC)


async def test_the_institutions_time_is_the_latest_move_logged_not_the_last(
    postgres_url: str,
) -> None:
    journal = await PostgresJournal.open(postgres_url)
    try:
        assert await journal.latest_event_time(CLOCK_LOG) is None  # never moved
        later, earlier = START + timedelta(days=60), START + timedelta(days=1)
        async with journal.transaction() as tx:
            # a case's own events, later than any move: not the clock's
            await tx.append_event("LU-1", "opened", {}, at=START + timedelta(days=400))
            # two processes moving at once: the one behind logs its move last
            for when in (later, earlier):
                await tx.append_event(CLOCK_LOG, "clock-moved", {"now": when.isoformat()}, at=when)
        assert await journal.latest_event_time(CLOCK_LOG) == later
        assert await journal.latest_event_time("~elsewhere") is None
    finally:
        await journal.close()
