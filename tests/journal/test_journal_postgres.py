"""What only the PostgreSQL journal does: its URL, its server's errors, its schema versions.

Everything else (statuses, byte-exact records, transactions) is the contract suite, run on both
backends: test_journal_contract.py."""

from __future__ import annotations

import socket

import asyncpg
import pytest
from journal_records import T0, inbound

from eessi.errors import JournalError
from eessi.journal import PostgresJournal, open_journal
from eessi.journal.migrations import POSTGRES_MIGRATIONS, Migration, pending_migrations
from eessi.journal.postgres import redact_url
from eessi.journal.rows import message_params
from eessi.journal.statements import COLUMNS, POSTGRES


async def _sql(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_postgresql_url_opens_a_postgresql_journal_with_durable_commits(
    postgres_url: str,
) -> None:
    async with await open_journal(postgres_url) as journal:
        assert isinstance(journal, PostgresJournal)
        assert await journal.schema_version() == len(POSTGRES_MIGRATIONS)
        assert await journal._writer.fetchval("SHOW synchronous_commit") == "on"
        assert await journal.accept_inbound(inbound("m1")) is True
    conn = await asyncpg.connect(postgres_url)
    try:
        types = dict(
            await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'message_blobs' AND column_name IN ('envelope', 'payload')"
            )
        )
        stored = await conn.fetchval(
            "SELECT payload FROM messages JOIN message_blobs ON message_seq = seq"
            " WHERE message_id = 'm1'"
        )
    finally:
        await conn.close()
    assert types == {"envelope": "bytea", "payload": "bytea"}
    assert stored == inbound("m1").payload


async def test_a_journal_from_a_newer_version_is_refused_naming_both_versions(
    postgres_url: str,
) -> None:
    async with await PostgresJournal.open(postgres_url):
        pass
    known = len(POSTGRES_MIGRATIONS)
    await _sql(
        postgres_url,
        "INSERT INTO schema_version (version, description)"
        f" VALUES ({known + 1}, 'from the future')",
    )
    with pytest.raises(JournalError, match="upgrade eessi-sim") as info:
        await PostgresJournal.open(postgres_url)
    assert info.value.code == "journal.schema"
    assert f"schema version {known + 1}" in str(info.value)
    assert f"knows up to {known}" in str(info.value)
    assert info.value.details == {"found": known + 1, "known": known}
    assert info.value.where == postgres_url


async def test_an_older_journal_is_upgraded_in_order_and_keeps_its_data(postgres_url: str) -> None:
    async with await PostgresJournal.open(postgres_url) as old:
        await old.accept_inbound(inbound("m1"))
        async with old.transaction() as tx:
            await tx.append_event("LU-CASE1", "received", {"sed": "S071"}, at=T0)
    newer = (
        *POSTGRES_MIGRATIONS,
        Migration(
            len(POSTGRES_MIGRATIONS) + 1,
            "messages by sender",
            ("CREATE INDEX messages_by_sender ON messages (sender)",),
        ),
        Migration(
            len(POSTGRES_MIGRATIONS) + 2,
            "a note per case",
            ("ALTER TABLE cases ADD COLUMN note TEXT",),
        ),
    )
    async with await PostgresJournal.open(postgres_url, migrations=newer) as upgraded:
        assert await upgraded.schema_version() == len(newer)
        assert await upgraded.message("m1") == inbound("m1")
        assert [e.kind for e in await upgraded.case_events("LU-CASE1")] == ["received"]
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT version, description FROM schema_version ORDER BY version")
        index = await conn.fetchval("SELECT to_regclass('messages_by_sender') IS NOT NULL")
    finally:
        await conn.close()
    assert [(r[0], r[1]) for r in rows] == [(m.version, m.description) for m in newer]
    assert index is True
    # ...and the code that knows only the first step now refuses it, never misreads it.
    with pytest.raises(JournalError, match="knows up to"):
        await PostgresJournal.open(postgres_url)


def test_migrations_must_be_numbered_in_order() -> None:
    steps = (Migration(1, "a", ()), Migration(3, "c", ()))
    with pytest.raises(JournalError, match="misnumbered"):
        pending_migrations(0, steps, where="test")
    assert [
        m.version for m in pending_migrations(1, (*steps[:1], Migration(2, "b", ())), where="t")
    ] == [2]


async def test_another_database_is_not_taken_for_a_journal(postgres_url: str) -> None:
    await _sql(postgres_url, "CREATE TABLE invoices (n INTEGER)")
    with pytest.raises(JournalError, match="not an eessi journal") as info:
        await PostgresJournal.open(postgres_url)
    assert "invoices" in str(info.value)


async def test_a_missing_database_says_to_create_it(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(JournalError, match="no_such_database") as info:
        await open_journal(url)
    assert info.value.code == "journal.open"
    assert "createdb" in (info.value.hint or "")
    assert info.value.details["sqlstate"] == "3D000"


async def test_an_unreachable_server_is_named_without_its_password() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://cns:s3cret@127.0.0.1:{port}/journal"
    with pytest.raises(JournalError) as info:
        await open_journal(url)
    assert info.value.code == "journal.io"
    assert info.value.where == f"postgresql://cns:***@127.0.0.1:{port}/journal"
    assert "s3cret" not in str(info.value)
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


async def test_a_closed_server_connection_is_a_journal_error_not_a_crash(
    postgres_url: str,
) -> None:
    async with await PostgresJournal.open(postgres_url) as journal:
        await _sql(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        # Either the write sees the connection die (a JournalError, nothing written) or the
        # journal already noticed and reconnected; never an asyncpg error, never half a write.
        try:
            first: bool | str = await journal.accept_inbound(inbound("m1"))
        except JournalError as exc:
            first = exc.code
        assert first in (True, "journal.io")
        expected = ["m1", "m2"] if first is True else ["m2"]
        assert await journal.accept_inbound(inbound("m2")) is True
        async with journal.transaction() as tx:
            await tx.mark_processed("m2", at=T0)
        assert [m.message_id for m in await journal.messages()] == expected


async def test_a_version_1_journal_gains_the_checkpoint_tables_and_keeps_its_messages(
    postgres_url: str,
) -> None:
    async with await PostgresJournal.open(postgres_url, migrations=POSTGRES_MIGRATIONS[:1]) as v1:
        assert await v1.schema_version() == 1
    # a message as version 1 stored it: its bytes in its row
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(
            f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 22))})",
            *message_params(inbound("m1"), POSTGRES),
        )
    finally:
        await conn.close()
    async with await open_journal(postgres_url) as journal:
        assert isinstance(journal, PostgresJournal)
        assert await journal.schema_version() == len(POSTGRES_MIGRATIONS) >= 2
        assert await journal.message("m1") == inbound("m1")
        assert await journal.load_checkpoint() is None
        assert await journal.save_checkpoint(
            header={"format": "f/1"}, input_seq=1, at=T0, changed=[("t", b"k", b"\x00v")]
        )
        checkpoint = await journal.load_checkpoint()
    assert checkpoint is not None
    assert (checkpoint.input_seq, list(checkpoint.items)) == (1, [("t", b"k", b"\x00v")])


async def test_a_checkpoint_missing_entries_is_reported_damaged(postgres_url: str) -> None:
    async with await PostgresJournal.open(postgres_url) as journal:
        await journal.save_checkpoint(
            header={}, input_seq=1, at=T0, changed=[("t", b"a", b"1"), ("t", b"b", b"1")]
        )
        await _sql(postgres_url, "DELETE FROM checkpoint_items WHERE key = '\\x61'::bytea")
        with pytest.raises(JournalError, match="lists 2 entries but holds 1") as info:
            await journal.load_checkpoint()
    assert info.value.code == "journal.corrupt"
