"""A mock fund facing a system under test named in the directory (``kind = "external"``): it
sends to the tester's endpoint, takes its answers (with its behaviours), and keeps what arrived
before the test asked for it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from eessi.directory import Directory
from eessi.ids import RandomIds
from eessi.journal import Direction, MessageStatus
from eessi.mock.behaviour import parse_rule
from eessi.node.inputs import RequestEntitlement
from eessi.sed.documents import S071, S072, from_xml
from eessi.sed.model import OpenPeriod, OpenPeriodType
from eessi.transport.client import RetryPolicy, Sender
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Inbound, InboundEndpoint, Outcome

from .kit import CNS, FR, MARIE, World, world


@dataclass
class SystemUnderTest:
    """The tester's own CNS, reduced to its Access Point: it records what it receives."""

    directory: Directory
    received: list[Inbound] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, inbound: Inbound) -> Outcome:
        self.received.append(inbound)
        self.arrived.set()
        return Outcome.accepted()

    async def next(self, sed: str) -> Inbound:
        async with asyncio.timeout(5):
            while True:
                for item in self.received:
                    if item.message.sed_type == sed:
                        return item
                self.arrived.clear()
                await self.arrived.wait()

    async def answer(self, session: aiohttp.ClientSession, to: Inbound, payload: bytes) -> int:
        """Send an answer to the fund; the number of attempts it took."""
        entry = self.directory.get(CNS)
        sender = Sender(
            session,
            credential=entry.credential,
            rng=random.Random(1),
            policy=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05),
            peer_credentials=self.directory.credential,
        )
        m = to.message
        message = UserMessage.for_payload(
            payload,
            message_id=RandomIds().uuid(),
            timestamp=m.timestamp,
            from_party=CNS,
            to_party=m.from_party,
            conversation_id=m.conversation_id,
            sed_type="S072",
            sed_version=m.sed_version,
            ref_to_message_id=m.message_id,
        )
        result = await sender.send(self.directory.get(m.from_party).endpoint, message, payload)
        assert result.ok, result.reason
        return result.attempts


@pytest.fixture
async def sut_world(tmp_path: Path) -> AsyncIterator[tuple[World, SystemUnderTest]]:
    async with world(tmp_path, ids=(FR,), external_cns=True) as w:
        sut = SystemUnderTest(w.directory)
        entry = w.directory.get(CNS)
        assert entry.kind == "external"
        endpoint = InboundEndpoint(
            sut.on_message,
            w.directory.credential,
            CNS,
            accept_versions=entry.versions,
            clock=w.clock,  # the world's messages carry its (virtual) time
        )
        runner = web.AppRunner(endpoint.app())
        await runner.setup()
        url = urlsplit(entry.endpoint)
        await web.TCPSite(runner, url.hostname, url.port).start()
        try:
            yield w, sut
        finally:
            await runner.cleanup()


def confirmed_s072(s071_payload: bytes) -> bytes:
    s071 = from_xml(s071_payload)
    assert isinstance(s071, S071)
    return S072(
        version=s071.version,
        person=s071.person,
        address=s071.address,
        status=s071.status,
        confirmed=True,
        period=OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=s071.period.start),
    ).to_xml()


async def test_the_mock_talks_to_the_system_under_test_and_buffers_its_answers(
    sut_world: tuple[World, SystemUnderTest],
) -> None:
    w, sut = sut_world
    w.mocks.book(FR).add(
        parse_rule({"match": {"sed": "S072"}, "effect": {"kind": "fail", "times": 1}})
    )
    step = await w[FR].submit(RequestEntitlement(MARIE, to=CNS))
    case = step.outgoing[0].case_id
    s071 = await sut.next("S071")
    assert s071.message.conversation_id == case
    async with aiohttp.ClientSession() as session:
        attempts = await sut.answer(session, s071, confirmed_s072(s071.payload))
    assert attempts == 2  # the mock failed the first delivery (HTTP 5xx), the SUT retried
    s073 = await sut.next("S073")  # the mock registered Marie and confirmed
    assert s073.message.conversation_id == case
    # The S072 arrived long before the test asks for it: it is still there.
    (s072,) = await w.mocks.wait_received(FR, case=case, sed="S072", xpath="/sed:S072", within=1)
    assert s072.status is MessageStatus.PROCESSED
    await w.settle()
    out = [(m.sed_type, m.status) for m in await w.messages(FR, Direction.OUT)]
    assert out == [("S071", MessageStatus.ACKNOWLEDGED), ("S073", MessageStatus.ACKNOWLEDGED)]
