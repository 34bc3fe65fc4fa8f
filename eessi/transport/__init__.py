"""Layer 3: the AS4-like envelope and the thin aiohttp transport between institutions.

* :mod:`~eessi.transport.envelope`: ``UserMessage``, ``Receipt``, ``ErrorSignal`` and their XML;
* :mod:`~eessi.transport.framing`: envelope + SED in one multipart/related body;
* :mod:`~eessi.transport.auth`: HMAC-SHA256 over the body with the sender's credential;
* :mod:`~eessi.transport.server`: ``InboundEndpoint`` (``POST /as4``);
* :mod:`~eessi.transport.limits`: what one peer address may cost (deadlines, connections,
  refusals per second, the timestamp window), in front of any envelope parser;
* :mod:`~eessi.transport.client`: ``Sender`` (retries, back-off, jitter);
* :mod:`~eessi.transport.seam`: the ``Transport`` interface a node speaks to (send a user
  message, get its receipt or error; serve inbound messages), with ``OutboundMessage`` and
  ``TransportSetup``;
* :mod:`~eessi.transport.http`: ``HttpTransport``, the envelope and HMAC above over aiohttp
  behind that interface.

It moves and checks bytes; it never interprets a SED (the node's ``on_message`` does).
"""

from __future__ import annotations

from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup
from eessi.transport.client import (
    Failure,
    RetryPolicy,
    Sender,
    SendResult,
    SendStatus,
    StatusHook,
    StatusUpdate,
)
from eessi.transport.codes import EbmsCode
from eessi.transport.envelope import (
    NAMESPACE,
    ErrorSignal,
    Receipt,
    UserMessage,
    decode,
    encode,
)
from eessi.transport.http import HttpTransport, http_transport
from eessi.transport.limits import InboundLimits
from eessi.transport.seam import (
    OutboundMessage,
    Transport,
    TransportFactory,
    TransportSetup,
    user_message,
)
from eessi.transport.server import (
    Disposition,
    Inbound,
    InboundEndpoint,
    OnMessage,
    OnRefused,
    Outcome,
    Refusal,
)

__all__ = [
    "NAMESPACE",
    "SIGNATURE_HEADER",
    "CredentialLookup",
    "Disposition",
    "EbmsCode",
    "ErrorSignal",
    "Failure",
    "HttpTransport",
    "Inbound",
    "InboundEndpoint",
    "InboundLimits",
    "OnMessage",
    "OnRefused",
    "OutboundMessage",
    "Outcome",
    "Receipt",
    "Refusal",
    "RetryPolicy",
    "SendResult",
    "SendStatus",
    "Sender",
    "StatusHook",
    "StatusUpdate",
    "Transport",
    "TransportFactory",
    "TransportSetup",
    "UserMessage",
    "decode",
    "encode",
    "http_transport",
    "user_message",
]
