"""Hooks where mock behaviours (and tests) change what a node sends and how it answers.

Two seams, both no-ops by default:

* :class:`OutboundPolicy`: called for each SED the desk wants to send, **before** it is
  journaled. It may return it unchanged, changed (another version, corrupted bytes), delayed,
  sent in several copies (same MessageId: duplicates the receiver must drop), or ``None`` to drop
  it (the desk believes it sent it; nothing travels: "stay silent").
* :class:`InboundInterceptor`: called for each inbound HTTP request **before** the transport
  reads it. It may let it through (``None``), answer with an HTTP status (5xx: the sender
  retries), reset the connection, or stall for a while first ("fail then recover").

The node journals what the policy returns, so the journal shows what really travelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from eessi.core.messages import Outgoing

__all__ = [
    "InboundAction",
    "InboundInterceptor",
    "NoOpInbound",
    "NoOpOutbound",
    "OutboundPolicy",
    "OutboundSed",
]


@dataclass(frozen=True, slots=True)
class OutboundSed:
    """A SED about to be journaled and sent (what the outbound policy may change)."""

    receiver: str
    case_id: str
    buc: str
    sed_type: str
    sed_version: str
    #: The envelope MessageId.
    message_id: str
    #: RefToMessageId: the document this one answers, if any.
    ref_to_message_id: str | None
    #: The SED document bytes as they will travel.
    payload: bytes
    #: Seconds to wait before the first attempt.
    delay: float = 0.0
    #: How many times to post it (extra copies keep the MessageId: duplicates).
    copies: int = 1


class OutboundPolicy(Protocol):
    """Decides what becomes of each outgoing SED (see the module docstring)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None: ...


@dataclass(frozen=True, slots=True)
class InboundAction:
    """What an inbound interceptor does with one request instead of (or before) handling it."""

    kind: Literal["status", "reset", "stall"]
    #: For ``status``: the HTTP status answered (e.g. 503).
    status: int = 503
    #: For ``stall``: seconds to wait before handling the request normally.
    seconds: float = 0.0


class InboundInterceptor(Protocol):
    """Decides, per inbound request, whether to handle it normally (``None``)."""

    def inbound(self) -> InboundAction | None: ...


class NoOpOutbound:
    """Sends everything as the desk made it."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return sed


class NoOpInbound:
    """Handles every request normally."""

    def inbound(self) -> InboundAction | None:
        return None
