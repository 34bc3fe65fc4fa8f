"""The node's inbox: accept an inbound message, park what cannot be handled yet, expire it.

* :meth:`Inbox.on_message` (the transport's callback for an authenticated user message): the
  inbound interceptor first (a mock's simulated failure), then the SED validated (one parse),
  the message journaled ``received`` (durable) and queued for the worker; the outcome (accepted,
  duplicate, refused) becomes the receipt or error signal. :meth:`Inbox.on_refused` journals
  what the transport refused before the node saw it.
* **Parked** documents (their case, or the document they answer, not known yet) wait in
  :attr:`Inbox.parked` by case; :meth:`Inbox.unpark` hands them to the worker again whenever an
  input changes their case; past ``NodeOptions.parked_expiry`` they expire
  (:meth:`Inbox.expire_parked`: journaled ``expired``, the sender answered with an X050).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eessi.core.buc_table import Direction as CaseDirection
from eessi.core.desk import reference_of
from eessi.core.messages import DocumentReceived, Outgoing, Step
from eessi.errors import DomainError, EessiError, JournalError, SedError
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.node.hooks import InboundAction, OutboundSed
from eessi.node.message_ids import document_of
from eessi.node.options import crash_point
from eessi.node.records import DESK_LOG, REFUSED_LOG
from eessi.node.steps import Done, Item
from eessi.sed.catalogue import CURRENT_VERSION, SUPPORTED_VERSIONS
from eessi.sed.documents import X050, ExceptionCode, SedReference
from eessi.sed.model import VERY_LONG
from eessi.sed.validate import validate_or_raise
from eessi.transport import codes
from eessi.transport.http import CURRENT_REQUEST
from eessi.transport.server import Inbound, Outcome, Refusal

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["Inbox", "delivered_record"]

log = logging.getLogger("eessi.node")


def delivered_record(
    inbound: Inbound,
    *,
    direction: Direction = Direction.IN,
    status: MessageStatus = MessageStatus.RECEIVED,
) -> MessageRecord:
    """The journal record of a message that reached an AS4 endpoint: envelope metadata,
    envelope and payload bytes as they arrived. The node journals it inbound as ``received``;
    a stand-in peer (trace replay) keeps it as what the replayed side sent."""
    m = inbound.message
    at = inbound.received_at
    return MessageRecord(
        message_id=m.message_id,
        direction=direction,
        sender=m.from_party,
        receiver=m.to_party,
        conversation_id=m.conversation_id,
        ref_to_message_id=m.ref_to_message_id,
        sed_type=m.sed_type,
        sed_version=m.sed_version,
        service=m.service,
        action=m.action,
        created_at=m.timestamp,
        envelope=inbound.envelope,
        payload=inbound.payload,
        status=status,
        received_at=at if direction is Direction.IN else None,
        sent_at=at if direction is Direction.OUT else None,
    )


class Inbox:
    """Accepts, parks, unparks and expires the inbound documents of one node."""

    def __init__(self, node: Institution) -> None:
        self.node = node
        #: Documents waiting for their case (or the document they answer), by case ID.
        self.parked: dict[str, list[Item]] = {}
        #: Wall clock only: fires when the earliest parked document is due to expire.
        self.expiry_timer: asyncio.TimerHandle | None = None

    def clear(self) -> None:
        """Forget the parked documents (the node stops): still ``received`` in the journal,
        they are parked again at the next start."""
        self.parked.clear()
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None

    async def on_message(self, inbound: Inbound) -> Outcome:
        outcome = await self.intercept(inbound)
        if outcome is not None:
            return outcome
        outcome = await self.receive(inbound)
        for listener in self.node.delivery_listeners:
            listener(inbound.message, outcome)
        return outcome

    async def intercept(self, inbound: Inbound) -> Outcome | None:
        """Ask the inbound interceptor about an authenticated message (``None``: handle it).

        It gets the HTTP request when the message came over HTTP (``None`` otherwise, e.g.
        through the in-memory twin); a ``reset`` drops the exchange (:attr:`Inbound.abort`)."""
        request = CURRENT_REQUEST.get()
        interceptor = self.node.inbound_interceptor
        action: InboundAction | None = interceptor.inbound(inbound.message, request)
        if action is None:
            return None
        if action.seconds > 0:
            await asyncio.sleep(action.seconds)
        if action.kind == "stall":
            return None
        if action.kind == "reset" and inbound.abort is not None:
            inbound.abort()
        reason = action.reason or (
            f"{self.node.id}: simulated failure; nothing was kept, send it again later"
        )
        return Outcome.refused(reason, code=replace(codes.UNAVAILABLE, http_status=action.status))

    async def receive(self, inbound: Inbound) -> Outcome:
        """Validate the SED, journal the message (durable) and queue it for the desk."""
        m = inbound.message
        try:
            valid = validate_or_raise(
                inbound.payload,
                accept_versions=self.node.accept_versions,
                max_bytes=self.node.options.max_body,
                where=f"message {m.message_id}",
            )
        except SedError as exc:
            reason = str(exc)
            await self.refuse(inbound, reason)
            code = (
                codes.PROCESSING_MODE_MISMATCH
                if exc.code == "sed.unsupported-version"
                else codes.OTHER
            )
            detail = exc.details.get("xpath") or exc.where
            return Outcome.refused(reason, code=code, detail=detail)
        if valid.sed != m.sed_type or valid.version != m.sed_version:
            reason = (
                f"the envelope announces {m.sed_type} {m.sed_version} but the SED part is"
                f" {valid.sed} {valid.version}; make SedType and SedVersion match the document"
            )
            await self.refuse(inbound, reason)
            return Outcome.refused(
                reason,
                code=codes.VALUE_INCONSISTENT,
                detail="/Messaging/UserMessage/PayloadInfo/PartInfo",
            )
        record = delivered_record(inbound)
        try:
            fresh = await self.node.journal.accept_inbound(record)
        except JournalError as exc:
            if exc.code != "journal.id-conflict":
                raise
            await self.refuse(inbound, exc.message)
            return Outcome.refused(f"{exc.message}; {exc.hint}", code=codes.VALUE_INCONSISTENT)
        if not fresh:
            self.node.stats["duplicates"] += 1
            return Outcome.duplicate()
        self.node.stats["received"] += 1
        crash_point(self.node.options, "after-accept", m.sed_type, self.node.id)
        self.node.worker.enqueue(Item("inbound", record, valid.root))
        return Outcome.accepted()

    async def refuse(self, inbound: Inbound, reason: str) -> None:
        self.node.stats["refused"] += 1
        await self.node.journal.refuse_inbound(delivered_record(inbound), reason)

    async def on_refused(self, refusal: Refusal) -> None:
        self.node.stats["refused"] += 1
        if not refusal.authenticated:
            # Before authentication the sender is unknown: a bounded summary (headers, size,
            # digest, reason; never the body) under a pseudo case, never a message of a case.
            async with self.node.journal.transaction() as tx:
                await tx.append_event(
                    REFUSED_LOG, "refused", refusal.summary(), at=refusal.received_at
                )
            return
        m = refusal.message
        error = refusal.error
        reason = f"{error.code} {error.short_description}: {error.description}"
        if m is not None:
            record = MessageRecord(
                message_id=m.message_id,
                direction=Direction.IN,
                sender=m.from_party,
                receiver=m.to_party,
                conversation_id=m.conversation_id,
                ref_to_message_id=m.ref_to_message_id,
                sed_type=m.sed_type,
                sed_version=m.sed_version,
                service=m.service,
                action=m.action,
                created_at=m.timestamp,
                envelope=refusal.envelope or b"",
                payload=refusal.payload or b"",
                status=MessageStatus.RECEIVED,
                received_at=refusal.received_at,
            )
        else:  # unreadable or oversized: journal what we know, under the error signal's ID
            record = MessageRecord(
                message_id=f"unreadable:{error.message_id}",
                direction=Direction.IN,
                sender=refusal.peer or "unknown",
                receiver=self.node.id,
                conversation_id="",
                ref_to_message_id=None,
                sed_type="",
                sed_version="",
                service="",
                action="",
                created_at=refusal.received_at,
                envelope=refusal.envelope or b"",
                payload=refusal.payload or b"",
                status=MessageStatus.RECEIVED,
                received_at=refusal.received_at,
            )
        await self.node.journal.refuse_inbound(record, reason)

    def parkable(self, msg: DocumentReceived, exc: DomainError) -> bool:
        """Could this document become legal later? Only if the desk refused it because its case
        or the document it answers is not known yet (it may still be on its way). Any other
        refusal is final, and so is a document that opens a case and fails: it is rejected."""
        details = exc.details
        if details.get("case_id", msg.case_id) != msg.case_id:
            return False  # the refusal is about another case (e.g. the desk's own step)
        cf = self.node.desk.snapshot().cases.get(msg.case_id)
        if cf is None:
            return exc.code == "protocol.unknown-case"
        answers = msg.answers if msg.answers is not None else reference_of(msg.sed)
        if answers is None:
            return False
        history = cf.snapshot.history
        if any(ex.document.document_id == answers for ex in history):
            return False
        if any(
            ex.document.document_id == msg.document_id
            and (ex.document.code != msg.sed.code or ex.direction is not CaseDirection.RECEIVE)
            for ex in history
        ):
            return False  # its document ID already names another document: never legal
        if exc.code == "protocol.unknown-document":
            return True
        document = details.get("document")
        return (
            exc.code == "protocol.illegal-step"
            and details.get("direction") == CaseDirection.RECEIVE.value
            and isinstance(document, Mapping)
            and document.get("document_id") == msg.document_id
        )

    def unpark(self, done: list[Done], cases: Iterable[str]) -> None:
        for case_id in cases:
            waiting = self.parked.pop(case_id, None)
            if not waiting:
                continue
            for item in waiting:  # each may park again (it is then re-listed)
                self.node.worker.handle(item, done)

    def expiry_due(self, record: MessageRecord) -> datetime | None:
        limit = self.node.options.parked_expiry
        if limit is None:
            return None
        return (record.received_at or record.created_at) + timedelta(seconds=limit)

    def expire_parked(self, done: list[Done]) -> None:
        """Give up the parked documents that waited longer than ``parked_expiry``: each becomes
        an ``expired`` entry of this batch's transaction, with the X050 that answers its sender
        (see :meth:`expired`). Runs at the end of every batch: on a virtual clock a
        :meth:`tick` after the clock moved, on the wall clock the timer of :meth:`arm_expiry`
        (or any input), and the first batch after a restart (documents parked again on start
        whose time passed while the node was down)."""
        if self.node.options.parked_expiry is None or not self.parked:
            return
        now = self.node.clock.now()
        for case_id in list(self.parked):
            keep: list[Item] = []
            for item in self.parked[case_id]:
                record = item.record
                due = self.expiry_due(record) if record is not None else None
                if record is not None and due is not None and due <= now:
                    done.append(self.expired(now, record))
                else:
                    keep.append(item)
            if keep:
                self.parked[case_id] = keep
            else:
                del self.parked[case_id]

    def expired(self, at: datetime, record: MessageRecord) -> Done:
        """The journal entry of a parked document given up, and the X050 (business exception
        ``03``, case unknown) telling its sender, in the sender's case. The X050's document ID
        is derived from the expired message (a restart that expires it again writes the same
        one). An X050 that expires is not answered (no exception about an exception)."""
        limit = self.node.options.parked_expiry or 0.0
        document_id, revision = document_of(record.message_id)
        answers = record.ref_to_message_id
        reason = (
            f"{record.sed_type} {record.message_id} waited {limit:g} s for its case"
            f" {record.conversation_id}"
            + (f" or the document it answers ({answers})" if answers else "")
            + f" to become known at {self.node.id}; it expired unprocessed"
        )
        log.warning(
            "%s: expired %s %s: %s", self.node.id, record.sed_type, record.message_id, reason
        )
        event = (
            record.conversation_id or DESK_LOG,
            "document-expired",
            {"message_id": record.message_id, "sed": record.sed_type, "reason": reason},
        )
        outbound: list[tuple[MessageRecord, OutboundSed]] = []
        if record.sed_type != "X050":
            try:
                concerned: SedReference | None = SedReference(
                    sed_type=record.sed_type,
                    sed_id=document_id,
                    sed_version=revision,
                )
            except (EessiError, ValueError):  # an ID that is not a UUID: not named in the SED
                concerned = None
            version = (
                record.sed_version if record.sed_version in SUPPORTED_VERSIONS else CURRENT_VERSION
            )
            x050 = X050(
                version=version,
                exception=ExceptionCode.CASE_UNKNOWN,
                description=reason[:VERY_LONG],
                technical_code="node.parked-expired",
                concerned=concerned,
            )
            name = f"eessi-sim:expired:{self.node.id}:{record.sender}:{record.message_id}"
            out = Outgoing(
                receiver=record.sender,
                case_id=record.conversation_id,
                buc=self.node.worker.buc_of(record.conversation_id, record.sed_type),
                sed=x050,
                document_id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            )
            built = self.node.outbox.build(at, out)
            if built is not None:
                outbound.append(built)
        return Done(
            at, Step(), None, [event], outbound, set(), record.message_id, reason, expired=True
        )

    def arm_expiry(self) -> None:
        """On the wall clock, (re)arm one timer for the earliest parked document's expiry; it
        queues an ``expire`` input (on a virtual clock :meth:`tick` does it, D11)."""
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None
        if not self.parked or self.node.virtual_time or not self.node.started:
            return
        dues = [
            due
            for items in self.parked.values()
            for item in items
            if item.record is not None and (due := self.expiry_due(item.record)) is not None
        ]
        if not dues:
            return
        delay = max(0.0, (min(dues) - self.node.clock.now()).total_seconds())

        def fire() -> None:
            self.expiry_timer = None
            self.node.worker.enqueue(Item("expire"))

        self.expiry_timer = asyncio.get_running_loop().call_later(delay, fire)
