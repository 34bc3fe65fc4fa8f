"""Shared pieces of the admin API tests (not a test module).

:class:`JournalView` is the smallest thing the admin API reads: a directory entry, a real SQLite
journal, a real (empty) desk and a virtual clock. The read-only routes need nothing more; the
tests that start requests use the real ``Institution`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eessi.clock import VirtualClock
from eessi.core import CnsDesk, CnsRegistry, FundDesk
from eessi.directory import InstitutionEntry, load_default_directory
from eessi.ids import SeededIds
from eessi.journal import Direction, Journal, MessageRecord, MessageStatus
from eessi.sed.examples import example_xml

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CNS = "LU:CNS00001"
FR = "FR:CPAM5701"
BE = "BE:MC000200"


def entry(institution_id: str) -> InstitutionEntry:
    return load_default_directory().get(institution_id)


@dataclass
class JournalView:
    """A real journal and desk behind the admin API, without the network side of a node."""

    entry: InstitutionEntry
    journal: Journal
    desk: Any
    clock: VirtualClock

    async def submit(self, input: Any, *, messages: list[str] | None = None) -> Any:
        raise NotImplementedError("the read-only tests submit nothing")

    async def tick(self, *, messages: list[str] | None = None) -> Any:
        raise NotImplementedError("the read-only tests submit nothing")


def view(institution_id: str, journal: Journal, clock: VirtualClock) -> JournalView:
    if institution_id == CNS:
        desk: Any = CnsDesk(CNS, CnsRegistry(), clock, SeededIds(1))
    else:
        desk = FundDesk(institution_id, (), clock, SeededIds(2))
    return JournalView(entry(institution_id), journal, desk, clock)


def record(
    message_id: str,
    direction: Direction,
    *,
    case: str,
    peer: str,
    sed: str = "S071",
    at: datetime = T0,
    payload: bytes | None = None,
    envelope: bytes = b"",
    status: MessageStatus | None = None,
    me: str = CNS,
) -> MessageRecord:
    inbound = direction is Direction.IN
    return MessageRecord(
        message_id=message_id,
        direction=direction,
        sender=peer if inbound else me,
        receiver=me if inbound else peer,
        conversation_id=case,
        ref_to_message_id=None,
        sed_type=sed,
        sed_version="4.4",
        service="BusinessMessaging",
        action="Send",
        created_at=at,
        received_at=at + timedelta(seconds=1) if inbound else None,
        envelope=envelope,
        payload=payload if payload is not None else example_xml(sed),
        status=status or (MessageStatus.RECEIVED if inbound else MessageStatus.QUEUED),
    )
