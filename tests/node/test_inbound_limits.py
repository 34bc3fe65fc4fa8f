"""What a node does with inbound traffic that is not a genuine, current message (issue 9:
unauthenticated posts, junk, replays, slow and greedy clients, envelopes with comments), on
real aiohttp servers (loopback) with real SQLite journals."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from node_kit import ANA, BE, CNS, PT, sent_s071, settle, write_directory

from eessi.clock import VirtualClock
from eessi.directory import load_directory
from eessi.journal.base import Direction
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import Network
from eessi.node.records import REFUSED_LOG
from eessi.trace.export import collect
from eessi.transport.auth import SIGNATURE_HEADER, sign
from eessi.transport.client import RetryPolicy
from eessi.transport.envelope import ErrorSignal, UserMessage, decode_signal, encode
from eessi.transport.framing import frame
from eessi.transport.limits import InboundLimits

FAST = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2))
MB = 1024 * 1024


async def start(tmp_path: Path, options: NodeOptions) -> Network:
    directory = load_directory(write_directory(tmp_path))
    return Network(directory, tmp_path, ids=[CNS, PT, BE], seed=7, options=options)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with await start(tmp_path, FAST) as network:
        yield network


async def post(
    url: str,
    body: bytes,
    content_type: str,
    credential: str | None,
) -> tuple[int, ErrorSignal | None, aiohttp.typedefs.LooseHeaders]:
    headers = {"Content-Type": content_type}
    if credential is not None:
        headers[SIGNATURE_HEADER] = sign(body, credential)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        signal = decode_signal(await resp.read())
        return resp.status, signal if isinstance(signal, ErrorSignal) else None, resp.headers


def framed(
    message: UserMessage, payload: bytes, envelope: bytes | None = None
) -> tuple[bytes, str]:
    f = frame(envelope or encode(message), payload, boundary_seed=message.payload_digest)
    return f.body, f.content_type


# -- item 2: unauthenticated posts -----------------------------------------------------------


async def test_unsigned_posts_are_journaled_as_a_bounded_summary_never_with_their_body(
    net: Network,
) -> None:
    message, payload = await sent_s071(net)
    big = payload + b"<!--" + b"x" * (MB - 8 * 1024) + b"-->"
    unsigned = UserMessage.for_payload(
        big,
        message_id="unsigned-0001",
        timestamp=message.timestamp,
        from_party=PT,
        to_party=CNS,
        conversation_id=message.conversation_id,
        sed_type="S071",
        sed_version="4.3",
    )
    body, content_type = framed(unsigned, big)
    cns = net[CNS]
    for _ in range(5):
        status, signal, _ = await post(cns.endpoint_url or "", body, content_type, None)
        assert status == 401
        assert signal is not None
        assert signal.code == "EBMS:0101"
    events = await cns.journal.case_events(REFUSED_LOG)
    assert len(events) == 5
    summary = events[0].data
    assert summary["body_size"] == len(body)
    assert summary["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert summary["claimed"]["message_id"] == "unsigned-0001"
    assert "X-EESSI-Signature" in summary["reason"]
    assert summary["headers"]["Content-Type"] == content_type
    # No record holds the body: nothing of the 5 MB posted is kept.
    assert all(m.message_id != "unsigned-0001" for m in await cns.journal.messages())
    assert sum(len(str(e.data)) for e in events) < 5 * 2048


async def test_refusals_from_one_address_past_the_bucket_get_429_and_are_not_recorded(
    tmp_path: Path,
) -> None:
    options = replace(FAST, inbound_limits=InboundLimits(refusal_burst=3, refusal_rate=0.01))
    async with await start(tmp_path, options) as net:
        url = net[CNS].endpoint_url or ""
        answers = [await post(url, b"junk", "text/plain", None) for _ in range(6)]
        assert [status for status, _, _ in answers] == [400, 400, 400, 429, 429, 429]
        _, signal, headers = answers[3]
        assert signal is not None
        assert "too many refused messages" in signal.description
        assert int(headers["Retry-After"]) >= 1
        assert len(await net[CNS].journal.case_events(REFUSED_LOG)) == 3
        endpoint = net[CNS].endpoint
        assert endpoint is not None
        assert endpoint.counters["rate_limited"] == 3


# -- item 10: a junk POST is never a case -----------------------------------------------------


async def test_a_junk_post_is_never_a_case_nor_a_lifeline_in_the_trace(net: Network) -> None:
    await sent_s071(net)
    cns = net[CNS]
    status, signal, _ = await post(cns.endpoint_url or "", b"hello", "text/plain", None)
    assert status == 400
    assert signal is not None
    assert signal.code == "EBMS:0009"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{cns.url}/api/cases") as resp,
    ):
        listing = await resp.json()
    cases = listing["items"] if isinstance(listing, dict) else listing
    assert [(c["case_id"] != "", c["counterparty"]) for c in cases] == [(True, PT)]
    senders = {m.record.sender for m in await collect([cns.journal])}
    assert senders == {PT, CNS}
    [event] = await cns.journal.case_events(REFUSED_LOG)
    assert event.data["peer"] == "127.0.0.1"


# -- item 9: the timestamp window -------------------------------------------------------------


@pytest.mark.parametrize("moved", [datetime(2001, 1, 1, tzinfo=UTC), timedelta(days=2)])
async def test_a_message_resent_with_its_timestamp_moved_out_of_the_window_is_refused(
    net: Network, moved: datetime | timedelta
) -> None:
    message, payload = await sent_s071(net)
    credential = net.directory.get(PT).credential
    url = net[CNS].endpoint_url or ""
    when = moved if isinstance(moved, datetime) else message.timestamp + moved
    status, signal, _ = await post(
        url, *framed(replace(message, timestamp=when), payload), credential
    )
    assert status == 422
    assert signal is not None
    assert signal.code == "EBMS:0003"
    assert signal.detail == "/Messaging/UserMessage/MessageInfo/Timestamp"
    # The message as sent is still a duplicate, receipted again (dedupe unchanged).
    status, signal, _ = await post(url, *framed(message, payload), credential)
    assert (status, signal) == (200, None)
    record = await net[CNS].journal.message(message.message_id, Direction.IN)
    assert record is not None
    assert record.duplicates == 1


async def test_the_timestamp_window_is_configurable_and_can_be_switched_off(
    tmp_path: Path,
) -> None:
    options = replace(FAST, inbound_limits=InboundLimits(max_message_age=None, max_clock_skew=None))
    async with await start(tmp_path, options) as net:
        message, payload = await sent_s071(net)
        old = replace(message, timestamp=datetime(2001, 1, 1, tzinfo=UTC))
        credential = net.directory.get(PT).credential
        status, _, _ = await post(net[CNS].endpoint_url or "", *framed(old, payload), credential)
        assert status == 200


# -- item 4: element text read whole ----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<MessageId>", b"<MessageId><!---->"),
        (b"<Size>", b"<Size><?x?>"),
    ],
)
async def test_a_signed_envelope_with_a_comment_or_pi_in_a_field_is_received_whole(
    net: Network, old: bytes, new: bytes
) -> None:
    message, payload = await sent_s071(net)
    fresh = replace(message, message_id="fresh-0001")
    envelope = encode(fresh).replace(old, new, 1)
    assert envelope != encode(fresh)
    credential = net.directory.get(PT).credential
    url = net[CNS].endpoint_url or ""
    status, signal, _ = await post(url, *framed(fresh, payload, envelope), credential)
    assert (status, signal) == (200, None)
    assert await net[CNS].journal.message("fresh-0001", Direction.IN) is not None


# -- item 3: slow and greedy clients ----------------------------------------------------------


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server wrote until it closed the connection."""
    return await reader.read()


async def _trickle(host: str, port: int) -> bytes:
    """A request whose body comes one byte at a time, until the server gives up on it."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /as4 HTTP/1.1\r\nHost: cns\r\nContent-Type: multipart/related; boundary=b\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    answer = b""
    try:
        while not reader.at_eof():
            if not answer:
                writer.write(b"x")
                await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    answer += await reader.read(65536)
    except ConnectionError:
        pass
    finally:
        writer.close()
    return answer


async def test_slow_and_half_sent_requests_are_closed_in_time_while_a_normal_peer_is_served(
    tmp_path: Path,
) -> None:
    options = replace(FAST, inbound_limits=InboundLimits(header_timeout=1.0, body_timeout=1.0))
    async with await start(tmp_path, options) as net:
        cns = net[CNS]
        host, port = "127.0.0.1", int((cns.url or "").rsplit(":", 1)[1])
        half_sent = [await asyncio.open_connection(host, port) for _ in range(40)]
        for _, writer in half_sent:
            writer.write(b"POST /as4 HTTP/1.1\r\nHost: cns\r\nContent-Le")
        trickle = asyncio.create_task(_trickle(host, port))
        # Meanwhile a normal peer is served: the R17 request is receipted and answered.
        await net[PT].submit(RequestEntitlement(ANA))
        await settle(net)
        sent = await net[PT].journal.messages(direction=Direction.OUT)
        assert [(m.sed_type, m.status.value) for m in sent] == [
            ("S071", "acknowledged"),
            ("S073", "acknowledged"),
        ]
        try:  # generous bounds (a loaded machine); the deadlines are 1 s
            async with asyncio.timeout(60):
                closed = await asyncio.gather(*(_closed(reader) for reader, _ in half_sent))
                answer = await trickle
        finally:
            trickle.cancel()
            for _, writer in half_sent:
                writer.close()
        assert closed == [b""] * 40  # closed without an answer: no request was ever complete
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 1 s" in answer


async def test_connections_over_the_per_peer_cap_get_503_and_are_closed(tmp_path: Path) -> None:
    options = replace(FAST, inbound_limits=InboundLimits(max_connections_per_peer=4))
    async with await start(tmp_path, options) as net:
        cns = net[CNS]
        host, port = "127.0.0.1", int((cns.url or "").rsplit(":", 1)[1])
        held = [await asyncio.open_connection(host, port) for _ in range(4)]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            async with asyncio.timeout(30):
                answer = await reader.read()
        finally:
            writer.close()
            for _, w in held:
                w.close()
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"too many open connections" in answer
        # Once the others are gone, the address is served again.
        async with asyncio.timeout(30):
            while True:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{cns.url}/api/health") as resp,
                ):
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.05)


async def test_a_node_on_a_virtual_clock_applies_no_timestamp_window(tmp_path: Path) -> None:
    """Scenario time is not the senders' time (D38): an external system stamps real time."""
    directory = load_directory(write_directory(tmp_path))
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with Network(
        directory, tmp_path, ids=[CNS, PT], seed=7, options=FAST, clock=clock
    ) as net:
        message, payload = await sent_s071(net)
        credential = net.directory.get(PT).credential
        url = net[CNS].endpoint_url or ""
        for when in (datetime(2001, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)):
            moved = replace(message, timestamp=when)
            status, signal, _ = await post(url, *framed(moved, payload), credential)
            assert (status, signal) == (200, None)
