"""One log line per message in and out and per decision, and the metrics, from the journal.

Everything a node does to a message goes through its journal (accepted, refused, processed,
queued, acknowledged, retried, failed; decisions are case events committed with their
effects), so :class:`ObservedJournal`, a thin proxy put in front of the node's journal by
:func:`instrument`, sees every event where the node already records it, without a line in the
node's own code (docs/decisions.md D77). Lines and counts of a transaction are emitted after it
commits: a rolled-back batch logs nothing.

Per message, one ``INFO`` line ``event="message"`` with ``institution``, ``direction``, ``sed``,
``case``, ``message_id``, ``peer``, ``status`` (its outcome) and ``duration_ms`` (journaled to
outcome, when this process saw both): inbound ``processed``, ``rejected``, ``refused`` (at the
door, with ``code`` and ``reason``), ``expired`` (parked too long), ``duplicate`` (a copy
dropped), ``processing_failed``; outbound ``acknowledged`` or ``failed``. A retry is an
``INFO`` line ``event="retry"``; the steps before an outcome (received, queued) are ``DEBUG``.
Per decision, one ``INFO`` line ``event="decision"`` with the domain event's ``kind``, ``case``
and the ``rules`` it cites.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, cast

from eessi.errors import SedError
from eessi.journal.base import (
    Direction,
    Journal,
    JournalTransaction,
    MessageRecord,
    MessageStatus,
    StatusChange,
)
from eessi.ops.logs import log_event
from eessi.ops.metrics import NodeMetrics, add_metrics_route

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["ObservedJournal", "instrument"]

log = logging.getLogger("eessi.ops")

#: Outcomes that settle a message (its one ``event="message"`` line).
_OUTCOMES: Final = frozenset(
    {
        MessageStatus.PROCESSED,
        MessageStatus.REJECTED,
        MessageStatus.EXPIRED,
        MessageStatus.PROCESSING_FAILED,
        MessageStatus.ACKNOWLEDGED,
        MessageStatus.FAILED,
    }
)
#: Outbound statuses of a message still in the outbox.
_PENDING_OUT: Final = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.WAITING_FOR_RECEIPT,
    MessageStatus.RETRYING,
)
#: What :meth:`ObservedJournal.update_status` does after each status, keyed by the status's
#: value (a string: an enum member's hash and ``direction`` are Python calls, D360): the
#: direction, and whether it settles the message (``True``) or is a retry (``False``); a
#: status missing here is a step that is not reported.
_REPORTED: Final = {
    **{s.value: (s.direction, True) for s in _OUTCOMES},
    MessageStatus.RETRYING.value: (Direction.OUT, False),
}
#: Fields of a decision's domain event worth a look in its log line (besides kind and rules).
_DECISION_FIELDS: Final = ("confirmed", "reason", "why", "party", "to", "start", "person")


@dataclass(slots=True)
class _Seen:
    """What the log line and the counters of a message need, kept until its outcome."""

    direction: Direction
    sed: str
    case: str
    peer: str
    #: ``time.monotonic()`` when it was journaled in this process (``None``: before a restart).
    since: float | None


def _seen(record: MessageRecord, since: float | None) -> _Seen:
    peer = record.sender if record.direction is Direction.IN else record.receiver
    return _Seen(
        record.direction, record.sed_type or "unknown", record.conversation_id, peer, since
    )


class ObservedJournal:
    """The node's journal, observed (see the module docstring). Everything not overridden here
    is the journal's own."""

    def __init__(self, inner: Journal, institution: str, metrics: NodeMetrics) -> None:
        self._inner = inner
        self._inst = institution
        self._metrics = metrics
        #: Messages journaled and not settled yet, by (direction, message ID).
        self._open: dict[tuple[Direction, str], _Seen] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def inner(self) -> Journal:
        """The journal observed."""
        return self._inner

    def outbox_depth(self) -> int:
        """Outbound messages journaled and not settled."""
        return sum(1 for direction, _ in self._open if direction is Direction.OUT)

    async def resume_interrupted_sends(self, *, at: Any) -> list[str]:
        """The node calls this once when it starts: learn then what the journal holds
        unsettled (after a restart), for the outbox depth and the outcome lines."""
        resumed = await self._inner.resume_interrupted_sends(at=at)
        for rec in await self._inner.messages(direction=Direction.OUT, status=_PENDING_OUT):
            self._open[(Direction.OUT, rec.message_id)] = _seen(rec, None)
        for rec in await self._inner.unprocessed_inbound():
            self._open[(Direction.IN, rec.message_id)] = _seen(rec, None)
        return resumed

    # -- inbound -------------------------------------------------------------------------------

    async def accept_inbound(self, record: MessageRecord) -> bool:
        fresh = await self._inner.accept_inbound(record)
        if fresh:
            seen = _seen(record, time.monotonic())
            self._open[(Direction.IN, record.message_id)] = seen
            if log.isEnabledFor(logging.DEBUG):
                self._line(logging.DEBUG, "received", record.message_id, seen, "message.step")
        else:
            self._outcome(record.message_id, _seen(record, None), "duplicate")
        return fresh

    async def refuse_inbound(self, record: MessageRecord, reason: str) -> None:
        await self._inner.refuse_inbound(record, reason)
        code = _refusal_code(record, reason)
        self._metrics.validation_failures.labels(self._inst, code).inc()
        self._outcome(record.message_id, _seen(record, None), "refused", code=code, reason=reason)

    # -- status changes ------------------------------------------------------------------------

    async def update_status(
        self, message_id: str, status: MessageStatus, **kwargs: Any
    ) -> StatusChange:
        change = await self._inner.update_status(message_id, status, **kwargs)
        reported = _REPORTED.get(status._value_)
        if reported is not None:
            key = (reported[0], message_id)
            seen = self._open.get(key)
            if seen is None:
                seen = await self._unseen(key)
            if seen is not None:
                self._report(key, seen, status._value_, reported[1], change.last_error)
        return change

    async def set_status(self, message_id: str, status: MessageStatus, **kwargs: Any) -> Any:
        result = await self._inner.set_status(message_id, status, **kwargs)
        if status in _OUTCOMES:
            await self._status(message_id, status, kwargs.get("error"))
        return result

    async def _status(self, message_id: str, status: MessageStatus, error: str | None) -> None:
        key = (status.direction, message_id)
        seen = self._open.get(key)
        if seen is None:
            seen = await self._unseen(key)
        if seen is not None:
            self._report(key, seen, status.value, status is not MessageStatus.RETRYING, error)

    async def _unseen(self, key: tuple[Direction, str]) -> _Seen | None:
        """A message journaled before this process started (or primed without it), read."""
        record = await self._inner.message(key[1], key[0])
        return None if record is None else _seen(record, None)

    def _report(
        self, key: tuple[Direction, str], seen: _Seen, status: str, settles: bool, error: str | None
    ) -> None:
        """The counters and the line of a status change: an outcome (``settles``), or a retry."""
        if settles:
            self._open.pop(key, None)
            self._outcome(key[1], seen, status, error=error)
            return
        self._open[key] = seen
        self._metrics.retries.labels(self._inst, seen.sed).inc()
        self._line(logging.INFO, "retrying", key[1], seen, "retry", error=error)

    # -- transactions --------------------------------------------------------------------------

    def transaction(self) -> AbstractAsyncContextManager[JournalTransaction]:
        return _ObservedBlock(self)

    async def _committed(self, observed: _ObservedTx, seconds: float) -> None:
        """What a committed transaction reports (:class:`_ObservedBlock`)."""
        self._metrics.observe_commit(seconds)
        if observed.queued:
            now = time.monotonic()
            debug = log.isEnabledFor(logging.DEBUG)
            for record in observed.queued:
                queued = _seen(record, now)
                self._open[(Direction.OUT, record.message_id)] = queued
                if debug:
                    self._line(logging.DEBUG, "queued", record.message_id, queued, "message.step")
        for message_id, status, error in observed.processed:
            key = (Direction.IN, message_id)
            seen = self._open.get(key)
            if seen is None:
                seen = await self._unseen(key)
            if seen is not None:
                self._report(key, seen, status.value, True, error)
        if observed.events and log.isEnabledFor(logging.INFO):
            for case_id, kind, data in observed.events:
                _decision(self._inst, case_id, kind, data)

    # -- output --------------------------------------------------------------------------------

    def _outcome(self, message_id: str, seen: _Seen, status: str, **extra: Any) -> None:
        direction = seen.direction._value_
        self._metrics.count(seen.sed, direction, status)
        elapsed = None if seen.since is None else time.monotonic() - seen.since
        if elapsed is not None and status != "duplicate":
            self._metrics.timed(direction, elapsed)
        level = logging.WARNING if status in ("failed", "refused") else logging.INFO
        if log.isEnabledFor(level):
            self._line(level, status, message_id, seen, "message", elapsed=elapsed, **extra)

    def _line(
        self,
        level: int,
        status: str,
        message_id: str,
        seen: _Seen,
        event: str,
        *,
        elapsed: float | None = None,
        **extra: Any,
    ) -> None:
        if not log.isEnabledFor(level):
            return
        arrow = "from" if seen.direction is Direction.IN else "to"
        log_event(
            log,
            level,
            event,
            f"{self._inst}: {seen.direction.value} {seen.sed} {message_id} {arrow} {seen.peer}:"
            f" {status}",
            institution=self._inst,
            direction=seen.direction.value,
            sed=seen.sed,
            case=seen.case or None,
            message_id=message_id,
            peer=seen.peer,
            status=status,
            duration_ms=None if elapsed is None else round(elapsed * 1000, 3),
            **{k: v for k, v in extra.items() if v is not None},
        )


class _ObservedBlock:
    """``ObservedJournal.transaction()``: the journal's block, and once it has committed what
    it wrote reported (a class rather than an ``asynccontextmanager``: one generator fewer per
    transaction, D360)."""

    __slots__ = ("_block", "_journal", "_observed", "_started")

    def __init__(self, journal: ObservedJournal) -> None:
        self._journal = journal
        self._block = journal.inner.transaction()

    async def __aenter__(self) -> JournalTransaction:
        self._started = time.perf_counter()
        self._observed = _ObservedTx(await self._block.__aenter__())
        return cast(JournalTransaction, self._observed)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        swallowed = await self._block.__aexit__(kind, exc, tb)
        if kind is None:
            await self._journal._committed(self._observed, time.perf_counter() - self._started)
        return swallowed


class _ObservedTx:
    """A transaction that remembers what to report once it commits."""

    def __init__(self, inner: JournalTransaction) -> None:
        self._inner = inner
        self.queued: list[MessageRecord] = []
        self.processed: list[tuple[str, MessageStatus, str | None]] = []
        self.events: list[tuple[str, str, Mapping[str, Any]]] = []
        # the writes reported on as they are (no __getattr__ miss per call)
        self.append_event = inner.append_event
        self.save_case = inner.save_case

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def enqueue_outbound(self, record: MessageRecord) -> None:
        await self._inner.enqueue_outbound(record)
        self.queued.append(record)

    async def mark_processed(self, message_id: str, *, error: str | None = None, **kw: Any) -> None:
        await self._inner.mark_processed(message_id, error=error, **kw)
        status = (
            MessageStatus.EXPIRED
            if kw.get("expired")
            else MessageStatus.REJECTED
            if error is not None
            else MessageStatus.PROCESSED
        )
        self.processed.append((message_id, status, error))

    async def append_events(
        self, case_id: str, events: Iterable[tuple[str, Mapping[str, Any]]], **kwargs: Any
    ) -> Any:
        if not isinstance(events, list):
            events = list(events)
        result = await self._inner.append_events(case_id, events, **kwargs)
        self.events.extend((case_id, kind, data) for kind, data in events)
        return result


def _rules(data: Any, depth: int = 0) -> list[str]:
    """The rules a domain event's JSON cites (``rule`` / ``rules`` keys, nested a little)."""
    found: list[str] = []
    if depth > 3:
        return found
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "rule" and isinstance(value, str):
                found.append(value)
            elif key == "rules" and isinstance(value, list | tuple):
                found.extend(str(v) for v in value)
            elif isinstance(value, Mapping | list):
                found.extend(_rules(value, depth + 1))
    elif isinstance(data, list):
        for value in data:
            found.extend(_rules(value, depth + 1))
    return found


def _decision(institution: str, case_id: str, kind: str, data: Mapping[str, Any]) -> None:
    rules = list(dict.fromkeys(_rules(data)))
    if not rules:
        return
    case = data.get("case_id") if isinstance(data.get("case_id"), str) else None
    if case is None and not case_id.startswith("~"):
        case = case_id
    fields = {k: data[k] for k in _DECISION_FIELDS if data.get(k) is not None}
    log_event(
        log,
        logging.INFO,
        "decision",
        f"{institution}: {kind} citing {', '.join(rules)}",
        institution=institution,
        kind=kind,
        case=case,
        rules=rules,
        **fields,
    )


def _refusal_code(record: MessageRecord, reason: str) -> str:
    """The code of a refusal: the SED's validation error code (``sed.*``), or the ebMS error
    code the reason starts with, or ``envelope``. Read again from the payload: refusals are
    rare, and this keeps the node's refusal path as it is."""
    head = reason.split(" ", 1)[0]
    if head.startswith("EBMS:"):
        return head
    if record.payload:
        from eessi.sed.validate import validate_or_raise

        try:
            validate_or_raise(record.payload)
        except SedError as exc:
            return exc.code or "sed.invalid"
        except Exception:  # any other failure to read it: still a refusal to count
            return "sed.invalid"
    return "envelope"


def instrument(node: Institution) -> NodeMetrics:
    """Observe ``node`` (before it starts): its journal behind an :class:`ObservedJournal`, its
    metrics at ``/metrics``. Returns the metrics."""
    metrics = NodeMetrics(node.id)
    observed = ObservedJournal(node.journal, node.id, metrics)
    node.journal = cast(Journal, observed)
    metrics.watch(node, observed.outbox_depth)
    add_metrics_route(node.app, metrics)
    return metrics
