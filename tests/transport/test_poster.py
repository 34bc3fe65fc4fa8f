"""The kept-alive poster against real servers on loopback: aiohttp's, and raw asyncio ones for
answers aiohttp's server never writes (no length, not HTTP, bytes after the answer)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from eessi.transport.poster import (
    MAX_HEAD,
    ConnectFailure,
    KeepAlivePoster,
    PostFailure,
    SessionPoster,
)

from .conftest import Serve

RECEIPT = b"<receipt>" + b"a" * 200 + b"</receipt>"  # 219 bytes, 34 gzipped
HEADERS = {"Content-Type": "application/xml", "SOAPAction": '""'}


@pytest.fixture
async def poster() -> AsyncIterator[KeepAlivePoster]:
    p = KeepAlivePoster(limit=4)
    yield p
    await p.close()


def echo_app(seen: list[tuple[str, int, bytes, str]]) -> web.Application:
    """Answers every POST with its body reversed; remembers (peer port, body, headers)."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.transport is not None
        port = request.transport.get_extra_info("peername")[1]
        seen.append((request.path_qs, port, body, request.headers.get("SOAPAction", "")))
        return web.Response(body=body[::-1], content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/as4", handle)
    return app


RawServer = Callable[[bytes], Awaitable[str]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """Servers that read one request, write the given bytes and close the connection: the
    answers aiohttp's server never writes."""
    servers: list[asyncio.Server] = []
    handlers: list[asyncio.Task[None]] = []

    async def start(written: bytes) -> str:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(written)
            writer.close()
            await writer.wait_closed()

        def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.append(asyncio.ensure_future(answer(reader, writer)))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/as4"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
    await asyncio.gather(*handlers, return_exceptions=True)


async def test_posts_the_body_and_headers_and_reuses_one_connection(
    serve: Serve, poster: KeepAlivePoster
) -> None:
    seen: list[tuple[str, int, bytes, str]] = []
    url = await serve(echo_app(seen)) + "/as4"
    for n in range(5):
        answer = await poster.post(url, b"abc%d" % n, HEADERS, within=5, limit=1000)
        assert (answer.status, answer.body) == (200, b"%dcba" % n)
        assert answer.content_type.startswith("application/soap+xml")
    assert [s[2] for s in seen] == [b"abc%d" % n for n in range(5)]
    assert {s[0] for s in seen} == {"/as4"}
    assert {s[3] for s in seen} == {'""'}
    assert len({s[1] for s in seen}) == 1  # one connection, kept alive


async def test_at_most_limit_exchanges_at_once(serve: Serve, poster: KeepAlivePoster) -> None:
    inside = 0
    most = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.02)
        inside -= 1
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/as4", slow)
    url = await serve(app) + "/as4"
    answers = await asyncio.gather(
        *(poster.post(url, b"%d" % n, HEADERS, within=5, limit=100) for n in range(12))
    )
    assert [a.body for a in answers] == [b"%d" % n for n in range(12)]
    assert most == poster.limit == 4


async def test_an_answer_over_the_limit_fails_and_its_connection_is_not_reused(
    serve: Serve, poster: KeepAlivePoster
) -> None:
    seen: list[tuple[str, int, bytes, str]] = []
    url = await serve(echo_app(seen)) + "/as4"
    with pytest.raises(PostFailure, match="larger than 10 bytes"):
        await poster.post(url, b"x" * 11, HEADERS, within=5, limit=10)
    answer = await poster.post(url, b"small", HEADERS, within=5, limit=10)
    assert answer.body == b"llams"
    assert seen[0][1] != seen[1][1]  # a fresh connection after the broken exchange


async def test_no_answer_in_time_is_a_timeout_and_the_next_post_works(
    serve: Serve, poster: KeepAlivePoster
) -> None:
    calls = 0

    async def first_slow(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1)
        return web.Response(body=b"ok")

    app = web.Application()
    app.router.add_post("/as4", first_slow)
    url = await serve(app) + "/as4"
    with pytest.raises(TimeoutError):
        await poster.post(url, b"a", HEADERS, within=0.1, limit=100)
    assert (await poster.post(url, b"b", HEADERS, within=5, limit=100)).body == b"ok"


async def test_nothing_listening_is_a_connect_failure_with_the_systems_reason(
    poster: KeepAlivePoster,
) -> None:
    with pytest.raises(ConnectFailure) as caught:
        await poster.post("http://127.0.0.1:9/as4", b"a", HEADERS, within=5, limit=100)
    assert "refused" in caught.value.reason.lower()
    assert "cannot connect to http://127.0.0.1:9" in str(caught.value)


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    serve: Serve, poster: KeepAlivePoster
) -> None:
    seen: list[tuple[str, int, bytes, str]] = []
    app = echo_app(seen)
    runner = web.AppRunner(app, keepalive_timeout=0.05)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/as4"
    try:
        assert (await poster.post(url, b"ab", HEADERS, within=5, limit=100)).body == b"ba"
        await asyncio.sleep(0.3)  # the server closes the idle connection
        assert (await poster.post(url, b"cd", HEADERS, within=5, limit=100)).body == b"dc"
    finally:
        await runner.cleanup()
    assert seen[0][1] != seen[1][1]


async def test_chunked_and_gzip_answers_are_read_whole(
    serve: Serve, poster: KeepAlivePoster
) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"<a>", b"b", b"</a>"):
            await response.write(part)
        await response.write_eof()
        return response

    async def zipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(RECEIPT), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/zipped", zipped)
    base = await serve(app)
    assert (await poster.post(base + "/chunked", b"", HEADERS, within=5, limit=100)).body == (
        b"<a>b</a>"
    )
    assert (await poster.post(base + "/zipped", b"", HEADERS, within=5, limit=1000)).body == (
        RECEIPT
    )
    with pytest.raises(PostFailure, match="larger than 100 bytes once decoded"):
        await poster.post(base + "/zipped", b"", HEADERS, within=5, limit=100)


async def test_an_answer_without_a_length_ends_with_its_connection(
    poster: KeepAlivePoster, raw_server: RawServer
) -> None:
    url = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<ok/>")
    got = await poster.post(url, b"a", HEADERS, within=5, limit=100)
    assert (got.status, got.content_type, got.body) == (200, "text/xml", b"<ok/>")


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        (b"SMTP ready\r\n\r\n", "not HTTP/1.1"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD + b"\r\n\r\n", "headers exceed"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", "closed the connection"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nok", "br"),
    ],
    ids=["not-http", "huge-head", "cut-short", "unknown-encoding"],
)
async def test_a_broken_answer_is_a_post_failure_saying_what_broke(
    poster: KeepAlivePoster, raw_server: RawServer, written: bytes, reason: str
) -> None:
    url = await raw_server(written)
    with pytest.raises(PostFailure, match=reason):
        await poster.post(url, b"a", HEADERS, within=5, limit=100)


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(
    poster: KeepAlivePoster,
) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        await poster.post("http://127.0.0.1:9/as4", b"", {"X": "a\r\nEvil: 1"}, within=5, limit=100)


async def test_the_session_poster_reads_the_same_answer(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    seen: list[tuple[str, int, bytes, str]] = []
    url = await serve(echo_app(seen)) + "/as4"
    answer = await SessionPoster(session).post(url, b"abc", HEADERS, within=5, limit=100)
    assert (answer.status, answer.body) == (200, b"cba")
    with pytest.raises(ConnectFailure):
        await SessionPoster(session).post("http://127.0.0.1:9/as4", b"", HEADERS, within=5, limit=9)
