"""POST a body and read the whole answer: over kept-alive connections, or an aiohttp session.

A sender's attempt is one HTTP exchange: post the journaled bytes, read the answer (a receipt
or an error signal, at most ``limit`` bytes), within ``within`` seconds. :class:`Poster` is
that exchange and nothing else; the senders (:class:`~eessi.as4.transport.As4Sender`) classify
what comes back. Two implementations:

* :class:`KeepAlivePoster`: HTTP/1.1 over asyncio, one request per connection at a time, the
  connections kept open between requests (at most ``limit`` at once, idle ones closed after
  :data:`IDLE_SECONDS`), the answer parsed by ``httptools`` (llhttp, the parser Node.js and
  aiohttp's server use). It writes the request in one call and reads the answer in the
  transport's callbacks: about a third of the CPU of aiohttp's client per exchange
  (docs/performance.md, D380), which a node pays for every message it sends. A node serving on
  its own (``eessi serve``) sends with it.
* :class:`SessionPoster`: the same exchange over an ``aiohttp.ClientSession`` (proxies, TLS
  options, a session shared by the nodes of one process: :class:`~eessi.node.network.Network`).

Both raise the same errors: :class:`ConnectFailure` (nothing was sent: the peer could not be
reached), :class:`PostFailure` (the exchange broke: reset, closed before the answer was
complete, an answer that is not HTTP or too large) and ``TimeoutError``.

Bounds of :class:`KeepAlivePoster` on what a peer sends back: the answer's head at most
:data:`MAX_HEAD` bytes, its body at most ``limit`` bytes (after ``gzip``/``deflate`` decoding,
which it does as aiohttp does, although it never asks for it), both within ``within``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import httptools

from eessi.errors import TransportError
from eessi.transport.client import read_bounded

__all__ = [
    "IDLE_SECONDS",
    "MAX_HEAD",
    "Answer",
    "ConnectFailure",
    "KeepAlivePoster",
    "PostFailure",
    "Poster",
    "SessionPoster",
]

#: Largest answer head (status line and headers) read, in bytes.
MAX_HEAD: Final = 64 * 1024
#: Seconds an idle connection is kept for the next request (under the 15 s a node's server
#: keeps an idle connection, ``InboundLimits.header_timeout``, so the peer rarely closes first).
IDLE_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The peer's whole answer."""

    status: int
    content_type: str
    body: bytes


class PostFailure(TransportError):
    """The exchange broke after the connection was made (reset, closed early, not HTTP, too
    large); ``str()`` says what happened."""


class ConnectFailure(PostFailure):
    """The peer could not be reached (nothing was sent); ``reason``: the system's words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Poster(Protocol):
    """One exchange: ``body`` posted to ``url`` with ``headers``; the answer read whole
    (at most ``limit`` bytes) within ``within`` seconds."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, within: float, limit: int
    ) -> Answer: ...


class SessionPoster:
    """:class:`Poster` over an ``aiohttp.ClientSession`` (not closed here: its owner's)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, within: float, limit: int
    ) -> Answer:
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=_client_timeout(within)
            ) as resp:
                # past the limit, the truncated answer fails to decode
                body = await read_bounded(resp, limit)
                content_type = resp.headers.get("Content-Type", "")
                return Answer(resp.status, content_type, body)
        except aiohttp.ClientConnectorError as exc:
            reason = _reason(exc.os_error)
            raise ConnectFailure(f"cannot connect to {url}: {reason}", reason) from exc
        except aiohttp.ClientError as exc:
            raise PostFailure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


@functools.lru_cache(maxsize=16)
def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a URL posts to: the pool's key, and the request head up to its headers."""

    key: tuple[str, int, bool]
    host: str
    port: int
    tls: bool
    start: bytes


class _Exchange(asyncio.Protocol):
    """One kept-alive connection: writes a request, parses its answer (httptools callbacks)."""

    def __init__(self, target: _Target) -> None:
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Answer] | None = None
        self._limit = 0
        self._begin()

    def _begin(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._head = 0
        self._content_type = ""
        self._encoding = b""
        self._length_known = False
        self._headers_done = False
        self._complete = False
        self._keep_alive = False

    # -- the exchange ----------------------------------------------------------------------

    def request(self, head: bytes, body: bytes, limit: int) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self._begin()
        self._limit = limit
        self._answer = answer = asyncio.get_running_loop().create_future()
        self.transport.writelines((head, body))
        return answer

    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed

    def abort(self, error: BaseException) -> None:
        self._fail(error)
        self.close(abort=True)

    def close(self, *, abort: bool = False) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def _fail(self, error: BaseException) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(error)

    # -- asyncio's callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._complete:
            self.abort(PostFailure("the peer sent bytes after its answer"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.abort(PostFailure("the peer switched protocols instead of answering"))
        except httptools.HttpParserError as exc:
            bound = exc.__context__  # a callback's PostFailure: a bound was exceeded
            why = bound if isinstance(bound, PostFailure) else f"the answer is not HTTP/1.1: {exc}"
            self.abort(why if isinstance(why, PostFailure) else PostFailure(why))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and not self._complete and not self._length_known:
            self._finish()  # an answer without a length ends with its connection
            return
        why = f": {exc}" if exc is not None else ""
        self._fail(PostFailure(f"the peer closed the connection before it answered{why}"))

    # -- httptools' callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise PostFailure("the peer sent bytes after its answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value) + 4
        if self._head > MAX_HEAD:
            raise PostFailure(f"the answer's headers exceed {MAX_HEAD} bytes")
        lowered = name.lower()
        if lowered == b"content-type":
            self._content_type = value.decode("latin-1")
        elif lowered == b"content-encoding":
            self._encoding = value.strip().lower()
        elif lowered in (b"content-length", b"transfer-encoding"):
            self._length_known = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            raise PostFailure(f"the answer is larger than {self._limit} bytes")
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self._finish()

    def _finish(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._begin()
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()  # only known until complete
        answer = self._answer
        if answer is None or answer.done():
            return
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            body = _decoded(body, self._encoding, self._limit)
        except PostFailure as exc:
            answer.set_exception(exc)
            return
        answer.set_result(Answer(status, self._content_type, body))


def _reason(error: OSError) -> str:
    """The system's words for a failed connect ("Connection refused"), else Python's."""
    return os.strerror(error.errno) if error.errno else error.strerror or str(error)


def _decoded(body: bytes, encoding: bytes, limit: int) -> bytes:
    """``body`` decoded as its Content-Encoding says (``gzip``/``deflate``), at most ``limit``
    bytes of it."""
    if not encoding or encoding == b"identity":
        return body
    name = encoding.decode("latin-1")
    if encoding not in (b"gzip", b"x-gzip", b"deflate"):
        raise PostFailure(f"the answer's Content-Encoding {name!r} is not gzip or deflate")
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by its header
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PostFailure(f"the answer's {name} body is broken: {exc}") from None
    if len(plain) > limit:
        raise PostFailure(f"the answer is larger than {limit} bytes once decoded")
    return plain


class KeepAlivePoster:
    """:class:`Poster` over kept-alive HTTP/1.1 connections (module docstring): at most
    ``limit`` exchanges at once (a request past them waits for one to end)."""

    def __init__(self, limit: int = 16) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit!r}")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[str, int, bool], list[_Exchange]] = {}
        self._targets: dict[str, _Target] = {}
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, within: float, limit: int
    ) -> Answer:
        target = self._targets.get(url) or self._target(url)
        head = [target.start]
        for name, value in headers.items():
            if _UNSAFE.search(name) or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r}: no line breaks, and no colon in its name")
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        if self._slots.locked():
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            exchange = await self._connection(target, deadline)
            answer = exchange.request(b"".join(head), body, limit)
            timer = loop.call_at(deadline, exchange.abort, TimeoutError())
            try:
                return await answer
            finally:
                timer.cancel()
                if exchange.reusable() and not self._closed:
                    exchange.idle_since = time.monotonic()
                    self._idle.setdefault(target.key, []).append(exchange)
                else:
                    exchange.close(abort=not exchange.reusable())
        finally:
            self._slots.release()

    def _target(self, url: str) -> _Target:
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ConnectFailure(
                f"cannot connect to {url}: not an http(s) URL", "not an http(s) URL"
            )
        tls = split.scheme == "https"
        port = split.port or (443 if tls else 80)
        path = (split.path or "/") + (f"?{split.query}" if split.query else "")
        host = split.netloc.rpartition("@")[2]
        start = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1")
        target = _Target((split.hostname, port, tls), split.hostname, port, tls, start)
        if len(self._targets) < _MAX_TARGETS:
            self._targets[url] = target
        return target

    async def _connection(self, target: _Target, deadline: float) -> _Exchange:
        """An idle connection to ``target`` (the most recent), else a new one."""
        if self._closed:
            raise PostFailure("the sender is closed")
        idle = self._idle.get(target.key)
        now = time.monotonic()
        while idle:
            exchange = idle.pop()
            if not exchange.closed and now - exchange.idle_since < IDLE_SECONDS:
                return exchange
            exchange.close()
        try:
            async with asyncio.timeout_at(deadline):
                _, exchange = await asyncio.get_running_loop().create_connection(
                    lambda: _Exchange(target), target.host, target.port, ssl=target.tls or None
                )
        except TimeoutError:
            raise
        except OSError as exc:
            scheme = "https" if target.tls else "http"
            reason = _reason(exc)
            raise ConnectFailure(
                f"cannot connect to {scheme}://{target.host}:{target.port}: {reason}", reason
            ) from exc
        return exchange

    async def close(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self._closed = True
        for idle in self._idle.values():
            for exchange in idle:
                exchange.close()
        self._idle.clear()
        await asyncio.sleep(0)  # the transports' close callbacks


_UNSAFE: Final = re.compile(r"[\r\n:]")
#: URLs whose request heads are kept (a node posts to a few peers).
_MAX_TARGETS: Final = 1024
