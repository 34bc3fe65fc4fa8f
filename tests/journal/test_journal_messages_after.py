"""``Journal.messages_after``: the journal's messages one page at a time, by seq cursor (both
backends, through the ``journal`` fixture)."""

from __future__ import annotations

from journal_records import inbound, outbound

from eessi.journal import Direction, MessageStatus
from eessi.journal.base import Journal


async def _fill(journal: Journal) -> None:
    for i in range(7):
        await journal.accept_inbound(
            inbound(f"in{i}", case="C1" if i % 2 == 0 else "C2", sed_type=f"S07{i % 3}")
        )
        if i == 3:
            async with journal.transaction() as tx:
                await tx.enqueue_outbound(outbound("out", case="C1"))


async def _walk(journal: Journal, limit: int, **kw: object) -> tuple[list[str], int]:
    """Every page from the start; the IDs in the order read and the number of pages."""
    seen: list[str] = []
    after, pages = 0, 0
    while True:
        page = await journal.messages_after(after, limit=limit, **kw)  # type: ignore[arg-type]
        pages += 1
        assert len(page) <= limit
        seen += [m.message_id for _, m in page]
        if len(page) < limit:
            return seen, pages
        after = page[-1][0]


async def test_pages_walk_every_message_once_in_journal_order(journal: Journal) -> None:
    await _fill(journal)
    everything = [m.message_id for m in await journal.messages()]
    assert await _walk(journal, 3) == (everything, 3)
    inbound_ids = [m.message_id for m in await journal.messages(direction=Direction.IN)]
    assert (await _walk(journal, 2, direction=Direction.IN))[0] == inbound_ids
    assert (await _walk(journal, 1, case="C1", direction=Direction.IN))[0] == [
        "in0",
        "in2",
        "in4",
        "in6",
    ]
    assert (await _walk(journal, 5, sed="S070"))[0] == ["in0", "in3", "in6"]


async def test_the_cursor_is_the_journal_seq_and_stays_valid_as_messages_arrive(
    journal: Journal,
) -> None:
    await _fill(journal)
    first = await journal.messages_after(0, limit=2, direction=Direction.IN)
    seqs = [seq for seq, _ in first]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 2
    await journal.accept_inbound(inbound("late", case="C1"))
    rest = await journal.messages_after(seqs[-1], limit=100, direction=Direction.IN)
    assert [m.message_id for _, m in rest] == ["in2", "in3", "in4", "in5", "in6", "late"]
    assert rest[0][1].payload == (await journal.message("in2")).payload  # type: ignore[union-attr]
    assert await journal.messages_after(rest[-1][0], limit=100) == []


async def test_pages_filter_by_status(journal: Journal) -> None:
    await _fill(journal)
    async with journal.transaction() as tx:
        await tx.mark_processed("in1", at=inbound("x").created_at)
    processed = await journal.messages_after(0, limit=10, status=[MessageStatus.PROCESSED])
    assert [m.message_id for _, m in processed] == ["in1"]
    both = await journal.messages_after(
        0, limit=10, status=[MessageStatus.PROCESSED, MessageStatus.QUEUED]
    )
    assert [m.message_id for _, m in both] == ["in1", "out"]
