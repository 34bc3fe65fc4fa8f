"""Time moved over HTTP (issue 12.2): ``eessi up --virtual-clock`` runs on a clock that moves
only when told, ``POST /api/clock`` moves it for every institution at once and answers with
what became due; a silent fund then gets the X009 reminder. A node on the wall clock refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from serve_process import call
from up_process import eessi_up_process

from eessi.clock import after, parse_instant
from eessi.node.network import free_port_run

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
PERSON = "martin-thionville/marie"
START = "2026-01-05T09:00:00+00:00"

pytestmark = pytest.mark.slow


@asynccontextmanager
async def up(where: Path, *extra: str) -> AsyncIterator[dict[str, str]]:
    """``eessi up`` (the CNS and the CPAM, on free ports) as its own process; the admin URL of
    each institution from its output. Stopped with SIGINT, which must end it cleanly."""
    async with eessi_up_process(
        "--institution", CNS, "--institution", FR, "--port-base", str(free_port_run(8)),
        "--db-dir", str(where), "--tick", "0", *extra,
    ) as lines:  # fmt: skip
        yield {w[0]: w[2] for w in map(str.split, lines) if w and w[0] in (CNS, FR)}


async def test_a_silent_fund_gets_its_X009_after_POST_api_clock_on_eessi_up_virtual_clock(
    tmp_path: Path,
) -> None:
    async with up(tmp_path, "--virtual-clock", START) as urls, aiohttp.ClientSession() as http:
        cns, fr = urls[CNS], urls[FR]
        status, clock = await call(http, "GET", f"{cns}/api/clock")
        assert status == 200
        assert clock["virtual"] is True
        assert parse_instant(clock["now"]) == parse_instant(START)
        assert sorted(clock["institutions"]) == sorted([CNS, FR])

        rule = {"match": {"sed": "S072"}, "effect": "silent"}
        status, _ = await call(http, "POST", f"{fr}/api/mock/rules", rule)
        assert status == 201
        status, step = await call(
            http, "POST", f"{fr}/api/requests", {"kind": "request_entitlement", "person": PERSON}
        )
        assert status == 202
        (case,) = step["cases"]
        await _wait_for(http, f"{cns}/api/messages?case={case}", lambda ms: len(ms) >= 2)

        # Not yet due: a day later nothing is reminded.
        status, moved = await call(http, "POST", f"{fr}/api/clock", {"advance": "P1D"})
        assert status == 200, moved
        assert moved["reminders"] == []

        status, moved = await call(http, "POST", f"{fr}/api/clock", {"advance": "P2M"})
        assert status == 200, moved
        # Moved the calendar way, and for the whole network (asked of the fund, seen by the CNS).
        assert parse_instant(moved["now"]) == after(after(parse_instant(START), "P1D"), "P2M")
        (reminder,) = moved["reminders"]
        assert reminder["institution"] == CNS
        assert reminder["sed"] == "X009"
        assert reminder["case_id"] == case
        assert reminder["counterparty"] == FR
        assert [d["case_id"] for d in moved["deadlines"]] == [case]
        assert moved["settled"] is True
        _, doc = await call(http, "GET", f"{cns}/api/openapi.json")
        jsonschema.validate(moved, doc["components"]["schemas"]["ClockMoved"])
        _, cns_clock = await call(http, "GET", f"{cns}/api/clock")
        assert cns_clock["now"] == moved["now"]

        # In the journals: the CNS sent it, the fund received it.
        _, out = await call(http, "GET", f"{cns}/api/messages?case={case}&direction=out")
        assert [m["sed_type"] for m in out["items"]] == ["S072", "X009"]
        _, got = await call(http, "GET", f"{fr}/api/messages?case={case}&direction=in")
        assert "X009" in [m["sed_type"] for m in got["items"]]


async def _wait_for(http: aiohttp.ClientSession, url: str, ok: Any) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            _, page = await call(http, "GET", url)
            if ok(page["items"]):
                return list(page["items"])
            await asyncio.sleep(0.05)


async def test_clock_refusals_say_why_and_how(tmp_path: Path) -> None:
    async with up(tmp_path / "wall") as urls, aiohttp.ClientSession() as http:
        status, err = await call(http, "POST", f"{urls[CNS]}/api/clock", {"advance": "P2M"})
        assert status == 409
        assert err["error"]["code"] == "clock.not-virtual"
        assert "--virtual-clock" in err["error"]["hint"]
        _, clock = await call(http, "GET", f"{urls[CNS]}/api/clock")
        assert clock["virtual"] is False
        now = parse_instant(clock["now"])
        assert abs((now - datetime.now(UTC)).total_seconds()) < 600
    async with (
        up(tmp_path / "virtual", "--virtual-clock", START) as urls,
        aiohttp.ClientSession() as http,
    ):
        cns = urls[CNS]
        for body, status_, code, where in (
            ({"advance": "2 months"}, 400, "clock.bad-time", "/advance"),
            ({"advance": "-P1D"}, 400, "clock.bad-time", "/advance"),
            ({"to": "2025-01-01T00:00:00Z"}, 409, "clock.backwards", "/to"),
            ({"advance": "P1D", "to": START}, 400, "clock.bad-request", ""),
            ({}, 400, "clock.bad-request", ""),
        ):
            status, err = await call(http, "POST", f"{cns}/api/clock", body)
            assert (status, err["error"]["code"], err["error"]["where"]) == (
                status_,
                code,
                where,
            ), err
        status, moved = await call(http, "POST", f"{cns}/api/clock", {"to": "2026-02-01"})
        assert status == 200
        assert parse_instant(moved["now"]) == datetime(2026, 2, 1, tzinfo=UTC)


def test_durations_move_the_calendar_the_calendar_way() -> None:
    jan31 = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert after(jan31, "P1M") == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert after(jan31, "P2M") == datetime(2026, 3, 31, 9, tzinfo=UTC)
    assert after(jan31, "P1Y2M10DT2H") == datetime(2027, 4, 10, 11, tzinfo=UTC)
    assert after(jan31, "PT1H30M") == datetime(2026, 1, 31, 10, 30, tzinfo=UTC)
    for bad in ("2M", "P", "-P1D", ""):
        with pytest.raises(ValueError, match=r"ISO 8601|negative"):
            after(jan31, bad)
