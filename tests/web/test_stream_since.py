"""The live stream reads only what is new (a ``since`` cursor per journal, and the messages
not settled yet), not every message of every journal every quarter of a second; and still shows
every message and every change of status, and a reset."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from network_kit import CNS, FR, PERSON, up_network

from eessi.node.inputs import RequestEntitlement
from eessi.node.network import Network
from eessi.web.app import Follower


@pytest.fixture
async def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    net = up_network(tmp_path / "journals")
    await net.start()
    try:
        yield net
    finally:
        await net.stop()


async def _flow(net: Network) -> str:
    step = await net[FR].submit(RequestEntitlement(PERSON, to=CNS))
    async with asyncio.timeout(30):
        await net.idle()
    return step.outgoing[0].case_id


async def test_a_poll_reads_the_new_messages_only_and_misses_no_status(network: Network) -> None:
    follow = Follower(network.institutions)
    first_case = await _flow(network)
    cleared, arrows = await follow.changes()
    assert not cleared
    assert [(a["sed"], a["status"]) for a in arrows] == [
        ("S071", "processed"), ("S072", "processed"), ("S073", "processed"),
    ]  # fmt: skip
    assert follow.read == 6  # each message at its sender and at its receiver

    network.clock.advance(timedelta(days=1))  # type: ignore[union-attr]
    second_case = await _flow(network)
    _, arrows = await follow.changes()
    assert {a["case"] for a in arrows} == {second_case} != {first_case}
    assert follow.read > 6  # the cursor stood at the first flow's newest time: read again
    _, arrows = await follow.changes()
    assert arrows == []  # nothing new
    assert 0 < follow.read <= 6  # the second flow's newest instant: not the first flow


async def _events(resp: aiohttp.ClientResponse, until: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    event = ""
    async with asyncio.timeout(30):
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                seen.append((event, json.loads(line[6:])))
                if until(seen):
                    return seen
    return seen


async def test_the_stream_shows_every_arrow_with_its_last_status_and_a_reset(
    network: Network,
) -> None:
    url = f"{network[CNS].url}/ui/data/stream"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
        case = await _flow(network)

        def settled(seen: list[tuple[str, Any]]) -> bool:
            last = {d["key"]: d["status"] for e, d in seen if e == "arrow"}
            return sorted(last.values()) == ["processed"] * 3

        seen = await _events(resp, settled)
        assert {d["case"] for e, d in seen if e == "arrow"} == {case}
        await network.reset()
        seen = await _events(resp, lambda s: s[-1][0] == "clear")
        assert seen[-1] == ("clear", {})
