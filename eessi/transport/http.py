"""The HTTP transport: the AS4-like envelope with an HMAC over aiohttp, behind the seam.

:class:`HttpTransport` is a :class:`~eessi.transport.seam.Transport` made of the two halves
this package always had: an :class:`~eessi.transport.server.InboundEndpoint` mounted at the
endpoint URL's path (``POST /as4``) of the node's own application (its admin API answers on the
same port), served behind the per-peer connection guard and header deadline
(:mod:`eessi.transport.limits`); and a :class:`~eessi.transport.client.Sender` on one client
session (the network's, when it shares one). Build it with :func:`http_transport` (a
:data:`~eessi.transport.seam.TransportFactory`).

The HTTP request being handled is in :data:`CURRENT_REQUEST` while ``on_message`` runs (the
node's inbound interceptor gets it). The endpoint and the sender (the HMAC envelope's
modules) are made, and imported, when first used: eDelivery AS4's transport, built on this
class, never loads them (D232).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from eessi.errors import ConfigError
from eessi.transport.client import RetryPolicy, SendResult, StatusHook
from eessi.transport.limits import ConnectionGuard, GuardedSite, server_kwargs
from eessi.transport.seam import OutboundMessage, TransportSetup, user_message

if TYPE_CHECKING:
    from eessi.transport.endpoint import EndpointOptions
    from eessi.transport.hmac_endpoint import InboundEndpoint
    from eessi.transport.hmac_sender import Sender

__all__ = ["CURRENT_REQUEST", "HttpTransport", "http_transport"]

#: The HTTP request whose message ``on_message`` is handling (``None`` outside one).
CURRENT_REQUEST: contextvars.ContextVar[web.Request | None] = contextvars.ContextVar(
    "eessi_transport_request", default=None
)


class HttpTransport:
    """One institution's AS4-like endpoint and sender over aiohttp (module docstring); with
    ``setup.bind_admin`` also on the entry's admin URL when its port differs."""

    def __init__(self, setup: TransportSetup, *, policy: RetryPolicy | None = None) -> None:
        self.setup = setup
        self.policy = policy if policy is not None else RetryPolicy()
        entry = setup.entry
        split = urlsplit(entry.endpoint)
        self.host = setup.host or split.hostname or "127.0.0.1"
        self.port = split.port or 80
        self.path = split.path or "/as4"
        self.url: str | None = None
        self.endpoint_url: str | None = None
        self.app = (
            setup.app
            if setup.app is not None
            else web.Application(client_max_size=max(setup.max_body + 1, 1024**2))
        )
        self.app.router.add_post(self.path, self._handle)
        self._guard = ConnectionGuard(setup.limits.max_connections_per_peer)
        self._session = setup.session
        self._own_session = setup.session is None
        self._runner: web.AppRunner | None = None
        self._senders: dict[tuple[RetryPolicy, StatusHook | None], Sender] = {}

    @cached_property
    def endpoint(self) -> InboundEndpoint:
        """The HMAC envelope's inbound endpoint (its counters), made when first used (D232)."""
        from eessi.transport.hmac_endpoint import InboundEndpoint

        setup = self.setup
        return InboundEndpoint(
            setup.on_message, setup.directory.credential, setup.entry.id, **self._endpoint_options()
        )

    def _endpoint_options(self) -> EndpointOptions:
        """What this node's inbound endpoint is told, whatever its wire."""
        setup = self.setup
        return {
            "max_body": setup.max_body,
            "accept_versions": setup.accept_versions,
            "on_refused": setup.on_refused,
            "clock": setup.clock,
            "ids": setup.signal_ids,
            "path": self.path,
            "limits": setup.limits,
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = CURRENT_REQUEST.set(request)
        try:
            return await self._inbound(request)
        finally:
            CURRENT_REQUEST.reset(token)

    def _inbound(self, request: web.Request) -> Awaitable[web.Response]:
        """The endpoint's answer to ``request`` (:data:`CURRENT_REQUEST` is set around it)."""
        return self.endpoint.handle(request)

    # -- inbound -------------------------------------------------------------------------------

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        if self._runner is not None:
            return
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, **server_kwargs(self.setup.limits)
        )
        await self._runner.setup()
        try:
            bind_host = host if host is not None else self.host
            bind_port = port if port is not None else self.port
            await self._listen(bind_host, bind_port, "endpoint")
            actual = self._bound_port(bind_port)
            self.url = f"http://{bind_host}:{actual}"
            self.endpoint_url = self.url + self.path
            admin_url = self.setup.entry.admin
            if self.setup.bind_admin and port is None and admin_url:
                admin = urlsplit(admin_url)
                if admin.port and (admin.hostname, admin.port) != (bind_host, actual):
                    await self._listen(admin.hostname or bind_host, admin.port, "admin URL")
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise

    async def _listen(self, host: str, port: int, what: str) -> None:
        assert self._runner is not None
        try:
            await GuardedSite(
                self._runner,
                host,
                port,
                guard=self._guard,
                reuse_port=self.setup.reuse_port or None,
            ).start()
        except OSError as exc:
            raise ConfigError(
                f"{self.setup.entry.id} cannot listen on {host}:{port} (its {what}):"
                f" {exc.strerror or exc}",
                where=self.setup.directory.source,
                hint="another process uses that port: stop it, or change the port in the"
                " directory (or give --port)",
                code="node.cannot-listen",
            ) from exc

    def _bound_port(self, requested: int) -> int:
        assert self._runner is not None
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return requested

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._senders.clear()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- outbound ------------------------------------------------------------------------------

    def _sender(self, policy: RetryPolicy, on_status: StatusHook | None) -> Sender:
        sender = self._senders.get((policy, on_status))
        if sender is None:
            from eessi.transport.hmac_sender import Sender

            sender = Sender(
                self._client_session(),
                credential=self.setup.entry.credential,
                rng=self.setup.rng,
                policy=policy,
                on_status=on_status,
                peer_credentials=self.setup.directory.credential,
            )
            if on_status is None:  # a hook per call would only grow the cache
                self._senders[(policy, None)] = sender
        return sender

    def _client_session(self) -> aiohttp.ClientSession:
        """The network's shared session, else this node's own (opened on the first send)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(self.setup.connections, 8))
            )
        return self._session

    async def send(
        self,
        message: OutboundMessage,
        *,
        policy: RetryPolicy | None = None,
        on_status: StatusHook | None = None,
    ) -> SendResult:
        url = self.setup.endpoint_of(message.receiver)
        return await self._post(url, message, policy or self.policy, on_status)

    async def _post(
        self, url: str, message: OutboundMessage, policy: RetryPolicy, on_status: StatusHook | None
    ) -> SendResult:
        """``message`` posted to ``url`` by this wire's sender."""
        sender = self._sender(policy, on_status)
        return await sender.send(url, user_message(message), message.payload)

    def envelope(self, message: OutboundMessage) -> bytes:
        from eessi.transport.envelope_xml import encode

        return encode(user_message(message))


def http_transport(setup: TransportSetup) -> HttpTransport:
    """The :data:`~eessi.transport.seam.TransportFactory` of :class:`HttpTransport`."""
    return HttpTransport(setup)
