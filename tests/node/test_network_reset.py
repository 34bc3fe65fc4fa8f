"""One reset for the whole network (issue 12.6): ``POST /api/reset`` on ``eessi up`` empties
every journal, rebuilds every desk, puts the mock rules and the virtual clock back to the
start; the same flow run again meets no leftover case (and, seeded, gets the same IDs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from test_clock_route import CNS, FR, PERSON, START, call, up

from eessi.clock import parse_instant

pytestmark = pytest.mark.slow


async def _wait_cases(http: aiohttp.ClientSession, url: str, n: int) -> list[str]:
    async with asyncio.timeout(30):
        while True:
            _, page = await call(http, "GET", f"{url}/api/messages")
            if len({m["case_id"] for m in page["items"]}) >= n and len(page["items"]) >= 3:
                return sorted({m["case_id"] for m in page["items"]})
            await asyncio.sleep(0.05)


async def test_post_api_reset_empties_journals_rules_clock_and_a_rerun_meets_no_old_case(
    tmp_path: Path,
) -> None:
    async with (
        up(tmp_path, "--virtual-clock", START, "--seed", "7") as urls,
        aiohttp.ClientSession() as http,
    ):
        cns, fr = urls[CNS], urls[FR]
        _, profile_rules = await call(http, "GET", f"{fr}/api/mock/rules")

        async def run_flow() -> str:
            body = {"kind": "request_entitlement", "person": PERSON}
            status, step = await call(http, "POST", f"{fr}/api/requests", body)
            assert status == 202, step
            (case,) = step["cases"]
            assert await _wait_cases(http, cns, 1) == [case]
            return str(case)

        status, _ = await call(
            http, "POST", f"{fr}/api/mock/rules", {"match": {"sed": "X009"}, "effect": "silent"}
        )
        assert status == 201
        first = await run_flow()
        status, _ = await call(http, "POST", f"{cns}/api/clock", {"advance": "P1M"})
        assert status == 200

        status, done = await call(http, "POST", f"{cns}/api/reset", {})
        assert status == 200, done
        assert sorted(done["reset"]) == sorted([CNS, FR])
        assert parse_instant(done["clock"]) == parse_instant(START)
        for url in (cns, fr):
            _, cases = await call(http, "GET", f"{url}/api/cases")
            assert cases["items"] == []
            _, messages = await call(http, "GET", f"{url}/api/messages")
            assert messages["items"] == []
            _, clock = await call(http, "GET", f"{url}/api/clock")
            assert parse_instant(clock["now"]) == parse_instant(START)
        _, rules = await call(http, "GET", f"{fr}/api/mock/rules")
        assert rules == profile_rules

        second = await run_flow()  # the same flow again: one case, the first run's is gone
        assert second == first  # seeded: the same IDs as a fresh start
        _, cases = await call(http, "GET", f"{cns}/api/cases")
        assert [c["case_id"] for c in cases["items"]] == [second]
