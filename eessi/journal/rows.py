"""Rows to records and back, for both journals: one mapping, the dialect's times.

A message row holds the columns of :data:`eessi.journal.statements.COLUMNS` in order; the
envelope and payload come back as ``bytes`` byte for byte (``memoryview`` or asyncpg's bytes);
times go through the dialect (:class:`eessi.journal.statements.Dialect`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eessi.journal.base import (
    CaseEvent,
    CaseSnapshot,
    Direction,
    MessageRecord,
    MessageStatus,
    StatusChange,
    check_transition,
)
from eessi.journal.statements import Dialect
from eessi.quick_init import quick_init

__all__ = [
    "StatusRequest",
    "case_event",
    "case_snapshot",
    "message_params",
    "message_record",
]


def message_params(
    r: MessageRecord, d: Dialect, *, updated_at: datetime | None = None
) -> tuple[Any, ...]:
    """The values of :data:`eessi.journal.statements.INSERT` and then the envelope and payload,
    in the dialect's types; ``updated_at`` stands for the record's own if it has none."""
    ts_opt = d.ts_opt
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
        d.ts(r.created_at),
        ts_opt(r.received_at),
        ts_opt(r.sent_at),
        r.status.value,
        r.attempts,
        ts_opt(r.next_attempt_at),
        r.last_error,
        r.duplicates,
        ts_opt(r.updated_at or updated_at),
        r.envelope,
        r.payload,
    )


def message_record(row: Sequence[Any], d: Dialect) -> MessageRecord:
    """The record of a row of :data:`eessi.journal.statements.COLUMNS`."""
    dt_opt = d.dt_opt
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
        created_at=d.dt(row[10]),
        received_at=dt_opt(row[11]),
        sent_at=dt_opt(row[12]),
        status=MessageStatus(row[13]),
        attempts=row[14],
        next_attempt_at=dt_opt(row[15]),
        last_error=row[16],
        duplicates=row[17],
        updated_at=dt_opt(row[18]),
        envelope=bytes(row[19]),
        payload=bytes(row[20]),
    )


def case_event(row: Sequence[Any], d: Dialect) -> CaseEvent:
    """The event of a row of :data:`eessi.journal.statements.EVENT_COLUMNS`."""
    return CaseEvent(row[0], int(row[1]), d.dt(row[2]), row[3], json.loads(row[4]), row[5])


def case_snapshot(row: Sequence[Any], d: Dialect) -> CaseSnapshot:
    """The snapshot of a row of :data:`eessi.journal.statements.CASE_COLUMNS`."""
    return CaseSnapshot(row[0], json.loads(row[1]), d.dt(row[2]), int(row[3]))


@quick_init
@dataclass(frozen=True, slots=True)
class StatusRequest:
    """A status change asked of the journal (:meth:`~eessi.journal.base.Journal.set_status`'s
    arguments), applied to the message's stored :data:`~eessi.journal.statements.STATUS_ROW`
    by :meth:`apply`."""

    message_id: str
    status: MessageStatus
    at: datetime
    attempts: int | None
    next_attempt_at: datetime | None
    error: str | None
    #: The start of a send attempt that was not journaled as ``SENDING``: the message passes
    #: through ``SENDING`` (both moves checked) in this one change (D240).
    attempt_at: datetime | None = None

    def apply(self, current: Sequence[Any], d: Dialect) -> tuple[tuple[Any, ...], StatusChange]:
        """Checked against the transitions (raises ``journal.illegal-status``): the values of
        :data:`~eessi.journal.statements.STATUS_SQL` and what it writes.

        ``attempts`` replaces the count if given; moving to ``SENDING`` without it adds one
        and sets ``sent_at`` to ``at``; so does a change that ends an attempt begun at
        ``attempt_at`` (``sent_at`` is then ``attempt_at``)."""
        status = self.status
        current_status = MessageStatus(current[1])
        stored_at = d.ts(self.at)
        attempt_at = self.attempt_at
        if attempt_at is None:
            check_transition(self.message_id, current_status, status)
            sending = status is MessageStatus.SENDING
            sent_at = stored_at if sending else current[3]
        else:
            check_transition(self.message_id, current_status, MessageStatus.SENDING)
            check_transition(self.message_id, MessageStatus.SENDING, status)
            sending = True
            sent_at = d.ts(attempt_at)
        attempts = self.attempts
        new_attempts = attempts if attempts is not None else current[2] + (1 if sending else 0)
        args = (
            status.value,
            new_attempts,
            sent_at,
            d.ts_opt(self.next_attempt_at),
            self.error,
            stored_at,
            current[0],
        )
        change = StatusChange(
            message_id=self.message_id,
            status=status,
            attempts=new_attempts,
            sent_at=d.dt_opt(sent_at),
            next_attempt_at=self.next_attempt_at,
            last_error=self.error,
            updated_at=self.at,
        )
        return args, change
