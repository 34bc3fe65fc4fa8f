"""A journal written by the previous schema (a message's envelope and payload in its row) is
upgraded when opened, on both backends: every message comes back byte for byte, with its
status, and the upgraded journal goes on working (D176)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import asyncpg
import pytest
from journal_records import T0, inbound, outbound
from journal_store import Store

from eessi.errors import JournalError
from eessi.journal import Direction, MessageRecord, MessageStatus, PostgresJournal
from eessi.journal.checkpoint_store import CHECKPOINT_SCHEMA
from eessi.journal.migrations import POSTGRES_MIGRATIONS
from eessi.journal.rows import message_params
from eessi.journal.sqlite import _MIGRATIONS, _SCHEMA, SCHEMA_VERSION
from eessi.journal.statements import COLUMNS, N_ROW, POSTGRES, ROW_COLUMNS, SQLITE

#: What the previous schema's insert wrote: every column, the bytes included, in one row.
_OLD_INSERT = f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join('?' * 21)})"
_OLD_INSERT_PG = (
    f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 22))})"
)

#: A large AS4 package (binary MIME, not UTF-8) and the small documents of the other tests.
_PACKAGE = b"--MIMEBoundary\r\nContent-Type: application/gzip\r\n\r\n" + bytes(range(256)) * 40

OLD: list[MessageRecord] = [
    inbound("in-1", envelope=_PACKAGE),
    inbound(
        "in-2",
        status=MessageStatus.PROCESSED,
        updated_at=T0 + timedelta(seconds=5),
        duplicates=2,
    ),
    # a spoofed copy of in-1's ID, refused at the door: it claims no ID
    inbound("in-1", sender="DE:AOK000001", status=MessageStatus.REFUSED, last_error="spoofed"),
    outbound("out-1", envelope=_PACKAGE[:999], updated_at=T0),
    outbound(
        "out-2",
        status=MessageStatus.SENDING,
        attempts=1,
        sent_at=T0 + timedelta(seconds=2),
        updated_at=T0 + timedelta(seconds=2),
    ),
]


async def _write_old_journal(store: Store) -> None:
    """The journal as the previous eessi-sim left it: schema version 2 (SQLite) or 5
    (PostgreSQL), with :data:`OLD` in it."""
    if store.backend == "sqlite":
        with sqlite3.connect(store.target) as conn:
            conn.executescript(_SCHEMA + ";" + CHECKPOINT_SCHEMA)
            conn.executemany(_OLD_INSERT, [message_params(r, SQLITE) for r in OLD])
            conn.execute("PRAGMA user_version = 2")
        conn.close()
        return
    async with await PostgresJournal.open(store.target, migrations=POSTGRES_MIGRATIONS[:5]):
        pass
    conn = await asyncpg.connect(store.target)
    try:
        await conn.executemany(_OLD_INSERT_PG, [message_params(r, POSTGRES) for r in OLD])
    finally:
        await conn.close()


async def _schema_version(store: Store) -> int:
    if store.backend == "sqlite":
        with sqlite3.connect(store.target) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.close()
        return version
    conn = await asyncpg.connect(store.target)
    try:
        return int(await conn.fetchval("SELECT max(version) FROM schema_version"))
    finally:
        await conn.close()


async def test_an_old_journal_is_upgraded_and_every_message_comes_back_byte_exact(
    store: Store,
) -> None:
    await _write_old_journal(store)
    async with await store.open() as journal:
        found = await journal.messages()
        assert found == OLD  # every field, the exact bytes, in journal order
        assert await journal.message("in-1", Direction.IN) == OLD[0]  # not the refused copy
        # the upgraded journal goes on: statuses move, a duplicate is counted, new messages
        # are stored beside the old ones
        await journal.set_status("out-1", MessageStatus.SENDING, at=T0 + timedelta(seconds=9))
        after = await journal.set_status(
            "out-1", MessageStatus.ACKNOWLEDGED, at=T0 + timedelta(seconds=10)
        )
        assert (after.status, after.attempts, after.envelope) == (
            MessageStatus.ACKNOWLEDGED,
            1,
            _PACKAGE[:999],
        )
        assert await journal.accept_inbound(inbound("in-1", envelope=b"again")) is False
        assert await journal.accept_inbound(inbound("in-3", envelope=_PACKAGE)) is True
        assert [r.message_id for r in await journal.unprocessed_inbound()] == ["in-1", "in-3"]
        again = await journal.message("in-1", Direction.IN)
        assert again is not None
        assert (again.duplicates, again.envelope) == (1, _PACKAGE)  # the first copy's bytes
    expected = SCHEMA_VERSION if store.backend == "sqlite" else len(POSTGRES_MIGRATIONS)
    assert await _schema_version(store) == expected


async def test_a_journal_opened_twice_is_upgraded_once(store: Store) -> None:
    await _write_old_journal(store)
    async with await store.open():
        pass
    async with await store.open() as journal:
        assert await journal.messages() == OLD
        assert await journal.message_counts() == {
            "received": 1,
            "processed": 1,
            "refused": 1,
            "queued": 1,
            "sending": 1,
        }


#: What the schema before D301 inserted: the row without ``claimed`` (its bytes beside it).
_V3_INSERT = f"INSERT INTO messages ({ROW_COLUMNS}) VALUES ({', '.join('?' * N_ROW)})"
_V6_INSERT_PG = (
    f"INSERT INTO messages ({ROW_COLUMNS}) VALUES"
    f" ({', '.join(f'${i}' for i in range(1, N_ROW + 1))}) RETURNING seq"
)


async def _write_journal_before_claimed(store: Store) -> None:
    """A journal of the schema before D301 (SQLite 3, PostgreSQL 6), holding :data:`OLD`: its
    unique index on message IDs named ``status`` in its condition."""
    rows = [message_params(r, SQLITE if store.backend == "sqlite" else POSTGRES) for r in OLD]
    if store.backend == "sqlite":
        with sqlite3.connect(store.target) as conn:
            conn.executescript(_SCHEMA)
            for version in (2, 3):
                conn.executescript(_MIGRATIONS[version])
            for row in rows:
                seq = conn.execute(_V3_INSERT, row[:N_ROW]).lastrowid
                conn.execute(
                    "INSERT INTO message_blobs (message_seq, envelope, payload) VALUES (?, ?, ?)",
                    (seq, *row[N_ROW:]),
                )
            conn.execute("PRAGMA user_version = 3")
        conn.close()
        return
    async with await PostgresJournal.open(store.target, migrations=POSTGRES_MIGRATIONS[:6]):
        pass
    conn = await asyncpg.connect(store.target)
    try:
        for row in rows:
            seq = await conn.fetchval(_V6_INSERT_PG, *row[:N_ROW])
            await conn.execute(
                "INSERT INTO message_blobs (message_seq, envelope, payload) VALUES ($1, $2, $3)",
                seq,
                *row[N_ROW:],
            )
    finally:
        await conn.close()


async def test_an_upgraded_journal_still_refuses_a_claimed_id_and_counts_duplicates_d301(
    store: Store,
) -> None:
    """After the claim index moved off ``status`` (D301), an old journal's message IDs are
    claimed as before: a second copy from the same sender is a duplicate, one from another
    sender is refused, an outbound ID is taken once, and a refused copy claims nothing."""
    await _write_journal_before_claimed(store)
    async with await store.open() as journal:
        assert await journal.messages() == OLD
        assert await journal.accept_inbound(inbound("in-1")) is False  # a duplicate, counted
        found = await journal.message("in-1", Direction.IN)
        assert found is not None
        assert (found.duplicates, found.envelope) == (1, _PACKAGE)  # the first copy's row
        with pytest.raises(JournalError) as spoofed:
            await journal.accept_inbound(inbound("in-1", sender="DE:AOK000001"))
        assert spoofed.value.code == "journal.id-conflict"
        # a second refused copy of the same ID is journaled beside the first: it claims nothing
        await journal.refuse_inbound(inbound("in-1", sender="DE:AOK000002"), "spoofed again")
        with pytest.raises(JournalError) as taken:
            async with journal.transaction() as tx:
                await tx.enqueue_outbound(outbound("out-1"))
        assert taken.value.code == "journal.id-conflict"
        # a status change no longer touches the claim, and the claim still holds after it
        await journal.set_status("out-1", MessageStatus.SENDING, at=T0 + timedelta(seconds=9))
        with pytest.raises(JournalError):
            async with journal.transaction() as tx:
                await tx.enqueue_outbound(outbound("out-1"))
        async with journal.transaction() as tx:
            await tx.mark_processed("in-1", at=T0 + timedelta(seconds=10))
        assert await journal.accept_inbound(inbound("in-1")) is False  # processed: still claimed
        assert await journal.message_counts() == {"processed": 2, "refused": 2, "sending": 2}
    expected = SCHEMA_VERSION if store.backend == "sqlite" else len(POSTGRES_MIGRATIONS)
    assert await _schema_version(store) == expected
