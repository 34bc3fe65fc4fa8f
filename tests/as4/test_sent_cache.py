"""What the AS4 sender keeps of the messages it built (D495): only those whose send may still
come, so a node's memory does not grow with every message acknowledged; a resend of a message
still waiting for its receipt posts the same bytes without reading them back.

The sender is the node's (one attempt per send, the node keeps the retry schedule, D240),
over real aiohttp servers on loopback; ``built`` is the constructor's shared store, as
:class:`~eessi.as4.node_transport.As4Transport` passes it."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from as4_support import CNS, CPAM, make_pki
from loopback import Serve, serve, session
from test_transport import OPEN, Node, addressing, cpam, secured

import eessi.as4.transport as as4_transport_module
from eessi.as4.exchange import Outgoing
from eessi.as4.pki import Pki
from eessi.as4.transport import As4Endpoint, As4Keys, As4Sender
from eessi.as4.wire import from_entity
from eessi.sed.examples import example_xml
from eessi.transport import codes
from eessi.transport.client import Failure, RetryPolicy
from eessi.transport.server import Outcome

__all__ = ["serve", "session"]  # the shared loopback fixtures (tests/loopback.py), used here
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ONE_ATTEMPT = RetryPolicy(max_attempts=1)  # what the node passes: it keeps the schedule


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM}, now=NOW)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The MessageIds the sender read back from their bytes (it did not keep them)."""
    seen: list[str] = []
    real = as4_transport_module.sent_from_wire  # type: ignore[attr-defined]

    def counted(entity: bytes, pmodes: Any) -> Any:
        out = real(entity, pmodes)
        seen.append(out.message.message_id)
        return out

    monkeypatch.setattr(as4_transport_module, "sent_from_wire", counted)
    return seen


def node_sender(
    session: aiohttp.ClientSession,
    pki: Pki,
    built: dict[str, Outgoing],
    *,
    policy: RetryPolicy | None = ONE_ATTEMPT,
    **options: Any,
) -> As4Sender:
    """The CNS's sender, as a node makes it (one attempt per send, the node keeps the
    schedule) unless ``policy`` (``None``: the P-Mode's retries) or ``options`` say otherwise."""
    return As4Sender(
        session,
        CNS,
        pmodes=secured(),
        keys=As4Keys.from_pki(pki, CNS),
        rng=random.Random(1),
        policy=policy,
        built=built,
        **options,
    )


def build(s: As4Sender, n: int) -> bytes:
    return s.build(
        addressing(),
        example_xml("S072", seed=n),
        message_id=f"kept-{n}@eessi-sim",
        timestamp=NOW,
    )


async def test_acknowledged_sends_leave_nothing_kept_and_none_is_read_back(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, reads: list[str]
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    built: dict[str, Outgoing] = {}
    s = node_sender(session, pki, built)
    for n in range(40):
        entity = build(s, n)
        assert list(built) == [f"kept-{n}@eessi-sim"]  # kept for its send
        result = await s.send(url, entity, message_id=f"kept-{n}@eessi-sim")
        assert result.ok
        assert built == {}  # acknowledged: nothing of it kept (before D495: all 40, ~11.5 KB each)
    assert len(node.journal) == 40
    assert reads == []  # every send posted what was built, without parsing it back


async def test_a_refused_message_is_not_kept(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node(refuse_with=Outcome.refused("the SED is invalid", code=codes.OTHER, detail="/x"))
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    built: dict[str, Outgoing] = {}
    s = node_sender(session, pki, built)
    result = await s.send(url, build(s, 1), message_id="kept-1@eessi-sim")
    assert result.failure is Failure.REFUSED_BY_PEER
    assert built == {}  # refused: never sent again, so not kept


async def test_a_resend_while_the_receipt_is_pending_posts_the_same_bytes_without_reading_them(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, reads: list[str]
) -> None:
    node = Node()
    endpoint = As4Endpoint(
        node.on_message, CPAM, pmodes=secured(), keys=As4Keys.from_pki(pki, CPAM), limits=OPEN
    )
    bodies: list[bytes] = []

    async def busy_once(request: web.Request) -> web.StreamResponse:
        if not bodies:
            bodies.append(await request.read())
            return web.Response(status=503, text="busy")
        return await endpoint.handle(request)  # it reads the body itself

    app = web.Application()
    app.router.add_post("/as4", busy_once)
    url = await serve(app) + "/as4"
    built: dict[str, Outgoing] = {}
    s = node_sender(session, pki, built)
    entity = build(s, 7)

    first = await s.send(url, entity, message_id="kept-7@eessi-sim")
    assert first.failure is Failure.RETRIES_EXHAUSTED  # no receipt: the node will resend
    assert list(built) == ["kept-7@eessi-sim"]  # still pending, so still kept

    again = await s.send(url, entity, message_id="kept-7@eessi-sim")
    assert again.ok
    assert bodies == [from_entity(entity).body]
    assert node.journal["kept-7@eessi-sim"].envelope == entity  # the resend: the same bytes
    assert reads == []  # the kept envelope, not a read-back
    assert built == {}  # acknowledged now


async def test_a_message_not_kept_is_read_back_and_sent_as_its_bytes(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, reads: list[str]
) -> None:
    """After a restart (nothing kept) the journaled bytes are what is posted, read once."""
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    built: dict[str, Outgoing] = {}
    s = node_sender(session, pki, built)
    entity = build(s, 3)
    built.clear()  # the restart
    result = await s.send(url, entity, message_id="kept-3@eessi-sim")
    assert result.ok
    assert reads == ["kept-3@eessi-sim"]
    assert node.journal["kept-3@eessi-sim"].envelope == entity
    assert built == {}


async def test_a_message_whose_pmode_retries_are_spent_is_not_kept(
    pki: Pki, session: aiohttp.ClientSession
) -> None:
    """A sender on its own P-Mode schedule (no node behind it): its last retry ends the
    message's sends, so nothing of it stays."""

    async def no_wait(seconds: float) -> None:
        return None

    built: dict[str, Outgoing] = {}
    s = node_sender(session, pki, built, policy=None, sleep=no_wait)
    result = await s.send("http://127.0.0.1:9/as4", build(s, 5), message_id="kept-5@eessi-sim")
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert result.attempts > 1
    assert built == {}
