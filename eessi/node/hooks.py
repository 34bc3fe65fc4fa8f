"""Hooks where mock behaviours (and tests) change what a node sends and how it answers.

Two seams, both no-ops by default:

* :class:`OutboundPolicy`: called for each SED the desk wants to send, **before** it is
  journaled. It may return it unchanged, changed (another version, corrupted bytes), delayed,
  sent in several copies (same MessageId: duplicates the receiver must drop), or ``None`` to drop
  it (the desk believes it sent it; nothing travels: "stay silent").
* :class:`InboundInterceptor`: called for each inbound user message once its envelope is
  parsed and authenticated (the transport checks passed: the claimed sender signed it) and
  **before** anything is journaled, with the parsed :class:`~eessi.transport.envelope.
  UserMessage` (conversation ID = case, SED type, MessageId) and the ``aiohttp`` request
  (``None`` through the in-memory twin, :mod:`eessi.transport.twin`). It
  may let it through (``None``), answer an ebMS error with an HTTP status (5xx: the sender
  retries), reset the connection, or stall for a while first ("fail then recover", per case).
  A failed attempt is not journaled: the message never arrived.
* :data:`DeliveryListener`: called after the node has handled an inbound user message
  (journaled as received, a duplicate or refused), before the signal goes back; a mock wakes
  whoever waits for a delivery.

The node journals what the policy returns, so the journal shows what really travelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from aiohttp import web

from eessi.core.messages import Outgoing
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Outcome

__all__ = [
    "DeliveryListener",
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
    #: Seconds of the node's clock to wait before the first attempt (a virtual clock: released
    #: by ``tick()`` once passed, see docs/decisions.md D11).
    delay: float = 0.0
    #: How many times to post it (extra copies keep the MessageId: duplicates).
    copies: int = 1


class OutboundPolicy(Protocol):
    """Decides what becomes of each outgoing SED (see the module docstring)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None: ...


@dataclass(frozen=True, slots=True)
class InboundAction:
    """What an inbound interceptor does with one message instead of (or before) handling it.

    ``status``: answer an ebMS error signal (``EBMS:0004``) with this HTTP status; ``reset``:
    abort the connection (no answer); ``stall``: wait ``seconds``, then handle the message
    normally. ``seconds`` also holds a ``status`` or ``reset`` that long first (a timeout).
    """

    kind: Literal["status", "reset", "stall"]
    #: For ``status``: the HTTP status answered (e.g. 503).
    status: int = 503
    #: Seconds to wait first (real time: the sender's attempt timeout is real time too).
    seconds: float = 0.0
    #: The error's description (default: "simulated failure").
    reason: str | None = None


class InboundInterceptor(Protocol):
    """Decides, per inbound user message, whether to handle it normally (``None``).

    ``message`` is parsed and authenticated; ``request`` is the HTTP request it came in
    (``None`` when it did not come over HTTP: the in-memory twin)."""

    def inbound(
        self, message: UserMessage, request: web.Request | None
    ) -> InboundAction | None: ...


#: Told of each inbound user message the node handled, with the outcome (see the docstring).
DeliveryListener: TypeAlias = Callable[[UserMessage, Outcome], None]


class NoOpOutbound:
    """Sends everything as the desk made it."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return sed


class NoOpInbound:
    """Handles every request normally."""

    def inbound(self, message: UserMessage, request: web.Request | None) -> InboundAction | None:
        return None
