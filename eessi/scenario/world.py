"""A small EESSI network inside one process: the CNS and chosen mock funds, in memory.

Scenarios, the pytest plugin and the demo all run the same thing: real
:class:`~eessi.node.institution.Institution` nodes (real SQLite journals, real schema
validation, the same inbox, worker and outbox as ``eessi up``) sharing one
:class:`~eessi.clock.VirtualClock`, with seeded IDs and a
:class:`~eessi.mock.controller.MockController` animating every mock fund. Only the clock is
virtual, so a two-month reminder deadline passes when told to.

**Transport.** By default the nodes talk through the in-memory twin
(:mod:`eessi.transport.twin`: receipts, errors, retries and failures as over the wire, no
port; :func:`eessi.node.network.twin_directory`), so several networks (parallel tests, a
scenario while ``eessi up`` runs) never collide or reach each other. When the directory has an
``external`` institution (the tester's own system) or ``fixed_ports`` is asked, each node also
listens on HTTP and speaks **eDelivery AS4** there (``twin+http``; the AS4 node transport of
:mod:`eessi.as4.node_transport`, as ``eessi up`` does): the external one keeps its URL and
:meth:`start` waits until it answers; the served ones are on ports the OS has just handed out
(:func:`eessi.node.network.loopback_directory`), or with ``fixed_ports`` on the directory's
endpoints, where such a system, configured with the same directory, sends to them; they still
talk to each other in memory. ``transport="http"`` runs everything over eDelivery AS4 on
loopback.

**AS4 security** is as ``eessi up``'s (:func:`eessi.as4.startup.load_as4`): the P-Modes beside
the directory file (``pmodes.toml``; else the shipped ones, secured) and, when a P-Mode is
secured, the network's test PKI, made at the first start where none is: ``pki`` if given, else
the P-Mode file's ``pki``, else, facing outside, where ``eessi serve`` of the same directory
keeps it (``pki/`` beside the directory file, ``./eessi-pki`` for the shipped one: the external
system reads its key and the CA there), else the work directory. ``security=False`` turns
every P-Mode's security off (``--no-security``); a P-Mode file with ``[security] enabled =
false`` does so for its exchanges (an external party whose P-Mode is unsecured).

**One order for what travelled.** :meth:`LoopbackNetwork.exchanges` reads every journal and puts
the messages sent in one order that does not depend on task scheduling: by the *round* they
appeared in (a scenario step), then causally (an answer after what it answers), then by
institution. Each is labelled with the receiver's status when the receiver is ours
(``processed``, ``rejected``, ``received`` when parked) and the sender's otherwise (``failed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import As4Network, load_as4
from eessi.clock import Clock, VirtualClock
from eessi.core.cns import CnsDesk
from eessi.core.eligibility import Decision
from eessi.core.household import Household
from eessi.core.messages import DecisionMade, Event, Step
from eessi.directory import (
    Directory,
    InstitutionEntry,
    default_directory_path,
    load_default_directory,
)
from eessi.errors import ConfigError
from eessi.ids import IdGenerator
from eessi.journal import Direction, MessageRecord
from eessi.mock.behaviour import Rule
from eessi.mock.controller import MockController
from eessi.mock.journal_query import matches
from eessi.mock.profiles import Profile, load_default_profiles
from eessi.node.desk_factory import Desk, DeskFactory
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import (
    Network,
    external_entries,
    loopback_directory,
    twin_directory,
    wait_answering,
)
from eessi.transport.client import RetryPolicy
from eessi.transport.http import HttpTransport
from eessi.transport.seam import TransportFactory, TransportSetup
from eessi.transport.twin import TwinHub

__all__ = [
    "DEFAULT_START",
    "FAST_OPTIONS",
    "Exchange",
    "LoopbackNetwork",
]

#: What carries a :class:`LoopbackNetwork`'s messages (see the module docstring).
TransportName: TypeAlias = Literal["twin", "twin+http", "http"]

#: When the virtual clock starts unless told otherwise.
DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Retries fast enough for a test or a demo (a failing peer costs well under a second).
FAST_OPTIONS = NodeOptions(
    retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, attempt_timeout=1.0),
    send_workers=4,
)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One message that travelled (or was meant to) between two institutions."""

    #: Position in :meth:`LoopbackNetwork.exchanges`, from 1.
    index: int
    sender: str
    receiver: str
    sed: str
    version: str
    case: str
    message_id: str
    ref_to_message_id: str | None
    #: The receiver's status when the receiver runs here, else the sender's.
    status: str
    #: The sender's status (``acknowledged``, ``failed``...).
    sent_status: str
    #: The receiver's status, ``None`` if it never arrived or the receiver is not ours.
    received_status: str | None
    #: The round it was first seen in (a scenario step number; 0 outside scenarios).
    round: int
    created_at: datetime
    payload: bytes = dataclasses.field(repr=False)
    #: Delivery attempts the sender made (retries after failures count).
    attempts: int = 0
    #: Extra copies the receiver got with the same MessageId (dropped, receipted again).
    duplicates: int = 0

    def flow(self) -> str:
        """``"FR:CPAM5701 -> LU:CNS00001 S071"``: what a scenario's expectation names."""
        return f"{self.sender} -> {self.receiver} {self.sed}"

    def matches(self, xpath: str, namespaces: Mapping[str, str] | None = None) -> bool:
        """Whether the XPath (prefix-insensitive, see :mod:`eessi.mock.journal_query`) holds."""
        return matches(self.payload, xpath, namespaces)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sender": self.sender,
            "receiver": self.receiver,
            "sed": self.sed,
            "version": self.version,
            "case": self.case,
            "message_id": self.message_id,
            "ref_to_message_id": self.ref_to_message_id,
            "status": self.status,
            "sent_status": self.sent_status,
            "received_status": self.received_status,
            "round": self.round,
            "created_at": self.created_at.isoformat(),
            "attempts": self.attempts,
            "duplicates": self.duplicates,
        }


def _default_pki(directory: Directory, workdir: Path, facing: bool) -> Path:
    """Where the PKI is when neither ``pki`` nor the P-Mode file says (module docstring).
    Facing outside, where ``eessi serve`` of the same directory has it: ``pki/`` beside the
    directory file, or ``./eessi-pki`` for the shipped directory; else in the work directory."""
    if not facing:
        return workdir / "pki"
    source = Path(directory.source) if directory.source else None
    if source is None or source.resolve() == default_directory_path().resolve():
        return Path("eessi-pki")
    return source.resolve().parent / "pki"


def _http_face(face: TransportFactory) -> Callable[[TransportSetup], HttpTransport]:
    """The AS4 transport as the twin's face to the outside (an :class:`HttpTransport`)."""

    def build(setup: TransportSetup) -> HttpTransport:
        transport = face(setup)
        assert isinstance(transport, HttpTransport)
        return transport

    return build


class LoopbackNetwork:
    """The CNS and mock funds of ``ids`` in this process (see the module docstring).

    ``async with LoopbackNetwork(ids, households, workdir=tmp) as net:`` starts them all;
    ``net[ir_id]`` is the :class:`Institution`; ``net.clock`` the shared virtual clock;
    ``net.mocks`` the controller of the mock funds' behaviours.
    """

    def __init__(
        self,
        ids: Sequence[str],
        households: Sequence[Household],
        *,
        workdir: str | Path,
        start: datetime | None = None,
        seed: int = 0,
        behaviours: Mapping[str, Sequence[Rule]] | None = None,
        directory: Directory | None = None,
        profiles: Mapping[str, Profile] | None = None,
        options: NodeOptions | None = None,
        fixed_ports: bool = False,
        external_within: float = 10.0,
        transport: Literal["twin", "http"] | TransportFactory = "twin",
        security: bool = True,
        pki: str | Path | None = None,
    ) -> None:
        """``fixed_ports``: the institutions listen on the directory's own endpoints (for an
        external system configured with the same directory) instead of fresh ports;
        ``external_within``: seconds :meth:`start` waits for each external system to answer;
        ``transport``: ``"twin"`` (in memory, plus HTTP when facing an external system or
        with ``fixed_ports``) or ``"http"`` (module docstring), or a transport factory that
        listens on loopback like ``"http"``; ``security``, ``pki``: the AS4 security of the
        HTTP face (module docstring; unused by a given factory or the plain twin)."""
        base = directory if directory is not None else load_default_directory()
        for ir_id in ids:
            if ir_id not in base:
                raise ConfigError(
                    f"{ir_id} is not in the directory",
                    code="scenario.unknown-institution",
                    where=base.source,
                    hint=f"institutions in the directory: {', '.join(base.ids)}",
                )
        self.ids = list(dict.fromkeys(ids))
        fixed = {i: base.get(i).endpoint for i in self.ids} if fixed_ports else None
        facing = bool(fixed_ports or external_entries(base))
        factory: TransportFactory | None = None
        if not isinstance(transport, str):  # a factory (AS4): on loopback ports, as "http"
            factory, transport = transport, "http"
        if transport not in ("twin", "http"):
            raise ConfigError(
                f"no transport named {transport!r}",
                code="network.unknown-transport",
                hint="use 'twin' (in memory) or 'http' (loopback HTTP)",
            )
        #: ``"twin"``, ``"twin+http"`` or ``"http"``: what carries the messages.
        self.transport: TransportName = (
            "http" if transport == "http" else "twin+http" if facing else "twin"
        )
        if self.transport == "twin":
            self.directory = twin_directory(base, self.ids)
        else:
            self.directory = loopback_directory(base, self.ids, endpoints=fixed)
        self.workdir = Path(workdir)
        #: The P-Modes and PKI of the AS4 face, read (the PKI made) at :meth:`start`; ``None``
        #: in memory only, or with a transport factory.
        self.as4: As4Network | None = None
        self._as4_wanted = factory is None and self.transport != "twin"
        self._as4_settings = (
            base,
            None if pki is None else Path(pki),
            _default_pki(base, self.workdir, facing),
            security,
        )
        self.external_within = external_within
        self.households = list(households)
        self.clock = VirtualClock(start or DEFAULT_START)
        self.seed = seed
        self.options = options or FAST_OPTIONS
        self.mocks = MockController(
            profiles if profiles is not None else load_default_profiles(),
            stall_seconds=1.5,
            seed=seed or None,
        )
        self._behaviours = {k: list(v) for k, v in (behaviours or {}).items()}
        self.network = Network(
            self.directory,
            self.workdir,
            ids=self.ids,
            households=self.households,
            seed=seed,
            clock=self.clock,
            options=self.options,
            synchronous="NORMAL",
            prepare=self._prepare,
            fund_policies={fund: p.policy for fund, p in self.mocks.profiles.items()},
            wrap_desk=self._wrap_desk,
            transport=factory if factory is not None else "twin",  # AS4: set at start
        )
        #: The running institutions by IR ID (the network's own dict).
        self.nodes: dict[str, Institution] = self.network.institutions
        self._rounds: dict[tuple[str, str], int] = {}
        #: The CNS's latest decision per member ID, and its events not drained yet (the desk's
        #: own answers: the journal spreads them over cases, unordered at one virtual instant).
        self.decisions: dict[str, Decision] = {}
        self.cns_events: list[Event] = []
        self.round = 0

    # ---- lifecycle

    async def start(self) -> None:
        """Wait until every external system of the directory answers, then open every journal
        and start every institution (all stopped again on failure)."""
        await wait_answering(
            external_entries(self.directory),
            within=self.external_within,
            where=self.directory.source,
        )
        if self._as4_wanted and self.as4 is None:
            base, pki, default_pki, security = self._as4_settings
            self.as4 = await asyncio.to_thread(  # a first start makes keys: off the loop
                load_as4, base, pki_dir=pki, default_pki_dir=default_pki, security=security
            )
            face = as4_transport(self.as4)
            self.network.transport = (
                face if self.transport == "http" else TwinHub(outside=_http_face(face))
            )
        await self.network.start()

    def _prepare(self, node: Institution) -> None:
        """Each mock fund gets its behaviours and is animated by the controller."""
        if node.entry.kind != "cns":
            for rule in self._behaviours.get(node.id, ()):
                self.mocks.book(node.id).add(rule)
            self.mocks.attach(node)

    def _wrap_desk(self, entry: InstitutionEntry, make_desk: DeskFactory) -> DeskFactory:
        return self._tapped(make_desk) if entry.kind == "cns" else make_desk

    def _tapped(self, make_desk: DeskFactory) -> DeskFactory:
        """Every CNS desk the node makes (at start, after a rollback) reports its events here."""

        def make(clock: Clock, ids: IdGenerator, state: Any) -> Desk:
            desk = make_desk(clock, ids, state)
            inner = desk.handle

            def handle(event: Any) -> Step:
                step: Step = inner(event)
                for ev in step.events:
                    if isinstance(ev, DecisionMade):
                        self.decisions[ev.member.member] = ev.decision
                    self.cns_events.append(ev)
                return step

            desk.handle = handle  # type: ignore[method-assign]
            return desk

        return make

    def drain_cns_events(self) -> list[Event]:
        """The CNS desk's events since the last call, in the order the desk returned them."""
        out, self.cns_events = self.cns_events, []
        return out

    async def stop(self) -> None:
        await self.network.stop()

    async def __aenter__(self) -> LoopbackNetwork:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __getitem__(self, ir_id: str) -> Institution:
        node = self.nodes.get(ir_id)
        if node is None:
            raise ConfigError(
                f"{ir_id} does not run in this network",
                code="scenario.unknown-institution",
                hint=f"running: {', '.join(self.nodes) or '(none)'}",
            )
        return node

    @property
    def cns(self) -> Institution:
        for node in self.nodes.values():
            if node.entry.kind == "cns":
                return node
        raise ConfigError(
            "no CNS runs in this network",
            code="scenario.no-cns",
            hint="add the CNS (LU:CNS00001) to the institutions",
        )

    @property
    def cns_desk(self) -> CnsDesk:
        """The CNS's desk (registrations, cases)."""
        desk = self.cns.desk
        assert isinstance(desk, CnsDesk)
        return desk

    # ---- waiting

    async def idle(self, within: float = 20.0) -> None:
        """Wait until every institution is idle at once (everything in flight has landed)."""
        async with asyncio.timeout(within):
            await self.network.idle()

    async def tick(self) -> None:
        """Every institution looks at the (virtual) time: overdue replies get reminders."""
        for node in self.nodes.values():
            await node.tick()

    def next_round(self) -> int:
        """Start a new round: messages first seen from now on belong to it."""
        self.round += 1
        return self.round

    async def wait_case_state(
        self, ir_id: str, case: str, state: str, within: float = 10.0
    ) -> None:
        """Wait until case ``case`` at ``ir_id`` is in ``state`` (``"completed"``...); a
        :class:`TimeoutError` naming the state it is in otherwise."""
        node = self[ir_id]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        current: str | None = None
        while True:
            current = self.case_state(ir_id, case)
            if current == state:
                return
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"case {case} at {node.id} is {current or 'unknown'}, not {state},"
                    f" after {within:g} s"
                )
            await asyncio.sleep(0.01)

    def case_state(self, ir_id: str, case: str) -> str | None:
        """The state of ``case`` at ``ir_id`` now, ``None`` if that desk does not know it."""
        cases = self[ir_id].desk.snapshot().cases
        cf = cases.get(case)
        return None if cf is None else cf.state.value

    def cases(self, ir_id: str, member: str | None = None) -> list[tuple[str, str, str]]:
        """``(case ID, BUC, state)`` of every case at ``ir_id``, optionally about one member
        (its ID in the household: the CNS's member, or the fund's record key)."""
        out: list[tuple[str, str, str]] = []
        for cf in self[ir_id].desk.snapshot().cases.values():
            about = cf.member.member if cf.member is not None else None
            if about is None and cf.person is not None:
                about = cf.person.rsplit("/", 1)[-1]
            if member is None or about == member:
                out.append((cf.case_id, cf.buc, cf.state.value))
        return out

    # ---- what travelled

    async def exchanges(self) -> list[Exchange]:
        """Every message sent by an institution here, in one stable order (module docstring)."""
        sent: dict[str, list[MessageRecord]] = {}
        received: dict[tuple[str, str], MessageRecord] = {}
        for ir_id, node in self.nodes.items():
            sent[ir_id] = await node.journal.messages(direction=Direction.OUT)
            for rec in await node.journal.messages(direction=Direction.IN):
                received.setdefault((ir_id, rec.message_id), rec)
        for ir_id, records in sent.items():
            for rec in records:
                self._rounds.setdefault((ir_id, rec.message_id), self.round)
        order = list(self.nodes)
        queues = {ir_id: list(records) for ir_id, records in sent.items()}
        pending = {rec.message_id for records in sent.values() for rec in records}
        out: list[Exchange] = []
        while any(queues.values()):
            ready = []
            for ir_id in order:
                queue = queues[ir_id]
                if not queue:
                    continue
                head = queue[0]
                ref = head.ref_to_message_id
                if ref is None or ref not in pending or ref == head.message_id:
                    ready.append((self._rounds[(ir_id, head.message_id)], order.index(ir_id)))
            if not ready:  # a cycle cannot happen; take the first head rather than stop
                ready = [
                    (self._rounds[(i, queues[i][0].message_id)], order.index(i))
                    for i in order
                    if queues[i]
                ]
            _round, pos = min(ready)
            rec = queues[order[pos]].pop(0)
            pending.discard(rec.message_id)
            inbound = received.get((rec.receiver, rec.message_id))
            out.append(
                Exchange(
                    index=len(out) + 1,
                    sender=rec.sender,
                    receiver=rec.receiver,
                    sed=rec.sed_type,
                    version=rec.sed_version,
                    case=rec.conversation_id,
                    message_id=rec.message_id,
                    ref_to_message_id=rec.ref_to_message_id,
                    status=inbound.status.value if inbound is not None else rec.status.value,
                    sent_status=rec.status.value,
                    received_status=None if inbound is None else inbound.status.value,
                    round=_round,
                    created_at=rec.created_at,
                    payload=rec.payload,
                    attempts=rec.attempts,
                    duplicates=0 if inbound is None else inbound.duplicates,
                )
            )
        return out

    async def messages(
        self,
        *,
        sed: str | None = None,
        case: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        xpath: str | None = None,
        namespaces: Mapping[str, str] | None = None,
    ) -> list[Exchange]:
        """:meth:`exchanges` that match every filter given (XPath: prefix-insensitive)."""
        return [
            x
            for x in await self.exchanges()
            if (sed is None or x.sed == sed)
            and (case is None or x.case == case)
            and (sender is None or x.sender == sender)
            and (receiver is None or x.receiver == receiver)
            and (xpath is None or x.matches(xpath, namespaces))
        ]
