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
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from eessi.errors import JournalError
from eessi.journal.base import (
    INITIAL_STATUS,
    SET_INBOUND,
    CaseEvent,
    CaseSnapshot,
    Checkpoint,
    CheckpointItem,
    Direction,
    Journal,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
    StatusChange,
    check_transition,
    encode_json,
)
from eessi.journal.migrations import POSTGRES_MIGRATIONS, Migration, pending_migrations

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

_COLUMNS = (
    "message_id, direction, sender, receiver, conversation_id, ref_to_message_id, sed_type,"
    " sed_version, service, action, created_at, received_at, sent_at, status, attempts,"
    " next_attempt_at, last_error, duplicates, updated_at, envelope, payload"
)
_INSERT = (
    f"INSERT INTO messages ({_COLUMNS}) VALUES"
    f" ({', '.join(f'${i}' for i in range(1, len(_COLUMNS.split(',')) + 1))})"
)
#: The same with the message's partition (migration 4): a partitioned institution's.
_INSERT_PART = (
    f"INSERT INTO messages ({_COLUMNS}, part) VALUES"
    f" ({', '.join(f'${i}' for i in range(1, len(_COLUMNS.split(',')) + 2))})"
)
_ON_DUPLICATE = (
    " ON CONFLICT (direction, message_id) WHERE status <> 'refused'"
    " DO UPDATE SET duplicates = messages.duplicates + 1"
    " WHERE messages.sender = excluded.sender RETURNING duplicates"
)
_ACCEPT = _INSERT + _ON_DUPLICATE
_ACCEPT_PART = _INSERT_PART + _ON_DUPLICATE
_EVENT_SQL = (
    "INSERT INTO case_events (case_id, seq, at, kind, data, message_id)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_CASE_SQL = (
    "INSERT INTO cases (case_id, state, updated_at, last_seq) VALUES ($1, $2, $3,"
    " (SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = $1))"
    " ON CONFLICT (case_id) DO UPDATE SET state = excluded.state,"
    " updated_at = excluded.updated_at, last_seq = excluded.last_seq"
)
_MARK_SQL = (
    "UPDATE messages SET status = $1, last_error = $2, updated_at = $3"
    " WHERE direction = 'in' AND message_id = $4 AND status = 'received'"
)
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


def is_postgres_url(target: str) -> bool:
    """True if ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL without its password (for errors and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _params(r: MessageRecord, part: int | None = None) -> tuple[Any, ...]:
    """The values of ``_INSERT`` (``_INSERT_PART`` with a partition)."""
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
        r.created_at,
        r.received_at,
        r.sent_at,
        r.status.value,
        r.attempts,
        r.next_attempt_at,
        r.last_error,
        r.duplicates,
        r.updated_at,
        r.envelope,
        r.payload,
    ) + (() if part is None else (part,))


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


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
        created_at=row[10].astimezone(UTC),
        received_at=_utc(row[11]),
        sent_at=_utc(row[12]),
        status=MessageStatus(row[13]),
        attempts=row[14],
        next_attempt_at=_utc(row[15]),
        last_error=row[16],
        duplicates=row[17],
        updated_at=_utc(row[18]),
        envelope=bytes(row[19]),
        payload=bytes(row[20]),
    )


def _event(row: Sequence[Any]) -> CaseEvent:
    return CaseEvent(
        row[0], int(row[1]), row[2].astimezone(UTC), row[3], json.loads(row[4]), row[5]
    )


def _like_partitions(case_id: str) -> str:
    """The ``LIKE`` pattern of a pseudo case's copies per partition (``~desk/0``...)."""
    return case_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def _snapshot(row: Sequence[Any]) -> CaseSnapshot:
    return CaseSnapshot(row[0], json.loads(row[1]), row[2].astimezone(UTC), int(row[3]))


class PostgresJournal(Journal):
    """A :class:`~eessi.journal.base.Journal` in one PostgreSQL database (its current schema).

    Create with :meth:`open`.
    """

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
            raise JournalError(
                "the journal is closed",
                code="journal.closed",
                where=self.where,
                hint="open it again with PostgresJournal.open()",
            )

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
            raise JournalError(
                "a single write was called inside journal.transaction()",
                code="journal.nested",
                where=self.where,
                hint="inside the block use the transaction's methods, or write after it",
            )

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
        _expect(record, Direction.IN, INITIAL_STATUS[Direction.IN], "accept_inbound")
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
                raise JournalError(
                    f"message ID {record.message_id} was already accepted from another sender",
                    code="journal.id-conflict",
                    where=f"message {record.message_id}",
                    hint="refuse this message: a sender may not reuse another party's message ID",
                    details={
                        "message_id": record.message_id,
                        "sender": record.sender,
                        "first_sender": first,
                    },
                )
            return bool(row[0] == 0)

        return await self._submit(op, "accept an inbound message")

    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        if record.direction is not Direction.IN:
            raise _wrong_record(record, "refuse_inbound takes an inbound message")
        refused = replace(
            record,
            status=MessageStatus.REFUSED,
            last_error=reason,
            updated_at=record.updated_at or record.received_at or record.created_at,
        )
        params = _params(refused)

        async def op(conn: Any) -> None:
            await conn.execute(_INSERT, *params)

        await self._submit(op, "journal a refused message")

    async def unprocessed_inbound(self) -> list[MessageRecord]:
        return await self._select(
            f"direction = 'in' AND status = $1{self._part(2)} ORDER BY seq",
            (MessageStatus.RECEIVED.value, *self._part_arg()),
        )

    # -- partitions (eessi.node.partitions) ------------------------------------------------
    def _part(self, n: int, column: str = "part") -> str:
        """`` AND part = $n`` on a partition's journal (its own messages only), else ``""``."""
        return "" if self.partition is None else f" AND {column} = ${n}"

    def _part_arg(self) -> tuple[Any, ...]:
        return () if self.partition is None else (self.partition,)

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
            raise JournalError(
                "journal.transaction() was nested",
                code="journal.nested",
                where=self.where,
                hint="use the outer transaction's methods",
            )
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

    async def due_outbound(self, now: datetime, limit: int = 100) -> list[MessageRecord]:
        return await self._select(
            "direction = 'out' AND status IN ('queued', 'retrying')"
            f" AND (next_attempt_at IS NULL OR next_attempt_at <= $1){self._part(3)}"
            " ORDER BY COALESCE(next_attempt_at, created_at), seq LIMIT $2",
            (now, limit, *self._part_arg()),
        )

    def _status_op(
        self,
        message_id: str,
        status: MessageStatus,
        at: datetime,
        attempts: int | None,
        next_attempt_at: datetime | None,
        error: str | None,
        *,
        full: bool,
    ) -> Callable[[Any], Awaitable[MessageRecord | StatusChange]]:
        direction = status.direction
        if direction is Direction.IN and status not in SET_INBOUND:
            raise JournalError(
                f"set_status moves outbound messages; {status.value} is an inbound status",
                code="journal.illegal-status",
                where=f"message {message_id}",
                hint="inbound messages change status through transaction().mark_processed()",
            )
        sql = (
            "UPDATE messages SET status = $1, attempts = $2, sent_at = $3, next_attempt_at = $4,"
            " last_error = $5, updated_at = $6 WHERE seq = $7"
        )
        if full:
            sql += f" RETURNING {_COLUMNS}"

        async def op(conn: Any) -> MessageRecord | StatusChange:
            row = await conn.fetchrow(
                "SELECT seq, status, attempts, sent_at FROM messages"
                " WHERE direction = $1 AND message_id = $2 AND status <> 'refused' FOR UPDATE",
                direction.value,
                message_id,
            )
            if row is None:
                raise _unknown(message_id, direction)
            check_transition(message_id, MessageStatus(row[1]), status)
            if attempts is not None:
                new_attempts = attempts
            else:
                new_attempts = row[2] + (1 if status is MessageStatus.SENDING else 0)
            sent_at = at if status is MessageStatus.SENDING else row[3]
            args = (status.value, new_attempts, sent_at, next_attempt_at, error, at, row[0])
            if full:
                return _record(await conn.fetchrow(sql, *args))
            await conn.execute(sql, *args)
            return StatusChange(
                message_id=message_id,
                status=status,
                attempts=new_attempts,
                sent_at=_utc(sent_at),
                next_attempt_at=next_attempt_at,
                last_error=error,
                updated_at=at,
            )

        return op

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
        op = self._status_op(message_id, status, at, attempts, next_attempt_at, error, full=True)
        result = await self._submit(op, "change a message's status")
        assert isinstance(result, MessageRecord)
        return result

    async def update_status(
        self,
        message_id: str,
        status: MessageStatus,
        *,
        at: datetime,
        attempts: int | None = None,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
    ) -> StatusChange:
        op = self._status_op(message_id, status, at, attempts, next_attempt_at, error, full=False)
        result = await self._submit(op, "change a message's status")
        assert isinstance(result, StatusChange)
        return result

    async def resume_interrupted_sends(self, *, at: datetime) -> list[str]:
        async def op(conn: Any) -> list[str]:
            rows = await conn.fetch(
                "UPDATE messages SET status = 'retrying', next_attempt_at = NULL,"
                " updated_at = $1, last_error = COALESCE(last_error, 'interrupted by a restart')"
                " WHERE direction = 'out' AND status IN ('sending', 'waiting_for_receipt')"
                f"{self._part(2)} RETURNING message_id",
                at,
                *self._part_arg(),
            )
            return sorted(str(r[0]) for r in rows)

        return await self._submit(op, "resume interrupted sends")

    # -- queries --------------------------------------------------------------------------
    async def _select(self, where: str, params: Sequence[Any]) -> list[MessageRecord]:
        rows = await self._read(f"SELECT {_COLUMNS} FROM messages WHERE {where}", params)
        return [_record(r) for r in rows]

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """One query on a pooled reader connection: the last committed state."""
        self._check_open()
        try:
            rows: list[Sequence[Any]] = await self._pool.fetch(sql, *params)
        except _PG_ERRORS as exc:
            raise _translate(exc, self.where, "read the journal") from None
        return rows

    async def message(
        self, message_id: str, direction: Direction | None = None
    ) -> MessageRecord | None:
        where = "message_id = $1"
        params: list[Any] = [message_id]
        if direction is not None:
            where += " AND direction = $2"
            params.append(direction.value)
        found = await self._select(
            where + " ORDER BY (status = 'refused'), seq DESC LIMIT 1", tuple(params)
        )
        return found[0] if found else None

    async def messages_by_id(
        self, message_ids: Sequence[str], direction: Direction
    ) -> dict[str, MessageRecord]:
        out: dict[str, MessageRecord] = {}
        # as message(): the accepted one before a refused copy, then the latest
        for r in await self._select(
            "direction = $1 AND message_id = ANY($2::text[])"
            " ORDER BY (status = 'refused') DESC, seq",
            (direction.value, list(dict.fromkeys(message_ids))),
        ):
            out[r.message_id] = r
        return out

    async def messages(
        self,
        *,
        case: str | None = None,
        institution: str | None = None,
        direction: Direction | None = None,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        since: datetime | None = None,
    ) -> list[MessageRecord]:
        clauses = ["TRUE"]
        params: list[Any] = []

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if case is not None:
            clauses.append(f"conversation_id = {arg(case)}")
        if institution is not None:
            p = arg(institution)
            clauses.append(f"(sender = {p} OR receiver = {p})")
        if direction is not None:
            clauses.append(f"direction = {arg(direction.value)}")
        if status is not None:
            statuses = [status] if isinstance(status, MessageStatus) else list(status)
            clauses.append(f"status = ANY({arg([s.value for s in statuses])}::text[])")
        if since is not None:
            clauses.append(f"COALESCE(received_at, created_at) >= {arg(since)}")
        if self.partition is not None:
            clauses.append(f"part = {arg(self.partition)}")
        return await self._select(" AND ".join(clauses) + " ORDER BY seq", tuple(params))

    async def message_counts(self) -> dict[str, int]:
        rows = await self._read(
            f"SELECT status, count(*) FROM messages WHERE TRUE{self._part(1)} GROUP BY status",
            self._part_arg(),
        )
        return {str(status): int(n) for status, n in rows}

    async def case_events(self, case_id: str) -> list[CaseEvent]:
        if self.partition is None and case_id.startswith("~"):
            # a pseudo case of a partitioned institution is one per partition: all of them,
            # in time order (each in its own seq order)
            rows = await self._read(
                "SELECT case_id, seq, at, kind, data, message_id FROM case_events"
                " WHERE case_id = $1 OR case_id LIKE $2 ORDER BY case_id <> $1, at, case_id, seq",
                (case_id, _like_partitions(case_id)),
            )
            if all(r[0] == case_id for r in rows):  # not partitioned: in seq order
                rows = sorted(rows, key=lambda r: int(r[1]))
            return [replace(_event(r), case_id=case_id) for r in rows]
        rows = await self._read(
            "SELECT case_id, seq, at, kind, data, message_id FROM case_events"
            " WHERE case_id = $1 ORDER BY seq",
            (self._pseudo(case_id),),
        )
        return [replace(_event(r), case_id=case_id) for r in rows]

    async def case(self, case_id: str) -> CaseSnapshot | None:
        rows = await self._read(
            "SELECT case_id, state, updated_at, last_seq FROM cases WHERE case_id = $1",
            (case_id,),
        )
        return _snapshot(rows[0]) if rows else None

    async def cases(self) -> list[CaseSnapshot]:
        rows = await self._read(
            "SELECT case_id, state, updated_at, last_seq FROM cases ORDER BY case_id"
        )
        return [_snapshot(r) for r in rows]

    # -- checkpoints of the desk state ----------------------------------------------------
    async def case_events_after(self, case_id: str, seq: int) -> list[CaseEvent]:
        rows = await self._read(
            "SELECT case_id, seq, at, kind, data, message_id FROM case_events"
            " WHERE case_id = $1 AND seq > $2 ORDER BY seq",
            (self._pseudo(case_id), seq),
        )
        return [replace(_event(r), case_id=case_id) for r in rows]

    async def load_checkpoint(self) -> Checkpoint | None:
        """Header and entries read in one REPEATABLE READ transaction: always of the same
        checkpoint."""
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

    async def take_inputs(self, institution: str, limit: int = 100) -> list[tuple[int, bytes]]:
        """The inputs queued for this journal's partition, taken (``taken``: never handed to
        anyone again) in one transaction; several takers skip each other's rows
        (``FOR UPDATE SKIP LOCKED``)."""

        async def op(conn: Any) -> list[tuple[int, bytes]]:
            rows = await conn.fetch(
                "UPDATE shared_inputs SET status = 'taken' WHERE id IN (SELECT id FROM"
                " shared_inputs WHERE institution = $1 AND part = $2 AND status = 'queued'"
                " ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, input",
                institution,
                self.partition,
                limit,
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


class _Transaction(JournalTransaction):
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

    def _live(self) -> None:
        if self.closed:
            raise JournalError(
                "this transaction is over",
                code="journal.closed",
                hint="use the transaction object only inside its `async with` block",
            )

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

    async def _next_seq(self, case_id: str) -> int:
        seq = self._seqs.get(case_id)
        if seq is None:
            seq = int(
                await self._conn.fetchval(
                    "SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = $1", case_id
                )
            )
        seq += 1
        self._seqs[case_id] = seq
        return seq

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
        stored = self._journal._pseudo(case_id)

        async def step() -> CaseEvent:
            seq = await self._next_seq(stored)
            try:
                await self._conn.execute(_EVENT_SQL, stored, seq, at, kind, text, message_id)
            except asyncpg.UniqueViolationError as exc:
                raise JournalError(
                    f"could not commit a transaction: event {seq} of case {case_id} is taken",
                    code="journal.locked",
                    where=f"case {case_id}",
                    hint="another journal object or process writes this case",
                    details={"postgres": str(exc), "sqlstate": exc.sqlstate, "cases": case_id},
                ) from None
            return CaseEvent(case_id, seq, at.astimezone(UTC), kind, payload, message_id)

        return await self._run(step, "append a case event")

    async def append_events(
        self,
        case_id: str,
        events: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        at: datetime,
        message_id: str | None = None,
    ) -> list[CaseEvent]:
        items = [(kind, dict(data or {})) for kind, data in events]
        texts = [encode_json(d, what=f"event {k!r} of case {case_id}") for k, d in items]
        stored = self._journal._pseudo(case_id)

        async def step() -> list[CaseEvent]:
            first = await self._next_seq(stored)
            self._seqs[stored] = first + len(items) - 1
            rows = [
                (stored, first + i, at, kind, text, message_id)
                for i, ((kind, _), text) in enumerate(zip(items, texts, strict=True))
            ]
            if rows:
                await self._conn.executemany(_EVENT_SQL, rows)
            return [
                CaseEvent(case_id, first + i, at.astimezone(UTC), kind, data, message_id)
                for i, (kind, data) in enumerate(items)
            ]

        if not items:
            self._live()
            return []
        return await self._run(step, "append case events")

    async def save_case(self, case_id: str, state: Mapping[str, Any], *, at: datetime) -> None:
        text = encode_json(state, what=f"the state of case {case_id}")

        async def step() -> None:
            await self._conn.execute(_CASE_SQL, case_id, text, at)

        await self._run(step, "save a case")

    async def enqueue_outbound(self, record: MessageRecord) -> None:
        _expect(record, Direction.OUT, INITIAL_STATUS[Direction.OUT], "enqueue_outbound")
        if record.updated_at is None:
            record = replace(record, updated_at=record.created_at)
        part = self._journal.partition
        params = _params(record, part)
        sql = _INSERT if part is None else _INSERT_PART

        async def step() -> None:
            try:
                await self._conn.execute(sql, *params)
            except asyncpg.UniqueViolationError:
                raise JournalError(
                    f"outbound message ID {record.message_id} is already in the journal",
                    code="journal.id-conflict",
                    where=f"message {record.message_id}",
                    hint="every outbound message needs a fresh ID from the IdGenerator",
                ) from None

        await self._run(step, "enqueue an outbound message")

    async def mark_processed(
        self, message_id: str, *, at: datetime, error: str | None = None, expired: bool = False
    ) -> None:
        if expired:
            status = MessageStatus.EXPIRED
        else:
            status = MessageStatus.PROCESSED if error is None else MessageStatus.REJECTED

        async def step() -> None:
            done = await self._conn.execute(_MARK_SQL, status.value, error, at, message_id)
            if done == "UPDATE 1":
                return
            current = await self._conn.fetchval(
                "SELECT status FROM messages WHERE direction = 'in' AND message_id = $1"
                " AND status <> 'refused'",
                message_id,
            )
            if current is None:
                raise _unknown(message_id, Direction.IN)
            check_transition(message_id, MessageStatus(current), status)
            raise AssertionError("unreachable: received messages are updated")  # pragma: no cover

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
