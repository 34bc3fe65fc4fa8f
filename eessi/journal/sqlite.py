"""The journal on SQLite, through aiosqlite, in WAL mode.

Design, in short:

* **One writer connection, writes serialised.** Every write goes through one aiosqlite
  connection guarded by one :class:`asyncio.Lock`. Single writes (accept, refuse, set_status)
  are queued and a flusher task commits everything queued so far in **one** transaction: a
  group commit, so a burst of inbound messages pays one fsync, not one each. A
  :meth:`SqliteJournal.transaction` takes the same lock for its whole block. A write refused
  by a check (an illegal status, an ID conflict) fails alone; an SQLite failure (disk full)
  fails the whole group, and each caller gets the :class:`~eessi.errors.JournalError`.
* **A separate reader connection** (``query_only``) answers the queries. In WAL mode it reads
  the last committed state, so no query ever sees half a transaction.
* **Durability.** ``synchronous=FULL`` (the default) fsyncs the WAL at every commit: what
  ``accept_inbound`` acknowledged survives a power loss, which is what a receipt promises.
  ``synchronous=NORMAL`` survives a killed process (the OS still holds the written pages) but may
  lose the last commits on a power loss or OS crash; it is faster, and fine for simulations.
  ``bench/journal.py`` measures both.
* **Schema versioned** with ``PRAGMA user_version``; created on first open; a newer version is
  refused with a clear error.
* **Errors translated here**: no ``sqlite3`` or aiosqlite exception leaves this module; they
  become :class:`~eessi.errors.JournalError` naming the file and what to do.

Times are stored as UTC ISO-8601 text with microseconds (``2026-01-05T09:00:00.000000Z``), which
sorts as it compares; they come back as UTC datetimes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from eessi.errors import JournalError
from eessi.journal.base import (
    INITIAL_STATUS,
    CaseEvent,
    CaseSnapshot,
    Direction,
    Journal,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
    check_transition,
    encode_json,
)

__all__ = ["SCHEMA_VERSION", "JournalStats", "SqliteJournal", "Synchronous"]

#: The schema this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = 1

Synchronous = Literal["FULL", "NORMAL"]
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY,
    message_id        TEXT    NOT NULL,
    direction         TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    sender            TEXT    NOT NULL,
    receiver          TEXT    NOT NULL,
    conversation_id   TEXT    NOT NULL,
    ref_to_message_id TEXT,
    sed_type          TEXT    NOT NULL,
    sed_version       TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    received_at       TEXT,
    sent_at           TEXT,
    status            TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT,
    last_error        TEXT,
    duplicates        INTEGER NOT NULL DEFAULT 0,
    updated_at        TEXT,
    envelope          BLOB    NOT NULL,
    payload           BLOB    NOT NULL
);
-- A message ID is claimed once per direction, except by refused messages (spoofed copies).
CREATE UNIQUE INDEX messages_claimed_id ON messages (direction, message_id)
    WHERE status <> 'refused';
CREATE INDEX messages_by_id ON messages (message_id);
CREATE INDEX messages_by_case ON messages (conversation_id, seq);
-- unprocessed_inbound, due_outbound, messages(status=...)
CREATE INDEX messages_by_status ON messages (status, next_attempt_at);
CREATE TABLE case_events (
    case_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    message_id TEXT,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;
CREATE TABLE cases (
    case_id    TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    last_seq   INTEGER NOT NULL
) WITHOUT ROWID;
"""

_COLUMNS = (
    "message_id, direction, sender, receiver, conversation_id, ref_to_message_id, sed_type,"
    " sed_version, service, action, created_at, received_at, sent_at, status, attempts,"
    " next_attempt_at, last_error, duplicates, updated_at, envelope, payload"
)
_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(',')))})"
_ACCEPT = (
    _INSERT + " ON CONFLICT (direction, message_id) WHERE status <> 'refused'"
    " DO UPDATE SET duplicates = duplicates + 1 WHERE sender = excluded.sender"
    " RETURNING duplicates"
)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts_opt(value: datetime | None) -> str | None:
    return None if value is None else _ts(value)


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dt_opt(value: str | None) -> datetime | None:
    return None if value is None else _dt(value)


def _params(r: MessageRecord) -> tuple[Any, ...]:
    return (
        r.message_id,
        r.direction.value,
        r.sender,
        r.receiver,
        r.conversation_id,
        r.ref_to_message_id,
        r.sed_type,
        r.sed_version,
        r.service,
        r.action,
        _ts(r.created_at),
        _ts_opt(r.received_at),
        _ts_opt(r.sent_at),
        r.status.value,
        r.attempts,
        _ts_opt(r.next_attempt_at),
        r.last_error,
        r.duplicates,
        _ts_opt(r.updated_at),
        r.envelope,
        r.payload,
    )


def _record(row: Sequence[Any]) -> MessageRecord:
    return MessageRecord(
        message_id=row[0],
        direction=Direction(row[1]),
        sender=row[2],
        receiver=row[3],
        conversation_id=row[4],
        ref_to_message_id=row[5],
        sed_type=row[6],
        sed_version=row[7],
        service=row[8],
        action=row[9],
        created_at=_dt(row[10]),
        received_at=_dt_opt(row[11]),
        sent_at=_dt_opt(row[12]),
        status=MessageStatus(row[13]),
        attempts=row[14],
        next_attempt_at=_dt_opt(row[15]),
        last_error=row[16],
        duplicates=row[17],
        updated_at=_dt_opt(row[18]),
        envelope=bytes(row[19]),
        payload=bytes(row[20]),
    )


@dataclass(slots=True)
class JournalStats:
    """Counters for benchmarks and diagnostics (not persisted)."""

    #: Transactions committed by the writer (group commits and explicit transactions).
    commits: int = 0
    #: Single writes (accept, refuse, set_status, ...) committed through group commits.
    writes: int = 0


_Op = Callable[[aiosqlite.Connection], Awaitable[Any]]


class SqliteJournal(Journal):
    """A :class:`~eessi.journal.base.Journal` in one SQLite file. Create with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        synchronous: Synchronous,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.stats = JournalStats()
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self._pending: list[tuple[_Op, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tx_task: asyncio.Task[Any] | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    async def open(
        cls, path: str | Path, *, synchronous: Synchronous = "FULL", busy_timeout: float = 5.0
    ) -> SqliteJournal:
        """Open (creating if needed) the journal file at ``path``.

        ``synchronous`` is ``"FULL"`` (survives power loss) or ``"NORMAL"`` (survives a killed
        process only). ``busy_timeout`` is how long to wait for another process's lock.
        """
        if synchronous not in ("FULL", "NORMAL"):
            raise JournalError(
                f"unknown synchronous mode {synchronous!r}",
                code="journal.config",
                hint='use "FULL" (durable on power loss) or "NORMAL" (durable on process kill)',
            )
        p = Path(path)
        if str(path) == ":memory:" or not p.parent.is_dir():
            raise JournalError(
                f"cannot create a journal at {str(path)!r}",
                code="journal.open",
                where=str(path),
                hint="give a file path in an existing directory (WAL needs a real file)",
            )
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            writer = await aiosqlite.connect(p, isolation_level=None)
            await writer.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            rows = list(await writer.execute_fetchall("PRAGMA journal_mode = WAL"))
            if not rows or str(rows[0][0]).lower() != "wal":
                raise JournalError(
                    "the journal file cannot use WAL mode",
                    code="journal.open",
                    where=str(p),
                    hint="put the journal on a local file system",
                )
            await writer.execute(f"PRAGMA synchronous = {synchronous}")
            await _ensure_schema(writer, p)
            reader = await aiosqlite.connect(p, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await reader.execute("PRAGMA query_only = 1")
        except BaseException as exc:
            for conn in (reader, writer):
                if conn is not None:
                    await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc, p, "open the journal") from None
            raise
        return cls(p, writer, reader, synchronous)

    async def close(self) -> None:
        if self._closed:
            return
        while self._flusher is not None and not self._flusher.done():
            await self._flusher
        async with self._lock:  # let an open transaction finish first
            self._closed = True  # closing twice is harmless: aiosqlite's close is idempotent
            await self._reader.close()
            await self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(
                "the journal is closed",
                code="journal.closed",
                where=str(self.path),
                hint="open it again with SqliteJournal.open()",
            )

    # -- group commit ---------------------------------------------------------------------
    async def _submit(self, op: _Op) -> Any:
        """Queue one write and wait until the group commit that carries it is done."""
        self._check_open()
        if self._tx_task is not None and self._tx_task is asyncio.current_task():
            raise JournalError(
                "a single write was called inside journal.transaction()",
                code="journal.nested",
                where=str(self.path),
                hint="inside the block use the transaction's methods, or write after it",
            )
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        # Runs as its own task, so a caller being cancelled never interrupts a commit.
        while self._pending:
            async with self._lock:
                batch, self._pending = self._pending, []
                await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        # Every single write is ONE writing statement (its checks only read), so a batch of one
        # runs in autocommit: atomic, and committed (fsynced with FULL) when the statement
        # completes, two thread hops cheaper than BEGIN ... COMMIT.
        conn = self._writer
        grouped = len(batch) > 1
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            if grouped:
                await conn.execute("BEGIN IMMEDIATE")
            for op, fut in batch:
                try:
                    results.append((fut, await op(conn), None))
                except JournalError as exc:  # refused before writing anything
                    results.append((fut, None, exc))
            if grouped:
                await conn.execute("COMMIT")
        except BaseException as exc:
            await asyncio.shield(self._rollback_quietly())
            err = _translate(exc, self.path, "write to the journal")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            return
        self.stats.commits += 1
        self.stats.writes += len(batch)
        for fut, value, error in results:
            if fut.done():  # the caller was cancelled; the write is committed all the same
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)

    async def _rollback_quietly(self) -> None:
        try:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK")
        except (sqlite3.Error, ValueError):  # pragma: no cover - the connection is gone
            pass

    # -- inbound --------------------------------------------------------------------------
    async def accept_inbound(self, record: MessageRecord) -> bool:
        _expect(record, Direction.IN, INITIAL_STATUS[Direction.IN], "accept_inbound")

        async def op(conn: aiosqlite.Connection) -> bool:
            rows = list(await conn.execute_fetchall(_ACCEPT, _params(record)))
            if not rows:
                existing = await _fetch_one(
                    conn,
                    "SELECT sender FROM messages WHERE direction = 'in' AND message_id = ?"
                    " AND status <> 'refused'",
                    (record.message_id,),
                )
                raise JournalError(
                    f"message ID {record.message_id} was already accepted from another sender",
                    code="journal.id-conflict",
                    where=f"message {record.message_id}",
                    hint="refuse this message: a sender may not reuse another party's message ID",
                    details={
                        "message_id": record.message_id,
                        "sender": record.sender,
                        "first_sender": existing[0] if existing else None,
                    },
                )
            return bool(rows[0][0] == 0)

        result: bool = await self._submit(op)
        return result

    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        if record.direction is not Direction.IN:
            raise _wrong_record(record, "refuse_inbound takes an inbound message")
        refused = replace(
            record,
            status=MessageStatus.REFUSED,
            last_error=reason,
            updated_at=record.updated_at or record.received_at or record.created_at,
        )

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(_INSERT, _params(refused))

        await self._submit(op)

    async def unprocessed_inbound(self) -> list[MessageRecord]:
        return await self._select(
            "direction = 'in' AND status = ? ORDER BY seq", (MessageStatus.RECEIVED.value,)
        )

    # -- outbox ---------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JournalTransaction]:
        self._check_open()
        task = asyncio.current_task()
        if self._tx_task is not None and self._tx_task is task:
            raise JournalError(
                "journal.transaction() was nested",
                code="journal.nested",
                where=str(self.path),
                hint="use the outer transaction's methods",
            )
        async with self._lock:
            self._check_open()
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "begin a transaction") from None
            tx = _Transaction(self)
            self._tx_task = task
            try:
                yield tx
            except BaseException:
                tx.closed = True
                self._tx_task = None
                await asyncio.shield(self._rollback_quietly())
                raise
            tx.closed = True
            self._tx_task = None
            try:
                await self._writer.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback_quietly()
                raise _translate(exc, self.path, "commit a transaction") from None
            self.stats.commits += 1

    async def due_outbound(self, now: datetime, limit: int = 100) -> list[MessageRecord]:
        return await self._select(
            "direction = 'out' AND status IN ('queued', 'retrying')"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY COALESCE(next_attempt_at, created_at), seq LIMIT ?",
            (_ts(now), limit),
        )

    async def set_status(
        self,
        message_id: str,
        status: MessageStatus,
        *,
        at: datetime,
        attempts: int | None = None,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
    ) -> MessageRecord:
        if status.direction is not Direction.OUT:
            raise JournalError(
                f"set_status moves outbound messages; {status.value} is an inbound status",
                code="journal.illegal-status",
                where=f"message {message_id}",
                hint="inbound messages change status through transaction().mark_processed()",
            )

        async def op(conn: aiosqlite.Connection) -> MessageRecord:
            row = await _fetch_one(
                conn,
                "SELECT status, attempts, sent_at FROM messages"
                " WHERE direction = 'out' AND message_id = ?",
                (message_id,),
            )
            if row is None:
                raise _unknown(message_id, Direction.OUT)
            current = MessageStatus(row[0])
            check_transition(message_id, current, status)
            if attempts is not None:
                new_attempts = attempts
            else:
                new_attempts = row[1] + (1 if status is MessageStatus.SENDING else 0)
            sent_at = _ts(at) if status is MessageStatus.SENDING else row[2]
            updated = await _fetch_one(
                conn,
                "UPDATE messages SET status = ?, attempts = ?, sent_at = ?, next_attempt_at = ?,"
                f" last_error = ?, updated_at = ? WHERE direction = 'out' AND message_id = ?"
                f" RETURNING {_COLUMNS}",
                (
                    status.value,
                    new_attempts,
                    sent_at,
                    _ts_opt(next_attempt_at),
                    error,
                    _ts(at),
                    message_id,
                ),
            )
            assert updated is not None
            return _record(updated)

        result: MessageRecord = await self._submit(op)
        return result

    async def resume_interrupted_sends(self, *, at: datetime) -> list[str]:
        async def op(conn: aiosqlite.Connection) -> list[str]:
            rows = await conn.execute_fetchall(
                "UPDATE messages SET status = 'retrying', next_attempt_at = NULL, updated_at = ?,"
                " last_error = COALESCE(last_error, 'interrupted by a restart')"
                " WHERE direction = 'out' AND status IN ('sending', 'waiting_for_receipt')"
                " RETURNING message_id",
                (_ts(at),),
            )
            return sorted(str(r[0]) for r in rows)

        result: list[str] = await self._submit(op)
        return result

    # -- queries --------------------------------------------------------------------------
    async def _select(self, where: str, params: Sequence[Any]) -> list[MessageRecord]:
        rows = await self._read(f"SELECT {_COLUMNS} FROM messages WHERE {where}", params)
        return [_record(r) for r in rows]

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self._check_open()
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "read the journal") from None

    async def message(
        self, message_id: str, direction: Direction | None = None
    ) -> MessageRecord | None:
        where = "message_id = ?"
        params: list[Any] = [message_id]
        if direction is not None:
            where += " AND direction = ?"
            params.append(direction.value)
        found = await self._select(
            where + " ORDER BY status = 'refused', seq DESC LIMIT 1", tuple(params)
        )
        return found[0] if found else None

    async def messages(
        self,
        *,
        case: str | None = None,
        institution: str | None = None,
        direction: Direction | None = None,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        since: datetime | None = None,
    ) -> list[MessageRecord]:
        clauses = ["1 = 1"]
        params: list[Any] = []
        if case is not None:
            clauses.append("conversation_id = ?")
            params.append(case)
        if institution is not None:
            clauses.append("(sender = ? OR receiver = ?)")
            params += [institution, institution]
        if direction is not None:
            clauses.append("direction = ?")
            params.append(direction.value)
        if status is not None:
            statuses = [status] if isinstance(status, MessageStatus) else list(status)
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params += [s.value for s in statuses]
        if since is not None:
            clauses.append("COALESCE(received_at, created_at) >= ?")
            params.append(_ts(since))
        return await self._select(" AND ".join(clauses) + " ORDER BY seq", tuple(params))

    async def case_events(self, case_id: str) -> list[CaseEvent]:
        rows = await self._read(
            "SELECT case_id, seq, at, kind, data, message_id FROM case_events"
            " WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        return [_event(r) for r in rows]

    async def case(self, case_id: str) -> CaseSnapshot | None:
        rows = await self._read(
            "SELECT case_id, state, updated_at, last_seq FROM cases WHERE case_id = ?",
            (case_id,),
        )
        return _snapshot(rows[0]) if rows else None

    async def cases(self) -> list[CaseSnapshot]:
        rows = await self._read(
            "SELECT case_id, state, updated_at, last_seq FROM cases ORDER BY case_id"
        )
        return [_snapshot(r) for r in rows]


class _Transaction(JournalTransaction):
    """The writes of one ``SqliteJournal.transaction()`` block, on the writer connection."""

    def __init__(self, journal: SqliteJournal) -> None:
        self._journal = journal
        self.closed = False

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        if self.closed:
            raise JournalError(
                "this transaction is over",
                code="journal.closed",
                hint="use the transaction object only inside its `async with` block",
            )
        try:
            return list(await self._journal._writer.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _translate(exc, self._journal.path, "write in a transaction") from None

    async def append_event(
        self,
        case_id: str,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        at: datetime,
        message_id: str | None = None,
    ) -> CaseEvent:
        payload = dict(data or {})
        text = encode_json(payload, what=f"event {kind!r} of case {case_id}")
        rows = await self._fetch(
            "INSERT INTO case_events (case_id, seq, at, kind, data, message_id)"
            " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM case_events WHERE case_id = ?"
            " RETURNING seq, at",
            (case_id, _ts(at), kind, text, message_id, case_id),
        )
        return CaseEvent(case_id, int(rows[0][0]), _dt(rows[0][1]), kind, payload, message_id)

    async def save_case(self, case_id: str, state: Mapping[str, Any], *, at: datetime) -> None:
        text = encode_json(state, what=f"the state of case {case_id}")
        await self._fetch(
            "INSERT INTO cases (case_id, state, updated_at, last_seq) VALUES (?, ?, ?,"
            " (SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = ?))"
            " ON CONFLICT (case_id) DO UPDATE SET state = excluded.state,"
            " updated_at = excluded.updated_at, last_seq = excluded.last_seq",
            (case_id, text, _ts(at), case_id),
        )

    async def enqueue_outbound(self, record: MessageRecord) -> None:
        _expect(record, Direction.OUT, INITIAL_STATUS[Direction.OUT], "enqueue_outbound")
        if record.updated_at is None:
            record = replace(record, updated_at=record.created_at)
        try:
            await self._fetch(_INSERT, _params(record))
        except JournalError as exc:
            if "UNIQUE" in str(exc.details.get("sqlite", "")):
                raise JournalError(
                    f"outbound message ID {record.message_id} is already in the journal",
                    code="journal.id-conflict",
                    where=f"message {record.message_id}",
                    hint="every outbound message needs a fresh ID from the IdGenerator",
                ) from None
            raise

    async def mark_processed(
        self, message_id: str, *, at: datetime, error: str | None = None
    ) -> None:
        status = MessageStatus.PROCESSED if error is None else MessageStatus.REJECTED
        rows = await self._fetch(
            "UPDATE messages SET status = ?, last_error = ?, updated_at = ?"
            " WHERE direction = 'in' AND message_id = ? AND status = 'received' RETURNING seq",
            (status.value, error, _ts(at), message_id),
        )
        if rows:
            return
        current = await self._fetch(
            "SELECT status FROM messages WHERE direction = 'in' AND message_id = ?"
            " AND status <> 'refused'",
            (message_id,),
        )
        if not current:
            raise _unknown(message_id, Direction.IN)
        check_transition(message_id, MessageStatus(current[0][0]), status)
        raise AssertionError("unreachable: received messages are updated above")  # pragma: no cover


# -- helpers ------------------------------------------------------------------------------
async def _ensure_schema(conn: aiosqlite.Connection, path: Path) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        version = (await _fetch_one(conn, "PRAGMA user_version", ()) or (0,))[0]
        if version == 0:
            tables = await conn.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
            if list(tables):
                raise JournalError(
                    "this SQLite file is not an eessi journal (it has other tables)",
                    code="journal.open",
                    where=str(path),
                    hint="give a new file name, or the journal file of an institution",
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal has schema version {version}; this eessi-sim knows up to"
                f" {SCHEMA_VERSION}",
                code="journal.schema",
                where=str(path),
                hint="upgrade eessi-sim, or use a journal written by this version",
            )
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise


async def _fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> Sequence[Any] | None:
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


def _event(row: Sequence[Any]) -> CaseEvent:
    return CaseEvent(row[0], int(row[1]), _dt(row[2]), row[3], json.loads(row[4]), row[5])


def _snapshot(row: Sequence[Any]) -> CaseSnapshot:
    return CaseSnapshot(row[0], json.loads(row[1]), _dt(row[2]), int(row[3]))


def _expect(record: MessageRecord, direction: Direction, status: MessageStatus, op: str) -> None:
    if record.direction is not direction or record.status is not status:
        raise _wrong_record(
            record, f"{op} takes a {direction.value}bound message with status {status.value}"
        )


def _wrong_record(record: MessageRecord, what: str) -> JournalError:
    return JournalError(
        what,
        code="journal.bad-record",
        where=f"message {record.message_id}",
        hint=(
            f"got a {record.direction.value}bound message with status {record.status.value};"
            " build it with that direction and status"
        ),
    )


def _unknown(message_id: str, direction: Direction) -> JournalError:
    return JournalError(
        f"no {direction.value}bound message {message_id} in the journal",
        code="journal.unknown-message",
        where=f"message {message_id}",
        hint="check the message ID (eessi trace lists the journaled messages)",
        details={"message_id": message_id, "direction": direction.value},
    )


def _translate(exc: BaseException, path: Path, doing: str) -> JournalError:
    """One place where sqlite3/aiosqlite errors become :class:`JournalError`."""
    if isinstance(exc, JournalError):
        return exc
    text = str(exc)
    if isinstance(exc, ValueError) and "no active connection" in text:
        return JournalError(
            "the journal is closed", code="journal.closed", where=str(path), hint="open it again"
        )
    hint = "check the file, the disk and its permissions"
    code = "journal.io"
    if "locked" in text or "busy" in text:
        hint = "another process is writing this journal: one institution, one process"
        code = "journal.locked"
    elif "not a database" in text or "malformed" in text:
        hint = "this file is not an eessi journal (or is damaged); give another path"
        code = "journal.corrupt"
    elif "readonly" in text or "unable to open" in text:
        hint = "the journal file or its directory is not writable"
    return JournalError(
        f"could not {doing}: {text}",
        code=code,
        where=str(path),
        hint=hint,
        details={"sqlite": text, "error": type(exc).__name__},
    )
