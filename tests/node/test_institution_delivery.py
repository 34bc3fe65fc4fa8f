"""Delivery and restart of institution nodes (real loopback servers, real SQLite files):
retries with back-off until a receipt or a failure that says why, refusals not retried,
simulated duplicates and failures through the hooks, and the desk rebuilt after a restart.

The behaviour tests run on both transports (the ``transport`` fixture): loopback HTTP and the
in-memory twin (:mod:`eessi.transport.twin`) must behave the same for the node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from node_kit import ANA, CNS, PT, write_directory

from eessi.clock import VirtualClock
from eessi.core.messages import Outgoing
from eessi.directory import Directory, load_directory
from eessi.errors import ConfigError
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.node.hooks import InboundAction, OutboundSed
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import Network, open_institution, transport_factory
from eessi.node.records import INPUT_LOG
from eessi.sed.documents import X001, ClosureReason
from eessi.transport.auth import SIGNATURE_HEADER, sign
from eessi.transport.client import RetryPolicy
from eessi.transport.envelope import UserMessage, encode
from eessi.transport.framing import frame

FAST = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2))


@pytest.fixture(params=["http", "twin"])
def transport(request: pytest.FixtureRequest) -> str:
    """What carries the messages between the nodes of a test."""
    name: str = request.param
    return name


@asynccontextmanager
async def nodes(
    tmp_path: Path,
    directory: Directory,
    specs: Sequence[tuple[str, NodeOptions]],
    clock: VirtualClock | None = None,
    transport: str = "http",
) -> AsyncIterator[list[Institution]]:
    started: list[Institution] = []
    factory = transport_factory("twin" if transport == "twin" else "http")
    try:
        for ir_id, options in specs:
            inst = await open_institution(
                directory.get(ir_id),
                directory,
                tmp_path / f"{ir_id.replace(':', '-')}.sqlite",
                seed=len(started) + 1,
                options=options,
                synchronous="NORMAL",
                clock=clock,
                transport=factory,
            )
            started.append(inst)
            await inst.start()
        yield started
    finally:
        for inst in reversed(started):
            await inst.stop()
            await inst.journal.close()


async def idle(*insts: Institution) -> None:
    async with asyncio.timeout(15):
        while True:
            for inst in insts:
                await inst.idle()
            if all(inst.busy == 0 for inst in insts):
                return


@asynccontextmanager
async def cns_and_pt(
    tmp_path: Path,
    transport: str,
    *,
    cns: NodeOptions = FAST,
    pt: NodeOptions = FAST,
    clock: VirtualClock | None = None,
) -> AsyncIterator[tuple[Institution, Institution]]:
    """The CNS and the Portuguese fund of the shipped directory, started on ``transport``."""
    directory = load_directory(write_directory(tmp_path))
    async with nodes(tmp_path, directory, [(CNS, cns), (PT, pt)], clock, transport) as started:
        yield started[0], started[1]


async def ana_requested(pt: Institution, *others: Institution) -> list[MessageRecord]:
    """The fund asks for Ana's entitlement (its S071 to the CNS); its outbound messages once
    it and ``others`` are idle."""
    await pt.submit(RequestEntitlement(ANA))
    await idle(*others, pt)
    return await pt.journal.messages(direction=Direction.OUT)


async def test_unreachable_peer_is_retried_then_marked_failed_saying_why(
    tmp_path: Path, transport: str
) -> None:
    directory = load_directory(write_directory(tmp_path))
    async with nodes(tmp_path, directory, [(PT, FAST)], transport=transport) as (pt,):
        (s071,) = await ana_requested(pt)  # the CNS is not running
    assert s071.status is MessageStatus.FAILED
    assert s071.attempts == 3
    assert "no receipt after 3 attempt(s)" in (s071.last_error or "")
    assert "cannot connect" in (s071.last_error or "")
    assert pt.stats["retried"] == 2


async def test_refusal_by_the_peer_fails_at_once_with_the_peers_reason(
    tmp_path: Path, transport: str
) -> None:
    strict = replace(FAST, accept_versions=("4.4",))  # Portugal writes 4.3 only
    async with cns_and_pt(tmp_path, transport, cns=strict) as (cns, pt):
        (s071,) = await ana_requested(pt, cns)
    assert s071.status is MessageStatus.FAILED
    assert s071.attempts == 1
    assert "EBMS:0010" in (s071.last_error or "")
    assert "supported versions: 4.4" in (s071.last_error or "")


@dataclass
class FailTwice:
    """Inbound interceptor: answer 503 to the first two requests, then behave."""

    left: int = 2

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        if self.left > 0:
            self.left -= 1
            return InboundAction("status", status=503)
        return None


async def test_receiver_failing_then_recovering_gets_the_message_after_retries(
    tmp_path: Path,
    transport: str,
) -> None:
    async with cns_and_pt(tmp_path, transport) as (cns, pt):
        cns.inbound_interceptor = FailTwice()
        s071 = (await ana_requested(pt, cns))[0]
        assert s071.status is MessageStatus.ACKNOWLEDGED
        assert s071.attempts == 3
        assert [m.sed_type for m in await cns.journal.messages(direction=Direction.OUT)] == ["S072"]


class SendTwice:
    """Outbound policy: every SED is posted twice (same MessageId)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return replace(sed, copies=2)


async def test_duplicate_copies_are_acknowledged_and_processed_once(
    tmp_path: Path, transport: str
) -> None:
    async with cns_and_pt(tmp_path, transport) as (cns, pt):
        pt.outbound_policy = SendTwice()
        await ana_requested(pt, cns)
        inbound = await cns.journal.messages(direction=Direction.IN)
    assert [(m.sed_type, m.status, m.duplicates) for m in inbound] == [
        ("S071", MessageStatus.PROCESSED, 1),
        ("S073", MessageStatus.PROCESSED, 1),
    ]
    assert cns.stats["duplicates"] == 2


async def test_restart_rebuilds_the_desk_from_the_journal_and_goes_on(
    tmp_path: Path, transport: str
) -> None:
    directory = load_directory(write_directory(tmp_path))
    ids = [CNS, PT]
    async with Network(
        directory, tmp_path, ids=ids, seed=5, options=FAST, transport=transport
    ) as net:
        await net[PT].submit(RequestEntitlement(ANA))
        async with asyncio.timeout(15):
            await net.idle()
        registrations = dict(net[CNS].desk.registrations)
        fund_state = net[PT].desk.snapshot()
    async with Network(
        directory, tmp_path, ids=ids, seed=6, options=FAST, transport=transport
    ) as net:
        assert net[CNS].desk.registrations == registrations
        assert net[PT].desk.snapshot() == fund_state
        # stop() checkpointed the desk: nothing left to replay (tests/node/test_checkpoint.py)
        assert net[CNS].stats["replayed"] == 0
        await net[PT].submit(RequestEntitlement("silva-luxembourg/rui"))
        async with asyncio.timeout(15):
            await net.idle()
        assert len(net[CNS].desk.registrations) == 2
        log = await net[CNS].journal.case_events(INPUT_LOG)
    assert [e.data["kind"] for e in log] == ["document"] * 4


async def test_document_for_a_case_never_seen_stays_parked_across_a_restart(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    payload = X001(reason=ClosureReason.BUSINESS_COMPLETED).to_xml()
    message = UserMessage.for_payload(
        payload,
        message_id="0b6f1f0e-0000-4000-8000-000000000001",
        timestamp=datetime.now(UTC),  # the node's clock is the system's (timestamp window)
        from_party=PT,
        to_party=CNS,
        conversation_id="PT-00000000BEEF",
        sed_type="X001",
        sed_version="4.4",
    )
    framed = frame(encode(message), payload, boundary_seed=message.payload_digest)
    headers = {
        "Content-Type": framed.content_type,
        SIGNATURE_HEADER: sign(framed.body, directory.get(PT).credential),
    }
    async with nodes(tmp_path, directory, [(CNS, FAST)]) as (cns,):
        async with (
            aiohttp.ClientSession() as session,
            session.post(cns.endpoint_url or "", data=framed.body, headers=headers) as resp,
        ):
            assert resp.status == 200  # receipt: it is journaled
        await idle(cns)
        assert cns.parked == [message.message_id]
    async with nodes(tmp_path, directory, [(CNS, FAST)]) as (cns,):
        await idle(cns)
        assert cns.parked == [message.message_id]
        record = await cns.journal.message(message.message_id)
        assert record is not None
        assert record.status is MessageStatus.RECEIVED


@dataclass
class ResetOnce:
    """Inbound interceptor: drop the first connection without an answer, then stall once."""

    calls: int = 0

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        self.calls += 1
        if self.calls == 1:
            return InboundAction("reset")
        if self.calls == 2:
            return InboundAction("stall", seconds=0.05)
        return None


async def test_connection_reset_by_the_receiver_is_retried(tmp_path: Path, transport: str) -> None:
    async with cns_and_pt(tmp_path, transport) as (cns, pt):
        cns.inbound_interceptor = ResetOnce()
        s071 = (await ana_requested(pt, cns))[0]
    assert s071.status is MessageStatus.ACKNOWLEDGED
    assert s071.attempts == 2


@dataclass
class Slow:
    """Inbound interceptor: take 0.3 s before answering, every time."""

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        return InboundAction("stall", seconds=0.3)


async def test_slow_receipt_is_journaled_as_waiting_for_receipt_first(
    tmp_path: Path, transport: str
) -> None:
    options = replace(FAST, waiting_after=0.05)
    async with cns_and_pt(tmp_path, transport, pt=options) as (cns, pt):
        cns.inbound_interceptor = Slow()
        await pt.submit(RequestEntitlement(ANA))
        async with asyncio.timeout(10):
            while True:
                seen = {m.status for m in await pt.journal.messages(direction=Direction.OUT)}
                if MessageStatus.WAITING_FOR_RECEIPT in seen:
                    break
                await asyncio.sleep(0.01)
        await idle(cns, pt)
        s071 = (await pt.journal.messages(direction=Direction.OUT))[0]
    assert s071.status is MessageStatus.ACKNOWLEDGED


class Silent:
    """Outbound policy: the CNS never sends its S072 (the desk believes it did)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return None if sed.sed_type == "S072" else sed


async def test_silent_peer_is_reminded_when_the_time_has_passed(
    tmp_path: Path, transport: str
) -> None:
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with Network(
        directory, tmp_path, ids=[CNS, PT], seed=2, clock=clock, options=FAST, transport=transport
    ) as net:
        net[CNS].outbound_policy = Silent()
        step = await net[PT].submit(RequestEntitlement(ANA))
        case_id = step.outgoing[0].case_id
        async with asyncio.timeout(15):
            await net.idle()
        assert (await net[PT].tick()).outgoing == ()  # not overdue yet
        clock.advance(timedelta(days=61))
        reminder = await net[PT].tick()
        async with asyncio.timeout(15):
            await net.idle()
        pt_messages = await net[PT].journal.messages(case=case_id)
        dropped = [e.kind for e in await net[CNS].journal.case_events(case_id)]
        cns_x009 = await net[CNS].journal.message(reminder.outgoing[0].document_id)
    assert [o.sed.code for o in reminder.outgoing] == ["X009"]
    assert [(m.direction.value, m.sed_type, m.status.value) for m in pt_messages] == [
        ("out", "S071", "acknowledged"),
        ("out", "X009", "acknowledged"),
    ]
    # The CNS believes it sent the S072, so a reminder about the S071 is illegal there: it is
    # acknowledged (journaled) but rejected with the core's reason, never processed twice.
    assert cns_x009 is not None
    assert cns_x009.status is MessageStatus.REJECTED
    assert "X009" in (cns_x009.last_error or "")
    assert "send-dropped" in dropped


async def test_port_already_in_use_is_a_clear_error(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    async with nodes(tmp_path, directory, [(CNS, FAST)]):
        second = await open_institution(
            directory.get(CNS), directory, tmp_path / "second.sqlite", synchronous="NORMAL"
        )
        try:
            with pytest.raises(ConfigError, match="cannot listen") as caught:
                await second.start()
            assert caught.value.code == "node.cannot-listen"
        finally:
            await second.stop()
            await second.journal.close()


class Misroute:
    """Outbound policy: address every SED to an institution the directory does not list."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return replace(sed, receiver="XX:NOBODY01")


async def test_outbound_SED_for_a_receiver_missing_from_the_directory_fails_saying_so(
    tmp_path: Path,
    transport: str,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    async with nodes(tmp_path, directory, [(PT, FAST)], transport=transport) as (pt,):
        pt.outbound_policy = Misroute()
        (s071,) = await ana_requested(pt)
    assert s071.receiver == "XX:NOBODY01"
    assert s071.status is MessageStatus.FAILED
    assert s071.attempts == 0
    assert "not in the directory" in (s071.last_error or "")


async def test_stop_then_start_on_the_same_object_restores_and_goes_on(
    tmp_path: Path, transport: str
) -> None:
    async with cns_and_pt(tmp_path, transport) as (cns, pt):
        await ana_requested(pt, cns)
        registrations = dict(cns.desk.registrations)
        await cns.stop()
        await cns.start()  # replays the input log into a fresh desk, not on top of this one
        assert cns.desk.registrations == registrations
        await pt.submit(RequestEntitlement("silva-luxembourg/rui"))
        await idle(cns, pt)
        assert len(cns.desk.registrations) == 2
        statuses = [m.status for m in await pt.journal.messages(direction=Direction.OUT)]
    assert statuses == [MessageStatus.ACKNOWLEDGED] * 4


class DelayS071Hour:
    """Outbound policy: the S071 leaves an hour (of the node's clock) late."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return replace(sed, delay=3600.0) if sed.sed_type == "S071" else sed


async def test_delay_on_a_virtual_clock_is_released_by_tick_once_the_clock_passes(
    tmp_path: Path,
    transport: str,
) -> None:
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with cns_and_pt(tmp_path, transport, clock=clock) as (cns, pt):
        pt.outbound_policy = DelayS071Hour()
        (s071,) = await ana_requested(pt, cns)  # a held message is not in flight: idle returns
        assert s071.status is MessageStatus.QUEUED
        assert pt.held == [s071.message_id]
        clock.advance(timedelta(minutes=59))
        await pt.tick()
        await idle(cns, pt)
        assert await cns.journal.messages() == []  # not due yet
        clock.advance(timedelta(minutes=2))
        await pt.tick()
        await idle(cns, pt)
        assert pt.held == []
        summary = [(m.sed_type, m.status) for m in await pt.journal.messages()]
    assert summary == [
        ("S071", MessageStatus.ACKNOWLEDGED),
        ("S072", MessageStatus.PROCESSED),
        ("S073", MessageStatus.ACKNOWLEDGED),
    ]


async def test_retry_on_a_virtual_clock_is_sent_by_tick_once_the_back_off_has_passed(
    tmp_path: Path,
    transport: str,
) -> None:
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    hour = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=3600.0, max_delay=3600.0))
    async with cns_and_pt(tmp_path, transport, pt=hour, clock=clock) as (cns, pt):
        cns.inbound_interceptor = FailTwice(left=1)
        await pt.submit(RequestEntitlement(ANA))
        async with asyncio.timeout(10):
            while True:  # the first attempt got a 503: an hour of back-off (real or virtual)
                (s071,) = await pt.journal.messages(direction=Direction.OUT)
                if s071.status is MessageStatus.RETRYING:
                    break
                await asyncio.sleep(0.01)
        assert s071.next_attempt_at is not None
        clock.set(s071.next_attempt_at)
        await pt.tick()
        await idle(cns, pt)
        (s071, _s072, _s073) = await pt.journal.messages()
    assert (s071.status, s071.attempts) == (MessageStatus.ACKNOWLEDGED, 2)


@dataclass
class FailFirstOfEachCase:
    """Inbound interceptor: the first delivery of each case (conversation) gets a 500."""

    seen: set[str] = field(default_factory=set)
    paths: list[str] = field(default_factory=list)

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        self.paths.append(request.path if request is not None else "(in memory)")
        if message.conversation_id in self.seen:
            return None
        self.seen.add(message.conversation_id)
        return InboundAction("status", status=500, reason=f"{message.sed_type}: not now")


async def test_inbound_interceptor_sees_the_authenticated_message_and_fails_per_case(
    tmp_path: Path,
    transport: str,
) -> None:
    async with cns_and_pt(tmp_path, transport) as (cns, pt):
        hook = cns.inbound_interceptor = FailFirstOfEachCase()
        delivered: list[tuple[str, str]] = []
        cns.delivery_listeners.append(
            lambda m, outcome: delivered.append((m.sed_type, outcome.disposition.value))
        )
        step = await pt.submit(RequestEntitlement(ANA))
        await idle(cns, pt)
        out = {m.sed_type: m for m in await pt.journal.messages(direction=Direction.OUT)}
        refused = await cns.journal.messages(status=MessageStatus.REFUSED)
    assert hook.seen == {step.outgoing[0].case_id}
    assert hook.paths == ["/as4" if transport == "http" else "(in memory)"] * 3
    assert (out["S071"].attempts, out["S071"].status) == (2, MessageStatus.ACKNOWLEDGED)
    assert (out["S073"].attempts, out["S073"].status) == (1, MessageStatus.ACKNOWLEDGED)
    assert refused == []  # a failed attempt is not journaled: the message never arrived
    assert delivered == [("S071", "accepted"), ("S073", "accepted")]
