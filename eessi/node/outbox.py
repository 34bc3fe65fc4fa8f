"""The node's outbox: build each outbound SED's message, schedule it, deliver it, retry it.

The worker journals the outbound messages with its batch (the transactional outbox, status
``queued``); :meth:`Outbox.schedule` puts each on the send queue now or when due, the send
workers (:meth:`Outbox.loop`) post it and journal the attempt's outcome, passing through
``sending`` in the same write (D240): ``acknowledged`` / ``retrying`` (back-off with jitter,
persisted ``next_attempt_at``) -> ``failed``. On a virtual clock a
delayed message is *held* until :meth:`Outbox.release_due` (the node's ``tick()``), D11.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eessi.core.messages import Outgoing
from eessi.errors import EessiError
from eessi.journal.base import Direction, MessageRecord, MessageStatus, StatusChange
from eessi.node.hooks import OutboundSed
from eessi.node.steps import version_for
from eessi.sed.documents import Document
from eessi.transport.client import Failure, RetryPolicy
from eessi.transport.envelope import ACTION, SERVICE
from eessi.transport.seam import OutboundMessage

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["Outbox"]

log = logging.getLogger("eessi.node")


class Outbox:
    """Schedules, delivers and retries the outbound messages of one node (module docstring)."""

    def __init__(self, node: Institution) -> None:
        self.node = node
        self.queue: asyncio.Queue[MessageRecord] = asyncio.Queue()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        #: On a virtual clock: message ID -> (due, record, counted in ``busy``), released by
        #: :meth:`release_due` once the clock has passed ``due`` (see :meth:`schedule`).
        self.held: dict[str, tuple[datetime, MessageRecord, bool]] = {}
        #: Extra copies to post after the first is acknowledged (simulated duplicates).
        self.copies: dict[str, int] = {}
        #: :attr:`policy`, and the node's retry policy it was made from.
        self._retry: RetryPolicy | None = None
        self._policy = replace(self.node.options.retry, max_attempts=1)

    @property
    def policy(self) -> RetryPolicy:
        """One attempt per send: the outbox keeps the count and the back-off (journaled, so a
        retry survives a restart). Made once per retry policy of the node's options, not per
        send (D361)."""
        retry = self.node.options.retry
        if retry is not self._retry:
            self._retry = retry
            self._policy = replace(retry, max_attempts=1)
        return self._policy

    def clear(self) -> None:
        """Drop every timer, held and queued message (the node stops): they are still
        ``queued``/``retrying`` in the journal and scheduled again at the next start."""
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        self.held.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.copies.clear()

    def message_id(self, out: Outgoing) -> str:
        cf = self.node.desk.snapshot().cases.get(out.case_id)
        revision = 1
        if cf is not None:
            for ex in reversed(cf.snapshot.history):
                if ex.document.document_id == out.document_id:
                    revision = ex.revision
                    break
        return out.document_id if revision <= 1 else f"{out.document_id}~{revision}"

    def version_for(self, receiver: str, sed: Document) -> str:
        """The newest version both sides support, if the document's own is not one of them."""
        node = self.node
        return version_for(node.directory, node.accept_versions, receiver, sed.code, sed.version)

    def build(self, at: datetime, out: Outgoing) -> tuple[MessageRecord, OutboundSed] | None:
        sed = out.sed
        version = self.version_for(out.receiver, sed)
        if version != sed.version:
            try:
                sed = replace(sed, version=version)
            except (EessiError, ValueError, TypeError):
                log.warning(
                    "%s: %s cannot be written in version %s", self.node.id, sed.code, version
                )
        osed: OutboundSed | None = OutboundSed(
            receiver=out.receiver,
            case_id=out.case_id,
            buc=out.buc,
            sed_type=sed.code,
            sed_version=sed.version,
            message_id=self.message_id(out),
            ref_to_message_id=self.node.answered.message_of(out.answers),
            payload=sed.to_xml(),
        )
        assert osed is not None
        osed = self.node.outbound_policy.outbound(osed, out)
        if osed is None:
            return None
        message = OutboundMessage(
            message_id=osed.message_id,
            timestamp=at,
            sender=self.node.id,
            receiver=osed.receiver,
            conversation_id=osed.case_id,
            buc=osed.buc,
            sed_type=osed.sed_type,
            sed_version=osed.sed_version,
            payload=osed.payload,
            ref_to_message_id=osed.ref_to_message_id,
        )
        record = MessageRecord(
            message_id=osed.message_id,
            direction=Direction.OUT,
            sender=self.node.id,
            receiver=osed.receiver,
            conversation_id=osed.case_id,
            ref_to_message_id=osed.ref_to_message_id,
            sed_type=osed.sed_type,
            sed_version=osed.sed_version,
            service=SERVICE,
            action=ACTION,
            created_at=at,
            envelope=self.node.transport.envelope(message),
            payload=osed.payload,
            status=MessageStatus.QUEUED,
            next_attempt_at=at + timedelta(seconds=osed.delay) if osed.delay > 0 else None,
        )
        return record, osed

    def schedule(self, record: MessageRecord, due: datetime | None, *, retry: bool) -> None:
        """Put ``record`` (counted in ``busy`` by the caller) on the send queue now, or when
        ``due`` comes.

        * Wall clock (:class:`SystemClock`): a real timer, for delays and retries alike.
        * Virtual clock: the message is *held* and :meth:`tick` releases it once the clock has
          passed ``due`` (a delay of a day waits for the scenario to move the clock a day; it
          is not in flight meanwhile, so :meth:`idle` returns). A **retry** also keeps its real
          timer and stays in flight: back-off is the transport's own machinery (a peer failing
          twice must be retried within a scenario step whose clock stands still), and a tick
          past ``next_attempt_at`` sends it at once. See docs/decisions.md (D11).
        """
        delay = 0.0 if due is None else (due - self.node.clock.now()).total_seconds()
        if delay <= 0:
            self.queue.put_nowait(record)
            return
        mid = record.message_id
        if self.node.virtual_time:
            assert due is not None
            self.held[mid] = (due, record, retry)
            if not retry:
                self.node.add_busy(-1)
                return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.timers.pop(mid, None)
            self.held.pop(mid, None)
            self.queue.put_nowait(record)

        self.timers[mid] = loop.call_later(delay, fire)

    def release_due(self) -> int:
        """Send now every held message whose time the clock has passed; how many."""
        now = self.node.clock.now()
        due = [mid for mid, (when, _r, _c) in self.held.items() if when <= now]
        for mid in due:
            _when, record, counted = self.held.pop(mid)
            timer = self.timers.pop(mid, None)
            if timer is not None:
                timer.cancel()
            if not counted:
                self.node.add_busy(1)
            self.queue.put_nowait(record)
        return len(due)

    async def loop(self) -> None:
        while True:
            record = await self.queue.get()
            try:
                final = await self.deliver(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: sending %s failed", self.node.id, record.message_id)
                final = True
            if final:
                self.node.add_busy(-1)

    def message(self, record: MessageRecord) -> OutboundMessage:
        """What the transport is given to send for the journaled ``record`` (the BUC is its
        case's)."""
        return OutboundMessage(
            message_id=record.message_id,
            timestamp=record.created_at,
            sender=record.sender,
            receiver=record.receiver,
            conversation_id=record.conversation_id,
            buc=self.node.worker.buc_of(record.conversation_id, record.sed_type),
            sed_type=record.sed_type,
            sed_version=record.sed_version,
            payload=record.payload,
            ref_to_message_id=record.ref_to_message_id,
            envelope=record.envelope,
        )

    async def deliver(self, record: MessageRecord) -> bool:
        """One attempt; returns whether the message reached a final status."""
        mid = record.message_id
        peer = self.node.directory.find(record.receiver)
        if peer is None or not peer.eessi:
            why = (
                f"the receiver {record.receiver} is not in the directory"
                if peer is None
                else f"the receiver {record.receiver} is outside EESSI (eessi = false)"
            )
            await self.fail(record, f"{why}; nothing was sent")
            return True
        # update_status: the changed fields only (no blobs read back per status write, P2).
        # One durable write per attempt (D240): the outbox row already says the message is to
        # be sent, so nothing is journaled before the POST (D97 made that write wait for
        # nothing; D240 drops it); the attempt's outcome (acknowledged, retrying, failed, or
        # waiting_for_receipt if the receipt is slow) is journaled as passing through
        # `sending` in one change (attempts + 1, sent_at = the attempt's start). A crash
        # during the POST leaves the row queued or retrying, and the message is sent again
        # after the restart, which the receiver drops as a duplicate.
        started = self.node.clock.now()
        self.node.stats["sent"] += 1
        # A receipt normally comes back within the same exchange; if it has not after
        # `waiting_after` seconds, the message is journaled as waiting_for_receipt (no cost on
        # the fast path: a timer, cancelled when the answer comes).
        waiting: list[asyncio.Task[StatusChange]] = []

        def mark_waiting() -> None:
            waiting.append(
                asyncio.create_task(
                    self.node.journal.update_status(
                        mid,
                        MessageStatus.WAITING_FOR_RECEIPT,
                        at=self.node.clock.now(),
                        attempt_at=started,
                    )
                )
            )

        timer = asyncio.get_running_loop().call_later(self.node.options.waiting_after, mark_waiting)
        try:
            result = await self.node.transport.send(self.message(record), policy=self.policy)
        finally:
            timer.cancel()
            if waiting:
                await asyncio.gather(*waiting)
        # The attempt not journaled yet: the next write of this message journals it.
        attempt_at = None if waiting else started
        attempts = waiting[0].result().attempts if waiting else record.attempts + 1
        now = self.node.clock.now()
        if result.ok:
            await self.node.journal.update_status(
                mid, MessageStatus.ACKNOWLEDGED, at=now, attempt_at=attempt_at
            )
            self.node.stats["acknowledged"] += 1
            extra = self.copies.pop(mid, 0)
            for _ in range(extra):  # simulated duplicates: same MessageId, same bytes
                await self.node.transport.send(self.message(record), policy=self.policy)
            return True
        reason = result.reason or "no receipt"
        if result.failure is Failure.REFUSED_BY_PEER:
            await self.fail(record, reason, attempt_at=attempt_at)
            return True
        budget = self.node.options.retry.max_attempts
        if attempts >= budget:
            await self.fail(
                record, f"no receipt after {attempts} attempt(s): {reason}", attempt_at=attempt_at
            )
            return True
        delay = self.node.options.retry.delay(attempts - 1, self.node.rng)
        due = now + timedelta(seconds=delay)
        change = await self.node.journal.update_status(
            mid,
            MessageStatus.RETRYING,
            at=now,
            next_attempt_at=due,
            error=reason,
            attempt_at=attempt_at,
        )
        retrying = replace(
            record,
            status=change.status,
            attempts=change.attempts,
            sent_at=change.sent_at,
            next_attempt_at=change.next_attempt_at,
            last_error=change.last_error,
            updated_at=change.updated_at,
        )
        self.node.stats["retried"] += 1
        log.info(
            "%s: %s to %s: retry in %.2fs (%s)", self.node.id, mid, record.receiver, delay, reason
        )
        self.schedule(retrying, due, retry=True)
        return False

    async def fail(
        self, record: MessageRecord, reason: str, *, attempt_at: datetime | None = None
    ) -> None:
        """Journal ``record`` as failed; ``attempt_at``: the start of the attempt that failed,
        not journaled yet (D240)."""
        self.node.stats["failed"] += 1
        log.warning(
            "%s: %s %s to %s FAILED: %s",
            self.node.id,
            record.sed_type,
            record.message_id,
            record.receiver,
            reason,
        )
        await self.node.journal.update_status(
            record.message_id,
            MessageStatus.FAILED,
            at=self.node.clock.now(),
            error=reason,
            attempt_at=attempt_at,
        )
