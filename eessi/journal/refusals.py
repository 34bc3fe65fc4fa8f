"""The refusals both journals give, worded once: a wrong record, an unknown message, an ID
taken, a closed journal or transaction, a write nested where it may not be.
"""

from __future__ import annotations

from typing import NoReturn

from eessi.errors import JournalError
from eessi.journal.base import (
    SET_INBOUND,
    Direction,
    MessageRecord,
    MessageStatus,
    check_transition,
)

__all__ = [
    "check_settable",
    "closed",
    "expect",
    "inbound_id_taken",
    "nested_transaction",
    "nested_write",
    "not_marked",
    "outbound_id_taken",
    "transaction_over",
    "unknown_message",
    "wrong_record",
]


def expect(record: MessageRecord, direction: Direction, status: MessageStatus, op: str) -> None:
    """Refuse ``record`` unless it has this direction and status (what ``op`` takes)."""
    if record.direction is not direction or record.status is not status:
        raise wrong_record(
            record, f"{op} takes a {direction.value}bound message with status {status.value}"
        )


def wrong_record(record: MessageRecord, what: str) -> JournalError:
    return JournalError(
        what,
        code="journal.bad-record",
        where=f"message {record.message_id}",
        hint=(
            f"got a {record.direction.value}bound message with status {record.status.value};"
            " build it with that direction and status"
        ),
    )


def unknown_message(message_id: str, direction: Direction) -> JournalError:
    return JournalError(
        f"no {direction.value}bound message {message_id} in the journal",
        code="journal.unknown-message",
        where=f"message {message_id}",
        hint="check the message ID (eessi trace lists the journaled messages)",
        details={"message_id": message_id, "direction": direction.value},
    )


def not_marked(message_id: str, current: str | None, status: MessageStatus) -> NoReturn:
    """Why ``mark_processed`` changed nothing: the message is unknown (``current`` is
    ``None``), or its status ``current`` may not move to ``status``."""
    if current is None:
        raise unknown_message(message_id, Direction.IN)
    check_transition(message_id, MessageStatus(current), status)
    raise AssertionError("unreachable: received messages are updated")  # pragma: no cover


def check_settable(message_id: str, status: MessageStatus) -> None:
    """``set_status`` moves outbound messages, and inbound ones only in :data:`SET_INBOUND`."""
    if status.direction is Direction.IN and status not in SET_INBOUND:
        raise JournalError(
            f"set_status moves outbound messages; {status.value} is an inbound status",
            code="journal.illegal-status",
            where=f"message {message_id}",
            hint="inbound messages change status through transaction().mark_processed()",
        )


def outbound_id_taken(message_id: str) -> JournalError:
    return JournalError(
        f"outbound message ID {message_id} is already in the journal",
        code="journal.id-conflict",
        where=f"message {message_id}",
        hint="every outbound message needs a fresh ID from the IdGenerator",
    )


def inbound_id_taken(record: MessageRecord, first_sender: str | None) -> JournalError:
    return JournalError(
        f"message ID {record.message_id} was already accepted from another sender",
        code="journal.id-conflict",
        where=f"message {record.message_id}",
        hint="refuse this message: a sender may not reuse another party's message ID",
        details={
            "message_id": record.message_id,
            "sender": record.sender,
            "first_sender": first_sender,
        },
    )


def closed(where: str, opener: str) -> JournalError:
    return JournalError(
        "the journal is closed",
        code="journal.closed",
        where=where,
        hint=f"open it again with {opener}.open()",
    )


def transaction_over() -> JournalError:
    return JournalError(
        "this transaction is over",
        code="journal.closed",
        hint="use the transaction object only inside its `async with` block",
    )


def nested_write(where: str) -> JournalError:
    return JournalError(
        "a single write was called inside journal.transaction()",
        code="journal.nested",
        where=where,
        hint="inside the block use the transaction's methods, or write after it",
    )


def nested_transaction(where: str) -> JournalError:
    return JournalError(
        "journal.transaction() was nested",
        code="journal.nested",
        where=where,
        hint="use the outer transaction's methods",
    )
