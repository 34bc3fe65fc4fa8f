"""The PostgreSQL journal of a partitioned institution (eessi.node.partitions, D145-D147): each
partition's journal object sees its own pending work, input log and checkpoint; an accepting
process's router files each inbound message under its partition; each partition's owner is
fenced by its own epoch; requests queued for a partition are taken once (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from journal_records import CNS, T0, inbound, outbound

from eessi.errors import JournalError
from eessi.journal import PostgresJournal
from eessi.journal.base import Direction, MessageRecord, MessageStatus

pytestmark = pytest.mark.slow


@pytest.fixture
async def parts(postgres_url: str) -> AsyncIterator[list[PostgresJournal]]:
    """The whole institution's journal, then partitions 0 and 1 on the same database."""
    journals = [await PostgresJournal.open(postgres_url)]
    for k in (0, 1):
        journals.append(await PostgresJournal.open(postgres_url, partition=k))
    yield journals
    for j in journals:
        await j.close()


async def test_each_partition_sees_only_its_pending_messages_and_its_own_input_log(
    parts: list[PostgresJournal],
) -> None:
    whole, p0, p1 = parts

    async def by_case(_conn: Any, record: MessageRecord) -> int:
        return 0 if record.conversation_id == "case-a" else 1

    whole.router = by_case
    assert await whole.accept_inbound(inbound("in-a", case="case-a"))
    assert await whole.accept_inbound(inbound("in-b", case="case-b"))
    for j, case, out in ((p0, "case-a", "out-a"), (p1, "case-b", "out-b")):
        async with j.transaction() as tx:
            await tx.append_event("~inputs", "input", {"case": case}, at=T0, message_id=case)
            await tx.append_event("~desk", "decided", {"case": case}, at=T0)
            await tx.enqueue_outbound(outbound(out, case=case))
    assert [m.message_id for m in await p0.unprocessed_inbound()] == ["in-a"]
    assert [m.message_id for m in await p1.unprocessed_inbound()] == ["in-b"]
    assert await p0.received_inbound_ids() == ["in-a"]
    assert [m.message_id for m in await p1.due_outbound(T0)] == ["out-b"]
    assert [m.message_id for m in await p0.messages(direction=Direction.OUT)] == ["out-a"]
    # each partition's input log counts from 1, under the same pseudo case name
    for j, case in ((p0, "case-a"), (p1, "case-b")):
        (entry,) = await j.case_events_after("~inputs", 0)
        assert (entry.case_id, entry.seq, entry.data) == ("~inputs", 1, {"case": case})
    # the whole institution sees every message, and every partition's desk log
    assert len(await whole.messages()) == 4
    assert sorted(e.data["case"] for e in await whole.case_events("~desk")) == [
        "case-a",
        "case-b",
    ]
    assert await whole.partition_of_case(None, "case-b") == 1
    assert await whole.partition_of_case(None, "case-z") is None
    # a restart of partition 1's owner resumes only its own interrupted sends
    await p1.update_status("out-b", MessageStatus.SENDING, at=T0)
    async with p0.transaction() as tx:
        await tx.mark_processed("in-a", at=T0)
    assert await p0.resume_interrupted_sends(at=T0) == []
    assert await p1.resume_interrupted_sends(at=T0) == ["out-b"]


async def test_each_partition_keeps_its_own_checkpoint(parts: list[PostgresJournal]) -> None:
    whole, p0, p1 = parts
    await p0.save_checkpoint(header={"p": 0}, input_seq=3, at=T0, changed=[("t", b"k", b"0")])
    await p1.save_checkpoint(header={"p": 1}, input_seq=5, at=T0, changed=[("t", b"k", b"1")])
    await p1.save_checkpoint(
        header={"p": 1}, input_seq=6, at=T0, changed=[("t", b"j", b"1")], replace_all=True
    )
    c0, c1 = await p0.load_checkpoint(), await p1.load_checkpoint()
    assert c0 is not None
    assert c1 is not None
    assert (c0.header, c0.input_seq, list(c0.items)) == ({"p": 0}, 3, [("t", b"k", b"0")])
    assert (c1.header, c1.input_seq, list(c1.items)) == ({"p": 1}, 6, [("t", b"j", b"1")])
    assert await whole.load_checkpoint() is None


async def test_a_partition_taken_over_fences_its_old_owner_and_no_other_partition(
    parts: list[PostgresJournal], postgres_url: str
) -> None:
    _whole, p0, p1 = parts
    lost: list[str] = []
    assert await p0.claim_partition(CNS, "host:1", on_fenced=lambda: lost.append("p0")) == 1
    assert await p1.claim_partition(CNS, "host:1", on_fenced=lambda: lost.append("p1")) == 1
    async with await PostgresJournal.open(postgres_url, partition=0) as next_owner:
        assert await next_owner.claim_partition(CNS, "host:2", on_fenced=lambda: None) == 2
        with pytest.raises(JournalError) as fenced:
            async with p0.transaction() as tx:
                await tx.enqueue_outbound(outbound("late"))
        assert fenced.value.code == "journal.not-owner"
        assert "partition 0" in fenced.value.message
        assert lost == ["p0"]
        async with p1.transaction() as tx:  # the other partition goes on
            await tx.enqueue_outbound(outbound("on-time", case="case-b"))
        assert await next_owner.message("late") is None
        assert await p1.partition_owners(CNS) == {0: (2, "host:2"), 1: (1, "host:1")}


async def test_a_queued_request_is_taken_by_one_taker_only_and_its_result_read_once(
    parts: list[PostgresJournal], postgres_url: str
) -> None:
    whole, p0, _p1 = parts
    ids = [await whole.queue_input(CNS, 0, f"input {i}".encode()) for i in range(20)]
    await whole.queue_input(CNS, 1, b"for partition 1")
    async with await PostgresJournal.open(postgres_url, partition=0) as other:
        taken = await asyncio.gather(
            *(j.take_inputs(CNS, limit=4) for j in (p0, other, p0, other, p0, other))
        )
    got = [ident for batch in taken for ident, _ in batch]
    assert sorted(got) == ids  # each once, none twice, none of partition 1
    assert await p0.take_inputs(CNS) == []
    await p0.finish_input(ids[0], ok=True, result=b"step")
    await p0.finish_input(ids[1], ok=False, result=b"error")
    assert await whole.input_result(ids[0]) == ("done", b"step")
    assert await whole.input_result(ids[0]) is None  # read once
    assert await whole.input_result(ids[1]) == ("failed", b"error")
    assert await whole.input_result(ids[2]) == ("taken", None)


async def test_a_partition_number_out_of_range_is_refused(postgres_url: str) -> None:
    with pytest.raises(JournalError) as refused:
        await PostgresJournal.open(postgres_url, partition=-1)
    assert refused.value.code == "journal.config"
