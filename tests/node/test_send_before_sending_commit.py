"""A node posts a due message without waiting for its `sending` status to be durable (D97):
the outbox row already says the message is to be sent, and a resend after a crash is dropped
by the receiver as a duplicate. Every status still reaches the journal, in order."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

from aiohttp import web
from node_kit import ANA, CNS, PT, write_directory

from eessi.directory import load_directory
from eessi.journal.base import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import open_institution
from eessi.transport.client import RetryPolicy
from eessi.transport.server import Inbound, InboundEndpoint, Outcome


async def test_a_retry_is_posted_while_the_journal_is_locked_and_journaled_after(
    tmp_path: Path,
) -> None:
    directory = load_directory(write_directory(tmp_path))
    arrived = asyncio.Event()
    locked = False
    arrived_while_locked: list[bool] = []

    async def on_message(inbound: Inbound) -> Outcome:
        arrived_while_locked.append(locked)
        arrived.set()
        return Outcome.accepted()

    endpoint = InboundEndpoint(
        on_message, directory.credential, CNS, accept_versions=("4.3", "4.4")
    )
    posts = 0

    async def cns(request: web.Request) -> web.StreamResponse:
        nonlocal posts
        posts += 1
        if posts == 1:  # the first attempt finds the CNS unavailable: a retry is scheduled
            await request.read()
            return web.Response(status=503, text="unavailable")
        return await endpoint.handle(request)

    app = web.Application()
    app.router.add_post("/as4", cns)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = re.match(r"http://([\d.]+):(\d+)/", directory.get(CNS).endpoint).groups()  # type: ignore[union-attr]
    await web.TCPSite(runner, host, int(port)).start()
    retry = RetryPolicy(max_attempts=3, base_delay=1.5, max_delay=1.5, jitter=0.0)
    pt = await open_institution(
        directory.get(PT), directory, tmp_path / "pt.sqlite", seed=1,
        options=NodeOptions(retry=retry), synchronous="NORMAL",
    )  # fmt: skip
    other = sqlite3.connect(tmp_path / "pt.sqlite", isolation_level=None, timeout=0)
    try:
        await pt.start()
        await pt.submit(RequestEntitlement(ANA))
        async with asyncio.timeout(10):
            while True:
                (s071,) = await pt.journal.messages(direction=Direction.OUT)
                if s071.status is MessageStatus.RETRYING:
                    break
                await asyncio.sleep(0.02)
        other.execute("BEGIN IMMEDIATE")  # the journal's writer now waits (busy timeout 5 s)
        locked = True
        async with asyncio.timeout(4):
            await arrived.wait()  # the retry is posted all the same
        locked = False
        other.execute("ROLLBACK")
        async with asyncio.timeout(10):
            await pt.idle()
        (s071,) = await pt.journal.messages(direction=Direction.OUT)
    finally:
        other.close()
        await pt.stop()
        await pt.journal.close()
        await runner.cleanup()
    assert arrived_while_locked == [True]
    assert s071.status is MessageStatus.ACKNOWLEDGED  # sending, then acknowledged: in order
    assert s071.attempts == 2
    assert s071.sent_at is not None
