"""The AS4-like envelope: what travels around a SED, and the signals that answer it.

Three frozen value classes mirror the ebMS3 header, simplified (see ``schemas/envelope/``):

* :class:`UserMessage`: a SED on its way from one institution to another (From/To IR IDs,
  Service/Action, ConversationId = the case, MessageId, RefToMessageId, SED type and version,
  and the SHA-256 digest and size of the payload part it names by Content-ID);
* :class:`Receipt`: "I have durably received message X" (RefToMessageId);
* :class:`ErrorSignal`: "I refuse message X" with an ebMS-style code (``EBMS:0009``), a short
  description and a readable description (what, where, what to do).

Encoding uses string templates (the values are escaped) because it is on the hot path and the
shape is fixed. Decoding does **one** hardened lxml parse, validates against ``envelope.xsd``
with libxml2 (compiled once; no ``xmlschema`` on the per-message path) and then reads the
fields by position, which the schema guarantees. Every decoding failure is an
:class:`~eessi.errors.EnvelopeError` whose ``where`` names the line and the element path.
The codec itself is in :mod:`eessi.transport.envelope_xml`, imported when first used (D232).
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from eessi.transport.envelope_xml import (
        decode,
        decode_signal,
        decode_user_message,
        encode,
        envelope_schema_path,
    )

__all__ = [
    "ACTION",
    "MAX_ENVELOPE_BYTES",
    "NAMESPACE",
    "SERVICE",
    "ErrorSignal",
    "Receipt",
    "Signal",
    "UserMessage",
    "decode",
    "decode_signal",
    "decode_user_message",
    "encode",
    "envelope_schema_path",
    "payload_digest",
]

#: Namespace of our envelope schema.
NAMESPACE: Final = "http://ec.europa.eu/eessi/ns/sim/as4"
#: The only Service and Action the simulation uses (as in EESSI's AS4 profile).
SERVICE: Final = "BusinessMessaging"
ACTION: Final = "Send"

#: Envelopes are about 1 KiB; anything far larger is refused before parsing.
MAX_ENVELOPE_BYTES: Final = 64 * 1024

_NS = "{" + NAMESPACE + "}"


def payload_digest(payload: bytes) -> str:
    """The lower-case hex SHA-256 of ``payload``, as carried in ``PartInfo/Digest``."""
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A SED on its way between two institutions (ebMS3 ``UserMessage``, simplified)."""

    #: Unique per message, the key of duplicate elimination.
    message_id: str
    #: When the sender created the message (timezone-aware).
    timestamp: datetime
    #: IR ID of the sender, e.g. ``"FR:CPAM5700"``; authenticated by the receiver.
    from_party: str
    #: IR ID of the receiver; must be the institution the message is posted to.
    to_party: str
    #: The case ID (ebMS ``ConversationId``).
    conversation_id: str
    #: ``"S071"``.
    sed_type: str
    #: ``"4.4"``.
    sed_version: str
    #: Lower-case hex SHA-256 of the payload part.
    payload_digest: str
    #: Size of the payload part in bytes.
    payload_size: int
    #: The message this one answers, if any.
    ref_to_message_id: str | None = None
    service: str = SERVICE
    action: str = ACTION
    #: Content-ID of the payload part (without ``cid:`` and angle brackets).
    payload_id: str = "payload"

    @classmethod
    def for_payload(
        cls,
        payload: bytes,
        *,
        message_id: str,
        timestamp: datetime,
        from_party: str,
        to_party: str,
        conversation_id: str,
        sed_type: str,
        sed_version: str,
        ref_to_message_id: str | None = None,
    ) -> UserMessage:
        """Build the envelope for ``payload`` (digest and size computed here)."""
        return cls(
            message_id=message_id,
            timestamp=timestamp,
            from_party=from_party,
            to_party=to_party,
            conversation_id=conversation_id,
            sed_type=sed_type,
            sed_version=sed_version,
            payload_digest=payload_digest(payload),
            payload_size=len(payload),
            ref_to_message_id=ref_to_message_id,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receiver's acknowledgement: ``ref_to_message_id`` is durably journaled there."""

    #: The receipt's own message ID.
    message_id: str
    timestamp: datetime
    #: The user message acknowledged.
    ref_to_message_id: str


@dataclass(frozen=True, slots=True)
class ErrorSignal:
    """A refusal with an ebMS-style code, referencing the message in error when known."""

    #: The signal's own message ID.
    message_id: str
    timestamp: datetime
    #: ``"EBMS:0009"``.
    code: str
    #: The ebMS short description: ``"InvalidHeader"``.
    short_description: str
    #: Readable: what is wrong, where, and what to do.
    description: str
    #: The message in error (``None`` when the envelope could not even be read).
    ref_to_message_id: str | None = None
    #: ``"failure"`` (the message was not delivered) or ``"warning"``.
    severity: str = "failure"
    #: Where the problem is (line, XPath, header), if known.
    detail: str | None = None


#: A signal message answers a user message.
Signal = Receipt | ErrorSignal


#: The XML codec's names, in :mod:`eessi.transport.envelope_xml` (lxml, the schema): imported
#: on first use, so a node on eDelivery AS4 that only needs the values above never loads it
#: (D232).
_CODEC: Final = frozenset(
    {"decode", "decode_signal", "decode_user_message", "encode", "envelope_schema_path"}
)


def __getattr__(name: str) -> Any:
    """A codec name (``encode``, ``decode``...), its module imported on first use (D232)."""
    if name in _CODEC:
        return getattr(importlib.import_module("eessi.transport.envelope_xml"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
