"""Ownership of an institution's cases between two processes' nodes on one PostgreSQL journal
(eessi.node.ownership, D117), in one test process with real nodes and a real server: a standby
accepts but waits; the owner's lock session is cut without the owner dying (what a network cut
does); the standby takes over with a new epoch, and the old owner can no longer commit
(``journal.not-owner``) and is told it lost ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from serve_support import CNS, write_directory

from eessi.core.messages import TimePassed
from eessi.directory import load_directory
from eessi.errors import EessiError, JournalError
from eessi.node.institution import Institution
from eessi.node.network import open_institution
from eessi.node.ownership import Ownership

pytestmark = pytest.mark.slow


async def until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(30):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within 30 s: {what}") from None


async def test_a_cut_owner_is_fenced_out_and_the_standby_takes_the_cases_over(
    tmp_path: Path, postgres_url: str
) -> None:
    directory = load_directory(write_directory(tmp_path))
    nodes: list[Institution] = [
        await open_institution(directory.get(CNS), directory, postgres_url) for _ in range(2)
    ]
    lost: list[str] = []
    a = Ownership(nodes[0], poll=0.05, on_lost=lambda: lost.append("a"))
    b = Ownership(nodes[1], poll=0.05, on_lost=lambda: lost.append("b"))
    try:
        await a.start(port=0)
        await until(lambda: a.owner, "the first process owns the cases")
        await b.start(port=0)
        await asyncio.sleep(0.3)  # several lock attempts
        assert not b.owner
        assert not nodes[1].active
        with pytest.raises(EessiError) as refused:  # a standby runs no desk
            await nodes[1].submit(TimePassed(nodes[1].clock.now()))
        assert refused.value.code == "node.standby"
        assert await a.journal.owner(CNS) == (1, a.holder)

        # the owner's lock session is cut; the owner itself goes on
        killer = await asyncpg.connect(postgres_url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", a._conn.get_server_pid())
        finally:
            await killer.close()
        await until(lambda: b.owner, "the standby takes the cases over")
        assert nodes[1].active
        assert await b.journal.owner(CNS) == (2, b.holder)
        assert "a" in lost  # told: it stops (in a real process, at once)

        # the old owner can commit nothing any more; the new one can
        with pytest.raises(JournalError) as fenced:
            async with nodes[0].journal.transaction() as tx:
                await tx.append_event("~ops-test", "probe", {"by": "a"}, at=nodes[0].clock.now())
        assert fenced.value.code == "journal.not-owner"
        async with nodes[1].journal.transaction() as tx:
            await tx.append_event("~ops-test", "probe", {"by": "b"}, at=nodes[1].clock.now())
        events = await nodes[1].journal.case_events("~ops-test")
        assert [e.data for e in events] == [{"by": "b"}]
        assert lost.count("b") == 0
    finally:
        for own in (b, a):
            await own.stop()
        for node in nodes:
            await node.journal.close()
