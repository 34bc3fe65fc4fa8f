"""The node's worker: one task hands the queued inputs to the desk in batches and commits each
batch in ONE journal transaction (input log, case events and snapshots, outbound SEDs, inbound
marked processed): one fsync for many inputs.

**One writer of desk state.** Every input (a document, a submitted request, the time passing)
goes through :attr:`Worker.queue` and :meth:`Worker.loop`, so the desk (a sans-I/O object) is
never used by two tasks at once. A batch that fails is processed again input by input; an input
that fails alone is marked ``processing_failed`` (:meth:`Worker.failed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eessi.core.messages import DocumentReceived, Step, TimePassed
from eessi.errors import DomainError, EessiError, JournalError
from eessi.journal.base import CaseEvent, Direction, MessageRecord, MessageStatus
from eessi.node.inputs import SubmitInput, apply_input, input_to_json
from eessi.node.message_ids import MESSAGE_IDS_LOG, document_of, is_own_form
from eessi.node.options import crash_point
from eessi.node.records import DESK_LOG, INPUT_LOG, case_state, event_case, event_json
from eessi.node.restore import checkpoint
from eessi.node.steps import Done, Item, buc_of
from eessi.sed.documents import Document, from_element
from eessi.sed.validate import validate_or_raise

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["Worker"]

log = logging.getLogger("eessi.node")


class Worker:
    """The one task that runs inputs through the desk and commits them (module docstring)."""

    def __init__(self, node: Institution) -> None:
        self.node = node
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    def clear(self) -> None:
        """Drop the queued inputs (the node stops); a waiting ``submit()`` is cancelled, an
        inbound message stays ``received`` in the journal (processed at the next start)."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item.future is not None and not item.future.done():
                item.future.cancel()

    def enqueue(self, item: Item) -> None:
        if item.kind == "inbound" and self.node.inbound_from_journal:
            # journaled: the owner's pickup queues it from the journal (eessi.node.partitions);
            # the tree is not kept (the owner may be another process, and nothing would drop it)
            return
        self.node.add_busy(1)
        self.queue.put_nowait(item)

    async def loop(self) -> None:
        while True:
            item = await self.queue.get()
            batch = [item]
            while len(batch) < self.node.options.batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.process_isolated(batch)
            except Exception:  # never let the worker die: the journal keeps what is pending
                log.exception("%s: marking a failed input failed", self.node.id)
            finally:
                self.node.inbox.arm_expiry()
                self.node.add_busy(-len(batch))

    async def process_isolated(self, batch: list[Item]) -> None:
        """Process ``batch``; if it fails, each input again alone, so that one input the worker
        cannot process (a bug, a mock fund's rule that cannot apply) does not take the others
        down with it. An input that fails alone is marked failed (:meth:`failed`)."""
        try:
            await self.process(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                await self.failed(batch[0], exc)
                return
            log.warning(
                "%s: a batch of %d inputs failed (%s); processing each alone",
                self.node.id,
                len(batch),
                exc,
            )
        for item in batch:
            try:
                await self.process([item])
            except Exception as exc:
                await self.failed(item, exc)

    async def failed(self, item: Item, exc: Exception) -> None:
        """An input the worker failed on, alone: nothing of it was committed. Its caller gets
        the error; an inbound message is marked ``processing_failed`` with the reason (durable:
        health reports it, the case shows it, :meth:`retry_failed` hands it to the desk
        again), never left ``received`` with nothing to process it."""
        reason = f"processing failed in {self.node.id}: {type(exc).__name__}: {exc}"
        log.error("%s", reason, exc_info=exc)
        if item.future is not None and not item.future.done():
            item.future.set_exception(
                exc
                if isinstance(exc, JournalError)
                else EessiError(
                    f"the step could not be processed; nothing changed: {exc}",
                    code="node.step-failed",
                    where=self.node.id,
                    hint="see the node's log (a mock fund's rule that cannot apply is also in"
                    " its /api/mock/log)",
                )
            )
        record = item.record
        if record is None:
            return
        try:
            await self.node.journal.update_status(
                record.message_id,
                MessageStatus.PROCESSING_FAILED,
                at=self.node.clock.now(),
                error=reason,
            )
        except JournalError as mark:  # e.g. no longer "received": it was settled meanwhile
            log.error(
                "%s: %s not marked processing_failed: %s", self.node.id, record.message_id, mark
            )

    async def retry_failed(self, *, case: str | None = None) -> list[str]:
        """Hand the inbound messages whose processing failed (``processing_failed``) to the
        desk again, only those of ``case`` if given; returns their IDs. Remove the cause first
        (a mock fund's reset does this after dropping its rules)."""
        failed = await self.node.journal.messages(
            case=case, direction=Direction.IN, status=MessageStatus.PROCESSING_FAILED
        )
        at = self.node.clock.now()
        for record in failed:
            await self.node.journal.update_status(
                record.message_id, MessageStatus.RECEIVED, at=at, error=None
            )
            self.enqueue(
                Item("inbound", replace(record, status=MessageStatus.RECEIVED, last_error=None))
            )
        return [r.message_id for r in failed]

    async def process(self, batch: list[Item]) -> None:
        before = self.node.desk.snapshot()
        parked = {case: list(items) for case, items in self.node.inbox.parked.items()}
        done: list[Done] = []
        try:
            for item in batch:
                self.handle(item, done)
            self.node.inbox.expire_parked(done)
            if not done:
                return
            crash_point(
                self.node.options, "before-commit", self.first_inbound_type(batch), self.node.id
            )
            await self.commit(done)
        except BaseException:
            # Nothing was committed: put the desk (and the parked documents it unparked) back
            # as they were; the caller decides what becomes of the batch (_process_isolated).
            self.node.desk = self.node.make_desk(self.node.step_clock, self.node.step_ids, before)
            self.node.inbox.parked = parked
            raise
        crash_point(self.node.options, "after-commit", self.first_inbound_type(batch), self.node.id)
        for d in done:
            if d.expired:
                self.node.stats["expired"] += 1
            elif d.inbound_id is not None:
                self.node.stats["rejected" if d.error else "processed"] += 1
            for record, osed in d.outbound:
                if osed.copies > 1:
                    self.node.outbox.copies[record.message_id] = osed.copies - 1
                self.node.add_busy(1)
                self.node.outbox.schedule(record, record.next_attempt_at, retry=False)
            if d.messages is not None:
                d.messages.extend(record.message_id for record, _ in d.outbound)
            if d.future is not None and not d.future.done():
                d.future.set_result(d.step)
        every = self.node.options.checkpoint_every
        if every and self.node.checkpoints.pending >= every:
            await checkpoint(self.node)

    @staticmethod
    def first_inbound_type(batch: list[Item]) -> str | None:
        for item in batch:
            if item.record is not None:
                return item.record.sed_type
        return None

    async def commit(self, done: list[Done]) -> None:
        touched: set[str] = set()
        last = done[-1].at
        cases = self.node.desk.snapshot().cases
        logged: list[CaseEvent] = []
        async with self.node.journal.transaction() as tx:
            for d in done:
                if d.log_entry is not None:
                    logged.append(
                        await tx.append_event(
                            INPUT_LOG, "input", d.log_entry, at=d.at, message_id=d.inbound_id
                        )
                    )
                by_case: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
                for case_id, kind, data in d.events:
                    by_case.setdefault(case_id, []).append((kind, data))
                for case_id, events in by_case.items():  # one call per case: bulk-able
                    await tx.append_events(case_id, events, at=d.at, message_id=d.inbound_id)
                for record, _ in d.outbound:
                    await tx.enqueue_outbound(record)
                if d.inbound_id is not None:
                    await tx.mark_processed(d.inbound_id, at=d.at, error=d.error, expired=d.expired)
                if d.answer is not None:  # a request another process queued (D280)
                    await d.answer(tx, d.step, [record.message_id for record, _ in d.outbound])
                touched |= d.cases
            for case_id in sorted(touched):
                cf = cases.get(case_id)
                if cf is not None:
                    await tx.save_case(case_id, case_state(cf), at=last)
        if logged:  # committed: the desk now holds the inputs up to the last one
            self.node.checkpoints.logged(logged[-1].seq, logged[-1].at, len(logged))

    def handle(self, item: Item, done: list[Done]) -> None:
        """Run one input through the desk; append what to journal to ``done`` (or park it)."""
        at = self.node.clock.now()
        if item.kind == "expire":  # the batch's _expire_parked does the work
            return
        if item.kind == "submit":
            assert item.input is not None
            value = item.input
            try:
                step, drawn = self.run(at, lambda: self.apply(value))
            except EessiError as exc:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
                return
            self.node.stats["submitted"] += 1
            if isinstance(value, TimePassed) and not step.events and not step.outgoing:
                if item.future is not None and not item.future.done():
                    item.future.set_result(step)
                return
            entry: dict[str, Any] = {"kind": "input", "input": input_to_json(value), "ids": drawn}
            done.append(self.finished(at, step, entry, None, item.future, set()))
            done[-1].messages = item.messages
            done[-1].answer = item.answer
            self.node.inbox.unpark(done, self.step_cases(step))
            return
        record = item.record
        assert record is not None
        try:
            root = item.root
            if root is None:  # after a restart: parse the journaled bytes again
                root = validate_or_raise(record.payload).root
            msg = self.document(record, from_element(root))
        except JournalError:  # ours, not the document's (a damaged checkpoint entry): failed
            raise
        except (EessiError, ValueError) as exc:
            reason = f"the document cannot be read: {exc}"
            done.append(self.rejected(at, record, reason))
            return
        try:
            step, drawn = self.run(at, lambda: self.node.desk.handle(msg))
        except DomainError as exc:
            if self.node.inbox.parkable(msg, exc):
                self.node.stats["parked"] += 1
                log.info(
                    "%s: parked %s %s (%s)", self.node.id, record.sed_type, msg.document_id, exc
                )
                item.root = root
                self.node.inbox.parked.setdefault(msg.case_id, []).append(item)
                return
            done.append(self.rejected(at, record, str(exc)))
            return
        entry = {
            "kind": "document",
            "case": msg.case_id,
            "buc": msg.buc,
            "document_id": msg.document_id,
            "answers": msg.answers,
            "ids": drawn,
        }
        done.append(self.finished(at, step, entry, record.message_id, None, {msg.case_id}))
        if not is_own_form(record.message_id):  # D165: a reply's RefToMessageId, after restarts
            ids = {"document_id": msg.document_id, "message_id": record.message_id}
            done[-1].events.append((MESSAGE_IDS_LOG, "message-id", ids))
        self.node.inbox.unpark(done, self.step_cases(step) | {msg.case_id})

    def rejected(self, at: datetime, record: MessageRecord, reason: str) -> Done:
        log.warning(
            "%s: rejected %s %s: %s", self.node.id, record.sed_type, record.message_id, reason
        )
        event = (
            record.conversation_id or DESK_LOG,
            "document-rejected",
            {"message_id": record.message_id, "sed": record.sed_type, "reason": reason},
        )
        return Done(at, Step(), None, [event], [], set(), record.message_id, reason)

    def run(self, at: datetime, act: Callable[[], Step]) -> tuple[Step, list[str]]:
        self.node.step_clock.fixed = at
        self.node.step_ids.drawn = []
        try:
            step = act()
            drawn = self.node.step_ids.drawn
        finally:
            self.node.step_ids.drawn = None
            self.node.step_clock.fixed = None
        return step, drawn

    def apply(self, value: SubmitInput) -> Step:
        return apply_input(self.node.desk, value, cns_id=self.node.cns_id, where=self.node.id)

    def document(self, record: MessageRecord, sed: Document) -> DocumentReceived:
        """What the desk is told of ``record``: the document's ID is read from its MessageId and
        so is the one it answers from its RefToMessageId (:mod:`eessi.node.message_ids`, D165)."""
        document_id = document_of(record.message_id)[0]
        answers = record.ref_to_message_id
        case_id = record.conversation_id
        msg = DocumentReceived(
            case_id,
            self.buc_of(case_id, sed.code),
            record.sender,
            document_id,
            sed,
            document_of(answers)[0] if answers is not None else None,
        )
        self.node.answered.received(document_id, record.message_id)
        return msg

    def buc_of(self, case_id: str, code: str) -> str:
        return buc_of(self.node.desk, case_id, code)

    def finished(
        self,
        at: datetime,
        step: Step,
        entry: dict[str, Any],
        inbound_id: str | None,
        future: asyncio.Future[Step] | None,
        cases: set[str],
    ) -> Done:
        events: list[tuple[str, str, dict[str, Any]]] = []
        default_case = next(iter(cases)) if len(cases) == 1 else DESK_LOG
        for ev in step.events:
            kind, data = event_json(ev)
            case_id = event_case(ev) or default_case
            events.append((case_id, kind, data))
            if case_id != DESK_LOG:
                cases.add(case_id)
        cases |= {o.case_id for o in step.outgoing}
        outbound = []
        for out in step.outgoing:
            built = self.node.outbox.build(at, out)
            if built is None:
                events.append(
                    (out.case_id, "send-dropped", {"sed": out.sed.code, "to": out.receiver})
                )
            else:
                outbound.append(built)
        return Done(at, step, entry, events, outbound, cases, inbound_id, None, future)

    @staticmethod
    def step_cases(step: Step) -> set[str]:
        cases = {o.case_id for o in step.outgoing}
        for ev in step.events:
            case_id = event_case(ev)
            if case_id is not None:
                cases.add(case_id)
        return cases
