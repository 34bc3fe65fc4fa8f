"""Traces for the trace tests, built from example SEDs through the journal records (not a test
module). The exchange is the R17 one: the French fund asks (S071), the CNS answers (S072), the
fund confirms the registration (S073); each message recorded by both sides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eessi.directory import load_default_directory
from eessi.journal import Direction, MessageRecord, MessageStatus, open_journal
from eessi.sed.examples import example_xml
from eessi.trace.export import make_header, merge, observer_of
from eessi.trace.format import TraceHeader, TraceMessage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CNS = "LU:CNS00001"
CPAM = "FR:CPAM5701"


def record(
    message_id: str,
    sed: str,
    sender: str,
    receiver: str,
    *,
    direction: Direction,
    at: datetime,
    case: str = "LU-00000000CA5E",
    ref: str | None = None,
    payload: bytes | None = None,
    seed: int = 0,
) -> MessageRecord:
    out = direction is Direction.OUT
    return MessageRecord(
        message_id=message_id,
        direction=direction,
        sender=sender,
        receiver=receiver,
        conversation_id=case,
        ref_to_message_id=ref,
        sed_type=sed,
        sed_version="4.4",
        service="BusinessMessaging",
        action="Send",
        created_at=at,
        envelope=b"<env:Envelope id='" + message_id.encode() + b"'/>",
        payload=payload if payload is not None else example_xml(sed, seed=seed),
        status=MessageStatus.ACKNOWLEDGED if out else MessageStatus.PROCESSED,
        received_at=None if out else at + timedelta(milliseconds=5),
        sent_at=at if out else None,
        attempts=1 if out else 0,
    )


def both_ways(
    message_id: str, sed: str, sender: str, receiver: str, at: datetime, **kw: object
) -> list[MessageRecord]:
    """The sender's outbound and the receiver's inbound record of one message."""
    return [
        record(message_id, sed, sender, receiver, direction=d, at=at, **kw)  # type: ignore[arg-type]
        for d in (Direction.OUT, Direction.IN)
    ]


def r17_records(
    case: str = "LU-00000000CA5E", prefix: str = "m", start: datetime = T0
) -> list[MessageRecord]:
    minute = timedelta(minutes=1)
    return [
        *both_ways(f"{prefix}1", "S071", CPAM, CNS, start, case=case),
        *both_ways(f"{prefix}2", "S072", CNS, CPAM, start + minute, case=case, ref=f"{prefix}1"),
        *both_ways(
            f"{prefix}3", "S073", CPAM, CNS, start + 2 * minute, case=case, ref=f"{prefix}2"
        ),
    ]


def header(**config: object) -> TraceHeader:
    return make_header(
        load_default_directory(),
        config=dict(config) or {"seed": 7},
        source={"test": True},
        created=T0,
    )


def messages(records: Sequence[MessageRecord]) -> list[TraceMessage]:
    cns = [r for r in records if (r.sender if r.direction is Direction.OUT else r.receiver) == CNS]
    fund = [r for r in records if r not in cns]
    return merge([cns, fund])


def with_payload(record_: MessageRecord, payload: bytes) -> MessageRecord:
    return replace(record_, payload=payload)


async def fill_journal(path: Path, records: Sequence[MessageRecord]) -> None:
    """Fill a real SQLite journal through its API, as a node would."""
    journal = await open_journal(path, synchronous="NORMAL")
    try:
        for r in records:
            if r.direction is Direction.IN:
                await journal.accept_inbound(replace(r, status=MessageStatus.RECEIVED))
                async with journal.transaction() as tx:
                    await tx.mark_processed(r.message_id, at=r.received_at or T0)
            else:
                queued = replace(r, status=MessageStatus.QUEUED, attempts=0, sent_at=None)
                async with journal.transaction() as tx:
                    await tx.enqueue_outbound(queued)
                await journal.set_status(r.message_id, MessageStatus.SENDING, at=r.created_at)
                await journal.set_status(r.message_id, MessageStatus.ACKNOWLEDGED, at=r.created_at)
    finally:
        await journal.close()


async def two_journals(tmp: Path, records: Sequence[MessageRecord]) -> tuple[Path, Path]:
    """The CNS's and the French fund's journals holding their side of ``records``."""
    cns, fund = tmp / "cns.sqlite", tmp / "fund.sqlite"
    await fill_journal(cns, [r for r in records if observer_of(r) == CNS])
    await fill_journal(fund, [r for r in records if observer_of(r) == CPAM])
    return cns, fund
