"""A request queued for another process's partition whose owner dies while running it (issue
17, D197): two ``eessi serve --shared`` processes of the CNS; the one asked queues a request
about a household of the other's partition; the other takes it, runs it (its effect
committed) and is killed (SIGKILL, ``EESSI_CRASH_AT=remote-input``) before storing the answer.
The process asked answers at once with ``503 node.partition-owner-lost`` (not a 60 s wait),
naming the partition and the process that stopped; it takes the partition over, and the
request was run once: its effect is in the institution's view, it is not run again. Real
processes, a real server.
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import pytest
from serve_process import call
from serve_support import cross_border_households, owner_pids, start_shared, until

from eessi.node.partitions import REMOTE_TIMEOUT, partition_of

pytestmark = pytest.mark.slow

HOUSEHOLDS = 8
PARTS = 4


async def test_the_owner_dying_mid_request_answers_owner_lost_at_once_and_runs_it_once_r18(
    tmp_path: Path, postgres_url: str
) -> None:
    households = cross_border_households(tmp_path, HOUSEHOLDS)
    nodes = await start_shared(
        tmp_path, postgres_url, PARTS, "--households", households,
        envs=(None, {"EESSI_CRASH_AT": "remote-input"}),
    )  # fmt: skip
    asked, dying = nodes
    assert dying.proc is not None
    try:
        owners = await owner_pids(postgres_url)
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
            assert status == 503, answer
            error = answer["error"]
            assert error["code"] == "node.partition-owner-lost"
            assert error["details"]["partition"] == part
            assert error["details"]["taker"].endswith(f":{dying.proc.pid}")
            assert "unknown" in error["message"]
            assert "GET /api/households" in error["hint"]
            assert await dying.proc.wait() == -signal.SIGKILL
            assert f"{REMOTE_TIMEOUT:g} s" not in error["message"]  # not the timeout

            async def taken_over() -> bool:
                return (await owner_pids(postgres_url))[part] == asked.proc.pid  # type: ignore[union-attr]

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
            # and the institution goes on: the next request about the household runs there
            decided = {**request, "kind": "service_decision", "approved": True}
            status, answer = await call(session, "POST", asked.url + "/api/requests", decided)
            assert status == 202, answer
    finally:
        code, _ = await asked.terminate()
        assert code == 0, asked.output()
        if dying.proc.returncode is None:
            await dying.terminate(signal.SIGKILL)
