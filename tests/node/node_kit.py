"""Helpers for node tests: a directory on free loopback ports, journals in a temporary dir."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from eessi.directory import default_directory_path
from eessi.journal.base import Direction
from eessi.node.inputs import RequestEntitlement
from eessi.node.network import Network, free_ports
from eessi.transport.envelope import UserMessage

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
FR = "FR:CPAM5701"
BE = "BE:MC000200"
DE = "DE:TKK00001"
RS = "RS:RFZO0001"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"


def free_port() -> int:
    return free_ports(1)[0]


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on its own free port and no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def settle(net: Network) -> None:
    async with asyncio.timeout(15):
        await net.idle()


async def sent_s071(net: Network) -> tuple[UserMessage, bytes]:
    """The S071 the Portuguese fund sent, as it travelled (from its journal)."""
    await net[PT].submit(RequestEntitlement(ANA))
    await settle(net)
    out = (await net[PT].journal.messages(direction=Direction.OUT))[0]
    message = UserMessage.for_payload(
        out.payload,
        message_id=out.message_id,
        timestamp=out.created_at,
        from_party=out.sender,
        to_party=out.receiver,
        conversation_id=out.conversation_id,
        sed_type=out.sed_type,
        sed_version=out.sed_version,
    )
    return message, out.payload
