"""The journal contract: every test here runs against SQLite and against a real PostgreSQL
server (the ``store`` fixture of tests/journal/conftest.py, decision D83). What only one backend
does (SQLite's file, WAL and group commit; PostgreSQL's URL and server errors) is tested in
test_journal_sqlite.py and test_journal_postgres.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_records import CNS, CPAM, T0, inbound, outbound
from journal_store import Store

from eessi.errors import JournalError
from eessi.journal import TRANSITIONS, Direction, MessageStatus
from eessi.journal.base import Journal

DE = "DE:AOK000001"


# -- inbound ----------------------------------------------------------------------------------
async def test_an_accepted_message_is_stored_byte_exact(journal: Journal) -> None:
    record = inbound("m1")
    assert await journal.accept_inbound(record) is True
    stored = await journal.message("m1")
    assert stored == record
    assert stored.payload == record.payload


async def test_a_duplicate_is_reported_counted_and_not_stored_again(journal: Journal) -> None:
    assert await journal.accept_inbound(inbound("m1")) is True
    assert await journal.accept_inbound(inbound("m1", payload=b"other")) is False
    assert await journal.accept_inbound(inbound("m1")) is False
    [stored] = await journal.messages()
    assert stored.duplicates == 2
    assert stored.payload == inbound("m1").payload


async def test_a_message_id_reused_by_another_sender_is_a_conflict(journal: Journal) -> None:
    await journal.accept_inbound(inbound("m1"))
    with pytest.raises(JournalError) as info:
        await journal.accept_inbound(inbound("m1", sender=DE))
    assert info.value.code == "journal.id-conflict"
    assert info.value.details["first_sender"] == CPAM
    [stored] = await journal.messages()
    assert stored.sender == CPAM
    assert stored.duplicates == 0


async def test_a_refused_copy_neither_hides_nor_blocks_the_real_message(
    journal: Journal,
) -> None:
    spoof = inbound("m1", sender=DE, payload=b"forged")
    await journal.refuse_inbound(spoof, "signature does not match DE:AOK000001")
    assert await journal.accept_inbound(inbound("m1")) is True
    await journal.refuse_inbound(spoof, "again")
    real = await journal.message("m1")
    assert real is not None
    assert real.status is MessageStatus.RECEIVED
    assert real.sender == CPAM
    refused = await journal.messages(status=MessageStatus.REFUSED)
    assert [r.last_error for r in refused] == ["signature does not match DE:AOK000001", "again"]
    assert [m.message_id for m in await journal.unprocessed_inbound()] == ["m1"]


async def test_accept_inbound_takes_only_fresh_inbound_records(journal: Journal) -> None:
    with pytest.raises(JournalError, match="inbound message with status received"):
        await journal.accept_inbound(outbound("o1"))
    with pytest.raises(JournalError, match="inbound message with status received"):
        await journal.accept_inbound(inbound("m1", status=MessageStatus.PROCESSED))
    assert await journal.messages() == []


async def test_one_bad_write_in_a_group_does_not_fail_the_others(journal: Journal) -> None:
    await journal.accept_inbound(inbound("m0"))
    results = await asyncio.gather(
        journal.accept_inbound(inbound("m1")),
        journal.accept_inbound(inbound("m0", sender=DE)),
        journal.accept_inbound(inbound("m2")),
        return_exceptions=True,
    )
    assert results[0] is True
    assert isinstance(results[1], JournalError)
    assert results[2] is True


# -- transactions -----------------------------------------------------------------------------
async def test_a_transaction_commits_events_snapshot_outbox_and_processed_together(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))
    async with journal.transaction() as tx:
        events = await tx.append_events(
            "LU-CASE1", [("received", {"sed": "S071"}), ("answered", {})], at=T0, message_id="m1"
        )
        await tx.save_case("LU-CASE1", {"state": "answered"}, at=T0)
        await tx.enqueue_outbound(outbound("o1", ref_to_message_id="m1"))
        await tx.mark_processed("m1", at=T0)
    assert [e.seq for e in events] == [1, 2]
    assert await journal.case_events("LU-CASE1") == events
    snapshot = await journal.case("LU-CASE1")
    assert snapshot is not None
    assert (snapshot.state, snapshot.last_seq) == ({"state": "answered"}, 2)
    assert [m.message_id for m in await journal.due_outbound(T0)] == ["o1"]
    assert await journal.unprocessed_inbound() == []


async def test_an_exception_in_a_transaction_leaves_no_trace(journal: Journal) -> None:
    await journal.accept_inbound(inbound("m1"))

    async def process_then_crash() -> None:
        async with journal.transaction() as tx:
            await tx.append_event("LU-CASE1", "received", {}, at=T0)
            await tx.save_case("LU-CASE1", {"state": "x"}, at=T0)
            await tx.enqueue_outbound(outbound("o1"))
            await tx.mark_processed("m1", at=T0)
            raise RuntimeError("core crashed")

    with pytest.raises(RuntimeError, match="core crashed"):
        await process_then_crash()
    assert await journal.case_events("LU-CASE1") == []
    assert await journal.cases() == []
    assert await journal.due_outbound(T0) == []
    assert [m.message_id for m in await journal.unprocessed_inbound()] == ["m1"]


async def test_readers_never_see_an_open_transaction(journal: Journal) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with journal.transaction() as tx:
            await tx.save_case("LU-CASE1", {"state": "half"}, at=T0)
            inside.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await inside.wait()
    assert await journal.cases() == []
    release.set()
    await task
    assert len(await journal.cases()) == 1


async def test_writes_wait_for_an_open_transaction(journal: Journal) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with journal.transaction() as tx:
            inside.set()
            await release.wait()
            await tx.save_case("LU-CASE1", {}, at=T0)

    task = asyncio.create_task(writer())
    await inside.wait()
    accept = asyncio.create_task(journal.accept_inbound(inbound("m1")))
    await asyncio.sleep(0.01)
    assert not accept.done()
    release.set()
    await task
    assert await accept is True


async def test_a_single_write_inside_a_transaction_is_refused_not_deadlocked(
    journal: Journal,
) -> None:
    async with journal.transaction():
        with pytest.raises(JournalError, match=r"inside journal\.transaction"):
            await journal.accept_inbound(inbound("m1"))
        with pytest.raises(JournalError, match="nested"):
            async with journal.transaction():
                pass


async def test_an_inbound_message_is_processed_once(journal: Journal) -> None:
    await journal.accept_inbound(inbound("m1"))
    async with journal.transaction() as tx:
        await tx.mark_processed("m1", at=T0)
    with pytest.raises(JournalError, match="illegal status change processed -> processed"):
        async with journal.transaction() as tx:
            await tx.mark_processed("m1", at=T0)


async def test_a_core_refusal_marks_the_message_rejected_with_its_reason(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))
    async with journal.transaction() as tx:
        await tx.mark_processed("m1", at=T0, error="S073 before any S072")
    stored = await journal.message("m1")
    assert stored is not None
    assert (stored.status, stored.last_error) == (MessageStatus.REJECTED, "S073 before any S072")
    assert await journal.unprocessed_inbound() == []


async def test_processing_an_unknown_message_names_it(journal: Journal) -> None:
    with pytest.raises(JournalError, match="no inbound message nope") as info:
        async with journal.transaction() as tx:
            await tx.mark_processed("nope", at=T0)
    assert info.value.code == "journal.unknown-message"


async def test_an_outbound_id_cannot_be_enqueued_twice(journal: Journal) -> None:
    async with journal.transaction() as tx:
        await tx.enqueue_outbound(outbound("o1"))

    async def enqueue_again() -> None:
        async with journal.transaction() as tx:
            await tx.save_case("LU-CASE1", {}, at=T0)
            await tx.enqueue_outbound(outbound("o1"))

    with pytest.raises(JournalError) as info:
        await enqueue_again()
    assert info.value.code == "journal.id-conflict"
    assert await journal.cases() == []


async def test_event_data_that_is_not_json_rolls_back(journal: Journal) -> None:
    async def append_bad() -> None:
        async with journal.transaction() as tx:
            await tx.append_event("LU-CASE1", "ok", {}, at=T0)
            await tx.append_event("LU-CASE1", "bad", {"x": object()}, at=T0)

    with pytest.raises(JournalError, match="not JSON-compatible"):
        await append_bad()
    assert await journal.case_events("LU-CASE1") == []


async def test_the_transaction_object_dies_with_its_block(journal: Journal) -> None:
    async with journal.transaction() as tx:
        pass
    with pytest.raises(JournalError, match="transaction is over"):
        await tx.save_case("LU-CASE1", {}, at=T0)


async def test_event_numbers_are_per_case_and_without_gaps(journal: Journal) -> None:
    for case in ("A", "B", "A"):
        async with journal.transaction() as tx:
            await tx.append_event(case, "k", {"case": case}, at=T0)
            await tx.save_case(case, {"n": 1}, at=T0 + timedelta(minutes=1))
    assert [e.seq for e in await journal.case_events("A")] == [1, 2]
    assert [e.seq for e in await journal.case_events("B")] == [1]
    assert [(c.case_id, c.last_seq) for c in await journal.cases()] == [("A", 2), ("B", 1)]


# -- the outbox -------------------------------------------------------------------------------
async def _enqueue(journal: Journal, *records: object) -> None:
    async with journal.transaction() as tx:
        for r in records:
            await tx.enqueue_outbound(r)  # type: ignore[arg-type]


async def test_an_outbound_message_goes_through_retry_to_acknowledged(
    journal: Journal,
) -> None:
    await _enqueue(journal, outbound("o1"))
    sending = await journal.set_status("o1", MessageStatus.SENDING, at=T0)
    assert (sending.attempts, sending.sent_at) == (1, T0)
    later = T0 + timedelta(seconds=30)
    retrying = await journal.set_status(
        "o1", MessageStatus.RETRYING, at=T0, next_attempt_at=later, error="HTTP 503"
    )
    assert retrying.last_error == "HTTP 503"
    assert await journal.due_outbound(T0) == []
    assert [m.message_id for m in await journal.due_outbound(later)] == ["o1"]
    again = await journal.set_status("o1", MessageStatus.SENDING, at=later)
    assert again.attempts == 2
    done = await journal.set_status("o1", MessageStatus.ACKNOWLEDGED, at=later)
    assert done.status is MessageStatus.ACKNOWLEDGED
    assert done.updated_at == later
    assert done.payload == outbound("o1").payload
    with pytest.raises(JournalError, match="acknowledged is final"):
        await journal.set_status("o1", MessageStatus.SENDING, at=later)
    stored = await journal.message("o1")
    assert stored is not None
    assert stored.status is MessageStatus.ACKNOWLEDGED


async def test_set_status_refuses_inbound_statuses_and_unknown_messages(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))
    with pytest.raises(JournalError, match="inbound status"):
        await journal.set_status("m1", MessageStatus.PROCESSED, at=T0)
    with pytest.raises(JournalError, match="no outbound message m1"):
        await journal.set_status("m1", MessageStatus.SENDING, at=T0)


async def test_an_inbound_message_the_worker_failed_on_is_marked_and_can_be_received_again(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))
    failed = await journal.set_status(
        "m1", MessageStatus.PROCESSING_FAILED, at=T0, error="processing failed: boom"
    )
    assert (failed.status, failed.last_error) == (
        MessageStatus.PROCESSING_FAILED,
        "processing failed: boom",
    )
    assert await journal.unprocessed_inbound() == []  # not handed to the desk on a restart
    with pytest.raises(JournalError, match="processing_failed -> processed"):
        async with journal.transaction() as tx:
            await tx.mark_processed("m1", at=T0)
    again = await journal.set_status("m1", MessageStatus.RECEIVED, at=T0, error=None)
    assert (again.status, again.last_error) == (MessageStatus.RECEIVED, None)
    assert [r.message_id for r in await journal.unprocessed_inbound()] == ["m1"]


async def test_due_outbound_gives_the_most_overdue_first_up_to_the_limit(
    journal: Journal,
) -> None:
    await _enqueue(
        journal,
        outbound("late", created_at=T0 + timedelta(minutes=5)),
        outbound("early", created_at=T0),
        outbound("mid", created_at=T0 + timedelta(minutes=2)),
    )
    now = T0 + timedelta(hours=1)
    assert [m.message_id for m in await journal.due_outbound(now)] == ["early", "mid", "late"]
    assert [m.message_id for m in await journal.due_outbound(now, limit=1)] == ["early"]


async def test_sends_cut_by_a_restart_resume_as_retries(store: Store) -> None:
    async with await store.open() as journal:
        await _enqueue(journal, outbound("o1"), outbound("o2"), outbound("o3"))
        await journal.set_status("o1", MessageStatus.SENDING, at=T0)
        await journal.set_status("o2", MessageStatus.SENDING, at=T0)
        await journal.set_status("o2", MessageStatus.WAITING_FOR_RECEIPT, at=T0)
    async with await store.open() as journal:
        assert await journal.resume_interrupted_sends(at=T0) == ["o1", "o2"]
        due = await journal.due_outbound(T0)
        assert sorted(m.message_id for m in due) == ["o1", "o2", "o3"]
        assert (await journal.message("o1")).status is MessageStatus.RETRYING  # type: ignore[union-attr]


async def test_an_operator_may_queue_a_failed_message_again(journal: Journal) -> None:
    await _enqueue(journal, outbound("o1"))
    await journal.set_status("o1", MessageStatus.FAILED, at=T0, error="unknown receiver")
    queued = await journal.set_status("o1", MessageStatus.QUEUED, at=T0)
    assert queued.last_error is None
    assert [m.message_id for m in await journal.due_outbound(T0)] == ["o1"]


# -- queries ----------------------------------------------------------------------------------
async def test_messages_filter_by_case_peer_direction_status_and_time(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("a", case="C1"))
    await journal.accept_inbound(
        inbound("b", case="C2", sender=DE, received_at=T0 + timedelta(hours=2))
    )
    await _enqueue(journal, outbound("c", case="C1", created_at=T0 + timedelta(hours=3)))

    async def ids(**kw: object) -> list[str]:
        return [m.message_id for m in await journal.messages(**kw)]  # type: ignore[arg-type]

    assert await ids() == ["a", "b", "c"]
    assert await ids(case="C1") == ["a", "c"]
    assert await ids(institution=DE) == ["b"]
    assert await ids(institution=CNS) == ["a", "b", "c"]
    assert await ids(direction=Direction.OUT) == ["c"]
    assert await ids(status=[MessageStatus.QUEUED, MessageStatus.RECEIVED]) == ["a", "b", "c"]
    assert await ids(status=MessageStatus.QUEUED) == ["c"]
    assert await ids(since=T0 + timedelta(hours=1)) == ["b", "c"]
    assert await journal.message("zzz") is None
    assert await journal.message("a", Direction.OUT) is None


async def test_times_come_back_as_utc(journal: Journal) -> None:
    from datetime import timezone

    cet = timezone(timedelta(hours=1))
    await journal.accept_inbound(inbound("m1", created_at=T0.astimezone(cet)))
    stored = await journal.message("m1")
    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)


# -- the file ---------------------------------------------------------------------------------
async def test_everything_survives_close_and_reopen(store: Store) -> None:
    journal = await store.open()
    await journal.accept_inbound(inbound("m1"))
    async with journal.transaction() as tx:
        await tx.append_event("LU-CASE1", "k", {"é": "ü"}, at=T0)
    await journal.close()
    await journal.close()  # idempotent
    async with await store.open() as again:
        assert await again.message("m1") == inbound("m1")
        assert [e.data for e in await again.case_events("LU-CASE1")] == [{"é": "ü"}]


async def test_a_closed_journal_says_so(store: Store) -> None:
    journal = await store.open()
    await journal.close()
    with pytest.raises(JournalError, match="journal is closed"):
        await journal.accept_inbound(inbound("m1"))
    with pytest.raises(JournalError, match="journal is closed"):
        await journal.cases()


# -- cancellation -----------------------------------------------------------------------------
async def test_a_cancelled_caller_does_not_break_the_group_commit(journal: Journal) -> None:
    first = asyncio.create_task(journal.accept_inbound(inbound("m1")))
    second = asyncio.create_task(journal.accept_inbound(inbound("m2")))
    await asyncio.sleep(0)
    first.cancel()
    assert await second is True
    with pytest.raises(asyncio.CancelledError):
        await first
    # The cancelled write was already queued: it commits all the same, and nothing is stuck.
    assert await journal.accept_inbound(inbound("m3")) is True
    assert {m.message_id for m in await journal.unprocessed_inbound()} == {"m1", "m2", "m3"}


async def test_a_cancelled_transaction_rolls_back_and_frees_the_writer(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))
    inside = asyncio.Event()

    async def process() -> None:
        async with journal.transaction() as tx:
            await tx.save_case("LU-CASE1", {"state": "half"}, at=T0)
            inside.set()
            await asyncio.Event().wait()  # stuck until cancelled

    task = asyncio.create_task(process())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await journal.cases() == []
    async with journal.transaction() as tx:
        await tx.mark_processed("m1", at=T0)
    assert await journal.unprocessed_inbound() == []


async def test_close_waits_for_an_open_transaction(store: Store) -> None:
    journal = await store.open()
    inside = asyncio.Event()

    async def process() -> None:
        async with journal.transaction() as tx:
            inside.set()
            await asyncio.sleep(0.01)
            await tx.save_case("LU-CASE1", {"state": "done"}, at=T0)

    task = asyncio.create_task(process())
    await inside.wait()
    await journal.close()
    await task
    async with await store.open() as again:
        assert [c.case_id for c in await again.cases()] == ["LU-CASE1"]


async def test_a_message_scheduled_for_later_is_not_due_before(journal: Journal) -> None:
    later = T0 + timedelta(days=30)  # e.g. an X001 closure sent after a delay
    await _enqueue(journal, outbound("o1", next_attempt_at=later))
    assert await journal.due_outbound(later - timedelta(seconds=1)) == []
    assert [m.message_id for m in await journal.due_outbound(later)] == ["o1"]


_OUT_STATUSES = [s for s in MessageStatus if s.direction is Direction.OUT]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=st.lists(st.sampled_from(_OUT_STATUSES), max_size=12))
def test_status_moves_follow_the_table_and_illegal_ones_change_nothing(
    store: Store, moves: list[MessageStatus]
) -> None:
    async def run() -> None:
        mid = f"o-{uuid.uuid4().hex}"  # one journal per test, one message per example
        async with await store.open() as journal:
            await _enqueue(journal, outbound(mid))
            current = MessageStatus.QUEUED
            for step, new in enumerate(moves):
                at = T0 + timedelta(seconds=step)
                if new in TRANSITIONS.get(current, frozenset()):
                    assert (await journal.set_status(mid, new, at=at)).status is new
                    current = new
                else:
                    with pytest.raises(JournalError, match="illegal status change"):
                        await journal.set_status(mid, new, at=at)
                stored = await journal.message(mid)
                assert stored is not None
                assert stored.status is current

    asyncio.run(run())


# -- one call per commit: event numbers, status changes ---------------------------------------
async def test_event_numbers_continue_after_the_journal_is_opened_again(store: Store) -> None:
    async with await store.open() as journal, journal.transaction() as tx:
        await tx.append_events("A", [("k", {}), ("k", {})], at=T0)
    async with await store.open() as journal:
        async with journal.transaction() as tx:
            [event] = await tx.append_events("A", [("k", {"n": 3})], at=T0)
        assert event.seq == 3
        assert [e.seq for e in await journal.case_events("A")] == [1, 2, 3]


async def test_a_failed_transaction_uses_up_no_event_numbers(journal: Journal) -> None:
    async def fail_at_the_end() -> None:
        async with journal.transaction() as tx:
            await tx.append_event("A", "lost", {}, at=T0)
            await tx.mark_processed("nope", at=T0)

    with pytest.raises(JournalError, match="no inbound message nope"):
        await fail_at_the_end()
    async with journal.transaction() as tx:
        event = await tx.append_event("A", "kept", {}, at=T0)
    assert event.seq == 1
    assert [(e.seq, e.kind) for e in await journal.case_events("A")] == [(1, "kept")]


async def test_a_message_marked_twice_in_one_transaction_is_refused_whole(
    journal: Journal,
) -> None:
    await journal.accept_inbound(inbound("m1"))

    async def mark_twice() -> None:
        async with journal.transaction() as tx:
            await tx.save_case("LU-CASE1", {}, at=T0)
            await tx.mark_processed("m1", at=T0)
            await tx.mark_processed("m1", at=T0)

    with pytest.raises(JournalError, match="processed -> processed"):
        await mark_twice()
    assert [m.message_id for m in await journal.unprocessed_inbound()] == ["m1"]
    assert await journal.cases() == []


async def test_update_status_answers_the_changed_fields_as_set_status_stores_them(
    journal: Journal,
) -> None:
    await _enqueue(journal, outbound("o1"))
    sending = await journal.update_status("o1", MessageStatus.SENDING, at=T0)
    assert (sending.status, sending.attempts, sending.sent_at) == (MessageStatus.SENDING, 1, T0)
    later = T0 + timedelta(seconds=30)
    retrying = await journal.update_status(
        "o1", MessageStatus.RETRYING, at=T0, next_attempt_at=later, error="HTTP 503"
    )
    stored = await journal.message("o1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.sent_at) == (MessageStatus.RETRYING, 1, T0)
    assert (retrying.next_attempt_at, retrying.last_error) == (later, "HTTP 503")
    assert (stored.next_attempt_at, stored.last_error) == (later, "HTTP 503")
    with pytest.raises(JournalError, match="illegal status change retrying -> acknowledged"):
        await journal.update_status("o1", MessageStatus.ACKNOWLEDGED, at=later)


async def test_an_attempt_journaled_once_passes_through_sending_in_one_change(
    journal: Journal,
) -> None:
    # D240: the outbox journals an attempt's outcome only, as if it had been sending since
    # the attempt began: one more attempt, sent_at its start, both moves checked.
    await _enqueue(journal, outbound("o1"), outbound("o2"), outbound("o3"), outbound("o4"))
    began, later = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    done = await journal.update_status("o1", MessageStatus.ACKNOWLEDGED, at=later, attempt_at=began)
    assert (done.status, done.attempts, done.sent_at, done.updated_at) == (
        MessageStatus.ACKNOWLEDGED, 1, began, later,
    )  # fmt: skip
    retry = T0 + timedelta(seconds=60)
    retrying = await journal.set_status(
        "o2", MessageStatus.RETRYING, at=later, next_attempt_at=retry, error="HTTP 503",
        attempt_at=began,
    )  # fmt: skip
    assert (retrying.status, retrying.attempts, retrying.sent_at) == (
        MessageStatus.RETRYING, 1, began,
    )  # fmt: skip
    again = await journal.set_status("o2", MessageStatus.FAILED, at=retry, attempt_at=retry)
    assert (again.attempts, again.sent_at, again.status) == (2, retry, MessageStatus.FAILED)
    waiting = await journal.update_status(
        "o3", MessageStatus.WAITING_FOR_RECEIPT, at=later, attempt_at=began
    )
    assert (waiting.attempts, waiting.sent_at) == (1, began)
    with pytest.raises(JournalError, match="illegal status change acknowledged -> sending"):
        await journal.update_status("o1", MessageStatus.FAILED, at=retry, attempt_at=retry)
    with pytest.raises(JournalError, match="illegal status change sending -> queued"):
        await journal.set_status("o4", MessageStatus.QUEUED, at=retry, attempt_at=retry)
    stored = {m.message_id: m for m in await journal.messages(direction=Direction.OUT)}
    assert (stored["o1"].status, stored["o1"].attempts) == (MessageStatus.ACKNOWLEDGED, 1)
    assert (stored["o2"].status, stored["o2"].attempts) == (MessageStatus.FAILED, 2)
    assert (stored["o4"].status, stored["o4"].attempts) == (MessageStatus.QUEUED, 0)


async def test_message_counts_give_each_status_as_the_records_do(journal: Journal) -> None:
    assert await journal.message_counts() == {}
    for mid in ("m1", "m2", "m3"):
        await journal.accept_inbound(inbound(mid))
    async with journal.transaction() as tx:
        await tx.mark_processed("m1", at=T0)
        await tx.mark_processed("m2", at=T0, error="S073 before any S072")
    await journal.refuse_inbound(inbound("m1", sender="DE:AOK00001"), "spoofed sender")
    await _enqueue(journal, outbound("o1"), outbound("o2"))
    await journal.set_status("o1", MessageStatus.SENDING, at=T0)
    counts = await journal.message_counts()
    assert counts == {
        "processed": 1,
        "rejected": 1,
        "received": 1,
        "refused": 1,
        "sending": 1,
        MessageStatus(outbound("o2").status).value: 1,
    }
    # The one aggregate query says what reading every record says (the interface's default).
    assert counts == await Journal.message_counts(journal)


# -- checkpoints of the desk state (optional in the interface; both backends have them) ------
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_checkpoint_round_trips_header_position_and_entries(store: Store) -> None:
    async with await store.open() as journal:
        assert await journal.load_checkpoint() is None
        items = [("cases", b"k1", b"\x00value\xff"), ("regs", b"k1", b"other")]
        assert await journal.save_checkpoint(
            header={"format": "f/1", "n": [1, 2]}, input_seq=42, at=AT, changed=items
        )
        checkpoint = await journal.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.header == {"format": "f/1", "n": [1, 2]}
    assert (checkpoint.input_seq, checkpoint.at) == (42, AT)
    assert sorted(checkpoint.items) == sorted(items)


async def test_next_checkpoint_writes_only_changes_and_removals(store: Store) -> None:
    async with await store.open() as journal:
        await journal.save_checkpoint(
            header={}, input_seq=1, at=AT, changed=[("t", b"a", b"1"), ("t", b"b", b"1")]
        )
        await journal.save_checkpoint(
            header={},
            input_seq=2,
            at=AT,
            changed=[("t", b"a", b"2"), ("t", b"c", b"2")],
            removed=[("t", b"b")],
        )
        checkpoint = await journal.load_checkpoint()
        assert checkpoint is not None
        assert sorted(checkpoint.items) == [("t", b"a", b"2"), ("t", b"c", b"2")]
        await journal.save_checkpoint(
            header={}, input_seq=3, at=AT, changed=[("u", b"z", b"3")], replace_all=True
        )
        checkpoint = await journal.load_checkpoint()
    assert checkpoint is not None
    assert (checkpoint.input_seq, list(checkpoint.items)) == (3, [("u", b"z", b"3")])


# -- several messages by ID (a restart's replayed tail, D151) ---------------------------------
async def test_messages_by_id_finds_each_as_message_does_in_one_call(journal: Journal) -> None:
    spoof = inbound("m1", sender=DE, payload=b"forged")
    await journal.refuse_inbound(spoof, "signature does not match DE:AOK000001")
    for mid in ("m1", "m2", "m3"):
        assert await journal.accept_inbound(inbound(mid)) is True
    await journal.refuse_inbound(spoof, "again")
    ids = ["m3", "m1", "missing", "m1", *(f"n{i}" for i in range(600))]  # past one chunk
    found = await journal.messages_by_id(ids, Direction.IN)
    assert sorted(found) == ["m1", "m3"]
    for mid, record in found.items():
        assert record == await journal.message(mid, Direction.IN)
    assert found["m1"].status is not MessageStatus.REFUSED  # the accepted one, not the spoof
    assert await journal.messages_by_id(["m1"], Direction.OUT) == {}
