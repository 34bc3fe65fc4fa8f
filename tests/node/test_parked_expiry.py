"""Parked documents expire (issue 9.8): a document whose case (or answered document) never
becomes known is given up after ``NodeOptions.parked_expiry``: journaled ``expired``, its sender
answered with an X050 (business exception 03, case unknown) in the sender's case. Real nodes on
loopback, real SQLite journals; a virtual clock moved by ``tick()`` and the wall clock.

The document the CNS never had: the Portuguese fund's S071 is dropped on its way out (an
outbound policy), then the fund invalidates it (X008, answering the S071): the CNS has neither
the case nor the S071, so it parks the X008.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from node_kit import ANA, CNS, PT, write_directory

from eessi.clock import Clock, VirtualClock
from eessi.core.messages import Outgoing
from eessi.directory import Directory, load_directory
from eessi.journal.base import Direction, MessageStatus
from eessi.node.hooks import OutboundSed
from eessi.node.inputs import InvalidateDocument, RequestEntitlement
from eessi.node.institution import DEFAULT_PARKED_EXPIRY, Institution, NodeOptions
from eessi.node.network import Network
from eessi.sed.documents import X050, ExceptionCode
from eessi.transport.auth import SIGNATURE_HEADER, sign
from eessi.transport.client import RetryPolicy
from eessi.transport.envelope import UserMessage, encode
from eessi.transport.framing import frame

HOUR = 3600.0
OPTIONS = NodeOptions(
    retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2), parked_expiry=HOUR
)


class DropS071:
    """The fund's S071 never leaves it (lost on the way)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return None if sed.sed_type == "S071" else sed


@asynccontextmanager
async def network(
    tmp_path: Path,
    directory: Directory,
    ids: Sequence[str],
    clock: Clock | None,
    options: NodeOptions = OPTIONS,
) -> AsyncIterator[Network]:
    async with Network(
        directory, tmp_path, ids=ids, seed=5, clock=clock, options=options, synchronous="NORMAL"
    ) as net:
        yield net


async def settle(net: Network) -> None:
    async with asyncio.timeout(30):
        await net.idle()


async def park_an_x008_at_the_cns(net: Network) -> str:
    """The fund's X008 answering an S071 the CNS never had; returns its message ID."""
    pt = net[PT]
    pt.outbound_policy = DropS071()
    step = await pt.submit(RequestEntitlement(ANA))
    case_id = step.outgoing[0].case_id
    sent: list[str] = []
    await pt.submit(InvalidateDocument(case_id, "S071"), messages=sent)
    await settle(net)
    (x008,) = sent
    assert net[CNS].parked == [x008]
    return x008


async def statuses(inst: Institution) -> list[tuple[str, str, str]]:
    return [(m.direction.value, m.sed_type, m.status.value) for m in await inst.journal.messages()]


async def until(inst: Institution, ok: Callable[[list[tuple[str, str, str]]], bool]) -> None:
    """Poll the journal until ``ok(statuses)`` (bounded: a hang fails here)."""
    async with asyncio.timeout(30):
        while True:
            if ok(await statuses(inst)):
                return
            await asyncio.sleep(0.05)


async def assert_fund_got_one_x050_about(pt: Institution, x008: str) -> None:
    received = await pt.journal.messages(direction=Direction.IN)
    assert [(m.sed_type, m.status) for m in received] == [("X050", MessageStatus.PROCESSED)]
    x050 = X050.from_xml(received[0].payload)
    assert x050.exception is ExceptionCode.CASE_UNKNOWN
    assert x050.technical_code == "node.parked-expired"
    assert x050.concerned is not None
    assert x050.concerned.sed_type == "X008"
    assert x050.concerned.sed_id == x008
    assert "expired unprocessed" in x050.description
    x008_record = await pt.journal.message(x008)
    assert x008_record is not None
    assert received[0].conversation_id == x008_record.conversation_id  # in the fund's case


async def test_reply_to_a_document_never_received_expires_and_its_sender_gets_an_X050(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with network(tmp_path, directory, [CNS, PT], clock) as net:
        cns, pt = net[CNS], net[PT]
        x008 = await park_an_x008_at_the_cns(net)
        clock.advance(timedelta(seconds=HOUR - 60))
        await cns.tick()
        await settle(net)
        assert cns.parked == [x008]  # not yet: a minute to go
        clock.advance(timedelta(seconds=60))
        await cns.tick()
        await settle(net)
        assert cns.parked == []
        assert cns.stats["expired"] == 1
        record = await cns.journal.message(x008)
        assert record is not None
        assert record.status is MessageStatus.EXPIRED
        assert "expired unprocessed" in (record.last_error or "")
        assert await statuses(cns) == [("in", "X008", "expired"), ("out", "X050", "acknowledged")]
        await assert_fund_got_one_x050_about(pt, x008)
        kinds = [e.kind for e in await cns.journal.case_events(record.conversation_id)]
        assert "document-expired" in kinds


async def test_parked_document_expires_on_the_wall_clock(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    quick = NodeOptions(retry=OPTIONS.retry, parked_expiry=0.5)
    async with network(tmp_path, directory, [CNS, PT], None, quick) as net:
        x008 = await park_an_x008_at_the_cns(net)
        # No tick, no input: the node's own timer expires it.
        await until(net[CNS], lambda rows: ("in", "X008", "expired") in rows)
        await settle(net)
        assert await statuses(net[CNS]) == [
            ("in", "X008", "expired"),
            ("out", "X050", "acknowledged"),
        ]
        await assert_fund_got_one_x050_about(net[PT], x008)


async def test_document_parked_across_restarts_expires_once_and_is_answered_once(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with network(tmp_path, directory, [CNS, PT], clock) as net:
        x008 = await park_an_x008_at_the_cns(net)
    # The CNS restarts alone after the X008's time has passed (the fund is down): the X008 is
    # parked again on start, expires in that first batch, and its X050 cannot be delivered.
    clock.advance(timedelta(seconds=HOUR + 1))
    patient = NodeOptions(
        retry=RetryPolicy(max_attempts=50, base_delay=30.0, max_delay=30.0), parked_expiry=HOUR
    )
    async with network(tmp_path, directory, [CNS], clock, patient) as net:
        cns = net[CNS]
        await until(cns, lambda rows: ("out", "X050", "retrying") in rows)
        assert cns.parked == []
        assert (await statuses(cns))[0] == ("in", "X008", "expired")
    # Both back: the CNS resumes the X050 from its journal; nothing expires twice.
    async with network(tmp_path, directory, [CNS, PT], clock) as net:
        clock.advance(timedelta(minutes=1))  # past the X050's back-off
        await net[CNS].tick()
        await settle(net)
        assert await statuses(net[CNS]) == [
            ("in", "X008", "expired"),
            ("out", "X050", "acknowledged"),
        ]
        assert net[CNS].stats["expired"] == 0  # already expired before this start
        await assert_fund_got_one_x050_about(net[PT], x008)


async def test_an_expired_X050_is_journaled_but_not_answered(tmp_path: Path) -> None:
    # No exception about an exception: an X050 in a case the CNS never had is parked, then
    # expires without an answer (else two nodes could bounce X050s for ever).
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    x050 = X050(exception=ExceptionCode.OTHER, description="a case the CNS never had")
    payload = x050.to_xml()
    message = UserMessage.for_payload(
        payload,
        message_id="0b9e7c1e-2f6a-4c3b-9d7e-5a1f0c2b3d4e",
        timestamp=clock.now(),
        from_party=PT,
        to_party=CNS,
        conversation_id="PT-UNKNOWN-CASE",
        sed_type="X050",
        sed_version="4.4",
    )
    framed = frame(encode(message), payload, boundary_seed=message.payload_digest)
    headers = {
        "Content-Type": framed.content_type,
        SIGNATURE_HEADER: sign(framed.body, directory.get(PT).credential),
    }
    async with network(tmp_path, directory, [CNS], clock) as net:
        cns = net[CNS]
        async with (
            aiohttp.ClientSession() as session,
            session.post(cns.endpoint_url or "", data=framed.body, headers=headers) as resp,
        ):
            assert resp.status == 200, await resp.text()
        await settle(net)
        assert cns.parked == [message.message_id]
        clock.advance(timedelta(seconds=HOUR))
        await cns.tick()
        await settle(net)
        assert cns.parked == []
        assert await statuses(cns) == [("in", "X050", "expired")]


def test_parked_documents_wait_a_day_by_default() -> None:
    assert NodeOptions().parked_expiry == DEFAULT_PARKED_EXPIRY == 86_400.0


async def test_without_an_expiry_a_document_stays_parked(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    options = NodeOptions(retry=OPTIONS.retry, parked_expiry=None)
    async with network(tmp_path, directory, [CNS, PT], clock, options) as net:
        x008 = await park_an_x008_at_the_cns(net)
        clock.advance(timedelta(days=365))
        await net[CNS].tick()
        await settle(net)
        assert net[CNS].parked == [x008]
