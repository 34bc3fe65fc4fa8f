"""A reset during traffic (issue 12.6): while a document is still in flight (the fund holds its
delivery), ``POST /api/reset`` answers ``409 network.busy`` and resets nothing."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import aiohttp
import pytest

from eessi.mock.behaviour import parse_rules
from eessi.node.clock_control import attach_reset
from eessi.node.inputs import RequestEntitlement
from eessi.scenario.world import LoopbackNetwork

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
#: The fund holds the CNS's S072 delivery (no answer for a while): the CNS is busy sending it.
HOLD = {"match": {"sed": "S072"}, "effect": {"kind": "fail", "mode": "timeout", "seconds": 3}}

pytestmark = pytest.mark.slow


async def test_post_api_reset_during_traffic_is_409_network_busy_and_resets_nothing(
    tmp_path: Path,
) -> None:
    from eessi.node.households import load_households

    net = LoopbackNetwork(
        [CNS, FR],
        load_households(),
        workdir=tmp_path,
        behaviours={FR: parse_rules([HOLD], where="test", origin="test")},
        transport="http",  # the route is HTTP; the fund holds an HTTP delivery
    )
    async with net:
        # The network's own reset, with a short drain (the route's default waits 10 s).
        attach_reset(net[CNS], functools.partial(net.network.reset, drain_within=0.3))
        await net[FR].submit(RequestEntitlement("martin-thionville/marie", to=CNS))
        async with asyncio.timeout(10):  # the CNS has answered and is sending its S072
            while not (  # noqa: ASYNC110 (the journal and the send queue: no event to wait on)
                [r.sed_type for r in await net[CNS].journal.messages()] == ["S071", "S072"]
                and net[CNS].busy
            ):
                await asyncio.sleep(0.02)
        async with aiohttp.ClientSession() as http:
            url = net[CNS].url
            before = await net[CNS].journal.messages()
            assert [r.sed_type for r in before] == ["S071", "S072"]
            async with http.post(f"{url}/api/reset", json={}) as resp:
                assert resp.status == 409
                error = (await resp.json())["error"]
            assert error["code"] == "network.busy"
            assert "did not settle" in error["message"]
            assert "wait until the flows finish" in error["hint"]
            # Nothing was reset: the journals still hold the flow.
            assert [r.message_id for r in await net[CNS].journal.messages()] == [
                r.message_id for r in before
            ]
