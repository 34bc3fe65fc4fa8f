from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from journal_records import T0, inbound, outbound

from eessi.errors import JournalError
from eessi.journal import MessageStatus, SqliteJournal
from eessi.journal import sqlite as sqlite_module
from eessi.journal.sqlite import SCHEMA_VERSION

DE = "DE:AOK000001"


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SqliteJournal]:
    j = await SqliteJournal.open(tmp_path / "j.sqlite", synchronous="NORMAL")
    yield j
    await j.close()


async def test_concurrent_arrivals_share_a_group_commit(journal: SqliteJournal) -> None:
    results = await asyncio.gather(*(journal.accept_inbound(inbound(f"m{i}")) for i in range(30)))
    assert all(results)
    assert len(await journal.unprocessed_inbound()) == 30
    assert journal.stats.writes == 30
    assert journal.stats.commits < 30


async def test_the_file_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(path):
        pass
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match="upgrade eessi-sim") as info:
        await SqliteJournal.open(path)
    assert info.value.where == str(path)


async def test_another_sqlite_database_is_not_taken_for_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not an eessi journal"):
        await SqliteJournal.open(path)


async def test_a_file_that_is_not_sqlite_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(JournalError) as info:
        await SqliteJournal.open(path)
    assert info.value.code == "journal.corrupt"
    assert info.value.details["sqlite_error"] == "SQLITE_NOTADB"
    assert "not an eessi journal" in str(info.value)


async def test_a_write_lock_held_by_another_connection_is_named_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(path, busy_timeout=0.1) as journal:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(JournalError) as info:
                await journal.accept_inbound(inbound("m1"))
            assert info.value.code == "journal.locked"
            assert info.value.details["sqlite_error"] == "SQLITE_BUSY"
            assert "one institution, one process" in str(info.value)
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert await journal.accept_inbound(inbound("m1")) is True
        assert [m.message_id for m in await journal.unprocessed_inbound()] == ["m1"]


async def test_a_journal_needs_a_file_in_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="existing directory"):
        await SqliteJournal.open(tmp_path / "missing" / "j.sqlite")
    with pytest.raises(JournalError, match="WAL needs a real file"):
        await SqliteJournal.open(":memory:")


async def test_an_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="FULL"):
        await SqliteJournal.open(tmp_path / "j.sqlite", synchronous="OFF")  # type: ignore[arg-type]


#: How a journal created before D430 stored events and snapshots (the schema version is the
#: same: only the tables' layout differs, and every statement reads and writes both).
_WITHOUT_ROWID = """
DROP TABLE case_events;
DROP TABLE cases;
CREATE TABLE case_events (
    case_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL, message_id TEXT, PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
"""


async def _journal_file(path: Path, layout: str) -> Path:
    """A new, empty journal file; ``"without rowid"``: as created before D430."""
    async with await SqliteJournal.open(path):
        pass
    if layout == "without rowid":
        conn = sqlite3.connect(path)
        conn.executescript(_WITHOUT_ROWID)
        conn.close()
    return path


def _table_sql(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        return {str(name): str(sql) for name, sql in rows}
    finally:
        conn.close()


async def test_events_and_snapshots_of_a_new_journal_are_appended_to_rowid_tables_d430(
    tmp_path: Path,
) -> None:
    # A new journal stores events and snapshots in rowid tables with a unique key (D430); a
    # journal created before keeps its WITHOUT ROWID tables, and both journal the same.
    for layout in ("rowid", "without rowid"):
        path = await _journal_file(tmp_path / f"{layout}.sqlite", layout)
        async with await SqliteJournal.open(path) as journal:
            assert await journal.accept_inbound(inbound("m1", case="LU-A"))
            async with journal.transaction() as tx:
                await tx.append_events("LU-A", [("opened", {"n": 1}), ("more", {})], at=T0)
                await tx.save_case("LU-A", {"state": "open"}, at=T0)
                await tx.mark_processed("m1", at=T0)
            async with journal.transaction() as tx:
                await tx.append_event("LU-A", "again", {}, at=T0)
                await tx.save_case("LU-A", {"state": "closed"}, at=T0)
        async with await SqliteJournal.open(path) as journal:
            assert [(e.seq, e.kind) for e in await journal.case_events("LU-A")] == [
                (1, "opened"),
                (2, "more"),
                (3, "again"),
            ]
            (snapshot,) = await journal.cases()
            assert (snapshot.case_id, snapshot.state, snapshot.last_seq) == (
                "LU-A",
                {"state": "closed"},
                3,
            )
        tables = _table_sql(path)
        for table in ("case_events", "cases"):
            assert ("WITHOUT ROWID" in tables[table]) is (layout == "without rowid"), table


@pytest.mark.parametrize(
    ("layout", "key"),
    [("rowid", "SQLITE_CONSTRAINT_UNIQUE"), ("without rowid", "SQLITE_CONSTRAINT_PRIMARYKEY")],
)
async def test_a_second_writer_on_the_file_cannot_take_an_event_number(
    tmp_path: Path, layout: str, key: str
) -> None:
    # One institution, one process: but if two journals write one file anyway, the second
    # one's numbering is refused (never a gap or a double), and it recovers on the next try;
    # in a journal of either layout (D430).
    path = await _journal_file(tmp_path / "j.sqlite", layout)
    async with await SqliteJournal.open(path) as first, await SqliteJournal.open(path) as second:
        async with second.transaction() as tx:  # the second one now knows case A's number
            await tx.append_event("A", "opened", {}, at=T0)
        async with first.transaction() as tx:  # read from the file at first use: 2
            assert (await tx.append_event("A", "first", {}, at=T0)).seq == 2

        async def append_second() -> None:
            async with second.transaction() as tx:
                await tx.append_event("A", "second", {}, at=T0)

        with pytest.raises(JournalError, match="UNIQUE") as info:
            await append_second()
        assert info.value.code == "journal.locked"
        assert info.value.details["sqlite_error"] == key
        async with second.transaction() as tx:
            event = await tx.append_event("A", "second", {}, at=T0)
        assert event.seq == 3
        assert [e.kind for e in await first.case_events("A")] == ["opened", "first", "second"]


async def test_a_reopened_journal_numbers_each_case_on_from_its_last_event(
    tmp_path: Path,
) -> None:
    # The last number of a case is read when it is first needed, not for every case at open
    # (D100): each case still continues exactly where it stopped, new cases start at 1.
    path = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(path) as journal, journal.transaction() as tx:
        for case_id, count in (("A", 3), ("B", 1), ("C", 5)):
            for i in range(count):
                await tx.append_event(case_id, f"e{i}", {}, at=T0)
    async with await SqliteJournal.open(path) as journal:
        async with journal.transaction() as tx:
            assert (await tx.append_event("C", "more", {}, at=T0)).seq == 6
            assert [e.seq for e in await tx.append_events("A", [("x", {}), ("y", {})], at=T0)] == [
                4,
                5,
            ]
            assert (await tx.append_event("NEW", "first", {}, at=T0)).seq == 1
        async with journal.transaction() as tx:
            assert (await tx.append_event("C", "again", {}, at=T0)).seq == 7
            assert (await tx.append_event("B", "again", {}, at=T0)).seq == 2
        assert [e.seq for e in await journal.case_events("A")] == [1, 2, 3, 4, 5]


async def test_an_accepted_message_s_case_is_numbered_on_from_the_writer_s_read_d370(
    tmp_path: Path,
) -> None:
    # The accept reads its case's last event number on the writer (D370), so the batch that
    # processes the message numbers the case's events without a read on the loop: a case
    # that already has events continues after them, a new case starts at 1.
    path = tmp_path / "j.sqlite"
    async with await SqliteJournal.open(path) as journal, journal.transaction() as tx:
        await tx.append_events("LU-OLD", [("a", {}), ("b", {}), ("c", {})], at=T0)
    async with await SqliteJournal.open(path) as journal:
        assert await journal.accept_inbound(inbound("m1", case="LU-OLD"))
        assert await journal.accept_inbound(inbound("m2", case="LU-NEW"))
        assert journal._seqs._known == {"LU-OLD": 3, "LU-NEW": 0}  # learned, not read
        async with journal.transaction() as tx:
            assert [e.seq for e in await tx.append_events("LU-OLD", [("d", {})], at=T0)] == [4]
            assert [e.seq for e in await tx.append_events("LU-NEW", [("x", {})], at=T0)] == [1]
            await tx.mark_processed("m1", at=T0)
            await tx.mark_processed("m2", at=T0)
        # a later message of a known case learns nothing older than what was committed
        assert await journal.accept_inbound(inbound("m3", case="LU-OLD"))
        async with journal.transaction() as tx:
            assert (await tx.append_event("LU-OLD", "e", {}, at=T0)).seq == 5
        # a copy (a duplicate) reads nothing
        assert not await journal.accept_inbound(inbound("m3", case="LU-OLD"))
        assert [e.seq for e in await journal.case_events("LU-OLD")] == [1, 2, 3, 4, 5]


async def _queued(journal: SqliteJournal, *ids: str) -> None:
    async with journal.transaction() as tx:
        for message_id in ids:
            await tx.enqueue_outbound(outbound(message_id))


async def test_a_status_change_of_a_busy_journal_shares_the_next_write_s_commit_d371(
    journal: SqliteJournal,
) -> None:
    # A send's outcome (here two of them) arriving alone while messages come in waits for the
    # next write and commits with it: one commit, not two, and every caller sees it durable.
    await _queued(journal, "o1", "o2")  # a write: the journal is busy
    commits = journal.stats.commits

    async def arrival() -> bool:
        await asyncio.sleep(0.001)  # the next POST, a moment later
        return await journal.accept_inbound(inbound("m1"))

    changes = await asyncio.gather(
        journal.update_status("o1", MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0),
        journal.update_status("o2", MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0),
        arrival(),
    )
    assert journal.stats.commits == commits + 1
    assert [c.status for c in changes[:2]] == [MessageStatus.ACKNOWLEDGED] * 2
    assert changes[2] is True
    assert {m.message_id for m in await journal.messages(status=MessageStatus.ACKNOWLEDGED)} == {
        "o1",
        "o2",
    }


async def test_a_status_change_alone_is_committed_after_the_linger_or_at_once_when_idle_d371(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _queued(journal, "o1", "o2")
    # busy, and no other write comes: committed after LINGER all the same
    monkeypatch.setattr(sqlite_module, "LINGER", 0.01)
    change = await asyncio.wait_for(
        journal.update_status("o1", MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0), 30
    )
    assert change.status is MessageStatus.ACKNOWLEDGED
    # idle (no other write for longer than BUSY): no wait at all, however long LINGER is
    monkeypatch.setattr(sqlite_module, "LINGER", 3600.0)
    monkeypatch.setattr(sqlite_module, "BUSY", 0.0)
    change = await asyncio.wait_for(
        journal.update_status("o2", MessageStatus.ACKNOWLEDGED, at=T0, attempt_at=T0), 30
    )
    assert change.status is MessageStatus.ACKNOWLEDGED
    assert (await journal.message("o2")).status is MessageStatus.ACKNOWLEDGED  # type: ignore[union-attr]


async def test_a_transaction_and_the_writes_of_the_same_turn_share_one_commit(
    journal: SqliteJournal,
) -> None:
    await journal.accept_inbound(inbound("m0"))
    commits = journal.stats.commits

    async def process_m0() -> None:
        async with journal.transaction() as tx:
            await tx.append_events("LU-CASE1", [("a", {}), ("b", {})], at=T0)
            await tx.enqueue_outbound(outbound("o1"))
            await tx.mark_processed("m0", at=T0)

    await asyncio.gather(
        *(journal.accept_inbound(inbound(f"m{i}")) for i in range(1, 6)), process_m0()
    )
    assert journal.stats.commits == commits + 1  # one BEGIN ... COMMIT (one fsync) for all
    assert [m.message_id for m in await journal.unprocessed_inbound()] == [
        f"m{i}" for i in range(1, 6)
    ]
    assert [e.seq for e in await journal.case_events("LU-CASE1")] == [1, 2]
    assert (await journal.message("o1")) is not None


async def test_a_group_commit_keeps_its_savepoints_undo_in_memory_d300(
    journal: SqliteJournal,
) -> None:
    """The writer's statement journals (a group's savepoints) never spill to a temp file."""

    def temp_store(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA temp_store").fetchone()[0])

    assert await journal._on_writer(temp_store, journal._writer) == 2  # MEMORY


async def test_a_refused_transaction_in_a_shared_commit_fails_alone(
    journal: SqliteJournal,
) -> None:
    async def process_unknown() -> None:
        async with journal.transaction() as tx:
            await tx.append_event("LU-CASE1", "lost", {}, at=T0)
            await tx.mark_processed("nobody", at=T0)

    results = await asyncio.gather(
        journal.accept_inbound(inbound("m1")), process_unknown(), return_exceptions=True
    )
    assert results[0] is True
    assert isinstance(results[1], JournalError)
    assert results[1].code == "journal.unknown-message"
    assert await journal.case_events("LU-CASE1") == []  # rolled back to its savepoint
    assert [m.message_id for m in await journal.unprocessed_inbound()] == ["m1"]
    async with journal.transaction() as tx:  # the event numbers are not burnt
        event = await tx.append_event("LU-CASE1", "kept", {}, at=T0)
    assert event.seq == 1
