"""The transport seam (design.md, layer 3): what a node needs of whatever carries its messages.

A node (:class:`eessi.node.institution.Institution`) never builds a server or a client itself:
it is given a :data:`TransportFactory`, calls it once with a :class:`TransportSetup` (who it
is, its directory, its two inbound callbacks, its clock, limits...) and then only speaks to
the :class:`Transport` it got back:

* **outbound**: :meth:`Transport.send` takes one :class:`OutboundMessage` (the SED bytes and
  their addressing, nothing of any wire format) and returns a :class:`SendResult`: the receipt,
  or why not (:attr:`SendResult.failure`: ``REFUSED_BY_PEER`` with the peer's error signal, not
  retried; ``RETRIES_EXHAUSTED``: unreachable, timeouts, 5xx, unreadable answers). Retries and
  back-off follow the ``policy`` passed (the node passes ``max_attempts=1``: it keeps its own
  count in the journal, so a retry survives a restart); each step is reported to ``on_status``
  (:class:`StatusUpdate`). :meth:`Transport.envelope` gives the bytes to journal as the
  message's envelope when it is queued (what travels besides the SED).
* **inbound**: between :meth:`Transport.start` and :meth:`Transport.stop` the transport hands
  every user message that passed its own checks (framing, addressing, authentication, size,
  version) to ``setup.on_message`` as an :class:`Inbound` and answers the sender with what
  comes back (:class:`Outcome`: accepted or duplicate get a receipt, refused an error signal
  with its ebMS code). ``on_message`` returns only after the journal write, so a receipt is
  never sent for a message that is not durable. What the transport refuses itself it reports to
  ``setup.on_refused`` as a :class:`Refusal` before answering. A callback that raises is
  answered as "unavailable, send again later" (retryable): nothing was kept.
* **the interceptor's reset**: :attr:`Inbound.abort`, when the transport sets it, drops the
  exchange without an answer (the sender sees a connection failure and retries).

Implementations:

* :class:`eessi.transport.http.HttpTransport` (:func:`eessi.transport.http.http_transport`): the
  AS4-like envelope with an HMAC over aiohttp, one port per node shared with its admin API;
* :class:`eessi.transport.twin.TwinTransport` (:class:`eessi.transport.twin.TwinHub`): the
  in-memory twin, messages handed between the institutions of one process, no port;
* eDelivery AS4 over aiohttp (``eessi.as4.transport``).

The vocabulary (:class:`Inbound`, :class:`Outcome`, :class:`Refusal`, :class:`SendResult`,
:class:`RetryPolicy`, :class:`StatusUpdate`) lives in :mod:`eessi.transport.server` and
:mod:`eessi.transport.client` and is re-exported by :mod:`eessi.transport`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeAlias

from eessi.clock import Clock
from eessi.ids import IdGenerator
from eessi.transport.client import RetryPolicy, SendResult, StatusHook
from eessi.transport.envelope import UserMessage
from eessi.transport.limits import InboundLimits
from eessi.transport.server import Inbound, OnMessage, OnRefused, Outcome, Refusal

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from eessi.directory import Directory, InstitutionEntry

__all__ = [
    "Inbound",
    "OutboundMessage",
    "Outcome",
    "Refusal",
    "Transport",
    "TransportFactory",
    "TransportSetup",
    "user_message",
]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One user message to send: the SED and its addressing, in no wire format.

    The MessageId is the document's instance ID (``<id>~<revision>`` for a new version);
    RefToMessageId the ID of the document it answers; the conversation is the case."""

    message_id: str
    #: When the message was made (the envelope's Timestamp): the node's clock when queued.
    timestamp: datetime
    #: IR IDs (``LU:CNS00001``): From and To.
    sender: str
    receiver: str
    #: The case ID.
    conversation_id: str
    #: The case's BUC (``S_BUC_24``): an AS4 transport maps it to the Service.
    buc: str
    sed_type: str
    sed_version: str
    #: The SED document, byte-exact.
    payload: bytes
    ref_to_message_id: str | None = None
    #: What :meth:`Transport.envelope` gave when the message was queued, as journaled (empty
    #: before): a transport that posts the journaled bytes unchanged (AS4, D90) reads them here.
    envelope: bytes = b""


def user_message(message: OutboundMessage) -> UserMessage:
    """The AS4-like :class:`~eessi.transport.envelope.UserMessage` of ``message`` (what the
    HTTP transport posts and the twin hands over)."""
    return UserMessage.for_payload(
        message.payload,
        message_id=message.message_id,
        timestamp=message.timestamp,
        from_party=message.sender,
        to_party=message.receiver,
        conversation_id=message.conversation_id,
        sed_type=message.sed_type,
        sed_version=message.sed_version,
        ref_to_message_id=message.ref_to_message_id,
    )


@dataclass(frozen=True, slots=True)
class TransportSetup:
    """What one institution's transport is built with (one transport per institution)."""

    #: The local institution: its IR ID, endpoint URL (where to listen), admin URL,
    #: credential and SED versions.
    entry: InstitutionEntry
    #: Every peer: endpoint, credential, whether it is in EESSI.
    directory: Directory
    #: An authenticated user message: journal it, answer the outcome (see the module docstring).
    on_message: OnMessage
    #: A message the transport refused itself (journal it, bounded).
    on_refused: OnRefused
    #: The node's clock (timestamps of signals, the timestamp window).
    clock: Clock
    #: IDs of the receipts and error signals this institution answers with.
    signal_ids: IdGenerator
    #: Jitter of the back-off between retries.
    rng: random.Random
    #: Largest message accepted (bytes, envelope and SED together).
    max_body: int
    #: SED versions accepted (another version is refused with ``EBMS:0010``).
    accept_versions: tuple[str, ...]
    #: What one peer address may cost (deadlines, refusals per second, timestamp window).
    limits: InboundLimits
    #: Concurrent sends at most (the node's send workers).
    connections: int = 16
    #: The node's own HTTP application (its admin API): a transport that listens on HTTP
    #: serves it on the same port; others leave it alone.
    app: web.Application | None = None
    #: Host to listen on when the endpoint URL's is not wanted (``None``: the URL's).
    host: str | None = None
    #: A client session to share (a :class:`~eessi.node.network.Network`'s), else its own.
    session: aiohttp.ClientSession | None = None
    #: An HTTP transport also listens on the entry's admin URL when its port differs.
    bind_admin: bool = True
    #: Listen with ``SO_REUSEPORT``: several processes of one institution share its port
    #: (:mod:`eessi.node.partitions`).
    reuse_port: bool = False

    def endpoint_of(self, receiver: str) -> str:
        """The URL to post to ``receiver``'s messages: its directory endpoint, or an
        ``unknown:`` address that fails as a connection failure does."""
        peer = self.directory.find(receiver)
        return peer.endpoint if peer is not None else f"unknown:{receiver}"


class Transport(Protocol):
    """One institution's transport (see the module docstring)."""

    #: Where it listens once started (``http://127.0.0.1:8701``), ``None`` if not over HTTP.
    url: str | None
    #: Its inbound endpoint (``http://127.0.0.1:8701/as4``), ``None`` if not over HTTP.
    endpoint_url: str | None

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Begin accepting inbound messages (``host``/``port`` override the endpoint URL's;
        port 0 picks a free one). A :class:`~eessi.errors.ConfigError` if it cannot."""
        ...

    async def stop(self) -> None:
        """Stop accepting; release sockets, sessions, tasks. Idempotent."""
        ...

    async def send(
        self,
        message: OutboundMessage,
        *,
        policy: RetryPolicy | None = None,
        on_status: StatusHook | None = None,
    ) -> SendResult:
        """Send until a receipt, a refusal or the end of ``policy``'s attempts (default: the
        transport's). Never raises for what the network or the peer did."""
        ...

    def envelope(self, message: OutboundMessage) -> bytes:
        """The bytes journaled as ``message``'s envelope when it is queued."""
        ...


#: Builds one institution's transport.
TransportFactory: TypeAlias = Callable[[TransportSetup], "Transport"]
