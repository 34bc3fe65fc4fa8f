"""The virtual clock of a shared institution moves for all its processes (issue 17, D196): two
``eessi serve --shared --virtual-clock`` processes of the CNS, each owning half of the
partitions, have sent eight S072s unasked (R13, to a Portuguese fund that is not running) and
wait for the S073s. ``POST /api/clock`` on one of them moves the time of both: the reminders
(X009) of every case fall due, in the partitions the other process owns as well, and the other
process's clock reads the new time; a move on the other process then moves the first one's.
Real processes, a real server; nothing here times performance.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from serve_process import call
from serve_support import cross_border_households, owner_pids, start_shared

from eessi.node.partitions import partition_of

pytestmark = pytest.mark.slow

HOUSEHOLDS = 8
PARTS = 4
START = "2026-01-05T09:00:00+00:00"


async def test_a_clock_move_on_one_process_fires_timers_in_the_others_partitions_r13(
    tmp_path: Path, postgres_url: str
) -> None:
    households = cross_border_households(tmp_path, HOUSEHOLDS)
    nodes = await start_shared(
        tmp_path, postgres_url, PARTS, "--households", households, "--virtual-clock", START,
        "--retry-attempts", "50", "--retry-delay", "0.5",
    )  # fmt: skip
    mover, other = nodes
    assert other.proc is not None
    try:
        owners = await owner_pids(postgres_url)
        theirs = {
            f"ops-{n:05d}"
            for n in range(HOUSEHOLDS)
            if owners[partition_of(f"ops-{n:05d}", PARTS)] == other.proc.pid
        }
        assert 0 < len(theirs) < HOUSEHOLDS
        async with aiohttp.ClientSession() as session:
            case_of: dict[str, str] = {}
            for n in range(HOUSEHOLDS):
                status, answer = await call(
                    session,
                    "POST",
                    mover.url + "/api/requests",
                    {"kind": "issue_entitlement", "person": f"ops-{n:05d}/main"},
                )
                assert status == 202, answer
                (case_of[f"ops-{n:05d}"],) = answer["cases"]

            status, moved = await call(
                session, "POST", mover.url + "/api/clock", {"advance": "P90D"}
            )
            assert status == 200, moved
            assert moved["before"] == START
            assert moved["now"] == "2026-04-05T09:00:00+00:00"
            reminded = {r["case_id"] for r in moved["reminders"]}
            assert reminded == set(case_of.values())  # every case: both processes' partitions
            assert {r["sed"] for r in moved["reminders"]} == {"X009"}
            assert {r["awaited_sed"] for r in moved["reminders"]} == {"S073"}
            assert {case_of[h] for h in theirs} <= reminded
            status, clock = await call(session, "GET", other.url + "/api/clock")
            assert status == 200, clock
            assert clock["now"] == moved["now"]  # the other process's clock moved too

            # and the other way round: moved there, read here
            status, again = await call(
                session, "POST", other.url + "/api/clock", {"advance": "P1D"}
            )
            assert status == 200, again
            status, clock = await call(session, "GET", mover.url + "/api/clock")
            assert status == 200, clock
            assert datetime.fromisoformat(clock["now"]) == datetime.fromisoformat(
                "2026-04-06T09:00:00+00:00"
            )
            status, sent = await call(session, "GET", mover.url + "/api/messages?sed=X009")
            assert status == 200, sent
            assert {m["case_id"] for m in sent["items"]} == set(case_of.values())
    finally:
        for node in nodes:
            code, _ = await node.terminate()
            assert code == 0, node.output()
