"""The in-memory twin of the transport, alone: what a sender gets back for what a receiver does.

Two :class:`TwinTransport` of one :class:`TwinHub`, the shipped directory, a virtual clock and
small recording callbacks in place of nodes (the node tests run whole nodes on the twin:
tests/node/test_institution_delivery.py, tests/scenario/test_runner_transports.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from eessi.clock import VirtualClock
from eessi.directory import load_default_directory
from eessi.ids import SeededIds
from eessi.transport import codes
from eessi.transport.client import Failure, RetryPolicy, SendStatus, StatusUpdate
from eessi.transport.limits import InboundLimits
from eessi.transport.seam import OutboundMessage, TransportSetup
from eessi.transport.server import Inbound, Outcome, Refusal
from eessi.transport.twin import TwinHub, TwinTransport

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, attempt_timeout=0.5)
SED = b"<S071 xmlns='urn:test'>not read by the transport</S071>"


@dataclass
class Receiver:
    """A node's stand-in: dedupes by MessageId, or answers what it is told to."""

    answer: Callable[[Inbound], Awaitable[Outcome]] | None = None
    seen: set[str] = field(default_factory=set)
    inbound: list[Inbound] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    async def on_message(self, inbound: Inbound) -> Outcome:
        self.inbound.append(inbound)
        if self.answer is not None:
            return await self.answer(inbound)
        if inbound.message.message_id in self.seen:
            return Outcome.duplicate()
        self.seen.add(inbound.message.message_id)
        return Outcome.accepted()

    async def on_refused(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)


def _transport(
    hub: TwinHub, ir_id: str, receiver: Receiver, *, max_body: int = 1024 * 1024
) -> TwinTransport:
    directory = load_default_directory()
    setup = TransportSetup(
        entry=directory.get(ir_id),
        directory=directory,
        on_message=receiver.on_message,
        on_refused=receiver.on_refused,
        clock=VirtualClock(T0),
        signal_ids=SeededIds(7),
        rng=random.Random(1),
        max_body=max_body,
        accept_versions=("4.4",),
        limits=InboundLimits(),
    )
    return hub.factory(setup)


def message(mid: str = "m-1", *, version: str = "4.4", sender: str = PT) -> OutboundMessage:
    return OutboundMessage(
        message_id=mid,
        timestamp=T0,
        sender=sender,
        receiver=CNS,
        conversation_id="PT-0001",
        buc="S_BUC_24",
        sed_type="S071",
        sed_version=version,
        payload=SED,
    )


@dataclass
class Pair:
    hub: TwinHub
    pt: TwinTransport
    cns: TwinTransport
    at_cns: Receiver


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    hub = TwinHub()
    at_cns = Receiver()
    pt = _transport(hub, PT, Receiver())
    cns = _transport(hub, CNS, at_cns)
    await pt.start()
    await cns.start()
    yield Pair(hub, pt, cns, at_cns)
    await pt.stop()
    await cns.stop()


async def test_a_message_is_handed_over_and_its_receipt_comes_back(pair: Pair) -> None:
    updates: list[StatusUpdate] = []

    async def hook(update: StatusUpdate) -> None:
        updates.append(update)

    result = await pair.pt.send(message(), policy=FAST, on_status=hook)
    assert result.ok
    assert result.receipt is not None
    assert result.receipt.ref_to_message_id == "m-1"
    (inbound,) = pair.at_cns.inbound
    assert (inbound.message.from_party, inbound.payload) == (PT, SED)
    assert inbound.envelope == pair.pt.envelope(message())
    assert [u.status for u in updates] == [
        SendStatus.SENDING,
        SendStatus.WAITING_FOR_RECEIPT,
        SendStatus.ACKNOWLEDGED,
    ]
    assert pair.cns.url is None  # nothing listens


async def test_a_duplicate_message_id_gets_its_receipt_again(pair: Pair) -> None:
    first = await pair.pt.send(message(), policy=FAST)
    again = await pair.pt.send(message(), policy=FAST)
    assert first.ok
    assert again.ok
    assert first.receipt != again.receipt  # a new receipt, same message acknowledged
    assert pair.at_cns.seen == {"m-1"}


async def test_a_refusal_is_final_and_carries_the_receivers_code(pair: Pair) -> None:
    async def refuse(inbound: Inbound) -> Outcome:
        return Outcome.refused("the SED is invalid", code=codes.OTHER, detail="/S071/x")

    pair.at_cns.answer = refuse
    result = await pair.pt.send(message(), policy=FAST)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.attempts == 1
    assert result.error is not None
    assert (result.error.code, result.error.detail) == ("EBMS:0004", "/S071/x")
    assert "the SED is invalid" in (result.reason or "")


async def test_a_stopped_receiver_is_a_connection_failure_retried_until_the_budget(
    pair: Pair,
) -> None:
    await pair.cns.stop()
    result = await pair.pt.send(message(), policy=FAST)
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert result.attempts == 3
    assert "cannot connect to LU:CNS00001" in (result.reason or "")
    await pair.cns.start()  # back up: the same message goes through
    assert (await pair.pt.send(message(), policy=FAST)).ok


async def test_a_receiver_that_fails_is_retried_and_one_that_recovers_acknowledges(
    pair: Pair,
) -> None:
    failures = [RuntimeError("disk full")]

    async def flaky(inbound: Inbound) -> Outcome:
        if failures:
            raise failures.pop()
        return Outcome.accepted()

    pair.at_cns.answer = flaky
    result = await pair.pt.send(message(), policy=FAST)
    assert result.ok
    assert result.attempts == 2


async def test_an_answer_slower_than_the_attempt_timeout_is_retried(pair: Pair) -> None:
    calls: list[float] = []

    async def slow_once(inbound: Inbound) -> Outcome:
        calls.append(0)
        if len(calls) == 1:
            await asyncio.sleep(1.0)  # longer than FAST.attempt_timeout
        return Outcome.accepted()

    pair.at_cns.answer = slow_once
    result = await pair.pt.send(message(), policy=FAST)
    assert result.ok
    assert result.attempts == 2


async def test_a_reset_drops_the_exchange_and_the_sender_retries(pair: Pair) -> None:
    async def reset_once(inbound: Inbound) -> Outcome:
        if len(pair.at_cns.inbound) == 1:
            assert inbound.abort is not None
            inbound.abort()
            return Outcome.refused("dropped", code=codes.UNAVAILABLE)
        return Outcome.accepted()

    pair.at_cns.answer = reset_once
    result = await pair.pt.send(message(), policy=FAST)
    assert result.ok
    assert result.attempts == 2


async def test_a_version_the_receiver_does_not_accept_is_refused_with_EBMS_0010(
    pair: Pair,
) -> None:
    result = await pair.pt.send(message(version="4.2"), policy=FAST)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.error is not None
    assert result.error.code == "EBMS:0010"
    (refusal,) = pair.at_cns.refusals
    assert refusal.authenticated
    assert pair.at_cns.inbound == []  # never handed to the node


async def test_a_sender_the_receiver_does_not_know_is_refused_unauthenticated() -> None:
    hub = TwinHub()
    at_cns = Receiver()
    cns = _transport(hub, CNS, at_cns)
    await cns.start()
    stranger = _transport(hub, PT, Receiver())
    try:
        result = await stranger.send(message(sender="XX:NOBODY01"), policy=FAST)
    finally:
        await cns.stop()
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.error is not None
    assert result.error.code == "EBMS:0101"
    (refusal,) = at_cns.refusals
    assert not refusal.authenticated


async def test_a_message_over_the_receivers_size_limit_is_refused() -> None:
    hub = TwinHub()
    at_cns = Receiver()
    cns = _transport(hub, CNS, at_cns, max_body=100)
    pt = _transport(hub, PT, Receiver())
    await cns.start()
    try:
        result = await pt.send(message(), policy=FAST)
    finally:
        await cns.stop()
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.error is not None
    assert result.error.code == codes.TOO_LARGE.code
