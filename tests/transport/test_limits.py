"""The limits of the receiving layer: refusal bucket, timestamp window, deadlines, caps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from eessi.transport.limits import (
    ConnectionGuard,
    GuardedSite,
    InboundLimits,
    RefusalLimiter,
    server_kwargs,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Ticks:
    """A hand-moved monotonic clock for the bucket."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_peer_may_be_refused_burst_times_then_waits_for_the_bucket_to_refill() -> None:
    ticks = Ticks()
    bucket = RefusalLimiter(rate=2.0, burst=3, clock=ticks)
    for _ in range(3):
        assert bucket.wait("10.0.0.1") == 0
        bucket.spend("10.0.0.1")
    assert bucket.wait("10.0.0.1") == pytest.approx(0.5)
    assert bucket.wait("10.0.0.2") == 0  # per address
    ticks.t += 0.5
    assert bucket.wait("10.0.0.1") == 0
    bucket.spend("10.0.0.1")
    assert bucket.wait("10.0.0.1") > 0
    ticks.t += 60  # refills to the burst, never beyond
    for _ in range(3):
        bucket.spend("10.0.0.1")
    assert bucket.wait("10.0.0.1") > 0


def test_the_bucket_table_stays_bounded_under_many_addresses() -> None:
    ticks = Ticks()
    bucket = RefusalLimiter(rate=1000.0, burst=1, clock=ticks)
    for i in range(10_000):
        bucket.spend(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        ticks.t += 0.01
    assert len(bucket._buckets) <= 4097


@pytest.mark.parametrize(
    ("offset", "refused"),
    [
        (timedelta(0), None),
        (timedelta(minutes=-5), None),
        (timedelta(minutes=4), None),
        (timedelta(minutes=6), "ahead of the receiver's clock"),
        (timedelta(days=-2), "older than the receiver's clock"),
        (datetime(2001, 1, 1, tzinfo=UTC) - NOW, "older than the receiver's clock"),
    ],
)
def test_timestamps_outside_the_window_around_the_receivers_clock_are_named(
    offset: timedelta, refused: str | None
) -> None:
    why = InboundLimits().check_timestamp(NOW + offset, NOW)
    if refused is None:
        assert why is None
    else:
        assert why is not None
        assert refused in why


def test_the_window_can_be_opened_on_either_side() -> None:
    limits = InboundLimits(max_clock_skew=None, max_message_age=None)
    assert limits.check_timestamp(datetime(2001, 1, 1, tzinfo=UTC), NOW) is None
    assert limits.check_timestamp(NOW + timedelta(days=900), NOW) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"header_timeout": 0},
        {"body_timeout": -1},
        {"refusal_rate": 0},
        {"refusal_burst": 0},
        {"max_connections_per_peer": 0},
        {"max_message_age": -1},
    ],
)
def test_limits_that_make_no_sense_are_refused_naming_the_field(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        InboundLimits(**bad)  # type: ignore[arg-type]


async def test_the_guarded_site_serves_until_the_cap_and_aiohttp_closes_half_sent_headers() -> None:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    limits = InboundLimits(header_timeout=0.5, max_connections_per_peer=2)
    runner = web.AppRunner(app, **server_kwargs(limits))
    await runner.setup()
    guard = ConnectionGuard(limits.max_connections_per_peer)
    site = GuardedSite(runner, "127.0.0.1", 0, guard=guard)
    await site.start()
    try:
        port = site.port
        assert port != 0
        first = await asyncio.open_connection("127.0.0.1", port)
        first[1].write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half-sent
        second = await asyncio.open_connection("127.0.0.1", port)
        second[1].write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        third = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(30):
            assert (await third[0].read()).startswith(b"HTTP/1.1 503")
            assert (await second[0].readuntil(b"hello")).startswith(b"HTTP/1.1 200")
            assert await first[0].read() == b""  # the header deadline closed it
        for _, writer in (first, second, third):
            writer.close()
        assert guard.refused == 1
    finally:
        await runner.cleanup()
