"""Partitions of one institution's cases between two processes' nodes on one PostgreSQL journal
(eessi.node.partitions, D145-D147), in one test process with real nodes and a real server: a
lone process owns every partition; a second one joining takes half; a third given another
partition count is refused; an admin request given to
either process is run by the desk of its household's partition, wherever that is; a process
whose journal session is cut (what a network cut does) is told it lost its partitions, the
other takes them over with new epochs, and the cut one can commit nothing more for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from serve_support import CNS, write_directory

from eessi.core.messages import CoInsuranceRequested, TimePassed
from eessi.directory import load_directory
from eessi.errors import ConfigError, DomainError, JournalError
from eessi.node.institution import Institution
from eessi.node.network import open_institution
from eessi.node.partitions import SharedInstitution, partition_of
from eessi.node.records import DESK_LOG

pytestmark = pytest.mark.slow

PIN = "1978072712345"  # the shipped household silva-luxembourg: João, his wife Ana in Portugal
PARTS = 4


async def until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(60):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within 60 s: {what}") from None


async def test_two_processes_share_the_partitions_and_a_cut_one_is_fenced_out(
    tmp_path: Path, postgres_url: str
) -> None:
    directory = load_directory(write_directory(tmp_path))
    nodes: list[Institution] = [
        await open_institution(directory.get(CNS), directory, postgres_url) for _ in range(2)
    ]
    lost: list[str] = []
    a = SharedInstitution(nodes[0], partitions=PARTS, poll=0.05, on_lost=lambda: lost.append("a"))
    b = SharedInstitution(nodes[1], partitions=PARTS, poll=0.05, on_lost=lambda: lost.append("b"))
    try:
        await a.start(port=0)
        await until(lambda: sorted(a.parts) == [0, 1, 2, 3], "a lone process owns every partition")
        await b.start(port=0)
        await until(
            lambda: len(a.parts) == len(b.parts) == PARTS // 2 and not set(a.parts) & set(b.parts),
            "the two processes own two partitions each",
        )

        # a process given another partition count is refused: households would move
        third = await open_institution(directory.get(CNS), directory, postgres_url)
        try:
            with pytest.raises(ConfigError) as mismatch:
                await SharedInstitution(third, partitions=2 * PARTS).start(port=0)
            assert mismatch.value.code == "node.partitions-mismatch"
            assert f"split into {PARTS} partitions" in mismatch.value.message
        finally:
            await third.journal.close()

        # a request given to the process that does not own its household's partition
        registry = nodes[0].desk.registry
        entry = registry.by_main_pin(PIN)
        assert entry is not None
        k = partition_of(entry.key, PARTS)
        holder, other = (a, b) if k in a.parts else (b, a)
        messages: list[str] = []
        step = await other.front.submit(CoInsuranceRequested(PIN, "ana"), messages=messages)
        (decided,) = step.events  # decided by the partition's desk, in the other process
        assert type(decided).__name__ == "DecisionMade"
        logged = await holder.parts[k].journal.case_events(DESK_LOG)
        assert [e.data.get("member") for e in logged] == [f"{entry.key}/ana"]
        for number, part in other.parts.items():  # nothing of it in the asking process
            assert await part.journal.case_events(DESK_LOG) == [], number
        # refused there, the refusal comes back as the same error
        with pytest.raises(DomainError) as refused:
            await other.front.submit(CoInsuranceRequested(PIN, "nobody"))
        assert refused.value.code.startswith("domain.")
        # the time passing goes to every partition, here and there
        await other.front.submit(TimePassed(nodes[0].clock.now()))

        # a's journal session is cut; a itself goes on
        a_parts = dict(a.parts)
        killer = await asyncpg.connect(postgres_url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", a._conn.get_server_pid())
        finally:
            await killer.close()
        await until(lambda: sorted(b.parts) == [0, 1, 2, 3], "b takes every partition over")
        assert "a" in lost  # told: it stops (in a real process, at once)
        owners = await b.journal.partition_owners(CNS)
        assert {n: holder_ for n, (_, holder_) in owners.items()} == dict.fromkeys(
            range(PARTS), b.holder
        )

        # a can commit nothing more for the partitions it had; b can
        for number, part in a_parts.items():
            with pytest.raises(JournalError) as fenced:
                async with part.journal.transaction() as tx:
                    await tx.append_event(
                        "~ops-test", "probe", {"by": "a"}, at=nodes[0].clock.now()
                    )
            assert fenced.value.code == "journal.not-owner"
            async with b.parts[number].journal.transaction() as tx:
                await tx.append_event("~ops-test", "probe", {"by": "b"}, at=nodes[1].clock.now())
        events = await b.journal.case_events("~ops-test")
        assert [e.data for e in events] == [{"by": "b"}] * len(a_parts)
        assert lost.count("b") == 0
    finally:
        for shared in (b, a):
            await shared.stop()
        for node in nodes:
            await node.journal.close()
