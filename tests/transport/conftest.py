"""Real aiohttp servers on loopback (port 0) and a real client session: no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from eessi.clock import VirtualClock
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Inbound, InboundEndpoint, Outcome, Refusal

CNS = "LU:CNS00001"
FR = "FR:CPAM5700"
CREDENTIALS = {CNS: "cns-secret-0001", FR: "fr-secret-5700"}

Serve = Callable[[web.Application], Awaitable[str]]
#: When the test messages say they were created (``user_message``).
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def endpoint_at_t0(*args: Any, **kwargs: Any) -> InboundEndpoint:
    """An endpoint whose clock reads :data:`T0` (unless given another): the messages of these
    tests are stamped T0, and the endpoint refuses timestamps far from its clock."""
    kwargs.setdefault("clock", VirtualClock(T0))
    return InboundEndpoint(*args, **kwargs)


def sed_bytes(n: int = 1) -> bytes:
    """A small S071-like document (the transport never looks inside)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        f'<S071 xmlns="http://ec.europa.eu/eessi/ns/4_4/S071"><n>{n}</n>'
        "<familyName>Müller &amp; Söhne</familyName></S071>\n"
    ).encode()


def user_message(
    payload: bytes,
    *,
    message_id: str = "msg-0001",
    from_party: str = FR,
    to_party: str = CNS,
    sed_version: str = "4.4",
) -> UserMessage:
    return UserMessage.for_payload(
        payload,
        message_id=message_id,
        timestamp=T0,
        from_party=from_party,
        to_party=to_party,
        conversation_id="FR-00000000CAFE",
        sed_type="S071",
        sed_version=sed_version,
    )


@dataclass
class Recorder:
    """The node's stand-in: remembers message IDs (the journal comes later)."""

    seen: set[str] = field(default_factory=set)
    processed: list[Inbound] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    async def on_message(self, inbound: Inbound) -> Outcome:
        if inbound.message.message_id in self.seen:
            self.dispositions.append("duplicate")
            return Outcome.duplicate()
        self.seen.add(inbound.message.message_id)
        self.processed.append(inbound)
        self.dispositions.append("accepted")
        return Outcome.accepted()

    async def on_refused(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start applications on 127.0.0.1, port 0; give each one's base URL; stop them after."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
