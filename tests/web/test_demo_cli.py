"""``eessi demo NAME --web`` as a real process: it prints the page's URL, plays on request, and
stops cleanly on SIGTERM (the network it holds open for the pages included)."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.slow


async def test_demo_web_prints_its_url_plays_to_registered_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "demo", "r17-family-abroad", "--web", "--no-browser",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            lines = [(await proc.stdout.readline()).decode() for _ in range(2)]
            assert lines[0].startswith("eessi demo r17-family-abroad: Family abroad")
            url = lines[1].split()[1]
            assert url.startswith("http://127.0.0.1:")
            assert url.endswith("/ui/#/demo")
            data = url.removesuffix("#/demo") + "data/demo"
            async with aiohttp.ClientSession() as http:
                async with http.post(data + "/play") as resp:
                    assert resp.status == 200
                state: dict[str, object] = {}
                while state.get("mode") != "done":
                    await asyncio.sleep(0.1)
                    async with http.get(data) as resp:
                        state = await resp.json()
        outcome = state["outcome"]
        assert isinstance(outcome, dict)
        assert {m: o["outcome"] for m, o in outcome.items()} == {
            "ana": "registered",
            "rui": "registered",
        }
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
