"""Open, start and stop institutions: one (`eessi serve`) or several in one process.

The one network builder: :class:`Network` runs ``eessi up``, the scenarios' and the pytest
plugin's :class:`~eessi.scenario.world.LoopbackNetwork` and the trace recorder
(:func:`eessi.trace.record.record`); :func:`loopback_directory` moves a directory onto free
loopback ports for the ones that run inside a test or a recording.

**Which transport.** ``Network(transport="http")`` (the default, ``eessi up``): every node
listens on its endpoint URL, reachable from outside the process. ``transport="twin"``: the
nodes hand their messages over in memory (:class:`eessi.transport.twin.TwinHub`): no port, no
race for one; ``transport="twin+http"``: in memory between the nodes here, and HTTP as well,
to face systems outside (a system under test). A transport factory may be given instead.

:func:`open_institution` builds one node from a directory entry: its journal file, its desk
(from the household files), seeded IDs and jitter when a seed is given (the institution ID is
mixed into the seed, :func:`eessi.ids.institution_seed`, so processes started with one seed draw
different IDs). :class:`Network` does that for several institutions of one directory, on one
shared HTTP client session, and stops them all (then closes their journals) in reverse order.
``prepare`` is called with each node before it starts (e.g. ``eessi up`` makes the mock funds
mocks: ``enable_mock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from eessi.clock import Clock, VirtualClock
from eessi.core.fund import FundPolicy
from eessi.core.household import Household
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import ConfigError
from eessi.ids import IdGenerator, RandomIds, SeededIds, institution_seed
from eessi.journal import open_journal
from eessi.journal.sqlite import Synchronous
from eessi.node.clock_control import ClockControl, attach, attach_reset, reset_busy
from eessi.node.desk_factory import DeskFactory, desk_factory
from eessi.node.household_index import HouseholdSource
from eessi.node.households import load_households
from eessi.node.institution import Institution, NodeOptions
from eessi.trace.runlog import note_run
from eessi.transport.http import http_transport
from eessi.transport.seam import TransportFactory
from eessi.web import join_network

__all__ = [
    "NOWHERE",
    "Builder",
    "DeskWrapper",
    "Network",
    "directory_on_ports",
    "external_entries",
    "free_ports",
    "institution_seed",
    "journal_file_name",
    "loopback_directory",
    "open_institution",
    "served_entries",
    "transport_factory",
    "twin_directory",
    "wait_answering",
]


#: Builds one node of a :class:`Network`: ``(entry, directory, journal file, shared session)``
#: to an institution ready to start (default: :func:`open_institution` with the network's
#: settings; the trace recorder builds from its run configuration instead).
Builder = Callable[
    [InstitutionEntry, Directory, Path, aiohttp.ClientSession], Awaitable[Institution]
]
#: Wraps the desk factory of one entry (e.g. a scenario taps the CNS desk's events).
DeskWrapper = Callable[[InstitutionEntry, DeskFactory], DeskFactory]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` a moment ago. Every socket stays bound until
    all are chosen: asking one at a time may get the same port twice (the OS hands a port out
    again once its socket is closed)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def free_port_run(n: int, *, avoid: range = range(0), host: str = "127.0.0.1") -> int:
    """The first of ``n`` consecutive ports on ``host`` that were all free a moment ago, none of
    them in ``avoid``: a base for ``eessi up --port-base`` (which puts a network on N, N+1...).

    The run is picked below the kernel's ephemeral range (``ip_local_port_range``) when there is
    room: between this choice and the server's bind, any outgoing connection on the machine may
    be handed an ephemeral port, so a run taken from that range can be lost to a client."""
    low = _ephemeral_low()
    pick = random.Random()
    for attempt in range(400):
        with contextlib.ExitStack() as stack:
            if attempt < 200 and low - n > _FIXED_LOW:
                base = pick.randrange(_FIXED_LOW, low - n)
                ports = range(base, base + n)
            else:
                first = stack.enter_context(socket.socket())
                first.bind((host, 0))
                base = int(first.getsockname()[1])
                ports = range(base + 1, base + n)
            if base + n > 65535 or set(range(base, base + n)) & set(avoid):
                continue
            try:
                for port in ports:
                    stack.enter_context(socket.socket()).bind((host, port))
            except OSError:
                continue
            return base
    raise ConfigError(
        f"no run of {n} free ports found on {host}",
        code="node.no-free-ports",
        hint="stop some of the processes listening on this host, or ask for fewer ports",
    )


#: The lowest port :func:`free_port_run` picks from outside the ephemeral range (above the ports
#: services usually take).
_FIXED_LOW = 20000


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """The first port the kernel hands to outgoing connections (32768 when unknown)."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


#: Where institutions that do not run here are said to be: the discard port, closed on loopback
#: (a document sent there fails after its retries; never someone else's server on a fixed port).
NOWHERE = "http://127.0.0.1:9/as4"


def loopback_directory(
    directory: Directory,
    served: Iterable[str],
    *,
    endpoints: Mapping[str, str] | None = None,
) -> Directory:
    """``directory`` as a network in this process sees it, with no admin URLs: each ``served``
    institution on a fresh loopback port, an institution named in ``endpoints`` at that URL,
    an ``external`` one (a system under test, not ours to move) at its own URL, every other one
    at :data:`NOWHERE`. The ports are chosen all at once (:func:`free_ports`), so two
    institutions never get the same one; two networks built this way never collide."""
    given = dict(endpoints or {})
    fresh = [i for i in dict.fromkeys(served) if i not in given]
    ports = iter(free_ports(sum(1 for e in directory if e.id in fresh)))
    entries: list[InstitutionEntry] = []
    for entry in directory:
        if entry.id in given:
            endpoint = given[entry.id]
        elif entry.id in fresh:
            endpoint = f"http://127.0.0.1:{next(ports)}/as4"
        elif entry.kind == "external":
            endpoint = entry.endpoint
        else:
            endpoint = NOWHERE
        entries.append(dataclasses.replace(entry, endpoint=endpoint, admin=None))
    return Directory(tuple(entries), source=directory.source)


def twin_directory(directory: Directory, served: Iterable[str]) -> Directory:
    """``directory`` for a network that runs only in memory (:mod:`eessi.transport.twin`):
    no admin URLs, and every institution at a distinct address on the closed loopback port
    (:data:`NOWHERE`'s): nothing listens, nothing is chosen, so nothing can collide; a message
    for an institution not ``served`` here fails as for an unreachable one."""
    wanted = set(served)
    entries = [
        dataclasses.replace(
            entry,
            endpoint=f"http://127.0.0.1:9/{'twin' if entry.id in wanted else 'nowhere'}/"
            + entry.id.replace(":", "-"),
            admin=None,
        )
        for entry in directory
    ]
    return Directory(tuple(entries), source=directory.source)


#: What carries a :class:`Network`'s messages: a name, or a transport factory.
TransportChoice = Literal["http", "twin", "twin+http"] | TransportFactory


def transport_factory(choice: TransportChoice) -> TransportFactory:
    """The transport factory of ``choice`` (a fresh in-memory hub for each twin)."""
    if choice == "http":
        return http_transport
    from eessi.transport.twin import TwinHub  # only for a network in memory (D230)

    if choice == "twin":
        return TwinHub()
    if choice == "twin+http":
        return TwinHub(http=True)
    if isinstance(choice, str):
        raise ConfigError(
            f"no transport named {choice!r}",
            code="network.unknown-transport",
            hint="use 'http', 'twin' or 'twin+http'",
        )
    return choice


def directory_on_ports(directory: Directory, base: int) -> Directory:
    """``directory`` with the institutions eessi-sim runs (``cns`` and ``mock``, in the
    directory's order) on ports ``base``, ``base + 1``... of their own hosts, and no admin URLs
    (the admin API answers on the endpoint's port): ``eessi up --port-base N``, so two networks
    run side by side. Every such institution gets its port, run or not, so processes given one
    base (``--institution`` each) still reach each other. ``external`` entries are untouched."""
    ours = [e for e in directory if e.kind != "external"]
    if not 1 <= base <= 65536 - len(ours):
        raise ConfigError(
            f"port base {base} leaves no room for {len(ours)} institutions",
            where="--port-base",
            hint=f"give a port from 1024 to {65536 - len(ours)}",
            code="network.bad-port-base",
        )
    ports = {e.id: base + i for i, e in enumerate(ours)}
    entries: list[InstitutionEntry] = []
    for entry in directory:
        if entry.id in ports:
            url = urlsplit(entry.endpoint)
            netloc = f"{url.hostname or '127.0.0.1'}:{ports[entry.id]}"
            entry = dataclasses.replace(
                entry, endpoint=urlunsplit(url._replace(netloc=netloc)), admin=None
            )
        entries.append(entry)
    return Directory(tuple(entries), source=directory.source)


def external_entries(directory: Directory) -> list[InstitutionEntry]:
    """The systems under test of ``directory``: ``kind = "external"`` entries in EESSI."""
    return [e for e in directory if e.eessi and e.kind == "external"]


async def wait_answering(
    entries: Iterable[InstitutionEntry],
    *,
    within: float = 10.0,
    session: aiohttp.ClientSession | None = None,
    where: str | None = None,
) -> None:
    """Wait until every entry's endpoint answers HTTP (any status: a ``GET`` on an AS4
    endpoint may well be refused; what counts is that something listens and speaks HTTP).

    A :class:`~eessi.errors.ConfigError` naming the institution, its URL and the last failure
    after ``within`` seconds (``where``: the directory file, for the error)."""
    wanted = list(entries)
    if not wanted:
        return
    own = session is None
    client = session if session is not None else aiohttp.ClientSession()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        for entry in wanted:
            while True:
                try:
                    timeout = aiohttp.ClientTimeout(total=max(0.5, min(5.0, within)))
                    async with client.get(entry.endpoint, timeout=timeout) as resp:
                        await resp.read()
                    break
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    if loop.time() >= deadline:
                        raise ConfigError(
                            f"the external system {entry.id} does not answer at"
                            f" {entry.endpoint} (after {within:g} s: {exc or type(exc).__name__})",
                            where=where,
                            hint="start the system under test before the network (or fix its"
                            " endpoint in the directory); a plain GET on the URL must get an"
                            " HTTP answer, whatever its status",
                            code="network.external-unreachable",
                        ) from None
                    await asyncio.sleep(0.1)
    finally:
        if own:
            await client.close()


def journal_file_name(ir_id: str) -> str:
    """``LU-CNS00001.sqlite`` for ``LU:CNS00001`` (a colon is awkward in file names)."""
    return ir_id.replace(":", "-") + ".sqlite"


def served_entries(directory: Directory) -> list[InstitutionEntry]:
    """What ``eessi up`` runs: the CNS and the mock funds that are in EESSI."""
    return [e for e in directory if e.eessi and e.kind in ("cns", "mock")]


async def open_institution(
    entry: InstitutionEntry,
    directory: Directory,
    db: str | Path,
    *,
    households: Sequence[Household] | HouseholdSource | None = None,
    households_dir: str | Path | None = None,
    seed: int | None = None,
    clock: Clock | None = None,
    options: NodeOptions | None = None,
    synchronous: Synchronous = "FULL",
    session: aiohttp.ClientSession | None = None,
    host: str | None = None,
    fund_policy: FundPolicy | None = None,
    wrap_desk: DeskWrapper | None = None,
    transport: TransportFactory | None = None,
) -> Institution:
    """An institution ready to :meth:`~Institution.start` (its journal open at ``db``: a SQLite
    file path, or a ``postgresql://`` URL for a PostgreSQL journal, see ``open_journal``).

    ``households`` (a list, or a :class:`~eessi.node.household_index.HouseholdSource`) wins
    over ``households_dir`` (default: the shipped examples);
    ``fund_policy`` is a foreign fund desk's policy (a mock profile's ``[policy]``);
    ``wrap_desk(entry, factory)`` may wrap the desk factory; ``transport`` builds what carries
    its messages (default: HTTP, :func:`eessi.transport.http.http_transport`)."""
    people: Sequence[Household] | HouseholdSource
    if isinstance(households, HouseholdSource):
        people = households
    else:
        people = list(households) if households is not None else load_households(households_dir)
    make_desk = desk_factory(entry, directory, people, fund_policy=fund_policy)
    if wrap_desk is not None:
        make_desk = wrap_desk(entry, make_desk)
    journal = await open_journal(db, synchronous=synchronous)
    ids, signal_ids, rng = _generators(seed, entry.id)
    try:
        return Institution(
            entry,
            directory,
            journal,
            make_desk,
            clock=clock,
            ids=ids,
            signal_ids=signal_ids,
            rng=rng,
            options=options,
            session=session,
            host=host,
            transport=transport,
        )
    except BaseException:  # e.g. the admin API refusing a non-loopback host without a token
        await journal.close()  # its threads would otherwise keep the process alive
        raise


def _generators(seed: int | None, ir_id: str) -> tuple[IdGenerator, IdGenerator, random.Random]:
    """The desk's IDs, the signals' IDs and the jitter of ``ir_id``: seeded (mixed with the
    institution ID) when a seed is given, random otherwise."""
    if seed is None:
        return RandomIds(), RandomIds(), random.Random()
    mixed = institution_seed(seed, ir_id)
    signals = SeededIds(institution_seed(seed, ir_id, "signals"))
    return SeededIds(mixed), signals, random.Random(mixed)


#: How long (real seconds) a network reset waits for what is in flight to finish.
RESET_DRAIN_WITHIN = 10.0


class Network:
    """Several institutions of one directory in one process, on one client session."""

    def __init__(
        self,
        directory: Directory,
        db_dir: str | Path,
        *,
        ids: Iterable[str] | None = None,
        households_dir: str | Path | None = None,
        seed: int | None = None,
        clock: Clock | None = None,
        options: NodeOptions | None = None,
        synchronous: Synchronous = "FULL",
        households: Sequence[Household] | None = None,
        prepare: Callable[[Institution], None] | None = None,
        fund_policies: Mapping[str, FundPolicy] | None = None,
        wrap_desk: DeskWrapper | None = None,
        build: Builder | None = None,
        transport: TransportChoice = "http",
    ) -> None:
        """``households`` (a list) wins over ``households_dir``; ``prepare(inst)`` runs before
        each ``inst.start()``; ``fund_policies`` gives a foreign fund's desk policy by IR ID;
        ``wrap_desk`` wraps each desk factory; ``build`` replaces :func:`open_institution`
        (then the settings above that it does not read are unused); ``transport``: what
        carries the messages (module docstring), passed to :func:`open_institution`."""
        self.directory = directory
        self.db_dir = Path(db_dir)
        wanted = list(ids) if ids is not None else [e.id for e in served_entries(directory)]
        self.entries = [directory.get(i) for i in wanted]
        self.households_dir = households_dir
        self.households = list(households) if households is not None else None
        self.prepare = prepare
        self.fund_policies = dict(fund_policies or {})
        self.wrap_desk = wrap_desk
        self.build = build
        #: The transport factory every node of this network is built with.
        self.transport = transport_factory(transport)
        self.seed = seed
        self.clock = clock
        self.options = options
        self.synchronous: Synchronous = synchronous
        self.institutions: dict[str, Institution] = {}
        self._session: aiohttp.ClientSession | None = None
        #: On a virtual clock: the one control that moves it for every institution here
        #: (``POST /api/clock`` on any of them, see :mod:`eessi.node.clock_control`).
        self.clock_control = ClockControl(clock) if isinstance(clock, VirtualClock) else None
        #: Called (in order) by :meth:`reset` once the institutions are empty again (e.g.
        #: ``eessi up`` puts the mock funds' rules back to their profiles).
        self.on_reset: list[Callable[[], None]] = []
        self._reset_lock = asyncio.Lock()

    async def start(self) -> None:
        """Open every journal, restore and start every institution (stops all on failure)."""
        self.db_dir.mkdir(parents=True, exist_ok=True)
        self._session = aiohttp.ClientSession()
        try:
            people = self._people()
            build = self.build or self._builder(people)
            for entry in self.entries:
                db = self.db_dir / journal_file_name(entry.id)
                inst = await build(entry, self.directory, db, self._session)
                self.institutions[entry.id] = inst
                if people is not None:  # journaled at each start, for `eessi trace export`
                    note_run(inst, households=people, seed=self.seed)
                join_network(inst, self.institutions)  # each node's /ui/ shows them all
                if self.clock_control is not None:
                    attach(self.clock_control, inst)
                attach_reset(inst, self.reset)
                if self.prepare is not None:
                    self.prepare(inst)
                await inst.start()
        except BaseException:
            await self.stop()
            raise

    def _people(self) -> list[Household] | None:
        """The households the nodes are built with (loaded once); None when ``build`` builds
        them from elsewhere and no list was given."""
        if self.households is not None:
            return self.households
        return load_households(self.households_dir) if self.build is None else None

    def _builder(self, people: Sequence[Household] | None) -> Builder:
        """:func:`open_institution` with this network's settings."""

        async def build(
            entry: InstitutionEntry, directory: Directory, db: Path, session: aiohttp.ClientSession
        ) -> Institution:
            return await open_institution(
                entry,
                directory,
                db,
                households=people,
                seed=self.seed,
                clock=self.clock,
                options=self.options,
                synchronous=self.synchronous,
                session=session,
                fund_policy=self.fund_policies.get(entry.id) if entry.kind != "cns" else None,
                wrap_desk=self.wrap_desk,
                transport=self.transport,
            )

        return build

    async def stop(self) -> None:
        """Stop every institution, close the journals and the session."""
        for inst in reversed(list(self.institutions.values())):
            await inst.stop()
        for inst in reversed(list(self.institutions.values())):
            await inst.journal.close()
        self.institutions.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def idle(self) -> None:
        """Wait until every institution is idle at once (flows between them finished)."""
        while True:
            for inst in self.institutions.values():
                await inst.idle()
            if all(inst.busy == 0 for inst in self.institutions.values()):
                return

    async def reset(self, *, drain_within: float = RESET_DRAIN_WITHIN) -> dict[str, object]:
        """Back to the start of the run, still serving on the same ports: every journal
        emptied (its file removed and created anew), every desk rebuilt from the households,
        every seeded generator rewound, the clock back to its start and :attr:`on_reset` (the
        mock rules back to their profiles) before the nodes start again (they note both).
        Waits up to ``drain_within`` seconds for what is in flight; a
        :class:`~eessi.errors.ConfigError` (``network.busy``) if it does not finish (nothing is
        reset then). Held messages (a delay on a virtual clock) are dropped."""
        async with self._reset_lock:
            try:
                async with asyncio.timeout(drain_within):
                    await self.idle()
            except TimeoutError:
                busy = {i: inst.busy for i, inst in self.institutions.items() if inst.busy}
                raise reset_busy(
                    f"the network is busy (in flight: {busy}) and", drain_within
                ) from None
            # The clock and the mock rules first: each node notes them as it starts again
            # (its ~run start note, a mock fund's starting rules), as a fresh start does.
            at = self.clock_control.rewind() if self.clock_control is not None else None
            for hook in self.on_reset:
                hook()
            for ir_id, inst in self.institutions.items():
                db = self.db_dir / journal_file_name(ir_id)
                await inst.journal.close()
                for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                    path.unlink(missing_ok=True)
                journal = await open_journal(db, synchronous=self.synchronous)
                await inst.restart_empty(journal)  # its seeded generators rewound
            return {
                "reset": sorted(self.institutions),
                "clock": at.isoformat() if at is not None else None,
            }

    def __getitem__(self, ir_id: str) -> Institution:
        return self.institutions[ir_id]

    async def __aenter__(self) -> Network:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
