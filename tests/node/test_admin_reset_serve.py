"""``POST /api/reset`` on a lone ``eessi serve`` institution (issue 12.6 leftover): a tester
who runs the CNS and a mock fund each in its own process resets each, and the second run of
the test meets none of the first run's cases (seeded: it gets the first run's IDs again)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serve_process import BOUND, call, eessi_serve_process

from eessi.clock import parse_instant

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
MARIE = "martin-thionville/marie"
START = "2026-01-05T09:00:00+00:00"

pytestmark = pytest.mark.slow


def _directory(where: Path) -> Path:
    """The shipped directory with the CNS and the CPAM on free loopback ports."""
    from eessi.directory import default_directory_path
    from eessi.node.network import free_ports

    text = default_directory_path().read_text(encoding="utf-8")
    ports = iter(free_ports(64))
    text = re.sub(r"127\.0\.0\.1:87\d\d", lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


@asynccontextmanager
async def serve(directory: Path, ir_id: str, db: Path) -> AsyncIterator[str]:
    """``eessi serve`` of ``ir_id`` (seeded, virtual clock) as its own process: its base URL."""
    async with eessi_serve_process(
        directory, ir_id, db, "--seed", "7", "--virtual-clock", START
    ) as url:
        yield url


async def _messages(http: aiohttp.ClientSession, url: str) -> list[tuple[str, str, str, str]]:
    _, page = await call(http, "GET", f"{url}/api/messages")
    return [(m["message_id"], m["case_id"], m["sed_type"], m["status"]) for m in page["items"]]


async def _run(http: aiohttp.ClientSession, cns: str, fr: str) -> tuple[Any, ...]:
    """Marie's request from the CPAM, until its S073 is acknowledged: what each one holds."""
    status, step = await call(
        http, "POST", f"{fr}/api/requests", {"kind": "request_entitlement", "person": MARIE}
    )
    assert status == 202, step
    async with asyncio.timeout(BOUND):
        while (await _messages(http, fr))[-1][2:] != ("S073", "acknowledged"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        # The CNS receipts the S073 when it is journaled and processes it a moment later.
        while (held := await _messages(http, cns))[-1][2:] != ("S073", "processed"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    _, cases = await call(http, "GET", f"{cns}/api/cases")
    return step["cases"], [c["case_id"] for c in cases["items"]], held


async def test_post_api_reset_on_lone_eessi_serve_processes_gives_a_fresh_start(
    tmp_path: Path,
) -> None:
    directory = _directory(tmp_path)
    async with (
        serve(directory, CNS, tmp_path / "cns.sqlite") as cns,
        serve(directory, FR, tmp_path / "fr.sqlite") as fr,
        aiohttp.ClientSession() as http,
    ):
        _, profile_rules = await call(http, "GET", f"{fr}/api/mock/rules")
        rule = {"match": {"sed": "X009"}, "effect": "silent"}
        assert (await call(http, "POST", f"{fr}/api/mock/rules", rule))[0] == 201
        first = await _run(http, cns, fr)
        assert first[1] == first[0]  # the CNS knows the one case the CPAM opened
        status, moved = await call(http, "POST", f"{cns}/api/clock", {"advance": "P1D"})
        assert status == 200, moved

        for url, ir_id in ((cns, CNS), (fr, FR)):
            status, done = await call(http, "POST", f"{url}/api/reset", {})
            assert status == 200, done
            assert done["reset"] == [ir_id]
            assert parse_instant(done["clock"]) == parse_instant(START)
            assert (await call(http, "GET", f"{url}/api/cases"))[1]["items"] == []
            assert await _messages(http, url) == []
            _, clock = await call(http, "GET", f"{url}/api/clock")
            assert parse_instant(clock["now"]) == parse_instant(START)
        assert (await call(http, "GET", f"{fr}/api/mock/rules"))[1] == profile_rules

        # The second run meets no case of the first, and (seeded) is the first run again.
        assert await _run(http, cns, fr) == first
