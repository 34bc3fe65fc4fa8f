"""Limits of the HTTP receiving layer: what one peer address may cost the receiver.

They sit in front of any envelope parser (ours today, eDelivery AS4 later), so both get them:

* **header deadline and idle keep-alive**: aiohttp's own ``keepalive_timeout`` (a server
  argument, see :func:`server_kwargs`): its timer also runs from the moment a connection opens,
  and when it fires it closes a connection still waiting for a complete request (headers), so
  one number bounds half-sent headers and idle keep-alive connections alike (its default is an
  hour); ``tests/transport/test_limits.py`` holds aiohttp to that;
* **body deadline**: written here (:class:`InboundLimits.body_timeout`, applied by the
  endpoint around its read): aiohttp has no server-side deadline for reading a body;
* **connections per peer address**: written here (:class:`ConnectionGuard`, installed by
  :class:`GuardedSite`): aiohttp only has the listen backlog, for all peers together;
* **refusals per peer address**: a token bucket (:class:`RefusalLimiter`), written here:
  aiohttp has no rate limiter, and the libraries that have one (``aiolimiter``) wait for
  capacity instead of answering "not now" at once, and count every request rather than only
  the refused ones;
* **timestamp window**: compared with the receiver's clock (virtual in scenarios), by the
  endpoint after authentication (:meth:`InboundLimits.check_timestamp`).

Real time (``time.monotonic``) drives the bucket and the deadlines: they protect real
resources, also when the node's own clock is virtual. See docs/node.md and D35-D39.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from eessi.errors import TransportError

__all__ = [
    "BodyTimeout",
    "ConnectionGuard",
    "GuardedSite",
    "InboundLimits",
    "RefusalLimiter",
    "late_body",
    "rate_limited",
    "read_body",
    "server_kwargs",
]

#: Answer to a connection over the per-peer cap, written before it is closed.
_BUSY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 58\r\n\r\n"
    b"too many open connections from your address; retry later\n"
)
#: Seconds a connection is drained after an answer sent before its body was all in.
_LINGER: Final = 1.0
#: Buckets kept at most before the full (idle) ones are dropped.
_MAX_BUCKETS: Final = 4096


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """What one peer address may cost; every field is documented in docs/node.md."""

    #: Seconds a connection may take to send a request's headers, counted from its opening or
    #: from the previous answer; an idle keep-alive connection is closed after as long.
    header_timeout: float = 15.0
    #: Seconds a request's body may take to arrive once its headers are in (else 408, closed).
    body_timeout: float = 30.0
    #: Open connections from one peer address at most; more are answered 503 and closed.
    max_connections_per_peer: int = 128
    #: Refusals answered to one peer address per second, on average (token bucket refill).
    refusal_rate: float = 1.0
    #: Refusals answered to one peer address in a burst (token bucket size); past it, 429.
    refusal_burst: int = 20
    #: Seconds a message's Timestamp may lie ahead of the receiver's clock (``None``: any).
    max_clock_skew: float | None = 300.0
    #: Seconds a message's Timestamp may lie behind the receiver's clock (``None``: any).
    max_message_age: float | None = 86400.0

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "refusal_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        for name in ("max_connections_per_peer", "refusal_burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("max_clock_skew", "max_message_age"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be at least 0 (or None), not {value!r}")

    def check_timestamp(self, timestamp: datetime, now: datetime) -> str | None:
        """Why ``timestamp`` is outside the window around ``now`` (``None``: inside)."""
        ahead = (timestamp - now).total_seconds()
        if self.max_clock_skew is not None and ahead > self.max_clock_skew:
            return (
                f"the message's Timestamp {timestamp.isoformat()} is {_span(ahead)} ahead of the"
                f" receiver's clock ({now.isoformat()}); at most {_span(self.max_clock_skew)} is"
                " accepted: check the sender's clock, then send the message again"
            )
        if self.max_message_age is not None and -ahead > self.max_message_age:
            return (
                f"the message's Timestamp {timestamp.isoformat()} is {_span(-ahead)} older than"
                f" the receiver's clock ({now.isoformat()}); at most {_span(self.max_message_age)}"
                " is accepted (replay protection): submit the document again as a new message"
            )
        return None


def _span(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def server_kwargs(limits: InboundLimits) -> dict[str, Any]:
    """The aiohttp server arguments (``web.AppRunner(app, **server_kwargs(limits))``)."""
    # lingering_time: after answering a request whose body is not all in (408, 413, 429),
    # aiohttp reads and drops the rest for up to this long before closing, so the client can
    # read the answer; its default of 10 s would let a 1 byte/s client hold on that long.
    return {"keepalive_timeout": limits.header_timeout, "lingering_time": _LINGER}


class RefusalLimiter:
    """One token bucket per peer address, spent by refusals only (a peer whose messages are
    accepted is never limited). ``clock`` gives seconds (monotonic)."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        #: peer -> (tokens, at)
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, peer: str, now: float) -> float:
        tokens, at = self._buckets.get(peer, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, peer: str) -> float:
        """Seconds until ``peer`` may be refused again (0: it may now)."""
        tokens = self._tokens(peer, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def spend(self, peer: str) -> None:
        """Count one refusal answered to ``peer``."""
        now = self._clock()
        self._buckets[peer] = (max(0.0, self._tokens(peer, now) - 1.0), now)
        if len(self._buckets) > _MAX_BUCKETS:
            full = [p for p in self._buckets if self._tokens(p, now) >= self.burst]
            for p in full:
                del self._buckets[p]


class ConnectionGuard:
    """Counts open connections per peer address; refuses those over ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}
        #: Connections answered 503 and closed because their peer was at the limit.
        self.refused = 0

    def admit(self, peer: str) -> bool:
        n = self.open.get(peer, 0)
        if n >= self.limit:
            self.refused += 1
            return False
        self.open[peer] = n + 1
        return True

    def release(self, peer: str) -> None:
        n = self.open.get(peer, 0) - 1
        if n > 0:
            self.open[peer] = n
        else:
            self.open.pop(peer, None)


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's protocol: admits the connection through the guard, then delegates."""

    def __init__(self, guard: ConnectionGuard, make: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make = make
        self._inner: asyncio.Protocol | None = None
        self._peer: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        if not self._guard.admit(peer):
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_BUSY)
            transport.close()
            return
        self._peer = peer
        self._inner = self._make()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._peer is not None:
            self._guard.release(self._peer)
            self._peer = None
        if self._inner is not None:
            self._inner.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A ``web.TCPSite`` whose connections pass through a :class:`ConnectionGuard` first."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        guard: ConnectionGuard,
        reuse_port: bool | None = None,
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port)
        self.guard = guard

    async def start(self) -> None:
        # TCPSite.start with the protocol factory wrapped (aiohttp offers no hook for it).
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        guard = self.guard
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guarded(guard, server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class BodyTimeout(TransportError):
    """Internal: the body did not arrive within the deadline; ``received``: the bytes that did
    (the endpoints answer it with a timeout refusal, never let it out)."""

    def __init__(self, received: int) -> None:
        super().__init__(f"{received} bytes received")
        self.received = received


async def read_body(
    request: web.Request,
    *,
    max_body: int,
    deadline: float,
    too_large: Callable[[int | None], Exception],
) -> bytes:
    """The whole request body, as every endpoint reads it (HTTP and eDelivery AS4): refused
    with ``too_large(length)`` when the Content-Length says more than ``max_body``, with
    ``too_large(None)`` as soon as the bytes that came exceed it, and :class:`BodyTimeout`
    when it is not complete within ``deadline`` seconds."""
    length = request.content_length
    if length is not None and length > max_body:
        raise too_large(length)
    content = request.content
    if content.is_eof():  # all of it has arrived (the usual case): no deadline left to keep
        body = content.read_nowait()
        if len(body) > max_body:
            raise too_large(None)
        return body
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > max_body:
                    raise too_large(None)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(size) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def rate_limited(limits: InboundLimits, peer: str | None, wait: float) -> tuple[int, str]:
    """The ``Retry-After`` seconds and the reason of a 429 to a peer that spent its refusals."""
    seconds = max(1, round(wait + 0.5))
    return seconds, (
        f"too many refused messages from {peer or 'your address'}: at most"
        f" {limits.refusal_burst} at once and {limits.refusal_rate:g} per second are answered;"
        f" fix the refused messages, then send again in {seconds} s"
    )


def late_body(limits: InboundLimits, timeout: BodyTimeout) -> str:
    """The reason of a 408 to a body that did not arrive within the deadline."""
    return (
        f"the body did not arrive within {limits.body_timeout:g} s ({timeout.received} bytes"
        " received); send the whole message at once"
    )
