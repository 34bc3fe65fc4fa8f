"""eDelivery AS4 behind the node's transport seam (:mod:`eessi.transport.seam`).

:class:`As4Transport` is a :class:`~eessi.transport.seam.Transport`: the node's own aiohttp
application and port, as for the HTTP transport it replaces (same listening, per-peer
connection guard, header deadline; :class:`~eessi.transport.http.HttpTransport` provides
them), with the AS4 endpoint of :mod:`eessi.as4.transport` at the endpoint URL's path and the
AS4 sender for outbound messages:

* a node that shares no client session (``eessi serve``) posts over its own kept-alive
  connections (:class:`~eessi.transport.poster.KeepAlivePoster`, D380), nodes of one process
  over their network's aiohttp session;
* :meth:`As4Transport.envelope` builds the message once, when the node queues it (signed,
  encrypted for the receiver as its P-Mode says) and returns the MIME package the journal keeps
  (D90); :meth:`As4Transport.send` posts exactly those bytes (``OutboundMessage.envelope``),
  also after a restart, so a resend is the same message;
* inbound, the request being handled is in :data:`~eessi.transport.http.CURRENT_REQUEST` (the
  node's interceptor reads it) and ``Inbound.abort`` resets the connection.

Build the factory with :func:`as4_transport` from the network's P-Modes and PKI
(:func:`eessi.as4.startup.load_as4`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path

import aiohttp
from aiohttp import web

from eessi.as4.exchange import Outgoing
from eessi.as4.mapping import Addressing
from eessi.as4.startup import As4Network
from eessi.as4.transport import As4Endpoint, As4Keys, As4Sender, build_message
from eessi.as4.wire import is_entity
from eessi.directory import Directory
from eessi.transport.client import RetryPolicy, SendResult, StatusHook
from eessi.transport.http import HttpTransport
from eessi.transport.poster import KeepAlivePoster
from eessi.transport.seam import OutboundMessage, TransportFactory, TransportSetup

__all__ = ["As4Transport", "as4_transport", "as4_transport_with_test_pki"]


class As4Transport(HttpTransport):
    """One institution's eDelivery AS4 endpoint and sender (module docstring)."""

    def __init__(
        self,
        setup: TransportSetup,
        *,
        network: As4Network,
        policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(setup, policy=policy)
        self.network = network
        self.keys: As4Keys = network.keys(setup.entry.id)
        self.as4_endpoint = As4Endpoint(
            setup.on_message,
            setup.entry.id,
            pmodes=network.pmodes,
            keys=self.keys,
            **self._endpoint_options(),
        )
        self._as4_senders: dict[tuple[RetryPolicy, StatusHook | None], As4Sender] = {}
        #: This node's own connections when no session is shared (D380), made on first send.
        self._keep_alive: KeepAlivePoster | None = None
        #: What :meth:`envelope` built, for every sender of this node: a send of the message
        #: just built does not parse its bytes again (docs/performance.md, "re-read"); only
        #: while it may still be sent: a receipt or a refusal drops it (D495).
        self._built: dict[str, Outgoing] = {}

    @property
    def kept_messages(self) -> int:
        """How many built messages this node keeps in memory for a send still to come: those
        queued or waiting to be retried, none acknowledged or refused (D495)."""
        return len(self._built)

    def _inbound(self, request: web.Request) -> Awaitable[web.Response]:
        return self.as4_endpoint.handle(request)

    async def stop(self) -> None:
        self._as4_senders.clear()
        self._built.clear()  # queued messages are read back from the journal after a start
        if self._keep_alive is not None:
            await self._keep_alive.close()
            self._keep_alive = None
        await super().stop()

    def _poster(self) -> aiohttp.ClientSession | KeepAlivePoster:
        """The network's shared session, else this node's own kept-alive connections: the
        exchange at a third of aiohttp's client's CPU (docs/performance.md, D380)."""
        if not self._own_session:
            return self._client_session()
        if self._keep_alive is None:
            self._keep_alive = KeepAlivePoster(max(self.setup.connections, 8))
        return self._keep_alive

    def _sender_for(self, policy: RetryPolicy, on_status: StatusHook | None) -> As4Sender:
        sender = self._as4_senders.get((policy, on_status))
        if sender is None:
            sender = As4Sender(
                self._poster(),
                self.setup.entry.id,
                pmodes=self.network.pmodes,
                keys=self.keys,
                rng=self.setup.rng,
                policy=policy,
                on_status=on_status,
                built=self._built,
            )
            if on_status is None:
                self._as4_senders[(policy, None)] = sender
        return sender

    def envelope(self, message: OutboundMessage) -> bytes:
        return build_message(
            self.network.pmodes,
            self.keys,
            Addressing(
                message.sender,
                message.receiver,
                message.conversation_id,
                message.buc,
                message.sed_type,
                message.sed_version,
            ),
            message.payload,
            message_id=message.message_id,
            timestamp=message.timestamp,
            ref_to_message_id=message.ref_to_message_id,
            built=self._built,
        )

    async def _post(
        self, url: str, message: OutboundMessage, policy: RetryPolicy, on_status: StatusHook | None
    ) -> SendResult:
        # the journaled bytes (D90); a message journaled by another transport is built anew
        entity = message.envelope if is_entity(message.envelope) else self.envelope(message)
        sender = self._sender_for(policy, on_status)
        return await sender.send(url, entity, message_id=message.message_id)


def as4_transport(network: As4Network) -> TransportFactory:
    """The :data:`~eessi.transport.seam.TransportFactory` of AS4 for a network."""

    def build(setup: TransportSetup) -> As4Transport:
        return As4Transport(setup, network=network)

    return build


def as4_transport_with_test_pki(
    pki_dir: Path, *, directory: Directory | None = None
) -> TransportFactory:
    """AS4 for a network run on loopback (``eessi demo``, ``eessi scenario run --transport
    as4``): the P-Modes beside the directory (or the shipped ones), and a test PKI made in
    ``pki_dir`` when it holds none (:func:`eessi.as4.startup.load_as4`)."""
    from eessi.as4.startup import load_as4
    from eessi.directory import load_default_directory

    where = directory if directory is not None else load_default_directory()
    return as4_transport(load_as4(where, pki_dir=None, default_pki_dir=pki_dir))
