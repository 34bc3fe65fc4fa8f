"""A small network for mock tests: the CNS and mock funds on free loopback ports, a virtual
clock, real SQLite journals, and a :class:`MockController` attached to every mock fund."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from eessi.clock import VirtualClock
from eessi.directory import Directory, default_directory_path, load_directory
from eessi.journal import Direction, MessageRecord
from eessi.mock.admin import add_mock_routes
from eessi.mock.behaviour import KEEP_FINISHED
from eessi.mock.controller import LOG_LIMIT, MockController
from eessi.mock.profiles import load_default_profiles
from eessi.node.households import load_households
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import open_institution
from eessi.transport.client import RetryPolicy

CNS = "LU:CNS00001"
FR = "FR:CPAM5701"
PT = "PT:ISS00001"
DE = "DE:TKK00001"
#: Marie Martin: the CPAM de la Moselle asks the CNS for her S072 (R13/R17 path).
MARIE = "martin-thionville/marie"
NOAH = "martin-thionville/noah"
#: Ana Silva: the Portuguese fund asks for her S072 (R17), in SED version 4.3.
ANA = "silva-luxembourg/ana"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAST = NodeOptions(retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_directory(where: Path, *, external_cns: bool = False) -> Path:
    """The shipped directory with every endpoint on a free port and no admin URLs; with
    ``external_cns`` the CNS is a system under test that eessi-sim does not run."""
    text = default_directory_path().read_text(encoding="utf-8")
    if external_cns:
        text = text.replace('kind = "cns"', 'kind = "external"')
    taken: set[int] = set()

    def unique_port(_m: re.Match[str]) -> str:
        port = free_port()
        while port in taken:  # the OS may hand the same free port out twice in a row
            port = free_port()
        taken.add(port)
        return f"127.0.0.1:{port}"

    text = re.sub(r"127\.0\.0\.1:87\d\d", unique_port, text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class World:
    directory: Directory
    clock: VirtualClock
    mocks: MockController
    nodes: dict[str, Institution]
    open_node: Callable[[str], Awaitable[Institution]]
    stall_seconds: float = 1.0

    async def restart(self, ir_id: str, *, fresh_mocks: bool = False) -> Institution:
        """Stop ``ir_id`` and start a new node on the same journal (a process restart); with
        ``fresh_mocks``, its mock behaviours start from a new controller too (as in a new
        process: only what the journal kept survives)."""
        old = self.nodes[ir_id]
        await old.stop()
        await old.journal.close()
        if fresh_mocks:
            self.mocks = MockController(load_default_profiles(), stall_seconds=self.stall_seconds)
        self.nodes[ir_id] = node = await self.open_node(ir_id)
        return node

    def __getitem__(self, ir_id: str) -> Institution:
        return self.nodes[ir_id]

    async def settle(self, *ids: str) -> None:
        """Wait until the named nodes (default: all) are idle at once."""
        chosen = [self.nodes[i] for i in (ids or tuple(self.nodes))]
        async with asyncio.timeout(15):
            while True:
                for node in chosen:
                    await node.idle()
                if all(node.busy == 0 for node in chosen):
                    return

    async def messages(
        self, ir_id: str, direction: Direction | None = None, case: str | None = None
    ) -> list[MessageRecord]:
        return await self.nodes[ir_id].journal.messages(direction=direction, case=case)

    async def summary(self, ir_id: str, case: str | None = None) -> list[tuple[str, str, str]]:
        return [
            (m.direction.value, m.sed_type, m.status.value)
            for m in await self.messages(ir_id, case=case)
        ]


@asynccontextmanager
async def world(
    tmp_path: Path,
    ids: tuple[str, ...] = (CNS, FR),
    *,
    options: NodeOptions = FAST,
    stall_seconds: float = 1.0,
    external_cns: bool = False,
    log_limit: int = LOG_LIMIT,
    keep_finished: int = KEEP_FINISHED,
) -> AsyncIterator[World]:
    directory = load_directory(write_directory(tmp_path, external_cns=external_cns))
    clock = VirtualClock(START)
    mocks = MockController(
        load_default_profiles(),
        stall_seconds=stall_seconds,
        log_limit=log_limit,
        keep_finished=keep_finished,
    )
    people = load_households()
    nodes: dict[str, Institution] = {}
    async with aiohttp.ClientSession() as session:

        async def open_node(ir_id: str) -> Institution:
            index = ids.index(ir_id)
            entry = directory.get(ir_id)
            node = await open_institution(
                entry,
                directory,
                tmp_path / f"{index}.sqlite",
                households=people,
                seed=11 + index,
                clock=clock,
                options=options,
                synchronous="NORMAL",
                session=session,
            )
            if entry.kind == "mock":
                controller = the_world.mocks if the_world is not None else mocks
                controller.attach(node)
                add_mock_routes(node.app, node, controller)
            await node.start()
            return node

        the_world: World | None = None
        try:
            for ir_id in ids:
                nodes[ir_id] = await open_node(ir_id)
            the_world = World(directory, clock, mocks, nodes, open_node, stall_seconds)
            yield the_world
        finally:
            for node in reversed(list(nodes.values())):
                await node.stop()
            for node in reversed(list(nodes.values())):
                await node.journal.close()
