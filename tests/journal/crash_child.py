"""Helper process for ``test_journal_crash.py`` (not a test): writes to a journal until killed.

Usage: ``python crash_child.py JOURNAL_FILE FULL|NORMAL FIRST_NUMBER``. Each round, three
inbound messages arrive (two together, sharing a group commit, and one alone), then the first
two are processed, each in one transaction (two events, a case snapshot, one outbound message,
mark processed); the third stays unprocessed. A line goes to stdout, flushed, only **after**
the call that made it durable has returned: ``accepted <id>`` and ``processed <id>``. The
parent kills this process with SIGKILL at a random moment and checks the journal against what
was printed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from eessi.journal import Direction, MessageRecord, MessageStatus, SqliteJournal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def payload_for(message_id: str) -> bytes:
    """Bytes that break any text round trip: NUL, CR LF, invalid UTF-8, a BOM."""
    return b"\xef\xbb\xbf<S071>\r\n\x00\xff\xfe" + message_id.encode() * 7 + b"</S071>\r\n"


def envelope_for(message_id: str) -> bytes:
    return b"<Envelope MessageId='" + message_id.encode() + b"'>\t</Envelope>"


def case_for(message_id: str) -> str:
    return "case-" + message_id


def inbound(message_id: str, n: int) -> MessageRecord:
    return MessageRecord(
        message_id=message_id,
        direction=Direction.IN,
        sender="FR:CPAM57001",
        receiver="LU:CNS00001",
        conversation_id=case_for(message_id),
        ref_to_message_id=None,
        sed_type="S071",
        sed_version="4.4",
        service="BusinessMessaging",
        action="Send",
        created_at=T0 + timedelta(seconds=n),
        received_at=T0 + timedelta(seconds=n),
        envelope=envelope_for(message_id),
        payload=payload_for(message_id),
        status=MessageStatus.RECEIVED,
    )


def outbound(message_id: str, n: int) -> MessageRecord:
    reply = "out-" + message_id
    return MessageRecord(
        message_id=reply,
        direction=Direction.OUT,
        sender="LU:CNS00001",
        receiver="FR:CPAM57001",
        conversation_id=case_for(message_id),
        ref_to_message_id=message_id,
        sed_type="S072",
        sed_version="4.4",
        service="BusinessMessaging",
        action="Send",
        created_at=T0 + timedelta(seconds=n),
        envelope=envelope_for(reply),
        payload=payload_for(reply),
        status=MessageStatus.QUEUED,
    )


async def process(journal: SqliteJournal, message_id: str, n: int) -> None:
    """What the node does with an inbound message, in one transaction."""
    at = T0 + timedelta(seconds=n, milliseconds=1)
    async with journal.transaction() as tx:
        await tx.append_events(
            case_for(message_id),
            [("document-received", {"message": message_id}), ("state-changed", {"to": "done"})],
            at=at,
            message_id=message_id,
        )
        await tx.save_case(case_for(message_id), {"state": "done", "by": message_id}, at=at)
        await tx.enqueue_outbound(outbound(message_id, n))
        await tx.mark_processed(message_id, at=at)


async def run(path: str, synchronous: str, start: int) -> None:
    assert synchronous in ("FULL", "NORMAL")
    journal = await SqliteJournal.open(path, synchronous=synchronous)  # type: ignore[arg-type]
    n = start
    while True:
        ids = [f"in-{n + k:06d}" for k in range(3)]
        # Two arrive together (one group commit), the third alone (an autocommit write).
        fresh = await asyncio.gather(*(journal.accept_inbound(inbound(i, n)) for i in ids[:2]))
        fresh.append(await journal.accept_inbound(inbound(ids[2], n)))
        assert all(fresh)
        for i in ids:
            print("accepted", i, flush=True)
        for i in ids[:2]:
            await process(journal, i, n)
            print("processed", i, flush=True)
        n += 3


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], int(sys.argv[3])))
