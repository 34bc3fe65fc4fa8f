"""What both SQL journals do the same way: the queries, the status changes' contract, the
preparation of each write; :class:`SqlJournal` holds it, each backend adds its driver.

A backend (``eessi.journal.sqlite``, ``eessi.journal.postgres``) says which
:class:`~eessi.journal.statements.Dialect` it speaks and implements four things: how a query
runs (:meth:`SqlJournal._fetch`), how a status change runs as one durable write
(:meth:`SqlJournal._change_status`), how the sends under way are resumed
(:meth:`SqlJournal._resume`), and, for PostgreSQL's partitions, which messages a journal object
sees (:meth:`SqlJournal._scope`) and under which name it stores a pseudo case
(:meth:`SqlJournal._stored_case`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from eessi.journal.base import (
    INITIAL_STATUS,
    CaseEvent,
    CaseSnapshot,
    Direction,
    Journal,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
    StatusChange,
    encode_json,
)
from eessi.journal.refusals import check_settable, expect, transaction_over, wrong_record
from eessi.journal.rows import (
    StatusRequest,
    case_event,
    case_snapshot,
    message_params,
    message_record,
)
from eessi.journal.statements import (
    CASE_COLUMNS,
    COLUMNS,
    DUE_WHERE,
    EVENT_COLUMNS,
    MESSAGES,
    RESUME_SQL,
    Args,
    Dialect,
)

__all__ = ["SqlJournal", "SqlTransaction", "mark_status", "outbound_params", "refused_copy"]

#: How many IDs one ``messages_by_id`` query asks for (below SQLite's parameter limit).
_ID_CHUNK = 500


def refused_copy(record: MessageRecord, reason: str) -> MessageRecord:
    """The record ``refuse_inbound`` stores: ``REFUSED``, with why."""
    if record.direction is not Direction.IN:
        raise wrong_record(record, "refuse_inbound takes an inbound message")
    return replace(
        record,
        status=MessageStatus.REFUSED,
        last_error=reason,
        updated_at=record.updated_at or record.received_at or record.created_at,
    )


def outbound_params(record: MessageRecord, d: Dialect) -> tuple[Any, ...]:
    """The values ``enqueue_outbound`` stores (:func:`~eessi.journal.rows.message_params`;
    checked; ``updated_at`` its creation if it has none)."""
    expect(record, Direction.OUT, INITIAL_STATUS[Direction.OUT], "enqueue_outbound")
    return message_params(record, d, updated_at=record.created_at)


def mark_status(error: str | None, expired: bool) -> MessageStatus:
    """The status ``mark_processed`` moves an inbound message to."""
    if expired:
        return MessageStatus.EXPIRED
    return MessageStatus.PROCESSED if error is None else MessageStatus.REJECTED


class SqlJournal(Journal):
    """The queries and contracts both SQL journals share (see the module's text)."""

    #: The SQL this backend speaks.
    dialect: ClassVar[Dialect]

    # -- what a backend implements ----------------------------------------------------------
    @abstractmethod
    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """Run one query (in the dialect's placeholders) on a reader: the last committed
        state."""

    @abstractmethod
    async def _change_status(
        self, request: StatusRequest, *, full: bool
    ) -> MessageRecord | StatusChange:
        """One durable status change (:meth:`set_status`'s contract, the request already
        checked to be one it may make): the whole record read back if ``full``, else what
        changed."""

    @abstractmethod
    async def _resume(self, sql: str, params: Sequence[Any]) -> list[str]:
        """Run :data:`~eessi.journal.statements.RESUME_SQL` (scoped, ``RETURNING message_id``)
        as one durable write; the IDs it returns."""

    def _scope(self, args: Args) -> str:
        """A clause (`` AND ...``) limiting a query of pending work to this journal object's
        messages, its values added to ``args``; ``""``: every message."""
        return ""

    def _stored_case(self, case_id: str) -> str:
        """The case ID a case's events are stored under (a partition's pseudo cases)."""
        return case_id

    # -- shared ---------------------------------------------------------------------------
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """One query written with ``$n`` placeholders."""
        return await self._fetch(self.dialect.sql(sql), params)

    async def _select(self, where: str, params: Sequence[Any]) -> list[MessageRecord]:
        rows = await self._read(f"SELECT {COLUMNS} FROM {MESSAGES} WHERE {where}", params)
        d = self.dialect
        return [message_record(r, d) for r in rows]

    async def unprocessed_inbound(self) -> list[MessageRecord]:
        args = Args(MessageStatus.RECEIVED.value)
        scope = self._scope(args)
        return await self._select(
            f"direction = 'in' AND status = $1{scope} ORDER BY seq", args.values
        )

    async def due_outbound(self, now: datetime, limit: int = 100) -> list[MessageRecord]:
        args = Args(self.dialect.ts(now), limit)
        scope = self._scope(args)
        return await self._select(
            f"{DUE_WHERE}{scope} ORDER BY COALESCE(next_attempt_at, created_at), seq LIMIT $2",
            args.values,
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
        attempt_at: datetime | None = None,
    ) -> MessageRecord:
        check_settable(message_id, status)
        request = StatusRequest(
            message_id, status, at, attempts, next_attempt_at, error, attempt_at
        )
        result = await self._change_status(request, full=True)
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
        attempt_at: datetime | None = None,
    ) -> StatusChange:
        check_settable(message_id, status)
        request = StatusRequest(
            message_id, status, at, attempts, next_attempt_at, error, attempt_at
        )
        result = await self._change_status(request, full=False)
        assert isinstance(result, StatusChange)
        return result

    async def resume_interrupted_sends(self, *, at: datetime) -> list[str]:
        args = Args(self.dialect.ts(at))
        scope = self._scope(args)
        sql = self.dialect.sql(f"{RESUME_SQL}{scope} RETURNING message_id")
        return sorted(await self._resume(sql, args.values))

    async def message(
        self, message_id: str, direction: Direction | None = None
    ) -> MessageRecord | None:
        args = Args(message_id)
        where = "message_id = $1"
        if direction is not None:
            where += f" AND direction = {args.add(direction.value)}"
        found = await self._select(
            where + " ORDER BY (status = 'refused'), seq DESC LIMIT 1", args.values
        )
        return found[0] if found else None

    async def messages_by_id(
        self, message_ids: Sequence[str], direction: Direction
    ) -> dict[str, MessageRecord]:
        out: dict[str, MessageRecord] = {}
        unique = list(dict.fromkeys(message_ids))
        for start in range(0, len(unique), _ID_CHUNK):
            args = Args(direction.value)
            ids = self.dialect.any_of(args, "message_id", unique[start : start + _ID_CHUNK])
            # as message(): the accepted one before a refused copy, then the latest
            for r in await self._select(
                f"direction = $1 AND {ids} ORDER BY (status = 'refused') DESC, seq", args.values
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
        args = Args()
        where = self._message_filters(
            args, "TRUE", case=case, institution=institution, direction=direction,
            status=status, since=since,
        )  # fmt: skip
        return await self._select(where + " ORDER BY seq", args.values)

    def _message_filters(
        self,
        args: Args,
        first: str,
        *,
        case: str | None = None,
        institution: str | None = None,
        direction: Direction | None = None,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        since: datetime | None = None,
        sed: str | None = None,
    ) -> str:
        """The WHERE clause of :meth:`messages` and :meth:`messages_after`: ``first`` and each
        filter given (``None``: not filtered), then this journal's scope."""
        clauses = [first]
        if case is not None:
            clauses.append(f"conversation_id = {args.add(case)}")
        if institution is not None:
            p = args.add(institution)
            clauses.append(f"(sender = {p} OR receiver = {p})")
        if direction is not None:
            clauses.append(f"direction = {args.add(direction.value)}")
        if status is not None:
            statuses = [status] if isinstance(status, MessageStatus) else list(status)
            clauses.append(self.dialect.any_of(args, "status", [s.value for s in statuses]))
        if since is not None:
            clauses.append(
                f"COALESCE(received_at, created_at) >= {args.add(self.dialect.ts(since))}"
            )
        if sed is not None:
            clauses.append(f"sed_type = {args.add(sed)}")
        return " AND ".join(clauses) + self._scope(args)

    async def messages_after(
        self,
        seq: int,
        *,
        limit: int,
        case: str | None = None,
        direction: Direction | None = None,
        status: Sequence[MessageStatus] | None = None,
        sed: str | None = None,
    ) -> list[tuple[int, MessageRecord]]:
        args = Args(seq)
        where = self._message_filters(
            args, "seq > $1", case=case, direction=direction, status=status or None, sed=sed
        )
        rows = await self._read(
            f"SELECT seq, {COLUMNS} FROM {MESSAGES} WHERE {where}"
            f" ORDER BY seq LIMIT {args.add(limit)}",
            args.values,
        )
        d = self.dialect
        return [(int(r[0]), message_record(r[1:], d)) for r in rows]

    async def message_counts(self) -> dict[str, int]:
        args = Args()
        scope = self._scope(args)
        rows = await self._read(
            f"SELECT status, count(*) FROM messages WHERE TRUE{scope} GROUP BY status",
            args.values,
        )
        return {str(status): int(n) for status, n in rows}

    async def case_events(self, case_id: str) -> list[CaseEvent]:
        return await self.case_events_after(case_id, 0)

    async def case_events_after(self, case_id: str, seq: int) -> list[CaseEvent]:
        stored = self._stored_case(case_id)
        rows = await self._read(
            f"SELECT {EVENT_COLUMNS} FROM case_events WHERE case_id = $1 AND seq > $2 ORDER BY seq",
            (stored, seq),
        )
        d = self.dialect
        events = [case_event(r, d) for r in rows]
        if stored != case_id:
            events = [replace(e, case_id=case_id) for e in events]
        return events

    async def case(self, case_id: str) -> CaseSnapshot | None:
        rows = await self._read(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1", (case_id,))
        return case_snapshot(rows[0], self.dialect) if rows else None

    async def cases(self) -> list[CaseSnapshot]:
        rows = await self._read(f"SELECT {CASE_COLUMNS} FROM cases ORDER BY case_id")
        d = self.dialect
        return [case_snapshot(r, d) for r in rows]


#: An event to append: its kind, its data, and the data as stored (canonical JSON).
EncodedEvent = tuple[str, dict[str, Any], str]


class SqlTransaction(JournalTransaction):
    """The writes of one ``transaction()`` block, as both SQL journals check and encode them;
    the backend writes them (:meth:`_append`, :meth:`_save_case`, :meth:`_enqueue`,
    :meth:`_mark`), at once or when the block ends."""

    #: Set when the block has ended: the object refuses every write after it.
    closed: bool

    def _live(self) -> None:
        if self.closed:
            raise transaction_over()

    @abstractmethod
    async def _append(
        self, case_id: str, events: list[EncodedEvent], at: datetime, message_id: str | None
    ) -> list[CaseEvent]:
        """Append the events (at least one) with the next seqs of the case."""

    @abstractmethod
    async def _save_case(self, case_id: str, text: str, at: datetime) -> None:
        """Store the case's state (``text``: canonical JSON)."""

    @abstractmethod
    async def _enqueue(self, record: MessageRecord) -> None:
        """Insert the outbound record (checked by :func:`outbound_params`, which gives its
        values); an ID taken raises ``journal.id-conflict``."""

    @abstractmethod
    async def _mark(
        self, message_id: str, status: MessageStatus, at: datetime, error: str | None
    ) -> None:
        """Move the ``received`` inbound message to ``status`` (else
        :func:`~eessi.journal.refusals.not_marked`)."""

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
        self._live()
        return (await self._append(case_id, [(kind, payload, text)], at, message_id))[0]

    async def append_events(
        self,
        case_id: str,
        events: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        at: datetime,
        message_id: str | None = None,
    ) -> list[CaseEvent]:
        encoded: list[EncodedEvent] = []
        for kind, data in events:
            payload = dict(data or {})
            encoded.append(
                (kind, payload, encode_json(payload, what=f"event {kind!r} of case {case_id}"))
            )
        self._live()
        if not encoded:
            return []
        return await self._append(case_id, encoded, at, message_id)

    async def save_case(self, case_id: str, state: Mapping[str, Any], *, at: datetime) -> None:
        text = encode_json(state, what=f"the state of case {case_id}")
        self._live()
        await self._save_case(case_id, text, at)

    async def enqueue_outbound(self, record: MessageRecord) -> None:
        expect(record, Direction.OUT, INITIAL_STATUS[Direction.OUT], "enqueue_outbound")
        self._live()
        await self._enqueue(record)

    async def mark_processed(
        self, message_id: str, *, at: datetime, error: str | None = None, expired: bool = False
    ) -> None:
        self._live()
        await self._mark(message_id, mark_status(error, expired), at, error)
