"""The inbound endpoint, against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from eessi.directory import load_default_directory
from eessi.transport import codes
from eessi.transport.auth import SIGNATURE_HEADER, sign, verify
from eessi.transport.client import Failure, RetryPolicy, Sender
from eessi.transport.envelope import ErrorSignal, Receipt, decode_signal, encode
from eessi.transport.framing import frame
from eessi.transport.limits import InboundLimits
from eessi.transport.server import Inbound, InboundEndpoint, Outcome

from .conftest import CNS, CREDENTIALS, FR, Recorder, Serve, endpoint_at_t0, sed_bytes, user_message

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, attempt_timeout=5.0)


def endpoint(recorder: Recorder, **kwargs: object) -> InboundEndpoint:
    options: dict[str, object] = {"accept_versions": ("4.3", "4.4"), **kwargs}
    return endpoint_at_t0(
        recorder.on_message,
        CREDENTIALS.get,
        CNS,
        on_refused=recorder.on_refused,
        **options,  # type: ignore[arg-type]
    )


def sender(session: aiohttp.ClientSession, credential: str = CREDENTIALS[FR]) -> Sender:
    return Sender(session, credential=credential, rng=random.Random(7), policy=FAST)


@pytest.fixture
async def url(serve: Serve, recorder: Recorder) -> str:
    return await serve(endpoint(recorder).app()) + "/as4"


async def post_raw(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str,
    *,
    credential: str | None = CREDENTIALS[FR],
) -> tuple[int, ErrorSignal | Receipt]:
    headers = {"Content-Type": content_type}
    if credential is not None:
        headers[SIGNATURE_HEADER] = sign(body, credential)
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status, decode_signal(await resp.read())


def framed_body(envelope: bytes, payload: bytes = b"<S071/>") -> tuple[bytes, str]:
    framed = frame(envelope, payload, boundary_seed="0123456789abcdef")
    return framed.body, framed.content_type


# -- accepted ------------------------------------------------------------------------------


async def test_a_valid_message_gets_a_receipt_and_reaches_the_node_byte_exact(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    message = user_message(payload)
    result = await sender(session).send(url, message, payload)
    assert result.ok
    assert result.receipt is not None
    assert result.receipt.ref_to_message_id == "msg-0001"
    assert result.attempts == 1
    [inbound] = recorder.processed
    assert inbound.payload == payload
    assert inbound.envelope == encode(message)
    assert inbound.message == message


async def test_a_redelivered_message_gets_its_receipt_again_and_is_processed_once(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    message = user_message(payload, message_id="dup-1")
    first = await sender(session).send(url, message, payload)
    second = await sender(session).send(url, message, payload)
    assert first.receipt is not None
    assert second.receipt is not None
    assert second.receipt.ref_to_message_id == "dup-1"
    assert recorder.dispositions == ["accepted", "duplicate"]
    assert len(recorder.processed) == 1


async def test_receipts_are_signed_by_the_receiver(
    url: str, session: aiohttp.ClientSession
) -> None:
    payload = sed_bytes()
    body = Sender.prepare(user_message(payload), payload)
    headers = {
        "Content-Type": body.content_type,
        SIGNATURE_HEADER: sign(body.body, CREDENTIALS[FR]),
    }
    async with session.post(url, data=body.body, headers=headers) as resp:
        data = await resp.read()
        assert verify(data, CREDENTIALS[CNS], resp.headers.get(SIGNATURE_HEADER))
        assert not verify(data, CREDENTIALS[FR], resp.headers.get(SIGNATURE_HEADER))


# -- refused before the node sees it -------------------------------------------------------


async def test_a_message_for_another_institution_is_refused_as_value_inconsistent(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload, to_party="DE:AOK00001"), payload)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.attempts == 1
    assert result.http_status == 404
    assert result.error is not None
    assert result.error.code == "EBMS:0003"
    assert result.error.ref_to_message_id == "msg-0001"
    assert "DE:AOK00001" in result.error.description
    assert CNS in result.error.description
    assert recorder.processed == []
    assert [r.error.code for r in recorder.refusals] == ["EBMS:0003"]


async def test_an_unsupported_sed_version_is_refused_naming_the_supported_versions(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload, sed_version="4.1"), payload)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.error is not None
    assert result.error.code == "EBMS:0010"
    assert result.error.short_description == "ProcessingModeMismatch"
    assert "4.1" in result.error.description
    assert "supported versions: 4.3, 4.4" in result.error.description
    assert recorder.processed == []


async def test_a_sender_signing_with_the_wrong_key_is_refused_as_spoofed_and_reported(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    # Someone without the French fund's key claims to be the French fund.
    result = await sender(session, credential="not-the-french-key").send(
        url, user_message(payload), payload
    )
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.http_status == 403
    assert result.error is not None
    assert result.error.code == "EBMS:0101"
    assert "not who it claims to be" in result.error.description
    assert recorder.processed == []
    [refusal] = recorder.refusals
    assert refusal.message is not None
    assert refusal.message.from_party == FR
    assert refusal.payload == payload


async def test_a_sender_missing_from_the_directory_is_refused(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    message = user_message(payload, from_party="XX:NOBODY01")
    result = await sender(session).send(url, message, payload)
    assert result.error is not None
    assert result.error.code == "EBMS:0101"
    assert "XX:NOBODY01" in result.error.description
    assert recorder.processed == []


async def test_an_unsigned_message_is_refused_with_401(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    payload = sed_bytes()
    framed = Sender.prepare(user_message(payload), payload)
    status, signal = await post_raw(session, url, framed.body, framed.content_type, credential=None)
    assert status == 401
    assert isinstance(signal, ErrorSignal)
    assert signal.code == "EBMS:0101"
    assert SIGNATURE_HEADER in signal.description


async def test_a_sed_part_that_does_not_match_its_digest_is_refused(
    url: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    message = user_message(sed_bytes(1))
    body, content_type = framed_body(encode(message), sed_bytes(2))
    status, signal = await post_raw(session, url, body, content_type)
    assert status == 400
    assert isinstance(signal, ErrorSignal)
    assert signal.code == "EBMS:0003"
    assert signal.detail is not None
    assert "Digest" in signal.detail
    assert recorder.processed == []


@pytest.mark.parametrize(
    ("envelope", "where"),
    [
        pytest.param(b"this is not XML", "line 1", id="not-xml"),
        pytest.param(b"<Envelope xmlns='urn:x'/>", "line 1", id="wrong-root"),
        pytest.param(
            encode(user_message(b"<S071/>")).replace(b"<MessageId>msg-0001</MessageId>", b""),
            "/Messaging/UserMessage/MessageInfo",
            id="missing-message-id",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<Messaging/>',
            "DOCTYPE",
            id="doctype",
        ),
    ],
)
async def test_a_malformed_envelope_is_refused_as_invalid_header_saying_where(
    url: str,
    session: aiohttp.ClientSession,
    recorder: Recorder,
    envelope: bytes,
    where: str,
) -> None:
    body, content_type = framed_body(envelope)
    status, signal = await post_raw(session, url, body, content_type)
    assert status == 400
    assert isinstance(signal, ErrorSignal)
    assert signal.code == "EBMS:0009"
    assert signal.short_description == "InvalidHeader"
    assert signal.ref_to_message_id is None
    assert signal.detail is not None
    assert where in signal.detail
    assert recorder.processed == []
    assert len(recorder.refusals) == 1


async def test_a_body_that_is_not_multipart_is_refused_naming_the_content_type(
    url: str, session: aiohttp.ClientSession
) -> None:
    status, signal = await post_raw(session, url, b"<S071/>", "application/xml")
    assert status == 400
    assert isinstance(signal, ErrorSignal)
    assert signal.code == "EBMS:0009"
    assert signal.detail == "Content-Type header"
    assert "multipart/related" in signal.description


async def test_an_oversized_body_is_refused_with_413_and_a_readable_limit(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = await serve(endpoint(recorder, max_body=2000).app()) + "/as4"
    payload = b"<S071>" + b"x" * 5000 + b"</S071>"
    result = await sender(session).send(url, user_message(payload), payload)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.http_status == 413
    assert result.attempts == 1
    assert result.error is not None
    assert "at most 2000 bytes" in result.error.description
    assert recorder.processed == []


async def test_an_oversized_body_without_content_length_is_refused_while_reading(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = await serve(endpoint(recorder, max_body=2000).app()) + "/as4"
    payload = b"<S071>" + b"x" * 50_000 + b"</S071>"
    framed = Sender.prepare(user_message(payload), payload)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(framed.body), 1000):
            yield framed.body[i : i + 1000]

    headers = {"Content-Type": framed.content_type}
    async with session.post(url, data=chunks(), headers=headers) as resp:
        assert resp.status == 413
        signal = decode_signal(await resp.read())
    assert isinstance(signal, ErrorSignal)
    assert "at most 2000 bytes" in signal.description


async def test_an_oversized_body_without_content_length_sent_at_once_is_refused(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    """The whole chunked body arrives before the handler reads it (one write): the reader
    takes it without waiting, and still holds it to the limit."""
    url = await serve(endpoint(recorder, max_body=2000).app()) + "/as4"
    payload = b"<S071>" + b"x" * 5000 + b"</S071>"
    framed = Sender.prepare(user_message(payload), payload)
    headers = {"Content-Type": framed.content_type}
    async with session.post(url, data=framed.body, headers=headers, chunked=True) as resp:
        assert resp.status == 413
        signal = decode_signal(await resp.read())
    assert isinstance(signal, ErrorSignal)
    assert "at most 2000 bytes" in signal.description
    assert recorder.processed == []


# -- refused or failed by the node ---------------------------------------------------------


async def test_a_refusal_by_the_node_becomes_an_error_referencing_the_message(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def refuse(inbound: Inbound) -> Outcome:
        return Outcome.refused(
            "S071 is invalid against its schema: familyName is missing",
            detail="line 3, /S071/Person/PersonIdentification",
        )

    ep = endpoint_at_t0(refuse, CREDENTIALS.get, CNS)
    url = await serve(ep.app()) + "/as4"
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload), payload)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.http_status == 422
    assert result.error is not None
    assert result.error.code == "EBMS:0004"
    assert result.error.ref_to_message_id == "msg-0001"
    assert result.error.detail == "line 3, /S071/Person/PersonIdentification"
    assert "familyName is missing" in (result.reason or "")


async def test_a_node_that_cannot_store_the_message_answers_503_and_the_sender_retries(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    calls: list[str] = []

    async def flaky(inbound: Inbound) -> Outcome:
        calls.append(inbound.message.message_id)
        if len(calls) == 1:
            raise OSError("disk full")
        return Outcome.accepted()

    ep = endpoint_at_t0(flaky, CREDENTIALS.get, CNS)
    url = await serve(ep.app()) + "/as4"
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload), payload)
    assert result.ok
    assert result.attempts == 2
    assert calls == ["msg-0001", "msg-0001"]


async def test_the_endpoint_can_be_mounted_into_another_application(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    app = aiohttp.web.Application()
    endpoint(recorder, path="/peer/as4").add_routes(app)
    url = await serve(app) + "/peer/as4"
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload), payload)
    assert result.ok


async def test_the_directory_is_a_ready_credential_lookup(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    directory = load_default_directory()
    cns = next(e for e in directory if e.kind == "cns")
    fund = next(e for e in directory if e.kind == "mock")
    ep = endpoint_at_t0(
        recorder.on_message, directory.credential, cns.id, accept_versions=cns.versions
    )
    url = await serve(ep.app()) + "/as4"
    payload = sed_bytes()
    message = user_message(
        payload, from_party=fund.id, to_party=cns.id, sed_version=cns.versions[-1]
    )
    signed_by_fund = Sender(session, credential=fund.credential, rng=random.Random(1), policy=FAST)
    result = await signed_by_fund.send(url, message, payload)
    assert result.ok
    other = next(e for e in directory if e.kind == "mock" and e.id != fund.id)
    spoofed = Sender(session, credential=other.credential, rng=random.Random(1), policy=FAST)
    result = await spoofed.send(
        url,
        user_message(
            payload,
            message_id="m-2",
            from_party=fund.id,
            to_party=cns.id,
            sed_version=cns.versions[-1],
        ),
        payload,
    )
    assert result.error is not None
    assert result.error.code == "EBMS:0101"


async def test_a_node_refusal_for_inconsistent_values_is_422_not_404(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def mismatch(inbound: Inbound) -> Outcome:
        return Outcome.refused(
            "the envelope announces S071 but the SED part is S072", code=codes.VALUE_INCONSISTENT
        )

    url = await serve(endpoint_at_t0(mismatch, CREDENTIALS.get, CNS).app()) + "/as4"
    payload = sed_bytes()
    result = await sender(session).send(url, user_message(payload), payload)
    assert result.http_status == 422
    assert result.error is not None
    assert result.error.code == "EBMS:0003"


async def test_a_get_on_the_endpoint_is_405_with_a_readable_error(
    url: str, session: aiohttp.ClientSession
) -> None:
    async with session.get(url) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
        signal = decode_signal(await resp.read())
    assert isinstance(signal, ErrorSignal)
    assert "GET is not accepted" in signal.description


async def test_altered_bodies_are_refused_with_a_readable_error_never_a_crash(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    # 60 refusals from one address: more than the default burst of the refusal limiter.
    limits = InboundLimits(refusal_burst=100)
    url = await serve(endpoint(recorder, limits=limits).app()) + "/as4"
    payload = sed_bytes()
    framed = Sender.prepare(user_message(payload), payload)
    # The signature of the original body: whoever alters the bytes cannot re-sign them.
    headers = {
        "Content-Type": framed.content_type,
        SIGNATURE_HEADER: sign(framed.body, CREDENTIALS[FR]),
    }
    rng = random.Random(2026)
    statuses = set()
    for _ in range(60):
        body = bytearray(framed.body)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(body))
            body[i] = (body[i] + rng.randint(1, 255)) % 256
        async with session.post(url, data=bytes(body), headers=headers) as resp:
            status, signal = resp.status, decode_signal(await resp.read())
        statuses.add(status)
        assert isinstance(signal, ErrorSignal)
        assert status in {400, 403, 404}
    assert recorder.processed == []
    assert {400, 403} <= statuses


async def test_the_receipt_waits_for_the_node_to_finish_journaling(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_journal(inbound: Inbound) -> Outcome:
        entered.set()
        await release.wait()
        return Outcome.accepted()

    url = await serve(endpoint_at_t0(slow_journal, CREDENTIALS.get, CNS).app()) + "/as4"
    payload = sed_bytes()
    sending = asyncio.create_task(sender(session).send(url, user_message(payload), payload))
    await entered.wait()
    for _ in range(20):  # let the server and client run: no answer may arrive meanwhile
        await asyncio.sleep(0)
    assert not sending.done()
    release.set()
    result = await sending
    assert result.ok
