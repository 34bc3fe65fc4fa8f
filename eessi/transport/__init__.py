"""Layer 3: the AS4-like envelope and the thin aiohttp transport between institutions.

* :mod:`~eessi.transport.envelope`: ``UserMessage``, ``Receipt``, ``ErrorSignal`` (shared
  with eDelivery AS4); :mod:`~eessi.transport.envelope_xml`: their XML;
* :mod:`~eessi.transport.framing`: envelope + SED in one multipart/related body;
* :mod:`~eessi.transport.auth`: HMAC-SHA256 over the body with the sender's credential;
* :mod:`~eessi.transport.server`: what an endpoint hands the node (``Inbound``, ``Outcome``,
  ``Refusal``); :mod:`~eessi.transport.hmac_endpoint`: ``InboundEndpoint`` (``POST /as4``);
* :mod:`~eessi.transport.limits`: what one peer address may cost (deadlines, connections,
  refusals per second, the timestamp window), in front of any envelope parser;
* :mod:`~eessi.transport.client`: the delivery loop (retries, back-off, jitter) and its
  results; :mod:`~eessi.transport.hmac_sender`: ``Sender``;
* :mod:`~eessi.transport.seam`: the ``Transport`` interface a node speaks to (send a user
  message, get its receipt or error; serve inbound messages), with ``OutboundMessage`` and
  ``TransportSetup``;
* :mod:`~eessi.transport.http`: ``HttpTransport``, the envelope and HMAC above over aiohttp
  behind that interface.

It moves and checks bytes; it never interprets a SED (the node's ``on_message`` does). The
HMAC envelope's own modules (``envelope_xml``, ``framing``, ``hmac_endpoint``,
``hmac_sender``) are imported only when that transport is used (D232).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each exported name lives: the package imports a submodule when one of its names is
#: first asked for, so importing one submodule (``eessi.transport.limits``) does not import
#: the others (the HMAC envelope's client and server among them, D230).
_HOME = {
    "SIGNATURE_HEADER": "auth",
    "CredentialLookup": "auth",
    "Failure": "client",
    "RetryPolicy": "client",
    "Sender": "client",
    "SendResult": "client",
    "SendStatus": "client",
    "StatusHook": "client",
    "StatusUpdate": "client",
    "EbmsCode": "codes",
    "NAMESPACE": "envelope",
    "ErrorSignal": "envelope",
    "Receipt": "envelope",
    "UserMessage": "envelope",
    "decode": "envelope",
    "encode": "envelope",
    "HttpTransport": "http",
    "http_transport": "http",
    "InboundLimits": "limits",
    "OutboundMessage": "seam",
    "Transport": "seam",
    "TransportFactory": "seam",
    "TransportSetup": "seam",
    "user_message": "seam",
    "Disposition": "server",
    "Inbound": "server",
    "InboundEndpoint": "server",
    "OnMessage": "server",
    "OnRefused": "server",
    "Outcome": "server",
    "Refusal": "server",
}


def __getattr__(name: str) -> Any:
    """An exported name (``eessi.transport.Sender``), its submodule imported on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
