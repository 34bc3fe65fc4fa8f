"""A request queued for another process's partition whose owner dies while holding it (issue
17, D197, D280): two ``eessi serve --shared`` processes of the CNS on a real PostgreSQL; the
one asked queues a request about a household of the other's partition; the other takes it
(its row ``taken``) and is killed (SIGKILL, ``EESSI_CRASH_AT``) either before its desk runs it
or after (its effect and its answer committed together). Either way the process asked takes the
partition over and answers ``202`` with the request's answer; the request took effect once (the
referral to the service, R18, is in the desk log once); no row of the queue is left behind.
Real processes, a real server.
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from serve_process import call
from serve_support import Serve, cross_border_households, owner_pids, start_shared, until

from eessi.node.partitions import partition_of

pytestmark = pytest.mark.slow

HOUSEHOLDS = 8
PARTS = 4


async def _queue_rows(url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id, status FROM shared_inputs ORDER BY id")
    finally:
        await conn.close()
    return [(int(r["id"]), str(r["status"])) for r in rows]


async def _killed_holding_a_request(tmp_path: Path, url: str, crash_at: str) -> None:
    """Start the two processes, the second one killed at ``crash_at``; ask the first for a
    co-insurance request about a household of the second's partition; check the answer, the
    takeover, the effect (once) and the queue."""
    households = cross_border_households(tmp_path, HOUSEHOLDS)
    nodes: list[Serve] = await start_shared(
        tmp_path, url, PARTS, "--households", households,
        envs=(None, {"EESSI_CRASH_AT": crash_at}),
    )  # fmt: skip
    asked, dying = nodes
    assert asked.proc is not None
    assert dying.proc is not None
    try:
        owners = await owner_pids(url)
        n = next(
            i
            for i in range(HOUSEHOLDS)
            if owners[partition_of(f"ops-{i:05d}", PARTS)] == dying.proc.pid
        )
        part = partition_of(f"ops-{n:05d}", PARTS)
        pin = f"19800101{n:05d}"
        async with aiohttp.ClientSession() as session:
            request = {"kind": "co_insurance_request", "main_insured_pin": pin, "member": "spouse"}
            status, answer = await call(session, "POST", asked.url + "/api/requests", request)
            assert status == 202, answer
            assert "referred-to-service" in [e["kind"] for e in answer["events"]], answer
            assert await dying.proc.wait() == -signal.SIGKILL
            assert f"{crash_at}: killing the process" in dying.output()

            async def taken_over() -> bool:
                return (await owner_pids(url))[part] == asked.proc.pid  # type: ignore[union-attr]

            await until(taken_over, f"the asked process takes partition {part} over")
            # run once: the referral to the service (R18) is in the desk log once
            status, events = await call(session, "GET", asked.url + "/api/events?limit=500")
            assert status == 200, events
            referred = [
                e
                for e in events["items"]
                if e["kind"] == "referred-to-service" and f"ops-{n:05d}" in str(e["data"])
            ]
            assert len(referred) == 1, events["items"]
            assert await _queue_rows(url) == []  # answered and read: nothing left taken
            # and the institution goes on: the next request about the household runs there
            decided = {**request, "kind": "service_decision", "approved": True}
            status, answer = await call(session, "POST", asked.url + "/api/requests", decided)
            assert status == 202, answer
    finally:
        code, _ = await asked.terminate()
        assert code == 0, asked.output()
        if dying.proc.returncode is None:
            await dying.terminate(signal.SIGKILL)
    if crash_at == "remote-input-taken":
        assert f"partition {part}: 1 request(s) its last owner took and did not run" in (
            asked.output()
        )


async def test_a_request_taken_by_an_owner_killed_before_running_it_is_run_by_the_next_r18(
    tmp_path: Path, postgres_url: str
) -> None:
    await _killed_holding_a_request(tmp_path, postgres_url, "remote-input-taken")


async def test_a_request_whose_owner_is_killed_after_running_it_is_answered_not_rerun_r18(
    tmp_path: Path, postgres_url: str
) -> None:
    await _killed_holding_a_request(tmp_path, postgres_url, "remote-input")
