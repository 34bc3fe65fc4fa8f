"""Restart: rebuild a node's desk from the journal (its last checkpoint, then the input log
after it, replayed exactly: the recorded time and IDs), and write checkpoints.

See :mod:`eessi.node.institution` ("Restart") and :mod:`eessi.node.checkpoint`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from eessi.core.messages import DocumentReceived
from eessi.errors import EessiError, JournalError
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.node.inputs import input_from_json
from eessi.node.message_ids import MESSAGE_IDS_LOG
from eessi.node.records import INPUT_LOG
from eessi.sed.documents import from_element
from eessi.sed.validate import validate_or_raise
from eessi.sed.xmlsafe import parse

if TYPE_CHECKING:
    from eessi.node.institution import Institution

__all__ = ["checkpoint", "restore"]

log = logging.getLogger("eessi.node")


async def restore(node: Institution) -> None:
    """Rebuild the desk's state: from the journal's checkpoint if there is a usable one,
    then by replaying the input log after it (all of it without one; see the module
    docstring and :mod:`eessi.node.checkpoint`).

    The replay starts from a fresh desk (or the checkpoint's state): the journal is the only
    source of state, so a ``start()`` after ``stop()`` on the same object does not feed the
    inputs twice."""
    started = time.perf_counter()
    node.desk = node.make_desk(node.step_clock, node.step_ids, None)
    node.answered.clear()
    for ev in await node.journal.case_events(MESSAGE_IDS_LOG):
        node.answered.received(ev.data["document_id"], ev.data["message_id"])
    restored = await node.checkpoints.restore(node.desk.snapshot())
    # each commit's changed keys noted for the next checkpoint (D441)
    node.checkpoints.follow(lambda: node.desk.snapshot())
    after = 0
    if restored is not None:
        node.desk = node.make_desk(node.step_clock, node.step_ids, restored)
        after = node.checkpoints.input_seq
        log.info("%s: desk restored from the checkpoint at input %d", node.id, after)
    timings = node.checkpoints.timings
    timings["checkpoint"] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        await _replay(node, after)
    finally:
        timings["replay"] = time.perf_counter() - started


async def _replay(node: Institution, after: int) -> None:
    """Replay the input log after input ``after`` (see :func:`restore`)."""
    entries = await node.journal.case_events_after(INPUT_LOG, after)
    if not entries:
        return
    inbound: dict[str, MessageRecord]
    if after == 0:  # the whole log: one query for every processed message
        inbound = {
            r.message_id: r
            for r in await node.journal.messages(
                direction=Direction.IN, status=MessageStatus.PROCESSED
            )
        }
    else:  # a tail: one query for its documents (not one per input)
        named = [
            ev.message_id for ev in entries if ev.message_id and ev.data.get("kind") == "document"
        ]
        inbound = {
            message_id: r
            for message_id, r in (await node.journal.messages_by_id(named, Direction.IN)).items()
            if r.status is MessageStatus.PROCESSED
        }
    for ev in entries:
        data = ev.data
        record = None
        if data.get("kind") == "document":
            record = inbound.get(ev.message_id or "")
        node.step_ids.replay = deque(data.get("ids", ()))
        node.step_clock.fixed = ev.at
        try:
            if data.get("kind") == "document":
                if record is None:
                    raise JournalError(
                        f"the input log names message {ev.message_id}, which is not a"
                        " processed inbound message",
                        code="journal.replay-diverged",
                        where=f"input {ev.seq}",
                        hint="the journal is damaged; start with a new one",
                    )
                # a tail after this code's checkpoint: its documents were validated when this
                # code accepted them (the checkpoint's fingerprint says so): parsed only
                root = parse(record.payload) if after else validate_or_raise(record.payload).root
                sed = from_element(root)
                msg = DocumentReceived(
                    data["case"],
                    data["buc"],
                    record.sender,
                    data["document_id"],
                    sed,
                    data.get("answers"),
                )
                node.desk.handle(msg)
            else:
                node.worker.apply(input_from_json(data["input"]))
        except EessiError as exc:
            if isinstance(exc, JournalError):
                raise
            raise JournalError(
                f"replaying input {ev.seq} of the journal failed: {exc}",
                code="journal.replay-diverged",
                where=str(getattr(node.journal, "path", node.id)),
                hint="the households, directory or code changed since the journal was"
                " written; start with a new journal (or the original files)",
            ) from exc
        finally:
            node.step_ids.replay = None
            node.step_clock.fixed = None
        node.stats["replayed"] += 1
    node.checkpoints.logged(entries[-1].seq, entries[-1].at, len(entries))
    log.info("%s: desk restored from %d journaled inputs", node.id, len(entries))


async def checkpoint(node: Institution) -> None:
    """Checkpoint the desk's state (the inputs committed so far); a failure is logged and
    changes nothing (the previous checkpoint stays, the next one rewrites it all)."""
    try:
        written = await node.checkpoints.save(node.desk.snapshot())
    except Exception as exc:  # never fails the batch: it is committed, the log has it
        log.warning("%s: the checkpoint could not be written: %s", node.id, exc, exc_info=exc)
        return
    log.debug(
        "%s: checkpoint at input %d (%d entries written)",
        node.id,
        node.checkpoints.input_seq,
        written,
    )
