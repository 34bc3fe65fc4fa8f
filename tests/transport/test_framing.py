"""multipart/related framing: byte-exact parts, strict and located refusals."""

from __future__ import annotations

import contextlib

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from eessi.errors import EnvelopeError
from eessi.transport.framing import frame, unframe

from .conftest import Serve

ENV = b'<?xml version="1.0"?>\n<Messaging/>'


@given(envelope=st.binary(max_size=300), payload=st.binary(max_size=2000))
def test_any_parts_come_back_byte_exact(envelope: bytes, payload: bytes) -> None:
    framed = frame(envelope, payload, boundary_seed="abc123")
    parts = unframe(framed.content_type, framed.body)
    assert parts.envelope == envelope
    assert parts.payload == payload
    assert parts.payload_id == "payload"


def test_a_payload_containing_the_boundary_gets_a_longer_boundary() -> None:
    payload = b"start\r\n--MIMEBoundary_abc\r\nend--MIMEBoundary_abc_1--"
    framed = frame(ENV, payload, boundary_seed="abc")
    assert 'boundary="MIMEBoundary_abc_1_2"' in framed.content_type
    assert unframe(framed.content_type, framed.body).payload == payload


def test_the_body_is_standard_multipart_related() -> None:
    framed = frame(ENV, b"<S071/>", boundary_seed="b")
    assert framed.content_type.startswith("multipart/related;")
    assert 'start="<envelope>"' in framed.content_type
    assert framed.body == (
        b"--MIMEBoundary_b\r\nContent-Type: application/xml; charset=utf-8\r\n"
        b"Content-ID: <envelope>\r\n\r\n" + ENV + b"\r\n--MIMEBoundary_b\r\n"
        b"Content-Type: application/xml\r\nContent-ID: <payload>\r\n\r\n<S071/>\r\n"
        b"--MIMEBoundary_b--\r\n"
    )


async def test_aiohttps_own_multipart_reader_reads_our_bodies(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    # Our splitter is hand-written for speed; a general MIME reader must agree with it.
    seen: list[tuple[str | None, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            seen.append((part.headers.get("Content-ID"), bytes(await part.read())))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", handler)
    url = await serve(app)
    framed = frame(ENV, b"<S071>\r\n--x</S071>", boundary_seed="q")
    headers = {"Content-Type": framed.content_type}
    async with session.post(url + "/", data=framed.body, headers=headers) as resp:
        assert resp.status == 200
    assert seen == [("<envelope>", ENV), ("<payload>", b"<S071>\r\n--x</S071>")]


@pytest.mark.parametrize(
    ("content_type", "body", "where", "words"),
    [
        ("application/xml", b"<x/>", "Content-Type header", "not multipart/related"),
        ("multipart/related", b"", "Content-Type header", "boundary"),
        ("multipart/related; boundary=b", b"junk", "body, byte 0", "does not start"),
        ("multipart/related; boundary=b", b"--b\r\n\r\nenv", "body, after byte 5", "no closing"),
        (
            "multipart/related; boundary=b",
            b"--b\r\n\r\nenv\r\n--b--",
            "body",
            "1 part(s)",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--",
            "body, byte 23",
            "more than two",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\n\r\nenv\r\n--b\r\nContent-Type: application/xml\r\n\r\nsed\r\n--b--",
            "part 2, Content-ID",
            "no Content-ID",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\nContent-Type: image/png\r\n\r\nenv\r\n"
            b"--b\r\nContent-ID: <p>\r\n\r\nsed\r\n--b--",
            "part 1, Content-Type",
            "not XML",
        ),
        (
            "multipart/related; boundary=b",
            b"--b\r\nno colon here\r\n\r\nenv\r\n--b\r\nContent-ID: <p>\r\n\r\nsed\r\n--b--",
            "part 1",
            "no colon",
        ),
    ],
)
def test_malformed_framing_is_refused_saying_where(
    content_type: str, body: bytes, where: str, words: str
) -> None:
    with pytest.raises(EnvelopeError) as info:
        unframe(content_type, body)
    assert info.value.where == where
    assert words in info.value.message
    assert info.value.code == "transport.framing"


def test_a_quoted_boundary_and_other_parameters_are_understood() -> None:
    body = b"--a b\r\n\r\nenv\r\n--a b\r\nContent-ID: <sed-1>\r\n\r\nsed\r\n--a b--\r\n"
    parts = unframe('Multipart/Related; type="application/xml"; boundary="a b"', body)
    assert (parts.envelope, parts.payload, parts.payload_id) == (b"env", b"sed", "sed-1")


@given(content_type=st.text(max_size=80), body=st.binary(max_size=300))
def test_arbitrary_bodies_are_refused_cleanly_or_split(content_type: str, body: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        unframe(content_type, body)


@given(st.data())
def test_a_framed_body_with_one_byte_changed_is_refused_cleanly_or_split(
    data: st.DataObject,
) -> None:
    framed = frame(ENV, b"<S071/>", boundary_seed="seed")
    body = bytearray(framed.body)
    body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(EnvelopeError):
        unframe(framed.content_type, bytes(body))
