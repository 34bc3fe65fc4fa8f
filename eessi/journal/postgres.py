"""The journal on PostgreSQL (asyncpg): the same interface, records and statuses as SQLite.

Design, in short (docs/journal.md, decisions D80-D82):

* **One writer connection, writes serialised** by one :class:`asyncio.Lock`, as in the SQLite
  journal: a :meth:`PostgresJournal.transaction` block is one PostgreSQL transaction on that
  connection, its statements run as they are called (a check that needs the stored data, such
  as a message processed twice, raises at the call); a single write (accept, refuse,
  set_status) is one short transaction of its own. A single write runs as its own task, so a
  caller cancelled meanwhile never interrupts it half-way (it commits all the same).
* **Readers** take a connection from a small pool; PostgreSQL's MVCC shows them the last
  committed state only, never half a transaction.
* **Durability:** ``synchronous_commit`` is ``on`` by default (a commit returns once its WAL is
  flushed): what ``accept_inbound`` acknowledged survives a crash of the server.
* **Byte-exact:** envelope and payload are ``bytea``; event data and snapshots are the same
  canonical JSON text as in SQLite (``text``, not ``jsonb``, which would reorder keys); times
  are ``timestamptz`` (microseconds, UTC on the way back).
* **Schema** versioned in a ``schema_version`` table, migrated at open under an advisory lock
  (:mod:`eessi.journal.migrations`); a newer one is refused, naming both versions.
* **Errors translated here**: no asyncpg exception leaves this module; they become
  :class:`~eessi.errors.JournalError` naming the database (its URL without the password).
* **Several processes of one institution** (:mod:`eessi.node.partitions`, D117, D145-D147):
  the cases are split into partitions; a journal object opened with ``partition=K`` works for
  partition ``K`` only (its outbound messages carry it; its queries of pending work see only
  its messages; its pseudo cases such as the input log ``~inputs`` are ``~inputs/K``; its
  checkpoint is slot ``1000 + K``). The owner of a partition claims an epoch
  (:meth:`PostgresJournal.claim_partition`, table ``partitions``); from then on every
  transaction of that journal first checks, under a share lock on that row, that the epoch is
  still its own, so a process that lost the partition can never commit a batch after the next
  owner took over (it is fenced out). An accepting process's :attr:`PostgresJournal.router`
  files each inbound message under its partition, and with
  :attr:`PostgresJournal.notify_inbound` accepting it also sends a ``NOTIFY`` on
  :data:`INBOUND_CHANNEL`, waking the partition's owner (whichever process accepted it). The
  table ``owners`` (migration 3) is no longer written: one owner of all the cases was D117's
  first step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

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
from eessi.journal.migrations import POSTGRES_MIGRATIONS, Migration, pending_migrations
from eessi.journal.rows import StatusRequest, case_event, message_params, message_record
from eessi.journal.urls import is_postgres_url, redact_url

__all__ = [
    "DONE_CHANNEL",
    "INBOUND_CHANNEL",
    "INPUT_CHANNEL",
    "PostgresJournal",
    "Router",
    "is_postgres_url",
    "redact_url",
]

T = TypeVar("T")

_D = statements.POSTGRES
_STATUS_ROW = statements.STATUS_ROW + statements.POSTGRES.for_update
#: The insert with the message's partition (migration 4): a partitioned institution's.
_INSERT_PART = (
    f"INSERT INTO messages ({statements.ROW_COLUMNS}, claimed, part) VALUES"
    f" ({', '.join(f'${i}' for i in range(1, statements.N_ROW + 1))},"
    f" {statements.CLAIMED}, ${statements.N_ROW + 3})"
)


def _with_blobs(insert: str) -> str:
    """``insert`` (a message row, ``RETURNING seq`` last) and the message's bytes beside it
    (``$20``, ``$21``), in one statement: one round trip."""
    n = statements.N_ROW
    return (
        f"WITH m AS ({insert}), b AS (INSERT INTO message_blobs (message_seq, envelope, payload)"
        f" SELECT seq, ${n + 1}::bytea, ${n + 2}::bytea FROM m"
        " ON CONFLICT (message_seq) DO NOTHING) SELECT * FROM m"
    )


_INSERT = _with_blobs(statements.INSERT + " RETURNING seq")
_INSERT_PART_BLOBS = _with_blobs(_INSERT_PART + " RETURNING seq")
_ACCEPT = _with_blobs(statements.INSERT + statements.ACCEPT_SUFFIX)
_ACCEPT_PART = _with_blobs(_INSERT_PART + statements.ACCEPT_SUFFIX)
#: What asyncpg and the socket raise: translated to JournalError, never let out.
_PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
_SCHEMA_LOCK = 0x6565_7373_6900  # pg_advisory_xact_lock key: "eessi" (one migration at a time)
#: The channel an accepted inbound message is announced on (payload: the receiver's IR ID,
#: and ``:N`` its partition when the institution is partitioned).
INBOUND_CHANNEL = "eessi_inbound"
#: The channel an admin request queued for a partition's owner is announced on (payload:
#: ``IR-ID:N``), and the one its result is (payload: the request's id).
INPUT_CHANNEL = "eessi_input"
DONE_CHANNEL = "eessi_input_done"
#: The checkpoint slot of the whole institution; partition ``k``'s is ``PARTITION_SLOT + k``.
WHOLE_SLOT = 1
PARTITION_SLOT = 1000
#: Decides the partition of an inbound message as it is accepted (on the writer connection,
#: inside the accepting transaction): ``None`` leaves it unpartitioned.
Router = Callable[[Any, MessageRecord], Awaitable[int | None]]


def _params(r: MessageRecord, part: int | None = None) -> tuple[Any, ...]:
    """The values of ``INSERT`` (``_INSERT_PART`` with a partition)."""
    return message_params(r, _D) + (() if part is None else (part,))


def _like_partitions(case_id: str) -> str:
    """The ``LIKE`` pattern of a pseudo case's copies per partition (``~desk/0``...)."""
    return case_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


class PostgresJournal(sql_journal.SqlJournal):
    """A :class:`~eessi.journal.base.Journal` in one PostgreSQL database (its current schema).

    Create with :meth:`open`.
    """

    dialect = statements.POSTGRES

    def __init__(
        self,
        url: str,
        writer: Any,
        pool: Any,
        settings: dict[str, str],
        partition: int | None = None,
    ) -> None:
        self.url = url
        #: The partition this journal object works for (:mod:`eessi.node.partitions`):
        #: its outbound messages are written with it, its queries of pending work see only
        #: its messages, its pseudo cases (``~inputs``...) and checkpoint are its own.
        #: ``None``: the whole institution.
        self.partition = partition
        #: On an accepting process of a partitioned institution: the partition of each
        #: inbound message accepted (:data:`Router`).
        self.router: Router | None = None
        self._settings = settings
        self.where = redact_url(url)
        self._writer = writer
        self._pool = pool
        self._lock = asyncio.Lock()
        self._tx_task: asyncio.Task[Any] | None = None
        self._closed = False
        #: (institution, epoch, fenced-out callback) once this process owns :attr:`partition`.
        self._fence: tuple[str, int, Callable[[], None]] | None = None
        #: Announce each accepted inbound message on :data:`INBOUND_CHANNEL` (several
        #: processes of one institution: the owner listens).
        self.notify_inbound = False

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str,
        *,
        synchronous_commit: bool = True,
        migrations: Sequence[Migration] = POSTGRES_MIGRATIONS,
        readers: int = 4,
        partition: int | None = None,
    ) -> PostgresJournal:
        """Connect to the database at ``url`` and create or upgrade its schema.

        ``synchronous_commit=False`` lets a commit return before its WAL is flushed (faster;
        the last commits may be lost if the *server* crashes). ``migrations`` is the schema's
        step list (tests pass a longer one to exercise an upgrade). ``partition``: see
        :attr:`partition`.
        """
        if not is_postgres_url(url):
            raise JournalError(
                f"not a PostgreSQL URL: {url!r}",
                code="journal.config",
                hint="write postgresql://USER@HOST:PORT/DATABASE",
            )
        where = redact_url(url)
        settings = {"synchronous_commit": "on" if synchronous_commit else "off"}
        writer: Any = None
        pool: Any = None
        try:
            writer = await asyncpg.connect(url, server_settings=settings)
            await _migrate(writer, migrations, where)
            pool = await asyncpg.create_pool(url, min_size=1, max_size=max(1, readers))
            # (a partition's journal needs the columns of migration 4: checked at open)
            if partition is not None and not 0 <= partition < PARTITION_SLOT:
                raise JournalError(
                    f"partition {partition} is out of range",
                    code="journal.config",
                    where=where,
                    hint=f"number partitions 0 to {PARTITION_SLOT - 1}",
                )
        except BaseException as exc:
            if pool is not None:
                await pool.close()
            if writer is not None:
                await writer.close()
            if isinstance(exc, JournalError):
                raise
            if isinstance(exc, _PG_ERRORS):
                raise _translate(exc, where, "open the journal") from None
            raise
        return cls(url, writer, pool, settings, partition)

    async def close(self) -> None:
        if self._closed:
            return
        async with self._lock:  # let an open transaction or write finish first
            if not self._closed:
                self._closed = True
                await self._pool.close()
                await self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise refusals.closed(self.where, "PostgresJournal")

    async def _live_writer(self) -> Any:
        """The writer connection; a new one if the server closed it (a restart, a terminated
        backend): the write that saw it die failed with a JournalError, the next one goes on.
        Called with the writer lock held."""
        if self._writer.is_closed():
            try:
                self._writer = await asyncpg.connect(self.url, server_settings=self._settings)
            except _PG_ERRORS as exc:
                raise _translate(exc, self.where, "reconnect to the journal") from None
        return self._writer

    def _drop_writer(self) -> None:
        """After a connection-level failure: never reuse a connection in an unknown state."""
        if not self._writer.is_closed():
            self._writer.terminate()

    # -- single writes --------------------------------------------------------------------
    async def _submit(self, op: Callable[[Any], Awaitable[T]], doing: str) -> T:
        """Run one write on the writer connection, in its own transaction, as its own task:
        a cancelled caller never interrupts it (it commits all the same)."""
        self._check_open()
        if self._tx_task is not None and self._tx_task is asyncio.current_task():
            raise refusals.nested_write(self.where)

        async def run() -> T:
            async with self._lock:
                self._check_open()
                conn = await self._live_writer()
                try:
                    async with conn.transaction():
                        return await op(conn)
                except _PG_ERRORS as exc:
                    if not isinstance(exc, asyncpg.PostgresError):
                        self._drop_writer()
                    raise _translate(exc, self.where, doing) from None

        return await asyncio.shield(asyncio.ensure_future(run()))

    # -- inbound --------------------------------------------------------------------------
    async def accept_inbound(self, record: MessageRecord) -> bool:
        refusals.expect(record, Direction.IN, INITIAL_STATUS[Direction.IN], "accept_inbound")
        router = self.router

        async def op(conn: Any) -> bool:
            part = self.partition if router is None else await router(conn, record)
            sql = _ACCEPT if part is None else _ACCEPT_PART
            row = await conn.fetchrow(sql, *_params(record, part))
            if row is not None and row[0] == 0 and self.notify_inbound:
                channel = record.receiver if part is None else f"{record.receiver}:{part}"
                await conn.execute("SELECT pg_notify($1, $2)", INBOUND_CHANNEL, channel)
            if row is None:
                first = await conn.fetchval(
                    "SELECT sender FROM messages WHERE direction = 'in' AND message_id = $1"
                    " AND status <> 'refused'",
                    record.message_id,
                )
                raise refusals.inbound_id_taken(record, first)
            return bool(row[0] == 0)

        return await self._submit(op, "accept an inbound message")

    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        params = _params(sql_journal.refused_copy(record, reason))

        async def op(conn: Any) -> None:
            await conn.execute(_INSERT, *params)

        await self._submit(op, "journal a refused message")

    # -- partitions (eessi.node.partitions) ------------------------------------------------
    def _part(self, n: int, column: str = "part") -> str:
        """`` AND part = $n`` on a partition's journal (its own messages only), else ``""``."""
        return "" if self.partition is None else f" AND {column} = ${n}"

    def _part_arg(self) -> tuple[Any, ...]:
        return () if self.partition is None else (self.partition,)

    def _scope(self, args: statements.Args) -> str:
        return "" if self.partition is None else f" AND part = {args.add(self.partition)}"

    def _stored_case(self, case_id: str) -> str:
        return self._pseudo(case_id)

    def _pseudo(self, case_id: str) -> str:
        """A pseudo case (``~inputs``, ``~desk``...) of a partition is its own
        (``~inputs/3``): each partition's desk logs its inputs apart, and two partitions never
        append to one case."""
        if self.partition is not None and case_id.startswith("~"):
            return f"{case_id}/{self.partition}"
        return case_id

    @property
    def _slot(self) -> int:
        return WHOLE_SLOT if self.partition is None else PARTITION_SLOT + self.partition

    # -- the outbox -----------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[JournalTransaction]:
        """One PostgreSQL transaction on the writer connection; its statements run as they
        are called. An exception in the block (or a refused write in it) rolls it all back."""
        self._check_open()
        task = asyncio.current_task()
        if self._tx_task is not None and self._tx_task is task:
            raise refusals.nested_transaction(self.where)
        async with self._lock:
            self._check_open()
            conn = await self._live_writer()
            pg_tx = conn.transaction()
            try:
                await pg_tx.start()
            except _PG_ERRORS as exc:
                self._drop_writer()
                raise _translate(exc, self.where, "begin a transaction") from None
            if self._fence is not None:
                await self._check_fence(conn, pg_tx)
            tx = _Transaction(self, conn)
            self._tx_task = task
            try:
                yield tx
                if tx.failed is not None:  # a write was refused and the caller went on
                    raise tx.failed
            except BaseException as exc:
                tx.closed = True
                self._tx_task = None
                if tx.broken:
                    self._drop_writer()
                else:
                    await asyncio.shield(_rollback(pg_tx))
                if isinstance(exc, _PG_ERRORS):
                    raise _translate(exc, self.where, "write in a transaction") from None
                raise
            tx.closed = True
            self._tx_task = None
            try:
                await asyncio.shield(pg_tx.commit())
            except _PG_ERRORS as exc:
                self._drop_writer()  # the commit's outcome is unknown to this connection
                raise _translate(exc, self.where, "commit a transaction") from None

    async def _change_status(
        self, request: StatusRequest, *, full: bool
    ) -> MessageRecord | StatusChange:
        direction = request.status.direction

        async def op(conn: Any) -> MessageRecord | StatusChange:
            row = await conn.fetchrow(_STATUS_ROW, direction.value, request.message_id)
            if row is None:
                raise refusals.unknown_message(request.message_id, direction)
            args, change = request.apply(row, _D)
            await conn.execute(statements.STATUS_SQL, *args)
            if full:
                return message_record(await conn.fetchrow(statements.RECORD_BY_SEQ, row[0]), _D)
            return change

        return await self._submit(op, "change a message's status")

    async def _resume(self, sql: str, params: Sequence[Any]) -> list[str]:
        async def op(conn: Any) -> list[str]:
            return [str(r[0]) for r in await conn.fetch(sql, *params)]

        return await self._submit(op, "resume interrupted sends")

    # -- queries --------------------------------------------------------------------------
    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """One query on a pooled reader connection: the last committed state."""
        self._check_open()
        try:
            rows: list[Sequence[Any]] = await self._pool.fetch(sql, *params)
        except _PG_ERRORS as exc:
            raise _translate(exc, self.where, "read the journal") from None
        return rows

    async def case_events(self, case_id: str) -> list[CaseEvent]:
        if self.partition is not None or not case_id.startswith("~"):
            return await super().case_events(case_id)
        # a pseudo case of a partitioned institution is one per partition: all of them, in
        # time order (each in its own seq order)
        rows = await self._read(
            f"SELECT {statements.EVENT_COLUMNS} FROM case_events"
            " WHERE case_id = $1 OR case_id LIKE $2 ORDER BY case_id <> $1, at, case_id, seq",
            (case_id, _like_partitions(case_id)),
        )
        if all(r[0] == case_id for r in rows):  # not partitioned: in seq order
            rows = sorted(rows, key=lambda r: int(r[1]))
        return [replace(case_event(r, _D), case_id=case_id) for r in rows]

    # -- checkpoints of the desk state ----------------------------------------------------
    async def load_checkpoint(self, *, head: int | None = None) -> Checkpoint | None:
        """Header and entries read in one REPEATABLE READ transaction: always of the same
        checkpoint. Every value whole (``head`` is not used: asyncpg cannot read on the
        calling thread, D186)."""
        self._check_open()
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                row = await conn.fetchrow(
                    "SELECT header, input_seq, at, items FROM checkpoint WHERE slot = $1",
                    self._slot,
                )
                if row is None:
                    return None
                rows = await conn.fetch(
                    "SELECT tbl, key, value FROM checkpoint_items WHERE slot = $1", self._slot
                )
        except _PG_ERRORS as exc:
            raise _translate(exc, self.where, "read the checkpoint") from None
        items: list[CheckpointItem] = [(str(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]
        try:
            header = json.loads(row[0])
        except ValueError as exc:
            raise self._damaged(f"its header cannot be read ({exc})") from None
        if not isinstance(header, dict):
            raise self._damaged("its header is not an object")
        if len(items) != row[3]:
            raise self._damaged(f"it lists {row[3]} entries but holds {len(items)}")
        return Checkpoint(header, int(row[1]), row[2].astimezone(UTC), items)

    def _damaged(self, why: str) -> JournalError:
        return JournalError(
            f"the journal's checkpoint is damaged: {why}",
            code="journal.corrupt",
            where=self.where,
            hint="the node ignores it and replays the whole input log; the next checkpoint"
            " replaces it",
        )

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
        """The new header, changed and removed entries in one transaction: a crash before
        the commit leaves the previous checkpoint whole."""
        head = encode_json(header, what="the checkpoint header")
        slot = self._slot
        rows = [(slot, *item) for item in changed]
        gone = [(slot, *item) for item in removed]

        async def op(conn: Any) -> bool:
            if replace_all:
                await conn.execute("DELETE FROM checkpoint_items WHERE slot = $1", slot)
            if gone:
                await conn.executemany(
                    "DELETE FROM checkpoint_items WHERE slot = $1 AND tbl = $2 AND key = $3", gone
                )
            if rows:
                await conn.executemany(
                    "INSERT INTO checkpoint_items (slot, tbl, key, value) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (slot, tbl, key) DO UPDATE SET value = excluded.value",
                    rows,
                )
            count = await conn.fetchval(
                "SELECT count(*) FROM checkpoint_items WHERE slot = $1", slot
            )
            await conn.execute(
                "INSERT INTO checkpoint (slot, header, input_seq, at, items)"
                " VALUES ($5, $1, $2, $3, $4) ON CONFLICT (slot) DO UPDATE SET"
                " header = excluded.header, input_seq = excluded.input_seq,"
                " at = excluded.at, items = excluded.items",
                head,
                input_seq,
                at,
                count,
                slot,
            )
            return True

        return await self._submit(op, "save a checkpoint")

    # -- several processes of one institution (eessi.node.partitions) -------------------------
    async def claim_partition(
        self, institution: str, holder: str, *, on_fenced: Callable[[], None]
    ) -> int:
        """Become the owner of this journal's :attr:`partition` of ``institution``'s cases:
        increment its epoch (table ``partitions``) and fence every later transaction of this
        journal with it. Call it only while holding the partition's lock
        (:mod:`eessi.node.partitions`): the increment waits for a transaction of the previous
        owner that is committing, and any later one of it is refused. ``on_fenced`` is called
        when a transaction finds the epoch moved on (this process lost the partition); the
        transaction then raises ``journal.not-owner``."""
        part = self.partition
        if part is None:
            raise JournalError(
                "claim_partition needs a partition's journal",
                code="journal.config",
                where=self.where,
                hint="open it with PostgresJournal.open(url, partition=N)",
            )

        async def op(conn: Any) -> int:
            epoch = await conn.fetchval(
                "INSERT INTO partitions (institution, part, epoch, holder, since)"
                " VALUES ($1, $2, 1, $3, now())"
                " ON CONFLICT (institution, part) DO UPDATE SET epoch = partitions.epoch + 1,"
                " holder = EXCLUDED.holder, since = EXCLUDED.since RETURNING epoch",
                institution,
                part,
                holder,
            )
            return int(epoch)

        epoch = await self._submit(op, "claim a partition")
        self._fence = (institution, epoch, on_fenced)
        return epoch

    async def agree_partitions(self, institution: str, partitions: int) -> int:
        """The partition count of ``institution``'s cases: ``partitions`` if it is the first
        shared process to start on this journal (recorded), else the recorded one."""

        async def op(conn: Any) -> int:
            await conn.execute(
                "INSERT INTO shared_institutions (institution, partitions) VALUES ($1, $2)"
                " ON CONFLICT (institution) DO NOTHING",
                institution,
                partitions,
            )
            found = await conn.fetchval(
                "SELECT partitions FROM shared_institutions WHERE institution = $1", institution
            )
            return int(found)

        return await self._submit(op, "read the partition count")

    async def latest_event_time(self, case_id: str) -> datetime | None:
        """The latest time (``at``) of the events of ``case_id`` (``None``: none), found by
        the server: one row read, however long the log (a shared clock's moves, D281)."""
        rows = await self._read(
            "SELECT max(at) FROM case_events WHERE case_id = $1", (self._pseudo(case_id),)
        )
        found = rows[0][0] if rows else None
        return found if isinstance(found, datetime) else None

    async def partition_owners(self, institution: str) -> dict[int, tuple[int, str]]:
        """Partition -> (epoch, holder) of its latest owner, for every partition ever owned."""
        rows = await self._read(
            "SELECT part, epoch, holder FROM partitions WHERE institution = $1", (institution,)
        )
        return {int(r[0]): (int(r[1]), str(r[2])) for r in rows}

    async def partition_of_case(self, conn: Any, case_id: str) -> int | None:
        """The partition of the messages of ``case_id`` (``None``: none has one yet), on
        ``conn`` (a router's writer connection) or a reader."""
        sql = "SELECT part FROM messages WHERE conversation_id = $1 AND part IS NOT NULL LIMIT 1"
        if conn is not None:
            found = await conn.fetchval(sql, case_id)
        else:
            rows = await self._read(sql, (case_id,))
            found = rows[0][0] if rows else None
        return None if found is None else int(found)

    # -- admin requests queued for a partition's owner (eessi.node.partitions) -------------
    async def queue_input(self, institution: str, part: int, data: bytes) -> int:
        """Queue an input for the owner of partition ``part``; its id. Announced on
        :data:`INPUT_CHANNEL`."""

        async def op(conn: Any) -> int:
            ident = await conn.fetchval(
                "INSERT INTO shared_inputs (institution, part, input, status)"
                " VALUES ($1, $2, $3, 'queued') RETURNING id",
                institution,
                part,
                data,
            )
            await conn.execute("SELECT pg_notify($1, $2)", INPUT_CHANNEL, f"{institution}:{part}")
            return int(ident)

        return await self._submit(op, "queue an input for a partition's owner")

    async def take_inputs(
        self, institution: str, limit: int = 100, *, taker: str | None = None
    ) -> list[tuple[int, bytes]]:
        """The inputs queued for this journal's partition, taken (``taken``: never handed to
        anyone again) in one transaction; several takers skip each other's rows
        (``FOR UPDATE SKIP LOCKED``). ``taker`` is kept in the row's result until the answer
        replaces it (:meth:`input_result` shows who runs it)."""

        async def op(conn: Any) -> list[tuple[int, bytes]]:
            rows = await conn.fetch(
                "UPDATE shared_inputs SET status = 'taken', result = $4 WHERE id IN (SELECT id"
                " FROM shared_inputs WHERE institution = $1 AND part = $2 AND status ="
                " 'queued' ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, input",
                institution,
                self.partition,
                limit,
                None if taker is None else taker.encode(),
            )
            return sorted((int(r[0]), bytes(r[1])) for r in rows)

        return await self._submit(op, "take the inputs queued for a partition")

    async def finish_input(self, ident: int, *, ok: bool, result: bytes) -> None:
        """Store a taken input's result (``done``) or error (``failed``) and announce it on
        :data:`DONE_CHANNEL`."""

        async def op(conn: Any) -> None:
            await conn.execute(
                "UPDATE shared_inputs SET status = $2, result = $3 WHERE id = $1",
                ident,
                "done" if ok else "failed",
                result,
            )
            await conn.execute("SELECT pg_notify($1, $2)", DONE_CHANNEL, str(ident))

        await self._submit(op, "store an input's result")

    async def requeue_taken(self, institution: str, *, forget_after: float) -> list[int]:
        """Queue again the inputs of this journal's partition left ``taken`` by an owner that
        stopped before answering them (an answer commits with the input's effect, so none of
        them took effect: D280); the ids. Answers nobody read for ``forget_after`` seconds
        (the process that asked stopped waiting) are deleted."""

        async def op(conn: Any) -> list[int]:
            rows = await conn.fetch(
                "UPDATE shared_inputs SET status = 'queued', result = NULL WHERE institution ="
                " $1 AND part = $2 AND status = 'taken' RETURNING id",
                institution,
                self.partition,
            )
            await conn.execute(
                "DELETE FROM shared_inputs WHERE institution = $1 AND part = $2 AND status IN"
                " ('done', 'failed') AND queued_at < now() - make_interval(secs => $3)",
                institution,
                self.partition,
                forget_after,
            )
            return sorted(int(r[0]) for r in rows)

        return await self._submit(op, "queue again the inputs of a stopped owner")

    async def input_result(self, ident: int) -> tuple[str, bytes | None] | None:
        """(status, result) of a queued input; deleted once ``done`` or ``failed`` is read."""

        async def op(conn: Any) -> tuple[str, bytes | None] | None:
            row = await conn.fetchrow(
                "SELECT status, result FROM shared_inputs WHERE id = $1", ident
            )
            if row is None:
                return None
            if row[0] in ("done", "failed"):
                await conn.execute("DELETE FROM shared_inputs WHERE id = $1", ident)
            return str(row[0]), None if row[1] is None else bytes(row[1])

        return await self._submit(op, "read an input's result")

    async def received_inbound_ids(self) -> list[str]:
        """IDs of the inbound messages accepted and not processed yet (``received``), in
        journal order: what the owner's pickup polls (no payload read)."""
        rows = await self._read(
            "SELECT message_id FROM messages WHERE direction = 'in' AND status = $1"
            f"{self._part(2)} ORDER BY seq",
            (MessageStatus.RECEIVED.value, *self._part_arg()),
        )
        return [str(r[0]) for r in rows]

    async def inbound_records(self, message_ids: Sequence[str]) -> list[MessageRecord]:
        """The inbound messages named (those still ``received``), in journal order."""
        return await self._select(
            f"direction = 'in' AND status = $1 AND message_id = ANY($2::text[]){self._part(3)}"
            " ORDER BY seq",
            (MessageStatus.RECEIVED.value, list(message_ids), *self._part_arg()),
        )

    async def _check_fence(self, conn: Any, pg_tx: Any) -> None:
        assert self._fence is not None
        institution, epoch, on_fenced = self._fence
        try:
            current = await conn.fetchval(
                "SELECT epoch FROM partitions WHERE institution = $1 AND part = $2 FOR SHARE",
                institution,
                self.partition,
            )
        except _PG_ERRORS as exc:
            self._drop_writer()
            raise _translate(exc, self.where, "check ownership") from None
        if current == epoch:
            return
        await asyncio.shield(_rollback(pg_tx))
        on_fenced()
        raise JournalError(
            f"{institution}: this process no longer owns partition {self.partition} (epoch"
            f" {epoch}, now"
            f" {current}); another process took over",
            code="journal.not-owner",
            where=self.where,
            hint="stop this process; restarted, it takes its share of the partitions again",
        )

    async def schema_version(self) -> int:
        """The schema version the database is at (the last migration applied)."""
        rows = await self._read("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(rows[0][0])


class _Transaction(sql_journal.SqlTransaction):
    """The writes of one ``PostgresJournal.transaction()`` block, run as they are called."""

    def __init__(self, journal: PostgresJournal, conn: Any) -> None:
        self._journal = journal
        self._conn = conn
        self.closed = False
        #: The first write refused in this block: the block then commits nothing.
        self.failed: JournalError | None = None
        #: The connection failed under a write (not a refusal): it is not reused.
        self.broken = False
        #: The last event seq of each case this transaction appended to.
        self._seqs: dict[str, int] = {}

    async def _run(self, step: Callable[[], Awaitable[T]], doing: str) -> T:
        self._live()
        if self.failed is not None:
            raise self.failed
        try:
            return await step()
        except JournalError as exc:
            self.failed = exc
            raise
        except _PG_ERRORS as exc:
            self.broken = not isinstance(exc, asyncpg.PostgresError)
            self.failed = _translate(exc, self._journal.where, doing)
            raise self.failed from None

    async def finish_input(self, ident: int, *, result: bytes) -> None:
        """A queued input's answer (``done``, announced on :data:`DONE_CHANNEL` at commit),
        in this transaction: it commits with the input's effect, or neither does (D280)."""

        async def step() -> None:
            await self._conn.execute(
                "UPDATE shared_inputs SET status = 'done', result = $2 WHERE id = $1",
                ident,
                result,
            )
            await self._conn.execute("SELECT pg_notify($1, $2)", DONE_CHANNEL, str(ident))

        await self._run(step, "store an input's answer")

    async def _next_seq(self, case_id: str) -> int:
        seq = self._seqs.get(case_id)
        if seq is None:
            if self._journal.notify_inbound and case_id.startswith("~"):
                # the accepting journal of a shared institution: every process appends to its
                # pseudo cases (~refused); one transaction at a time each (D199)
                await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", case_id)
            seq = int(
                await self._conn.fetchval(
                    "SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = $1", case_id
                )
            )
        seq += 1
        self._seqs[case_id] = seq
        return seq

    async def _append(
        self,
        case_id: str,
        events: list[sql_journal.EncodedEvent],
        at: datetime,
        message_id: str | None,
    ) -> list[CaseEvent]:
        stored = self._journal._pseudo(case_id)

        async def step() -> list[CaseEvent]:
            first = await self._next_seq(stored)
            self._seqs[stored] = first + len(events) - 1
            rows = [
                (stored, first + i, at, kind, text, message_id)
                for i, (kind, _, text) in enumerate(events)
            ]
            try:
                await self._conn.executemany(statements.EVENT_SQL, rows)
            except asyncpg.UniqueViolationError as exc:
                raise JournalError(
                    f"could not commit a transaction: an event number of case {case_id} is taken",
                    code="journal.locked",
                    where=f"case {case_id}",
                    hint="another journal object or process writes this case",
                    details={"postgres": str(exc), "sqlstate": exc.sqlstate, "cases": case_id},
                ) from None
            at_utc = at.astimezone(UTC)
            return [
                CaseEvent(case_id, first + i, at_utc, kind, payload, message_id)
                for i, (kind, payload, _) in enumerate(events)
            ]

        return await self._run(step, "append case events")

    async def _save_case(self, case_id: str, text: str, at: datetime) -> None:
        async def step() -> None:
            await self._conn.execute(statements.CASE_SQL, case_id, text, at)

        await self._run(step, "save a case")

    async def _enqueue(self, record: MessageRecord) -> None:
        part = self._journal.partition
        params = sql_journal.outbound_params(record, _D) + (() if part is None else (part,))
        sql = _INSERT if part is None else _INSERT_PART_BLOBS

        async def step() -> None:
            try:
                await self._conn.execute(sql, *params)
            except asyncpg.UniqueViolationError:
                raise refusals.outbound_id_taken(record.message_id) from None

        await self._run(step, "enqueue an outbound message")

    async def _mark(
        self, message_id: str, status: MessageStatus, at: datetime, error: str | None
    ) -> None:
        async def step() -> None:
            done = await self._conn.execute(
                statements.MARK_SQL, status.value, error, at, message_id
            )
            if done != "UPDATE 1":
                current = await self._conn.fetchval(statements.STATUS_OF_INBOUND, message_id)
                refusals.not_marked(message_id, current, status)

        await self._run(step, "mark a message processed")


# -- helpers ------------------------------------------------------------------------------
async def _migrate(conn: Any, migrations: Sequence[Migration], where: str) -> None:
    """Create or upgrade the schema in one transaction, one opener at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        has_version = await conn.fetchval(
            "SELECT to_regclass(current_schema() || '.schema_version') IS NOT NULL"
        )
        if has_version:
            current = int(
                await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            )
        else:
            others = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            if others:
                raise JournalError(
                    "this PostgreSQL database is not an eessi journal (it has other tables:"
                    f" {', '.join(sorted(str(r[0]) for r in others)[:5])})",
                    code="journal.open",
                    where=where,
                    hint="give an empty database (createdb NAME), or an institution's journal",
                )
            await conn.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), description TEXT NOT NULL)"
            )
            current = 0
        for migration in pending_migrations(current, migrations, where=where):
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
                migration.version,
                migration.description,
            )


async def _rollback(pg_tx: Any) -> None:
    # If the connection is gone, the server rolled the transaction back itself.
    with suppress(*_PG_ERRORS):
        await pg_tx.rollback()


#: SQLSTATE classes (the first two characters) that say more than "I/O": our code and hint.
_BY_SQLSTATE_CLASS = {
    "08": ("journal.io", "the PostgreSQL server cannot be reached: is it running?"),
    "28": ("journal.open", "check the user and password in the URL (pg_hba.conf)"),
    "3D": ("journal.open", "create the database first (createdb NAME)"),
    "40": ("journal.locked", "another transaction was in the way; try again"),
    "53": ("journal.io", "the PostgreSQL server is out of resources (disk, memory)"),
    "57": ("journal.io", "the PostgreSQL server is shutting down or restarting"),
}


def _translate(exc: BaseException, where: str, doing: str) -> JournalError:
    """One place where asyncpg and socket errors become :class:`JournalError`, told apart by
    SQLSTATE (stable), never by their text."""
    if isinstance(exc, JournalError):
        return exc
    text = str(exc) or type(exc).__name__
    details: dict[str, Any] = {"postgres": text, "error": type(exc).__name__}
    code, hint = "journal.io", "check the PostgreSQL server, its disk and the URL"
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        details["sqlstate"] = sqlstate
        code, hint = _BY_SQLSTATE_CLASS.get(sqlstate[:2], (code, hint))
    elif isinstance(exc, OSError):
        hint = "the PostgreSQL server cannot be reached: is it running, on this host and port?"
    return JournalError(
        f"could not {doing}: {text}", code=code, where=where, hint=hint, details=details
    )
