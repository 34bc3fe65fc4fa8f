"""The sender: retries, back-off with jitter, classification, status reports (real servers)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from eessi.errors import EnvelopeError, MessageRefusedError, PeerUnreachableError
from eessi.transport.client import (
    Failure,
    RetryPolicy,
    Sender,
    SendStatus,
    StatusUpdate,
)
from eessi.transport.server import InboundEndpoint

from .conftest import CNS, CREDENTIALS, FR, Recorder, Serve, endpoint_at_t0, sed_bytes, user_message


class Waits:
    """An injected sleep that records the delays and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Statuses:
    def __init__(self) -> None:
        self.updates: list[StatusUpdate] = []

    async def __call__(self, update: StatusUpdate) -> None:
        self.updates.append(update)

    @property
    def names(self) -> list[str]:
        return [u.status.value for u in self.updates]


def make_sender(
    session: aiohttp.ClientSession,
    *,
    max_attempts: int = 4,
    attempt_timeout: float = 5.0,
    waits: Waits | None = None,
    statuses: Statuses | None = None,
    peer_credentials: bool = False,
) -> Sender:
    return Sender(
        session,
        credential=CREDENTIALS[FR],
        rng=random.Random(42),
        policy=RetryPolicy(
            max_attempts=max_attempts,
            base_delay=0.001,
            max_delay=0.004,
            jitter=0.5,
            attempt_timeout=attempt_timeout,
        ),
        sleep=waits if waits is not None else Waits(),
        on_status=statuses,
        peer_credentials=CREDENTIALS.get if peer_credentials else None,
    )


async def _internal_error(request: web.Request) -> web.StreamResponse:
    return web.Response(status=500, text="Internal Server Error")


def failing_then(
    endpoint: InboundEndpoint,
    failures: int,
    hits: list[int],
    fail: Callable[[web.Request], Awaitable[web.StreamResponse]] = _internal_error,
) -> web.Application:
    """An app that reads the first ``failures`` requests and answers them with ``fail`` (a 500
    unless told), then hands over to the real endpoint."""

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        if len(hits) <= failures:
            await request.read()
            return await fail(request)
        return await endpoint.handle(request)

    app = web.Application()
    app.router.add_post("/as4", handler)
    return app


def real_endpoint(recorder: Recorder) -> InboundEndpoint:
    return endpoint_at_t0(recorder.on_message, CREDENTIALS.get, CNS)


async def test_a_peer_failing_twice_then_recovering_gets_the_message_on_the_third_attempt(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    hits: list[int] = []
    url = await serve(failing_then(real_endpoint(recorder), 2, hits)) + "/as4"
    statuses = Statuses()
    payload = sed_bytes()
    result = await make_sender(session, statuses=statuses).send(url, user_message(payload), payload)
    assert result.ok
    assert result.attempts == 3
    assert len(hits) == 3
    assert len(recorder.processed) == 1
    assert statuses.names == [
        "sending",
        "waiting_for_receipt",
        "retrying",
        "sending",
        "waiting_for_receipt",
        "retrying",
        "sending",
        "waiting_for_receipt",
        "acknowledged",
    ]
    retry = statuses.updates[2]
    assert retry.attempt == 1
    assert retry.error is not None
    assert "HTTP 500" in retry.error


async def test_a_peer_that_keeps_failing_makes_the_send_fail_after_the_retry_budget(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    hits: list[int] = []
    url = await serve(failing_then(real_endpoint(recorder), 1000, hits)) + "/as4"
    statuses = Statuses()
    payload = sed_bytes()
    result = await make_sender(session, max_attempts=4, statuses=statuses).send(
        url, user_message(payload), payload
    )
    assert not result.ok
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert result.attempts == 4
    assert len(hits) == 4
    assert result.reason is not None
    assert "after 4 attempt(s)" in result.reason
    assert "HTTP 500" in result.reason
    assert statuses.names[-1] == "failed"
    with pytest.raises(PeerUnreachableError, match="after 4 attempt"):
        result.raise_for_failure()


async def test_nothing_listening_is_retried_then_reported_as_unreachable(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is now closed: connections are refused.
    waits = Waits()
    payload = sed_bytes()
    result = await make_sender(session, max_attempts=3, waits=waits).send(
        f"http://127.0.0.1:{port}/as4", user_message(payload), payload
    )
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert result.attempts == 3
    assert len(waits.delays) == 2
    assert result.reason is not None
    assert "cannot connect" in result.reason


async def test_an_attempt_that_times_out_is_retried(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        # Slower than the attempt timeout: released only once the send is over.
        await release.wait()
        return web.Response(status=500)

    url = await serve(failing_then(real_endpoint(recorder), 1, [], slow)) + "/as4"
    statuses = Statuses()
    payload = sed_bytes()
    result = await make_sender(session, attempt_timeout=0.2, statuses=statuses).send(
        url, user_message(payload), payload
    )
    release.set()
    assert result.ok
    assert result.attempts == 2
    retry = next(u for u in statuses.updates if u.status is SendStatus.RETRYING)
    assert retry.error == "no answer within 0.2 s"


async def test_a_refusal_is_not_retried_and_says_why(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = await serve(real_endpoint(recorder).app()) + "/as4"
    waits = Waits()
    payload = sed_bytes()
    result = await make_sender(session, waits=waits).send(
        url, user_message(payload, sed_version="3.2"), payload
    )
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.attempts == 1
    assert waits.delays == []
    assert result.reason is not None
    assert result.reason.startswith(f"{CNS} refused the message: EBMS:0010")
    with pytest.raises(MessageRefusedError) as info:
        result.raise_for_failure()
    assert info.value.details["code"] == "EBMS:0010"


async def test_a_4xx_without_an_error_signal_is_a_refusal_quoting_the_body(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def teapot(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=418, text="I'm a teapot")

    app = web.Application()
    app.router.add_post("/as4", teapot)
    url = await serve(app) + "/as4"
    payload = sed_bytes()
    result = await make_sender(session).send(url, user_message(payload), payload)
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.http_status == 418
    assert "I'm a teapot" in (result.reason or "")


async def test_a_receipt_not_signed_by_the_receiver_is_not_trusted(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    # An endpoint that does not know its own credential answers unsigned receipts.
    unsigned = endpoint_at_t0(
        recorder.on_message, lambda ir: CREDENTIALS.get(ir) if ir != CNS else None, CNS
    )
    url = await serve(unsigned.app()) + "/as4"
    payload = sed_bytes()
    result = await make_sender(session, max_attempts=2, peer_credentials=True).send(
        url, user_message(payload), payload
    )
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert f"not signed by {CNS}" in (result.reason or "")


async def test_a_signed_receipt_is_trusted_when_checking_signatures(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = await serve(real_endpoint(recorder).app()) + "/as4"
    payload = sed_bytes()
    result = await make_sender(session, peer_credentials=True).send(
        url, user_message(payload), payload
    )
    assert result.ok


async def test_a_payload_that_does_not_match_its_envelope_is_refused_before_sending(
    session: aiohttp.ClientSession,
) -> None:
    message = user_message(sed_bytes(1))
    with pytest.raises(EnvelopeError, match="does not match the digest"):
        await make_sender(session).send("http://127.0.0.1:9/as4", message, sed_bytes(2))


def test_back_off_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(6)]
    for n, d in enumerate(delays):
        floor = min(8.0, 2.0**n)
        assert floor <= d <= floor * 1.25
    assert delays[3] >= 8.0
    assert delays[5] <= 10.0


def test_back_off_is_reproducible_from_the_seed() -> None:
    policy = RetryPolicy()
    rng_a, rng_b = random.Random(5), random.Random(5)
    first = [policy.delay(n, rng_a) for n in range(4)]
    again = [policy.delay(n, rng_b) for n in range(4)]
    assert first == again
    assert first != [policy.delay(n, random.Random(6)) for n in range(4)]


def test_a_retry_policy_without_attempts_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)


async def test_a_huge_answer_is_not_read_whole_and_counts_as_unreadable(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def flood(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"<" * 2_000_000, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/as4", flood)
    url = await serve(app) + "/as4"
    payload = sed_bytes()
    result = await make_sender(session, max_attempts=2).send(url, user_message(payload), payload)
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert "unreadable answer" in (result.reason or "")


async def test_a_connection_reset_mid_request_is_retried(
    serve: Serve, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()  # the peer's process dies before answering
        return web.Response(status=500)

    url = await serve(failing_then(real_endpoint(recorder), 1, [], reset)) + "/as4"
    statuses = Statuses()
    payload = sed_bytes()
    result = await make_sender(session, statuses=statuses).send(url, user_message(payload), payload)
    assert result.ok
    assert result.attempts == 2
    retry = next(u for u in statuses.updates if u.status is SendStatus.RETRYING)
    assert retry.error is not None
    assert "Disconnected" in retry.error or "reset" in retry.error.lower()
