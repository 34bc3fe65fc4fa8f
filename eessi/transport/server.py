"""The inbound side: one aiohttp endpoint (``POST /as4``) per institution.

The endpoint only moves and checks bytes; what a message *means* is the node's business. It
runs the checks in a fixed order, each with its own ebMS code and HTTP status (see
:mod:`eessi.transport.codes`):

0. the peer address has spent its refusals (:class:`~eessi.transport.limits.RefusalLimiter`)
   → 429 with ``Retry-After``, before the body is read, nothing recorded;
1. body larger than ``max_body`` → 413 (from Content-Length before reading, else while reading);
   body not complete within ``limits.body_timeout`` → 408;
2. framing or envelope malformed, or invalid against ``envelope.xsd`` → 400 ``EBMS:0009``;
3. ``To`` is not this institution → 404 ``EBMS:0003`` (ValueInconsistent);
4. ``From`` unknown, signature missing or wrong → 401/403 ``EBMS:0101``;
5. the Timestamp is outside the window around this receiver's clock → 422 ``EBMS:0003``;
6. the payload does not match ``PartInfo`` (digest, size, Content-ID) → 400 ``EBMS:0003``;
7. SED version not accepted → 422 ``EBMS:0010`` naming the accepted versions;
8. ``on_message`` (the node: journal, validate the SED, ...) returns an :class:`Outcome`.

Refusals of steps 1-4 and 5 happen before the message is known to be genuine and current
(:attr:`Refusal.authenticated` is false): a receiver records only a bounded summary of them
(:meth:`Refusal.summary`), never the body. Every refusal of steps 1-7 spends one token of the
peer address's bucket.

A receipt is sent only **after** ``on_message`` returns, i.e. after the durable journal write;
``ACCEPTED`` and ``DUPLICATE`` both get one (duplicate elimination is the callback's job: it
knows which message IDs it has). Refusals of steps 1-6 are reported to ``on_refused`` (so the
node can journal them as refused) before the error is answered. If a callback raises, the
answer is 503 ``EBMS:0004`` and the sender retries later: nothing was stored.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from eessi.transport import codes
from eessi.transport.codes import EbmsCode
from eessi.transport.envelope import ErrorSignal, UserMessage

if TYPE_CHECKING:
    from eessi.transport.hmac_endpoint import InboundEndpoint

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PATH",
    "Disposition",
    "Inbound",
    "InboundEndpoint",
    "OnMessage",
    "OnRefused",
    "Outcome",
    "Refusal",
]

log = logging.getLogger("eessi.transport.server")

#: Default limit for one message (envelope + SED): 1 MiB.
DEFAULT_MAX_BODY: Final = 1024 * 1024
#: Where the endpoint is mounted unless told otherwise.
DEFAULT_PATH: Final = "/as4"
_SIGNAL_TYPE: Final = "application/xml"
_MAX_HEADER_CHARS: Final = 200


class Disposition(Enum):
    """What the node did with an inbound message."""

    #: Journaled for the first time: answer with a receipt.
    ACCEPTED = "accepted"
    #: Already journaled under this MessageId: answer with a receipt again, process nothing.
    DUPLICATE = "duplicate"
    #: Refused (journaled as refused): answer with an error signal.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The node's answer to :class:`Inbound`; build it with the class methods."""

    disposition: Disposition
    #: For refusals: the ebMS code to answer with (default ``EBMS:0004 Other``, HTTP 422).
    code: EbmsCode | None = None
    #: For refusals: readable reason (what, where, what to do).
    reason: str | None = None
    #: For refusals: where in the document (XPath, line), if known.
    detail: str | None = None

    @classmethod
    def accepted(cls) -> Outcome:
        return _ACCEPTED

    @classmethod
    def duplicate(cls) -> Outcome:
        return _DUPLICATE

    @classmethod
    def refused(
        cls, reason: str, *, code: EbmsCode = codes.OTHER, detail: str | None = None
    ) -> Outcome:
        return cls(Disposition.REFUSED, code=code, reason=reason, detail=detail)


_ACCEPTED: Final = Outcome(Disposition.ACCEPTED)
_DUPLICATE: Final = Outcome(Disposition.DUPLICATE)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A user message that passed every transport check, handed to ``on_message``."""

    message: UserMessage
    #: The SED, byte-exact.
    payload: bytes
    #: The envelope part, byte-exact.
    envelope: bytes
    received_at: datetime
    #: The remote address, for the journal and logs.
    peer: str | None
    #: Drops the exchange without an answer (the sender sees the connection fail and retries):
    #: what an inbound interceptor's ``reset`` does. ``None``: the transport cannot.
    abort: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message refused by the transport checks, handed to ``on_refused`` before answering."""

    #: The error signal the sender gets.
    error: ErrorSignal
    http_status: int
    received_at: datetime
    #: What could be read of the message (``None`` when the envelope is unreadable).
    message: UserMessage | None
    envelope: bytes | None
    payload: bytes | None
    peer: str | None
    #: Whether the message was authenticated (signature verified) and inside the timestamp
    #: window: only then do its envelope and payload deserve a place in the journal.
    authenticated: bool = False
    #: Bytes of body received (or announced by Content-Length when it was not read).
    body_size: int | None = None
    #: SHA-256 (hex) of the body received, if it was read.
    body_digest: str | None = None
    #: A few request headers (the endpoint's ``summary_headers``), each at most 200 characters.
    headers: tuple[tuple[str, str], ...] = ()

    def summary(self) -> dict[str, Any]:
        """A bounded, JSON-ready record of the refusal: never the body, every text cut."""
        m = self.message
        claimed = (
            None
            if m is None
            else {
                "message_id": m.message_id[:_MAX_HEADER_CHARS],
                "from": m.from_party,
                "to": m.to_party,
                "conversation_id": m.conversation_id[:_MAX_HEADER_CHARS],
                "timestamp": m.timestamp.isoformat(),
                "sed": f"{m.sed_type} {m.sed_version}",
            }
        )
        return {
            "error_id": self.error.message_id,
            "code": self.error.code,
            "http_status": self.http_status,
            "reason": self.error.description[:1000],
            "where": (self.error.detail or "")[:_MAX_HEADER_CHARS] or None,
            "peer": self.peer,
            "body_size": self.body_size,
            "body_sha256": self.body_digest,
            "headers": dict(self.headers),
            "claimed": claimed,
        }


OnMessage = Callable[[Inbound], Awaitable[Outcome]]
OnRefused = Callable[[Refusal], Awaitable[None]]


def __getattr__(name: str) -> Any:
    """``InboundEndpoint``, the HMAC envelope's endpoint, imported on first use: a node on
    eDelivery AS4 never loads it (D232)."""
    if name == "InboundEndpoint":
        return importlib.import_module("eessi.transport.hmac_endpoint").InboundEndpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
