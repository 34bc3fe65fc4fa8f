"""The journal on SQLite, in WAL mode: a writer thread and a reader thread, one mechanism.

Design, in short:

* **One writer connection, writes serialised, one thread hop per commit.** Every write goes
  through one stdlib ``sqlite3`` connection that lives on its own thread (:class:`_SqliteThread`),
  guarded by one :class:`asyncio.Lock`. The statements of a commit are built on the event loop
  and run, with ``BEGIN IMMEDIATE`` and ``COMMIT``, in **one** call on that thread (the same
  statement repeated, such as a case's events, as one ``executemany``): the loop and the thread
  hand over once per commit, not once per statement (docs/performance.md, P1; decisions D12
  and D29 say why no connection is an aiosqlite one). Every write is queued, and a flusher
  task commits everything queued so far in **one** transaction, one thread hop: a group
  commit. Single writes (accept, refuse, set_status) and the blocks of
  :meth:`SqliteJournal.transaction` (collected on the loop, queued when the block ends) share
  it, so what became durable in one event-loop turn (accepts, a batch's events, outbox rows
  and processed marks, status changes) pays one commit and one fsync (D95). A write refused
  by a check (an illegal status, an ID conflict) fails alone: a transaction block runs inside
  its own ``SAVEPOINT`` and is rolled back to it; an SQLite failure (disk full) fails the
  whole group, and each caller gets the :class:`~eessi.errors.JournalError`. Nobody's future
  is settled before the ``COMMIT`` has returned. Status changes queued alone while the journal
  is busy wait up to :data:`LINGER` for another write to share their commit (D371); the
  accept reads its case's last event number for the batch that will process it (D370).
* **A separate reader connection** (stdlib ``sqlite3``, ``query_only``, in autocommit) on a
  thread of the same kind answers the queries, one thread hop per query. In WAL mode it reads
  the last committed state, so no query ever sees half a transaction, and a query never waits
  for the writer's commit (its fsync) to finish.
* **Durability.** ``synchronous=FULL`` (the default) fsyncs the WAL at every commit: what
  ``accept_inbound`` acknowledged survives a power loss, which is what a receipt promises.
  ``synchronous=NORMAL`` survives a killed process (the OS still holds the written pages) but may
  lose the last commits on a power loss or OS crash; it is faster, and fine for simulations.
  ``bench/journal.py`` measures both.
* **Schema versioned** with ``PRAGMA user_version``; created on first open; a newer version is
  refused with a clear error.
* **Errors translated here**: no ``sqlite3`` exception leaves this module; they
  become :class:`~eessi.errors.JournalError` naming the file and what to do.

Times are stored as UTC ISO-8601 text with microseconds (``2026-01-05T09:00:00.000000Z``), which
sorts as it compares; they come back as UTC datetimes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Final, Literal, TypeVar

from eessi.errors import JournalError
from eessi.journal import refusals, sql_journal, statements
from eessi.journal.base import (
    INITIAL_STATUS,
    CaseEvent,
    Checkpoint,
    CheckpointItem,
    Direction,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
    StatusChange,
    encode_json,
)
from eessi.journal.checkpoint_store import (
    CHECKPOINT_SCHEMA,
    fetch_value,
    read_checkpoint,
    write_checkpoint,
)
from eessi.journal.migrations import CLAIMED_STATEMENTS
from eessi.journal.rows import StatusRequest, message_params, message_record

__all__ = ["SCHEMA_VERSION", "JournalStats", "SqliteJournal", "Synchronous"]

#: The schema this code writes (``PRAGMA user_version``); older ones are migrated at open.
SCHEMA_VERSION = 4

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
-- Events and snapshots in rowid tables: a new row goes to the table's last page, and only
-- its small key entry to a random leaf of the index (case IDs are random). In a WITHOUT ROWID
-- table the whole row went there, splitting a leaf and its siblings every few cases (D430).
-- Journals created before keep their WITHOUT ROWID tables: the statements are the same.
-- (No semicolon in these comments: the script is split on them.)
CREATE TABLE case_events (
    case_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    message_id TEXT,
    UNIQUE (case_id, seq)
);
CREATE TABLE cases (
    case_id    TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    last_seq   INTEGER NOT NULL
);
"""

#: Version 3: a message's envelope and payload move to ``message_blobs``, beside its row, so
#: that a status change rewrites the small row only (D176); the bytes are copied as they are.
_BLOBS_SCHEMA = """
CREATE TABLE message_blobs (
    message_seq INTEGER PRIMARY KEY,
    envelope    BLOB    NOT NULL,
    payload     BLOB    NOT NULL
);
INSERT INTO message_blobs (message_seq, envelope, payload)
    SELECT seq, envelope, payload FROM messages;
ALTER TABLE messages DROP COLUMN envelope;
ALTER TABLE messages DROP COLUMN payload
"""

#: Migrations, in order: ``_MIGRATIONS[v]`` takes a journal from version ``v - 1`` to ``v``.
#: Version 4: a message ID's claim indexed by ``claimed``, which no status change writes (D301).
_MIGRATIONS: dict[int, str] = {
    2: CHECKPOINT_SCHEMA,
    3: _BLOBS_SCHEMA,
    4: ";\n".join(CLAIMED_STATEMENTS),
}

_D = statements.SQLITE
_INSERT = _D.sql(statements.INSERT)
_ACCEPT = _D.sql(statements.INSERT + statements.ACCEPT_SUFFIX)
_EVENT_SQL = _D.sql(statements.EVENT_SQL)
_CASE_SQL = _D.sql(statements.CASE_SQL)
_MARK_SQL = _D.sql(statements.MARK_SQL)
_STATUS_OF_INBOUND = _D.sql(statements.STATUS_OF_INBOUND)
_STATUS_ROW = _D.sql(statements.STATUS_ROW)
_STATUS_SQL = _D.sql(statements.STATUS_SQL)
_RECORD_BY_SEQ = _D.sql(statements.RECORD_BY_SEQ)
_BLOBS_INSERT = _D.sql(statements.BLOBS_INSERT)
#: The bytes of the message the previous statement inserted.
_BLOBS_AFTER_INSERT = (
    "INSERT INTO message_blobs (message_seq, envelope, payload) VALUES (last_insert_rowid(), ?, ?)"
)
#: A case's last event number (0: none yet).
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = ?"
#: How long a group of status changes alone waits for another write to share its commit,
#: and within how long of the last other write it does so (the journal is busy), in seconds
#: (D371).
LINGER: Final = 0.02
BUSY: Final = 0.05
_N = statements.N_ROW
_ts = statements.SQLITE.ts


@dataclass(slots=True)
class JournalStats:
    """Counters for benchmarks and diagnostics (not persisted)."""

    #: Transactions committed by the writer (group commits and explicit transactions).
    commits: int = 0
    #: Single writes (accept, refuse, set_status, ...) committed through group commits.
    writes: int = 0


#: A single write in its synchronous form: run on the writer thread, inside the group's
#: transaction. It raises :class:`JournalError` only before it has written anything.
_Op = Callable[[sqlite3.Connection], Any]

#: After a statement runs: check its cursor (and raise :class:`JournalError` to refuse).
_Check = Callable[[sqlite3.Connection, sqlite3.Cursor], None]


@dataclass(slots=True)
class _Step:
    """One statement of a transaction, built on the event loop, run on the writer thread."""

    sql: str
    rows: list[tuple[Any, ...]]
    check: _Check | None = None


class SqliteJournal(sql_journal.SqlJournal):
    """A :class:`~eessi.journal.base.Journal` in one SQLite file. Create with :meth:`open`."""

    dialect = statements.SQLITE

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        thread: _SqliteThread,
        reader: sqlite3.Connection,
        reader_thread: _SqliteThread,
        synchronous: Synchronous,
        seqs: _LastSeqs,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.stats = JournalStats()
        self._writer = writer
        self._thread = thread
        self._reader = reader
        self._reader_thread = reader_thread
        #: Held while the writer connection is in use (a group commit, a checkpoint).
        self._lock = asyncio.Lock()
        #: Held by a transaction block from its start until its commit is settled: one block
        #: numbers events at a time, from a cache that its predecessors' commits updated.
        self._tx_lock = asyncio.Lock()
        self._pending: list[tuple[_Op, asyncio.Future[Any]]] = []
        #: Set while no transaction block is open: the flusher waits for it, so single writes
        #: wait for an open block (as the contract says) and then share its commit.
        self._no_block = asyncio.Event()
        self._no_block.set()
        self._flusher: asyncio.Task[None] | None = None
        #: A write other than a status change is queued (D371).
        self._eager = False
        #: When the last such write was queued (the loop's clock).
        self._last_eager = float("-inf")
        #: Set to end a lazy group's wait (D371).
        self._lingering: asyncio.Event | None = None
        self._tx_task: asyncio.Task[Any] | None = None
        self._closed = False
        #: The last event ``seq`` of the cases this journal has numbered events for, as
        #: committed, read from the file on a case's first use (D100). This journal is the
        #: file's only writer, so a transaction numbers its events here, on the loop, and
        #: ``append_event`` returns at once; the (case_id, seq) primary key refuses a number
        #: taken by anyone else, and the cache is emptied after any failed commit.
        self._seqs = seqs
        #: A checkpoint was read with values left to :meth:`_checkpoint_value` (D186).
        self._lent_values = False

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
        thread = _SqliteThread(p, "writer")
        reader_thread = _SqliteThread(p, "reader")
        writer: sqlite3.Connection | None = None
        reader: sqlite3.Connection | None = None
        try:
            writer = await thread.call(_open_writer, (p, synchronous, busy_timeout))
            reader = await reader_thread.call(_open_reader, (p, busy_timeout))
            seqs = _LastSeqs(_open_reader(p, busy_timeout))
        except BaseException as exc:
            if reader is not None:
                await reader_thread.call(reader.close, ())
            if writer is not None:
                await thread.call(writer.close, ())
            thread.stop()
            reader_thread.stop()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc, p, "open the journal") from None
            raise
        assert writer is not None
        assert reader is not None
        return cls(p, writer, thread, reader, reader_thread, synchronous, seqs)

    async def close(self) -> None:
        if self._closed:
            return
        async with self._tx_lock:  # let an open transaction finish first
            while self._flusher is not None and not self._flusher.done():
                await self._flusher
        async with self._lock:
            if not self._closed:  # closed meanwhile by a concurrent close()
                self._closed = True  # no read is queued after this: _read checks it first
                if self._lent_values:
                    self._pin_checkpoint()
                await self._reader_thread.call(self._reader.close, ())
                self._reader_thread.stop()
                await self._thread.call(self._writer.close, ())
                self._thread.stop()
                if not self._lent_values:
                    self._seqs.close()

    def _pin_checkpoint(self) -> None:
        """A desk restored from this journal may still read deferred checkpoint values after
        it is closed (a test comparing states, a node stopped and kept): the loop's read-only
        connection stays open in a read transaction begun now, a snapshot of the values as
        they are at close, whatever a later writer of the file does (D186). It closes when
        this object goes away."""
        conn = self._seqs.conn
        with suppress(sqlite3.Error):
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM checkpoint_items").fetchone()

    def _check_open(self) -> None:
        if self._closed:
            raise refusals.closed(str(self.path), "SqliteJournal")

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the writer thread: ONE thread hop, whatever it does.

        Called with the writer lock held. If the caller is cancelled meanwhile, the thread
        still finishes what it started (a commit cannot be half done), and the lock is only
        released once it has: the caller sees the cancellation, the next writer a quiet
        connection.
        """
        fut = self._thread.call(fn, args)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            with suppress(BaseException):
                await fut
            raise

    async def _reload_seqs(self) -> None:
        # After a failed commit: the cache may have been wrong (another writer on the file);
        # each case's last seq is read again on its next use.
        self._seqs.clear()

    # -- group commit ---------------------------------------------------------------------
    async def _submit(self, op: _Op, *, lazy: bool = False) -> Any:
        """Queue one write and wait until the group commit that carries it is done."""
        self._check_open()
        if self._tx_task is not None and self._tx_task is asyncio.current_task():
            raise refusals.nested_write(str(self.path))
        return await self._queue(op, lazy=lazy)

    def _queue(self, op: _Op, at: int | None = None, *, lazy: bool = False) -> asyncio.Future[Any]:
        """Queue ``op`` for the next group commit; its future settles once that has committed
        (or failed). The flusher starts on the next loop turn, so everything queued in this
        one shares its commit, and everything queued while a commit runs shares the next.

        A ``lazy`` write (a status change) that finds only lazy writes queued while the
        journal is busy waits up to :data:`LINGER` seconds for another write to share its
        commit (D371)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if at is None:
            self._pending.append((op, fut))
        else:
            self._pending.insert(at, (op, fut))
        if not lazy:
            self._eager = True
            self._last_eager = loop.time()
            if self._lingering is not None:
                self._lingering.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return fut

    async def _linger(self) -> None:
        """Only lazy writes are queued: if another write was queued within the last
        :data:`BUSY` seconds, more are coming; wait for the next one (at most :data:`LINGER`
        seconds) so that they share a commit (D371)."""
        loop = asyncio.get_running_loop()
        if self._eager or loop.time() - self._last_eager > BUSY:
            return
        woken = self._lingering = asyncio.Event()
        timer = loop.call_later(LINGER, woken.set)
        try:
            await woken.wait()
        finally:
            timer.cancel()
            self._lingering = None

    async def _flush(self) -> None:
        # Runs as its own task, so a caller being cancelled never interrupts a commit.
        while self._pending:
            await self._linger()
            await self._no_block.wait()
            async with self._lock:
                if not self._no_block.is_set():  # a block opened meanwhile: wait for it
                    continue
                batch, self._pending = self._pending, []
                self._eager = False
                await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        """Commit a group (single writes and transaction blocks): BEGIN, every op, COMMIT in
        one writer-thread call; only then is any caller's future settled."""
        try:
            results = await self._on_writer(_run_group, self._writer, [op for op, _ in batch])
        except BaseException as exc:
            err = _translate(exc, self.path, "write to the journal")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            return
        self.stats.commits += 1
        self.stats.writes += len(batch)
        for (_, fut), (value, error) in zip(batch, results, strict=True):
            if fut.done():  # the caller was cancelled; the write is committed all the same
                continue
            if isinstance(error, sqlite3.Error):  # a key refused an op's row
                fut.set_exception(_translate(error, self.path, "write to the journal"))
            elif error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(value)

    # -- inbound --------------------------------------------------------------------------
    async def accept_inbound(self, record: MessageRecord) -> bool:
        refusals.expect(record, Direction.IN, INITIAL_STATUS[Direction.IN], "accept_inbound")
        params = message_params(record, _D)

        case_id = record.conversation_id

        def op(conn: sqlite3.Connection) -> tuple[bool, int | None]:
            row = conn.execute(_ACCEPT, params[:_N]).fetchone()
            if row is None:
                existing = conn.execute(
                    "SELECT sender FROM messages WHERE direction = 'in' AND message_id = ?"
                    " AND status <> 'refused'",
                    (record.message_id,),
                ).fetchone()
                raise refusals.inbound_id_taken(record, existing[0] if existing else None)
            conn.execute(_BLOBS_INSERT, (row[1], *params[_N:]))
            if row[0] != 0:
                return False, None
            # The case this message belongs to gets its events soon: its last event number,
            # read here on the writer's warm connection, spares the loop its own read (D370).
            return True, conn.execute(_LAST_SEQ, (case_id,)).fetchone()[0]

        fresh, last_seq = await self._submit(op)
        if last_seq is not None:
            self._seqs.learn(case_id, last_seq)
        return bool(fresh)

    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        params = message_params(sql_journal.refused_copy(record, reason), _D)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT, params[:_N])
            conn.execute(_BLOBS_AFTER_INSERT, params[_N:])

        await self._submit(op)

    # -- outbox ---------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JournalTransaction]:
        """The block's writes are collected on the loop and queued when the block ends; the
        next group commit runs them (alone, or as a savepoint among the other writes of the
        same loop turn) in one call on the writer thread. So checks that need
        the database (a message processed twice, an outbound ID taken) raise when the block
        ends, from the ``async with``; nothing of the block is committed then."""
        self._check_open()
        task = asyncio.current_task()
        if self._tx_task is not None and self._tx_task is task:
            raise refusals.nested_transaction(str(self.path))
        async with self._tx_lock:
            self._check_open()
            tx = _Transaction(self)
            self._tx_task = task
            # Writes queued while the block is open wait for it and come after it; the flusher
            # takes nothing while it is open, so this position stays valid.
            mark = len(self._pending)
            self._no_block.clear()
            try:
                yield tx
            finally:  # on an exception nothing was written: there is nothing to roll back
                tx.closed = True
                self._tx_task = None
                self._no_block.set()
            if not tx.steps:
                return
            steps = tx.steps
            fut = self._queue(lambda conn: _run_transaction(conn, steps), at=mark)
            try:
                # Shielded: a cancelled caller still waits for the commit it is part of (the
                # event-number cache must follow it), then sees the cancellation.
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                with suppress(BaseException):
                    await fut
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._seqs.update(tx.seqs)
                else:
                    await asyncio.shield(self._reload_seqs())
                raise
            except BaseException as exc:
                await asyncio.shield(self._reload_seqs())
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc, self.path, "commit a transaction") from None
                raise
            self._seqs.update(tx.seqs)

    async def _change_status(
        self, request: StatusRequest, *, full: bool
    ) -> MessageRecord | StatusChange:
        key = (request.status.direction.value, request.message_id)

        def op(conn: sqlite3.Connection) -> MessageRecord | StatusChange:
            row = conn.execute(_STATUS_ROW, key).fetchone()
            if row is None:
                raise refusals.unknown_message(request.message_id, request.status.direction)
            args, change = request.apply(row, _D)
            conn.execute(_STATUS_SQL, args)
            if full:
                return message_record(conn.execute(_RECORD_BY_SEQ, (row[0],)).fetchone(), _D)
            return change

        result: MessageRecord | StatusChange = await self._submit(op, lazy=True)
        return result

    async def _resume(self, sql: str, params: Sequence[Any]) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            return [str(r[0]) for r in conn.execute(sql, params).fetchall()]

        result: list[str] = await self._submit(op)
        return result

    # -- queries --------------------------------------------------------------------------
    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """One query on the reader thread (one hop); it sees the last committed state."""
        self._check_open()
        try:
            return await self._reader_thread.call(_fetch, (self._reader, sql, params))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "read the journal") from None

    # -- checkpoints (eessi.journal.checkpoint_store) ------------------------------------
    async def load_checkpoint(self, *, head: int | None = None) -> Checkpoint | None:
        """Read on the writer connection, in one read transaction: the header and the entries
        always belong to the same checkpoint. With ``head``, a value cut to it is read whole
        later by :attr:`Checkpoint.fetch` on the loop's read-only connection (D186)."""
        self._check_open()
        async with self._lock:
            self._check_open()
            try:
                checkpoint = await self._on_writer(read_checkpoint, self._writer, self.path, head)
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "read the checkpoint") from None
        if checkpoint is None or head is None:
            return checkpoint
        self._lent_values = True
        return replace(checkpoint, fetch=self._checkpoint_value)

    def _checkpoint_value(self, table: str, key: bytes) -> bytes | None:
        """One checkpoint value, whole, read on the loop (a lookup by primary key, as
        :class:`_LastSeqs` does: cheaper than a thread hop); after :meth:`close`, from the
        snapshot taken then (:meth:`_pin_checkpoint`)."""
        try:
            return fetch_value(self._seqs.conn, table, key)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "read a checkpoint entry") from None

    async def save_checkpoint(
        self,
        *,
        header: Mapping[str, Any],
        input_seq: int,
        at: datetime,
        changed: Iterable[CheckpointItem],
        removed: Iterable[tuple[str, bytes]] = (),
        replace_all: bool = False,
    ) -> bool:
        head = encode_json(header, what="the checkpoint header")
        rows, gone = list(changed), list(removed)
        self._check_open()
        async with self._lock:
            self._check_open()
            try:
                await self._on_writer(
                    write_checkpoint,
                    self._writer,
                    head,
                    input_seq,
                    _ts(at),
                    rows,
                    gone,
                    replace_all,
                )
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "save a checkpoint") from None
            self.stats.commits += 1
        return True


class _Transaction(sql_journal.SqlTransaction):
    """The writes of one ``SqliteJournal.transaction()`` block, collected as statements.

    Nothing touches the database until the block ends; then :func:`_run_transaction` runs
    them all in one call on the writer thread. Event numbers are assigned here, from the
    journal's per-case cache.
    """

    def __init__(self, journal: SqliteJournal) -> None:
        self._journal = journal
        self.closed = False
        self.steps: list[_Step] = []
        #: Last event seq per case, as this transaction leaves it (merged on commit).
        self.seqs: dict[str, int] = {}

    def _add(self, sql: str, params: tuple[Any, ...], check: _Check | None = None) -> None:
        self._live()
        steps = self.steps
        last = steps[-1] if steps else None
        # The same statement again (a case's events): one executemany. Outbox rows are not
        # merged, so that an ID conflict names its message.
        if (
            check is None
            and last is not None
            and last.sql is sql
            and last.check is None
            and sql is not _INSERT
        ):
            last.rows.append(params)
            return
        steps.append(_Step(sql, [params], check))

    def _next_seq(self, case_id: str) -> int:
        seq = self.seqs.get(case_id)
        if seq is None:
            try:
                seq = self._journal._seqs.get(case_id)
            except sqlite3.Error as exc:
                raise _translate(exc, self._journal.path, "read a case's last event") from None
        seq += 1
        self.seqs[case_id] = seq
        return seq

    async def _append(
        self,
        case_id: str,
        events: list[sql_journal.EncodedEvent],
        at: datetime,
        message_id: str | None,
    ) -> list[CaseEvent]:
        at_text = _ts(at)
        at_utc = _D.dt(at_text)
        out = []
        for kind, payload, text in events:
            seq = self._next_seq(case_id)
            self._add(_EVENT_SQL, (case_id, seq, at_text, kind, text, message_id))
            out.append(CaseEvent(case_id, seq, at_utc, kind, payload, message_id))
        return out

    async def _save_case(self, case_id: str, text: str, at: datetime) -> None:
        self._add(_CASE_SQL, (case_id, text, _ts(at)))

    async def _enqueue(self, record: MessageRecord) -> None:
        params = sql_journal.outbound_params(record, _D)
        self._add(_INSERT, params[:_N])
        self._add(_BLOBS_AFTER_INSERT, params[_N:])

    async def _mark(
        self, message_id: str, status: MessageStatus, at: datetime, error: str | None
    ) -> None:
        def check(conn: sqlite3.Connection, cur: sqlite3.Cursor) -> None:
            if cur.rowcount != 1:
                current = conn.execute(_STATUS_OF_INBOUND, (message_id,)).fetchone()
                refusals.not_marked(message_id, None if current is None else current[0], status)

        self._add(_MARK_SQL, (status.value, error, _ts(at), message_id), check)


# -- on the connection threads ------------------------------------------------------------
class _SqliteThread(threading.Thread):
    """The thread that owns one connection (the writer or the reader): runs one function per
    call, in order.

    A queue to the thread, and ``call_soon_threadsafe`` back to the loop: what aiosqlite does
    for each statement, done here once per commit (writer) or per query (reader). Measured
    cheaper per hop than ``loop.run_in_executor`` on a one-thread pool (no
    ``concurrent.futures.Future`` to chain). A daemon: a journal left open never blocks the
    interpreter's exit (SQLite treats an interrupted commit as a crash, which the journal
    survives).
    """

    def __init__(self, path: Path, role: str) -> None:
        super().__init__(name=f"eessi-journal-{role} {path.name}", daemon=True)
        self._queue: SimpleQueue[_Call | None] = SimpleQueue()
        self.start()

    def call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, fut, loop))
        return fut

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args, fut, loop = item
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the awaiting task
                result, error = None, exc
            with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, fut, result, error)


_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is None:
        fut.set_result(result)
    else:
        fut.set_exception(error)


def _open_writer(path: Path, synchronous: Synchronous, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise JournalError(
                "the journal file cannot use WAL mode",
                code="journal.open",
                where=str(path),
                hint="put the journal on a local file system",
            )
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # A group commit's savepoints (one per transaction block) and its statements keep
        # their undo pages in a statement journal; past 64 KB SQLite spills it to a new temp
        # file (created, written, unlinked each commit). In memory, no file and no syscall
        # (D300).
        conn.execute("PRAGMA temp_store = MEMORY")
        _ensure_schema(conn, path)
        return conn
    except BaseException:
        conn.close()
        raise


def _open_reader(path: Path, busy_timeout: float) -> sqlite3.Connection:
    # Autocommit: each query is its own read transaction, on the last committed state.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA query_only = 1")
        return conn
    except BaseException:
        conn.close()
        raise


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    return conn.execute(sql, params).fetchall()


class _LastSeqs:
    """The last committed event ``seq`` per case, read on first use (D100).

    Opening a journal used to load every case's last seq (a ``GROUP BY`` over every event: a
    third of a restart's CPU at 100,000 cases). Now a case's number is read when a transaction
    first appends to it: one lookup by primary key (``(case_id, seq)``, a few µs) on the
    event loop, on a read-only connection of its own. It runs inside a transaction block,
    which holds the block lock until its commit is settled (D95), and only blocks write events:
    every earlier block's commit is visible (WAL), so it sees every event written so far; a
    thread hop (D12: 55-120 µs) would cost more than the read.
    """

    __slots__ = ("_conn", "_known")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._known: dict[str, int] = {}

    @property
    def conn(self) -> sqlite3.Connection:
        """The read-only connection used on the loop (also for checkpoint values, D186)."""
        return self._conn

    def get(self, case_id: str) -> int:
        seq = self._known.get(case_id)
        if seq is None:
            row = self._conn.execute(_LAST_SEQ, (case_id,)).fetchone()
            seq = self._known[case_id] = int(row[0])
        return seq

    def learn(self, case_id: str, seq: int) -> None:
        """A case's last event number as committed, read by the writer when it accepted a
        message of the case (D370). Kept only if the case is not known yet: a value known
        here comes from a commit at least as recent (a transaction's numbers are merged
        after its commit, and a message's accept settles before any later group commit's);
        a number taken meanwhile after all is refused by the (case_id, seq) key, and the
        cache is emptied then."""
        self._known.setdefault(case_id, int(seq))

    def update(self, seqs: Mapping[str, int]) -> None:
        self._known.update(seqs)

    def clear(self) -> None:
        self._known.clear()

    def close(self) -> None:
        self._conn.close()


def _run_group(
    conn: sqlite3.Connection, ops: list[_Op]
) -> list[tuple[Any, JournalError | sqlite3.IntegrityError | None]]:
    """A group commit: every op in one transaction. An op refused by a check fails alone.

    A single write is ONE writing statement (its checks only read), and a transaction block
    (:func:`_run_transaction`) undoes its own statements when it fails; so a refused op leaves
    nothing behind and the others commit. A group of one single write runs in autocommit:
    atomic, and committed (fsynced with FULL) when the statement completes.
    """
    out: list[tuple[Any, JournalError | sqlite3.IntegrityError | None]] = []
    grouped = len(ops) > 1
    if grouped:
        conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            try:
                out.append((op(conn), None))
            except (JournalError, sqlite3.IntegrityError) as exc:  # nothing of it is left
                out.append((None, exc))
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return out


def _run_transaction(conn: sqlite3.Connection, steps: list[_Step]) -> None:
    """A ``transaction()`` block: all its statements, or (on any error) none of them.

    Alone, it is its own transaction; inside a group commit, a savepoint of the group's."""
    nested = conn.in_transaction
    conn.execute("SAVEPOINT tx" if nested else "BEGIN IMMEDIATE")
    try:
        for step in steps:
            try:
                if len(step.rows) > 1:
                    conn.executemany(step.sql, step.rows)
                    continue
                cur = conn.execute(step.sql, step.rows[0])
            except sqlite3.IntegrityError as exc:
                raise _conflict(step, exc) from None
            if step.check is not None:
                step.check(conn, cur)
        conn.execute("RELEASE tx" if nested else "COMMIT")
    except BaseException:
        if not nested:
            _rollback(conn)
        elif conn.in_transaction:  # else SQLite rolled the whole group back (disk full...)
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK TO tx")
                conn.execute("RELEASE tx")
        raise


def _conflict(step: _Step, exc: sqlite3.IntegrityError) -> sqlite3.Error | JournalError:
    """A key refused a row of ``step``: told by the statement and SQLite's error name."""
    name = exc.sqlite_errorname
    if step.sql is _INSERT and name == "SQLITE_CONSTRAINT_UNIQUE":  # messages_claimed_id
        return refusals.outbound_id_taken(step.rows[0][0])
    # (case_id, seq): the primary key of a journal created before D430, a unique key since.
    if step.sql is _EVENT_SQL and name in (
        "SQLITE_CONSTRAINT_PRIMARYKEY",
        "SQLITE_CONSTRAINT_UNIQUE",
    ):
        # A number the per-case cache thought free: someone else wrote events to this file.
        cases = ", ".join(sorted({str(row[0]) for row in step.rows}))
        return JournalError(
            f"could not commit a transaction: an event number of case {cases} is taken ({exc})",
            code="journal.locked",
            where=f"case {cases}",
            hint="another journal object or process writes this file: one institution, one writer",
            details={"sqlite": str(exc), "sqlite_error": name, "cases": cases},
        )
    return exc


def _rollback(conn: sqlite3.Connection) -> None:
    with suppress(sqlite3.Error):  # pragma: no cover - the connection is gone
        if conn.in_transaction:
            conn.execute("ROLLBACK")


# -- helpers ------------------------------------------------------------------------------
def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            if conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                raise JournalError(
                    "this SQLite file is not an eessi journal (it has other tables)",
                    code="journal.open",
                    where=str(path),
                    hint="give a new file name, or the journal file of an institution",
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            version = 1
        if version < SCHEMA_VERSION:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal has schema version {version}; this eessi-sim knows up to"
                f" {SCHEMA_VERSION}",
                code="journal.schema",
                where=str(path),
                hint="upgrade eessi-sim, or use a journal written by this version",
            )
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


_IO: Final = ("journal.io", "check the file, the disk and its permissions")
_LOCKED: Final = (
    "journal.locked",
    "another process is writing this journal: one institution, one process",
)
_CORRUPT: Final = (
    "journal.corrupt",
    "this file is not an eessi journal (or is damaged); give another path",
)
_NOT_WRITABLE: Final = ("journal.io", "the journal file or its directory is not writable")

#: SQLite's primary result codes (the start of ``sqlite_errorname``, which also names the
#: extended code: ``SQLITE_BUSY_SNAPSHOT``) that say more than "I/O": our code and the hint.
_BY_SQLITE_CODE: Final = {
    "SQLITE_BUSY": _LOCKED,
    "SQLITE_LOCKED": _LOCKED,
    "SQLITE_NOTADB": _CORRUPT,
    "SQLITE_CORRUPT": _CORRUPT,
    "SQLITE_READONLY": _NOT_WRITABLE,
    "SQLITE_CANTOPEN": _NOT_WRITABLE,
}


def _translate(exc: BaseException, path: Path, doing: str) -> JournalError:
    """One place where sqlite3 errors become :class:`JournalError`.

    SQLite errors are told apart by ``sqlite_errorname`` (stable), never by their text."""
    if isinstance(exc, JournalError):
        return exc
    text = str(exc)
    details: dict[str, Any] = {"sqlite": text, "error": type(exc).__name__}
    code, hint = _IO
    if isinstance(exc, sqlite3.Error) and exc.sqlite_errorname is not None:
        name: str = exc.sqlite_errorname
        details["sqlite_error"] = name
        code, hint = _BY_SQLITE_CODE.get("_".join(name.split("_")[:2]), _IO)
    return JournalError(
        f"could not {doing}: {text}", code=code, where=str(path), hint=hint, details=details
    )
