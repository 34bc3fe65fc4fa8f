"""The journal's interface: what an institution node may ask of its durable store.

Theory of operation
-------------------
The journal is the institution's memory. The node writes to it **before** it tells anyone
anything: an inbound message is journaled before the receipt goes back
(:meth:`Journal.accept_inbound`), and the documents a state change sends are journaled in the
same transaction as the case events and snapshot of that change (:meth:`Journal.transaction`:
the *transactional outbox*). A sender loop then reads :meth:`Journal.due_outbound` and moves each
message through its statuses with :meth:`Journal.set_status`.

So a ``kill -9`` at any point leaves one of two states for each step, never a half: either the
step committed (the message is there byte-exact, the events, snapshot and outbox rows are all
there, the inbound message is marked processed) or nothing of it did (the inbound message is still
listed by :meth:`Journal.unprocessed_inbound` and is processed again after the restart, exactly
once because marking it processed is part of the transaction that records its effects).

Statuses (Domibus-like) and their legal moves are data: :data:`TRANSITIONS`. An illegal move (an
acknowledged message set back to sending, an inbound message processed twice) raises
:class:`~eessi.errors.JournalError` and changes nothing.

One journal belongs to one institution (one process writes it). Message IDs are unique per
direction; a *refused* inbound message does not claim its ID, so a spoofed copy of a real
message ID can be journaled as refused without hiding or blocking the real one.

This module holds only the interface and the records. ``eessi.journal.sqlite`` implements it on
SQLite (WAL); a PostgreSQL backend would implement the same two classes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any, Self

from eessi.errors import JournalError
from eessi.quick_init import quick_init

__all__ = [
    "FINAL_STATUSES",
    "INITIAL_STATUS",
    "SET_INBOUND",
    "TRANSITIONS",
    "CaseEvent",
    "CaseSnapshot",
    "Checkpoint",
    "CheckpointItem",
    "Direction",
    "Journal",
    "JournalTransaction",
    "MessageRecord",
    "MessageStatus",
    "StatusChange",
    "check_transition",
    "encode_json",
]


class Direction(Enum):
    """Which way a message travelled, seen from the institution that owns the journal."""

    #: Received from a peer.
    IN = "in"
    #: Sent (or to be sent) to a peer.
    OUT = "out"


class MessageStatus(Enum):
    """Where a message stands. Inbound and outbound messages use disjoint sets of statuses."""

    # -- inbound --------------------------------------------------------------------------
    #: Journaled (durably) and acknowledged to the sender; not yet handed to the core.
    RECEIVED = "received"
    #: Handed to the core; its events, snapshot and replies committed with this status. Final.
    PROCESSED = "processed"
    #: Acknowledged at transport level, but the core refused it (an illegal step); ``last_error``
    #: says why. Final: it is never processed again.
    REJECTED = "rejected"
    #: Refused at the door (bad signature, spoofed sender, invalid document): no receipt was
    #: given, so it does not claim its message ID. Final.
    REFUSED = "refused"
    #: Handed to the core, but the node's worker failed on it (a bug, a mock fund's rule that
    #: cannot apply); ``last_error`` says why, nothing of it was committed. Not final: an
    #: operator (a mock fund's reset) puts it back to ``RECEIVED`` to be processed again.
    PROCESSING_FAILED = "processing_failed"
    #: Parked (its case, or the document it answers, unknown here) for longer than the node
    #: waits (``NodeOptions.parked_expiry``); the sender was answered with an X050 committed in
    #: the same transaction; ``last_error`` says why. Final.
    EXPIRED = "expired"
    # -- outbound -------------------------------------------------------------------------
    #: In the outbox, committed with the state change that produced it; waiting for the sender.
    QUEUED = "queued"
    #: An attempt is under way (``attempts`` counts it).
    SENDING = "sending"
    #: Delivered; the peer's receipt has not arrived yet.
    WAITING_FOR_RECEIPT = "waiting_for_receipt"
    #: The peer's receipt arrived. Final.
    ACKNOWLEDGED = "acknowledged"
    #: An attempt failed with a retryable error; the next one is due at ``next_attempt_at``.
    RETRYING = "retrying"
    #: Given up (retry budget spent, or the peer refused it); ``last_error`` says why. Final,
    #: except that an operator may queue it again.
    FAILED = "failed"

    @property
    def direction(self) -> Direction:
        """The direction this status belongs to."""
        return Direction.IN if self in _INBOUND else Direction.OUT


_INBOUND = frozenset(
    {
        MessageStatus.RECEIVED,
        MessageStatus.PROCESSED,
        MessageStatus.REJECTED,
        MessageStatus.REFUSED,
        MessageStatus.PROCESSING_FAILED,
        MessageStatus.EXPIRED,
    }
)

#: The status a message is stored with when it enters the journal.
INITIAL_STATUS: Mapping[Direction, MessageStatus] = {
    Direction.IN: MessageStatus.RECEIVED,
    Direction.OUT: MessageStatus.QUEUED,
}

_S = MessageStatus
#: Legal status changes: ``TRANSITIONS[current]`` is the set of statuses it may move to.
#: Inbound moves happen through :meth:`JournalTransaction.mark_processed` (except the moves to
#: and from ``PROCESSING_FAILED``), outbound ones through :meth:`Journal.set_status`. A status
#: missing from the table is final.
TRANSITIONS: Mapping[MessageStatus, frozenset[MessageStatus]] = {
    _S.RECEIVED: frozenset({_S.PROCESSED, _S.REJECTED, _S.PROCESSING_FAILED, _S.EXPIRED}),
    _S.PROCESSING_FAILED: frozenset({_S.RECEIVED}),
    _S.QUEUED: frozenset({_S.SENDING, _S.FAILED}),
    _S.SENDING: frozenset({_S.WAITING_FOR_RECEIPT, _S.ACKNOWLEDGED, _S.RETRYING, _S.FAILED}),
    _S.WAITING_FOR_RECEIPT: frozenset({_S.ACKNOWLEDGED, _S.RETRYING, _S.FAILED}),
    _S.RETRYING: frozenset({_S.SENDING, _S.FAILED}),
    _S.FAILED: frozenset({_S.QUEUED}),
}
#: The inbound statuses :meth:`Journal.set_status` sets (the others come with a transaction).
SET_INBOUND: frozenset[MessageStatus] = frozenset({_S.PROCESSING_FAILED, _S.RECEIVED})
#: Statuses nothing moves out of on its own (``FAILED`` only by an operator's re-queue).
FINAL_STATUSES: frozenset[MessageStatus] = frozenset(
    {_S.PROCESSED, _S.REJECTED, _S.REFUSED, _S.EXPIRED, _S.ACKNOWLEDGED, _S.FAILED}
)


def check_transition(message_id: str, current: MessageStatus, new: MessageStatus) -> None:
    """Raise :class:`JournalError` unless ``current -> new`` is in :data:`TRANSITIONS`."""
    if new not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(s.value for s in TRANSITIONS.get(current, frozenset()))
        raise JournalError(
            f"illegal status change {current.value} -> {new.value}",
            code="journal.illegal-status",
            where=f"message {message_id}",
            hint=(
                f"from {current.value} a message may go to: {', '.join(allowed)}"
                if allowed
                else f"{current.value} is final; nothing changes it"
            ),
            details={"message_id": message_id, "from": current.value, "to": new.value},
        )


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise JournalError(
            f"{name} must be a timezone-aware datetime",
            code="journal.bad-record",
            hint="take times from an eessi.clock.Clock, which gives UTC datetimes",
        )


@quick_init
@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message in or out, with its envelope metadata and the exact bytes that travelled.

    ``envelope`` and ``payload`` are stored and returned byte for byte: the payload is the SED
    document as received or sent (never re-serialised), so signatures and digests over it still
    check after a restart, and a trace shows what really went over the wire.
    """

    #: The envelope's MessageId: unique per direction among non-refused messages.
    message_id: str
    direction: Direction
    #: IR ID of the sending institution (``"FR:CPAM57001"``).
    sender: str
    #: IR ID of the receiving institution.
    receiver: str
    #: The envelope's ConversationId: the case ID.
    conversation_id: str
    #: MessageId of the message this one answers, if any.
    ref_to_message_id: str | None
    #: SED type carried (``"S071"``) and its version (``"4.4"``).
    sed_type: str
    sed_version: str
    #: ebMS Service and Action (``"BusinessMessaging"``, ``"Send"``).
    service: str
    action: str
    #: The envelope timestamp (when the sender made the message).
    created_at: datetime
    #: The raw envelope bytes (empty for an outbound message not framed yet).
    envelope: bytes = field(repr=False)
    #: The raw payload bytes: the SED document.
    payload: bytes = field(repr=False)
    #: Where the message stands; must belong to ``direction``.
    status: MessageStatus
    #: When it arrived (inbound only).
    received_at: datetime | None = None
    #: When the latest send attempt started (outbound only).
    sent_at: datetime | None = None
    #: Send attempts made so far (outbound).
    attempts: int = 0
    #: When the next attempt is due (outbound, ``QUEUED``/``RETRYING``); ``None`` = now.
    next_attempt_at: datetime | None = None
    #: Why the latest attempt failed, or why the message was refused/rejected.
    last_error: str | None = None
    #: How many copies with the same MessageId arrived after this one (inbound).
    duplicates: int = 0
    #: When the status last changed (set by the journal from the times it is given).
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.message_id:
            raise JournalError("a message needs a message_id", code="journal.bad-record")
        if self.status.direction is not self.direction:
            raise JournalError(
                f"status {self.status.value} does not apply to a {self.direction.value}bound"
                " message",
                code="journal.bad-record",
                where=f"message {self.message_id!r}",
            )
        if not isinstance(self.envelope, bytes) or not isinstance(self.payload, bytes):
            raise JournalError(
                "envelope and payload must be bytes (the exact bytes that travel)",
                code="journal.bad-record",
                where=f"message {self.message_id!r}",
                hint="pass the raw bytes, never a decoded str",
            )
        if self.attempts < 0 or self.duplicates < 0:
            raise JournalError(
                "attempts and duplicates cannot be negative",
                code="journal.bad-record",
                where=f"message {self.message_id!r}",
            )
        _check_aware("created_at", self.created_at)
        _check_aware("received_at", self.received_at)
        _check_aware("sent_at", self.sent_at)
        _check_aware("next_attempt_at", self.next_attempt_at)
        _check_aware("updated_at", self.updated_at)


@quick_init
@dataclass(frozen=True, slots=True)
class StatusChange:
    """What :meth:`Journal.update_status` wrote: the changed fields of an outbound message.

    Lighter than the :class:`MessageRecord` that :meth:`Journal.set_status` reads back (no
    envelope and payload bytes): what a sender needs after a status write.
    """

    message_id: str
    status: MessageStatus
    #: Send attempts made so far, this one included when the new status is ``SENDING``.
    attempts: int
    #: When the latest send attempt started.
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    updated_at: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class CaseEvent:
    """Something that happened in a case, as the core reported it. ``seq`` counts from 1."""

    case_id: str
    #: Position in the case's history: 1, 2, 3, ... without gaps (assigned by the journal).
    seq: int
    at: datetime
    #: What happened (``"document-received"``, ``"state-changed"``...): the core's vocabulary.
    kind: str
    #: JSON-compatible details.
    data: Mapping[str, Any]
    #: The message that caused it, if one did.
    message_id: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """The latest saved state of a case, to restart without replaying every event."""

    case_id: str
    #: JSON-compatible state, as the core serialises it.
    state: Mapping[str, Any]
    updated_at: datetime
    #: The seq of the last event committed with (or before) this snapshot.
    last_seq: int


#: One entry of a checkpoint: (table, key, value), key and value encoded by the node.
CheckpointItem = tuple[str, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The node's desk state as of input ``input_seq`` of its input log (see
    :meth:`Journal.save_checkpoint`). The journal stores it; only the node reads it."""

    #: What wrote it (format, code version, owner...): JSON-compatible, checked by the node.
    header: Mapping[str, Any]
    #: The ``seq`` of the last input-log event the state includes (0: none).
    input_seq: int
    at: datetime
    #: Every entry, in no particular order.
    items: Sequence[CheckpointItem]
    #: Reads one entry's whole value, by table and key (``None``: no such entry), on the
    #: calling thread, when the values starting with a zero byte came cut to a head (see
    #: :meth:`Journal.load_checkpoint`); ``None`` when every value came whole.
    fetch: Callable[[str, bytes], bytes | None] | None = None


#: One encoder for every call: ``json.dumps`` with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_json(value: Mapping[str, Any], *, what: str) -> str:
    """Canonical JSON text for event data and snapshots (sorted keys, no spaces).

    Canonical so that a replay can compare stored JSON byte for byte.
    """
    try:
        return _CANONICAL.encode(value)
    except (TypeError, ValueError) as exc:
        raise JournalError(
            f"{what} is not JSON-compatible: {exc}",
            code="journal.bad-record",
            hint="use str, int, float, bool, None, lists and dicts with str keys",
        ) from None


class JournalTransaction(ABC):
    """The writes that commit together (the transactional outbox).

    Obtained from :meth:`Journal.transaction`; valid only inside its ``async with`` block. Every
    write here becomes visible to readers at once at commit, or never (an exception in the block
    rolls everything back). Do no network I/O inside: the block holds the journal's writer.
    A backend may run the writes when the block ends (SQLite does, in one call): a check that
    needs the stored data (``mark_processed`` of a message already processed, an outbound ID
    already taken) may then raise from the end of the ``async with`` instead of from the call,
    and nothing of the block is committed.
    """

    @abstractmethod
    async def append_event(
        self,
        case_id: str,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        at: datetime,
        message_id: str | None = None,
    ) -> CaseEvent:
        """Append one event to the case's history; returns it with its ``seq``."""

    async def append_events(
        self,
        case_id: str,
        events: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        at: datetime,
        message_id: str | None = None,
    ) -> list[CaseEvent]:
        """Append ``(kind, data)`` pairs in order; returns them with their ``seq``."""
        return [
            await self.append_event(case_id, kind, data, at=at, message_id=message_id)
            for kind, data in events
        ]

    @abstractmethod
    async def save_case(self, case_id: str, state: Mapping[str, Any], *, at: datetime) -> None:
        """Store the case's current state (replacing the previous snapshot)."""

    @abstractmethod
    async def enqueue_outbound(self, record: MessageRecord) -> None:
        """Put an outbound message (status ``QUEUED``) in the outbox.

        Raises :class:`JournalError` if its message ID is already used by an outbound message.
        """

    @abstractmethod
    async def mark_processed(
        self, message_id: str, *, at: datetime, error: str | None = None, expired: bool = False
    ) -> None:
        """Mark an inbound ``RECEIVED`` message ``PROCESSED`` (or ``REJECTED`` with ``error``;
        ``EXPIRED`` with ``expired``, ``error`` saying why).

        Raises :class:`JournalError` if it is unknown or not ``RECEIVED``: this is what stops a
        message from being processed twice.
        """


class Journal(ABC):
    """The durable store of one institution. Async; safe to share between tasks of one loop."""

    # -- lifecycle ------------------------------------------------------------------------
    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release the store. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- inbound --------------------------------------------------------------------------
    @abstractmethod
    async def accept_inbound(self, record: MessageRecord) -> bool:
        """Journal an inbound message (status ``RECEIVED``); durable when this returns.

        Returns ``False`` (and counts the copy in ``duplicates``) if a message with this ID was
        already accepted from the same sender: the caller acknowledges it again and does not
        process it. Raises :class:`JournalError` (code ``journal.id-conflict``) if the ID was
        accepted from *another* sender. Several calls arriving together may share one commit.
        """

    @abstractmethod
    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        """Journal an inbound message that was refused at the door (status ``REFUSED``)."""

    @abstractmethod
    async def unprocessed_inbound(self) -> list[MessageRecord]:
        """Inbound messages accepted but not yet processed, oldest first (resume after a crash)."""

    # -- the outbox -----------------------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[JournalTransaction]:
        """``async with journal.transaction() as tx:``: writes that commit together."""

    @abstractmethod
    async def due_outbound(self, now: datetime, limit: int = 100) -> list[MessageRecord]:
        """Outbound ``QUEUED``/``RETRYING`` messages due at ``now``, the most overdue first."""

    @abstractmethod
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
        """Move an outbound message to ``status`` (checked against :data:`TRANSITIONS`), or an
        inbound one to ``PROCESSING_FAILED`` or back to ``RECEIVED`` (:data:`SET_INBOUND`).

        ``attempts`` replaces the count if given (moving to ``SENDING`` without it adds one);
        ``next_attempt_at`` and ``error`` replace the stored values. ``attempt_at``: this
        change ends a send attempt begun then and not journaled as ``SENDING``; the message
        passes through ``SENDING`` in the same change (both moves checked; one more attempt,
        ``sent_at`` = ``attempt_at``), one durable write per attempt (D240). Durable when it
        returns. Returns the updated record.
        """

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
        """:meth:`set_status`, returning only the changed fields (no blobs read back).

        Same checks, same durability. A backend should override it with a cheaper form; this
        default is :meth:`set_status` trimmed."""
        r = await self.set_status(
            message_id,
            status,
            at=at,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            error=error,
            attempt_at=attempt_at,
        )
        assert r.updated_at is not None
        return StatusChange(
            r.message_id,
            r.status,
            r.attempts,
            r.sent_at,
            r.next_attempt_at,
            r.last_error,
            r.updated_at,
        )

    @abstractmethod
    async def resume_interrupted_sends(self, *, at: datetime) -> list[str]:
        """After a restart: put messages left ``SENDING``/``WAITING_FOR_RECEIPT`` back to
        ``RETRYING`` (due now) and return their IDs. Safe because receivers drop duplicates by
        message ID. Call it once, when the node starts, before the sender loop."""

    # -- queries --------------------------------------------------------------------------
    @abstractmethod
    async def message(
        self, message_id: str, direction: Direction | None = None
    ) -> MessageRecord | None:
        """The message with this ID (the accepted one before a refused copy), or ``None``."""

    async def messages_by_id(
        self, message_ids: Sequence[str], direction: Direction
    ) -> dict[str, MessageRecord]:
        """The messages with these IDs in ``direction``, by ID, each as :meth:`message` finds
        it (absent IDs are left out): one query instead of one per message (a restart
        fetches its replayed inputs' documents this way). This default asks one by one."""
        out: dict[str, MessageRecord] = {}
        for message_id in dict.fromkeys(message_ids):
            found = await self.message(message_id, direction)
            if found is not None:
                out[message_id] = found
        return out

    @abstractmethod
    async def messages(
        self,
        *,
        case: str | None = None,
        institution: str | None = None,
        direction: Direction | None = None,
        status: MessageStatus | Sequence[MessageStatus] | None = None,
        since: datetime | None = None,
    ) -> list[MessageRecord]:
        """Messages in journal order, filtered: by case, by peer (sender or receiver), by
        direction, by status (one or several), and by time (received or created at or after
        ``since``)."""

    @abstractmethod
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
        """One page of :meth:`messages`: at most ``limit`` messages whose journal ``seq`` is
        above ``seq`` (journal order: arrival order), each with its ``seq`` (the cursor of the
        next page), filtered by case, direction, statuses and SED type."""

    async def message_counts(self) -> dict[str, int]:
        """How many messages the journal holds in each status (status value -> count; a status
        no message is in is absent). The health check asks this on every call, so a backend
        should answer it with one aggregate query; this default reads every record."""
        counts: dict[str, int] = {}
        for record in await self.messages():
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return counts

    @abstractmethod
    async def case_events(self, case_id: str) -> list[CaseEvent]:
        """The case's events in ``seq`` order."""

    @abstractmethod
    async def case(self, case_id: str) -> CaseSnapshot | None:
        """The latest snapshot of the case, or ``None``."""

    @abstractmethod
    async def cases(self) -> list[CaseSnapshot]:
        """Every case's latest snapshot, by case ID."""

    # -- checkpoints of the desk state (optional: a journal without them replays in full) ----
    async def case_events_after(self, case_id: str, seq: int) -> list[CaseEvent]:
        """The case's events after ``seq``, in ``seq`` order."""
        return [e for e in await self.case_events(case_id) if e.seq > seq]

    async def load_checkpoint(self, *, head: int | None = None) -> Checkpoint | None:
        """The last checkpoint saved, or ``None`` (none saved, or not supported). ``head``:
        a value whose first byte is zero (one the node reads only when it needs it, D186) may
        come cut to its first ``head`` bytes, and :attr:`Checkpoint.fetch` then reads it
        whole later; a journal that cannot read on the calling thread gives every value whole."""
        return None

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
        """Replace the checkpoint, atomically: the new header, the entries ``changed`` (added
        or overwritten by ``(table, key)``) and ``removed``; ``replace_all`` drops every
        entry of the previous one first. A crash before this returns leaves the previous
        checkpoint whole. Returns ``False`` if checkpoints are not supported (nothing saved)."""
        return False
