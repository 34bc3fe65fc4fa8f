"""Record a scenario: run institutions on loopback with a virtual clock and make its trace.

Used by the tests, the benchmark and the demo: the institutions of a directory run in one
process (a :class:`~eessi.node.network.Network`, the one network builder), each with its
journal in ``workdir``, connected through eDelivery AS4 on free loopback ports, signed and
encrypted with a test PKI made in ``workdir/pki`` (the trace keeps the directory's own
endpoints: ports are an accident of the run). A ``script`` drives them (submits
requests, moves the clock); the trace is then exported from their journals exactly as ``eessi
trace export`` would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from eessi.as4.node_transport import as4_transport
from eessi.clock import VirtualClock
from eessi.directory import Directory, InstitutionEntry, parse_directory
from eessi.journal import open_journal
from eessi.node.institution import Institution
from eessi.node.network import Network, loopback_directory, served_entries
from eessi.trace.as4peers import fresh_network
from eessi.trace.export import collect, collect_inputs, make_header
from eessi.trace.format import Trace, directory_to_dict
from eessi.trace.runconfig import build_institution, households, start_of

__all__ = ["DEFAULT_START", "Script", "idle_all", "record"]

#: Where a recording's virtual clock starts unless the configuration says otherwise.
DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: Drives the running institutions (by IR ID) and the clock.
Script = Callable[[Mapping[str, Institution], VirtualClock], Awaitable[None]]


def _live_directory(directory: Directory, served: Sequence[str]) -> Directory:
    """The directory the recording runs on: the trace's placeholder credentials (a replay signs
    with those), each served institution on a free loopback port, the others unreachable."""
    placeholders = parse_directory(
        directory_to_dict(directory), source=f"{directory.source or '<directory>'} (loopback)"
    )
    return loopback_directory(placeholders, served)


async def idle_all(institutions: Iterable[Institution]) -> None:
    """Wait until every institution is idle at once (a flow between them has finished)."""
    nodes = list(institutions)
    while True:
        for inst in nodes:
            await inst.idle()
        if all(inst.busy == 0 for inst in nodes):
            return


async def record(
    directory: Directory,
    config: Mapping[str, Any],
    script: Script,
    workdir: str | Path,
    *,
    ids: Sequence[str] | None = None,
) -> Trace:
    """Run ``script`` against the institutions ``ids`` (default: what ``eessi up`` runs) and
    return the trace of their journals (messages and input logs)."""
    wanted = list(ids) if ids is not None else [e.id for e in served_entries(directory)]
    live = _live_directory(directory, wanted)
    clock = VirtualClock(start_of(config) or DEFAULT_START)
    people = households(config)
    transport = as4_transport(fresh_network(directory, Path(workdir) / "pki"))

    async def build(
        entry: InstitutionEntry, live: Directory, db: Path, session: aiohttp.ClientSession
    ) -> Institution:
        del session  # as the replay builds it (own session), so both build the same node
        journal = await open_journal(db, synchronous="NORMAL")
        return build_institution(
            entry, live, config, journal, clock, people=people, transport=transport
        )

    async with Network(live, workdir, ids=wanted, build=build) as network:
        await script(network.institutions, clock)
        await network.idle()
        journals = [inst.journal for inst in network.institutions.values()]
        messages = await collect(journals)
        inputs = await collect_inputs(journals)
    header = make_header(
        directory,
        config=config,
        source={"recorded": "eessi.trace.record", "institutions": wanted},
        created=clock.now(),
    )
    return Trace(header, tuple(messages), None, tuple(inputs))
