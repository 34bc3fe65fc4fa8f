"""Real aiohttp servers on loopback (port 0) and a real client session: no mocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from loopback import Serve, serve, session

from eessi.clock import VirtualClock
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Inbound, InboundEndpoint, Outcome, Refusal

__all__ = ["Serve", "serve", "session"]  # the shared loopback fixtures, for this package's tests

CNS = "LU:CNS00001"
FR = "FR:CPAM5700"
CREDENTIALS = {CNS: "cns-secret-0001", FR: "fr-secret-5700"}

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
