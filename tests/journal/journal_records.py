"""Record builders shared by the journal tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eessi.journal import Direction, MessageRecord, MessageStatus

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CNS = "LU:CNS00001"
CPAM = "FR:CPAM57001"


def inbound(
    message_id: str, *, case: str = "LU-CASE1", sender: str = CPAM, **kw: Any
) -> MessageRecord:
    fields: dict[str, Any] = {
        "message_id": message_id,
        "direction": Direction.IN,
        "sender": sender,
        "receiver": CNS,
        "conversation_id": case,
        "ref_to_message_id": None,
        "sed_type": "S071",
        "sed_version": "4.4",
        "service": "BusinessMessaging",
        "action": "Send",
        "created_at": T0,
        "received_at": T0 + timedelta(seconds=1),
        "envelope": b"<env id='" + message_id.encode() + b"'/>",
        "payload": b"\xef\xbb\xbf<S071>\r\n\x00\xff" + message_id.encode() + b"</S071>",
        "status": MessageStatus.RECEIVED,
    }
    fields.update(kw)
    return MessageRecord(**fields)


def outbound(
    message_id: str, *, case: str = "LU-CASE1", receiver: str = CPAM, **kw: Any
) -> MessageRecord:
    fields: dict[str, Any] = {
        "message_id": message_id,
        "direction": Direction.OUT,
        "sender": CNS,
        "receiver": receiver,
        "conversation_id": case,
        "ref_to_message_id": None,
        "sed_type": "S072",
        "sed_version": "4.4",
        "service": "BusinessMessaging",
        "action": "Send",
        "created_at": T0,
        "envelope": b"",
        "payload": b"<S072>\n\x00</S072>",
        "status": MessageStatus.QUEUED,
    }
    fields.update(kw)
    return MessageRecord(**fields)
