"""One institution, several processes sharing its cases by partition (issue 17, D145-D147).

Several ``eessi serve --shared`` processes of one institution share one PostgreSQL journal
(and, on one host, one port: ``SO_REUSEPORT``; on several, a load balancer or a DNS name with
several addresses). Design (docs/deployment.md):

* **Partitions follow households.** The institution's cases are split into ``N`` partitions
  (``--partitions``, default :data:`PARTITIONS`): a household's partition is a hash of its
  key (:func:`partition_of`), and every case about it, every input about it and every document
  of those cases belongs to that partition. The CNS desk keeps per-person state across cases
  (a member's registrations, documents asked, the cases of a household), so a partition must
  hold whole households: one desk per partition then decides on the whole of a person, as the
  single desk did. Each partition has its own desk, worker, input log (``~inputs/K``),
  checkpoint (slot ``1000 + K``) and outbox (its messages carry their partition).
* **Any process accepts.** An inbound message is validated, journaled and receipted by
  whichever process the connection reached (nothing acknowledged is only in a process's
  memory; a sender needs one URL). Accepting files it under its partition (:meth:`route`, in
  the accepting transaction): the partition of its case when the case is known, else (an S071
  opening a case at the CNS) of the household its main insured belongs to, else a hash of the
  case ID. It ``NOTIFY``s the partition's owner, which queues it for its desk. Why not forward
  to the owner: the accepting process would hold the connection while another process works,
  and a forward lost in a crash would be an acknowledged message only in memory (D146).
* **One owner per partition**, the process holding the partition's session-level advisory lock
  (``pg_try_advisory_lock``); its transactions are fenced by the partition's epoch (table
  ``partitions``): a process that lost a partition's lock without dying can never commit for
  it after the next owner claimed it (the first such transaction stops the process, as a
  ``kill -9`` would).
* **Rebalanced as processes come and go.** Every live process holds a *shared* advisory lock
  of the institution (its membership); ``pg_locks`` lists the holders, so the live processes
  are known without heartbeats (a dead process's session, and with it its locks, is ended by
  PostgreSQL). Each process, ranked by its session's backend PID among the live ones, wants
  the partitions ``k`` with ``k % live == rank``; it gives up (stops that desk, writes its
  checkpoint, unlocks) the others and takes the ones it wants as soon as their lock is free.
  A process that joins takes its share; one that dies has its partitions taken within
  :data:`POLL` seconds, each rebuilt from its checkpoint and input log and resumed exactly as
  a restarted single process resumes (0 lost, 0 done twice, D117).
* **Admin requests are accepted by any process** (``POST /api/requests``): an input goes to
  its partition's desk here if this process owns it, else it is queued in the journal
  (``shared_inputs``) for the partition's owner, which takes it (``FOR UPDATE SKIP LOCKED``),
  runs it and stores its result; this process answers with it. The time passing goes to every
  partition. The owner stores a request's answer in the transaction that commits its effect;
  a request left ``taken`` by an owner that stopped before that commit took no effect, and the
  partition's next owner queues it again and runs it (D280): run once, answered, no row left.

The outbox needs no queue of its own: a partition's owner sends its partition's messages only
(the journal object of a partition sees only them), so no two processes ever send one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import socket
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import asyncpg

import eessi.errors
from eessi.clock import VirtualClock
from eessi.core.cns import CnsDesk
from eessi.core.mapping import main_insured_pin
from eessi.core.messages import Step, TimePassed
from eessi.errors import ConfigError, EessiError
from eessi.ids import IdGenerator, RandomIds, SeededIds, institution_seed
from eessi.journal.base import MessageRecord
from eessi.journal.postgres import DONE_CHANNEL, INBOUND_CHANNEL, INPUT_CHANNEL, PostgresJournal
from eessi.node.clock_control import attach
from eessi.node.options import crash_point
from eessi.node.shared_clock import (
    CLOCK_LOG,
    ClockMoved,
    MoveClock,
    SharedClockControl,
    catch_up,
)
from eessi.node.shared_views import AskDesk, DeskGauges, DeskView, attach_views
from eessi.node.steps import Item
from eessi.sed.documents import S071, from_xml

if TYPE_CHECKING:
    from eessi.node.inputs import SubmitInput
    from eessi.node.institution import Institution
    from eessi.ops.metrics import NodeMetrics
    from eessi.transport.seam import TransportFactory

__all__ = ["PARTITIONS", "POLL", "SharedInstitution", "partition_of"]

log = logging.getLogger("eessi.node")

#: Partitions of an institution's cases unless ``--partitions`` says otherwise: enough for a
#: few processes to share evenly, few enough that a lone process's desks still batch.
PARTITIONS: Final = 8
#: Seconds between a process's looks at who is alive, and at the journal for work it was not
#: told of (a missed ``NOTIFY``).
POLL: Final = 0.25
#: How long a process waits for the owner of another partition to run a request it queued.
REMOTE_TIMEOUT: Final = 60.0
#: How long a desk view (``/metrics``, ``GET /api/households``) waits for another partition's
#: owner to answer (a partition being taken over answers once its new owner rebuilt it).
VIEW_TIMEOUT: Final = 10.0
#: Outbound statuses of messages not yet acknowledged or failed (the outbox depth).
_PENDING_OUT: Final = ("queued", "sending", "waiting_for_receipt", "retrying")
#: Every how many polls each partition also looks for work it was not notified of (a safety
#: net: a ``NOTIFY`` is sent at each accept and each queued request): 2 s.
_SWEEP: Final = 8
#: Seconds after which an answer nobody read is deleted (the process that asked stopped
#: waiting long before: :data:`REMOTE_TIMEOUT`).
_FORGET: Final = 10 * REMOTE_TIMEOUT
#: The second key of the membership lock (partitions use 0 to N - 1).
_MEMBER: Final = 0x7FFF_FFFF


_CONNECTION_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def partition_of(key: str, partitions: int) -> int:
    """The partition of a household key (or, for a case of no known household, a case ID)."""
    return zlib.crc32(key.encode()) % partitions


def _base_key(institution: str) -> int:
    """The first key of the institution's advisory locks (a positive 32-bit integer)."""
    return zlib.crc32(b"eessi-shared " + institution.encode()) & 0x7FFF_FFFF


def _die() -> None:
    """Stop this process at once, as a ``kill -9`` would: it lost a partition (or its session
    with the journal), and anything it did next could only be refused."""
    log.critical("this process lost its partitions: stopping at once")
    os._exit(70)


def _encode_error(exc: EessiError) -> bytes:
    return json.dumps({"class": type(exc).__name__, **exc.to_dict()}).encode()


def _decode_error(data: bytes) -> EessiError:
    body = json.loads(data)
    cls = getattr(eessi.errors, str(body.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, EessiError)):
        cls = EessiError
    return cls(
        str(body.get("message")),
        where=body.get("where"),
        hint=body.get("hint"),
        code=body.get("code"),
        details=body.get("details"),
    )


@dataclass
class _Part:
    """A partition this process owns: its desk's node and journal."""

    number: int
    node: Institution
    journal: PostgresJournal
    #: Inbound message IDs queued for the desk, with when (monotonic): see :meth:`pickup`.
    queued: dict[str, float] = field(default_factory=dict)
    #: Messages accepted for this partition (``NOTIFY``): pick them up at the next turn.
    messages: bool = True
    #: Requests queued for this partition (``NOTIFY``): take them at the next turn.
    inputs: bool = True
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def pickup(self) -> None:
        """Queue for the desk every ``received`` inbound message of this partition not queued
        yet, whichever process accepted it. A message stays in :attr:`queued` until a read
        that began after it was queued no longer finds it ``received`` (processed, rejected,
        expired or failed): so a message parked by the desk, or queued but not yet committed,
        is never queued twice."""
        began = time.monotonic()
        waiting = set(await self.journal.received_inbound_ids())
        for mid, at in list(self.queued.items()):
            if at < began and mid not in waiting:
                del self.queued[mid]
        fresh = [mid for mid in waiting if mid not in self.queued]
        if not fresh:
            return
        node = self.node
        for record in await self.journal.inbound_records(fresh):
            if record.message_id in self.queued:
                continue
            self.queued[record.message_id] = time.monotonic()
            node.add_busy(1)
            node.worker.queue.put_nowait(Item("inbound", record, None))


class SharedInstitution:
    """Runs ``front`` as one of several processes of its institution (module docstring).

    ``front`` serves (accepts inbound messages, the admin API) and runs no desk; each partition
    this process owns runs in a node of its own (:attr:`parts`), built like ``front`` on a
    journal of that partition. ``await start(host=..., port=...)``; ``await stop()``.
    """

    def __init__(
        self,
        front: Institution,
        *,
        partitions: int = PARTITIONS,
        seed: int | None = None,
        transport: TransportFactory | None = None,
        host: str | None = None,
        synchronous_commit: bool = True,
        poll: float = POLL,
        on_lost: Callable[[], None] = _die,
        metrics: NodeMetrics | None = None,
    ) -> None:
        journal = front.journal
        inner = getattr(journal, "inner", journal)  # an observed journal (eessi.ops) wraps it
        if not isinstance(inner, PostgresJournal):
            raise ConfigError(
                f"{front.id}: several processes of one institution need a PostgreSQL journal",
                code="node.shared-needs-postgresql",
                hint="give --journal postgresql://... to every process of the institution",
            )
        if not 1 <= partitions <= 1000:
            raise ConfigError(
                f"{partitions} partitions: give 1 to 1000",
                where="--partitions",
                hint="every process of the institution must be given the same number",
                code="node.bad-partitions",
            )
        self.front = front
        self.journal: PostgresJournal = inner
        self.partitions = partitions
        self.seed = seed
        self.transport = transport
        self.host = host
        self.synchronous_commit = synchronous_commit
        self.poll = poll
        self.on_lost = on_lost
        #: The process's metrics (``/metrics``): the partitions' desks count into them too.
        self.metrics = metrics
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        #: The partitions this process owns now.
        self.parts: dict[int, _Part] = {}
        self._base = _base_key(front.id)
        self._conn: Any = None
        self._pid = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._done: dict[int, asyncio.Event] = {}
        self._turns = 0
        inner.notify_inbound = True
        inner.router = self.route
        front.inbound_from_journal = True
        front.submit_to = self.submit
        attach_views(front, self)  # the institution's desk views, on every process (D195)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Join the institution's live processes, serve, then take a share of the partitions."""
        recorded = await self.journal.agree_partitions(self.front.id, self.partitions)
        if recorded != self.partitions:
            raise ConfigError(
                f"{self.front.id}'s cases are split into {recorded} partitions in this journal;"
                f" this process was given {self.partitions}",
                where="--partitions",
                hint=f"start every process of the institution with --partitions {recorded}"
                " (the number is fixed for the journal's life)",
                code="node.partitions-mismatch",
            )
        if isinstance(self.front.clock, VirtualClock):  # one time for all processes (D196)
            catch_up(self.front.clock, await self.journal_time())
            control = SharedClockControl(
                self.front, self.front.clock, record=self._record_time, move=self.move_clock
            )
            attach(control, self.front)
        self._conn = await asyncpg.connect(self.journal.url)
        self._pid = self._conn.get_server_pid()
        await self._conn.execute("SELECT pg_advisory_lock_shared($1, $2)", self._base, _MEMBER)
        await self._conn.add_listener(INBOUND_CHANNEL, self._notified)
        await self._conn.add_listener(INPUT_CHANNEL, self._notified)
        await self._conn.add_listener(DONE_CHANNEL, self._finished)
        await self.front.start(host=host, port=port, standby=True)
        self._task = asyncio.create_task(self._run(), name=f"{self.front.id} partitions")

    async def stop(self) -> None:
        """Stop the desks (each writes its checkpoint), give their partitions up, stop
        serving."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for number in sorted(self.parts):
            await self._release(number)
        await self.front.stop()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # its locks go with the session
            self._conn = None

    @property
    def nodes(self) -> list[Institution]:
        """The nodes of the partitions owned now (what a drain waits for)."""
        return [p.node for p in self.parts.values()]

    # -- who owns what ----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            last = -self.poll  # the last full turn (monotonic)
            while True:
                full = time.monotonic() - last >= self.poll
                if full:  # who lives, and every partition's journal: every poll at least
                    last = time.monotonic()
                    self._turns += 1
                    if not await self._balance():
                        self.on_lost()
                        return
                sweep = full and self._turns % _SWEEP == 0
                if sweep and not self.parts:  # told of no clock move: read it (D196)
                    catch_up(self.front.clock, await self.journal_time())
                for part in list(self.parts.values()):
                    if sweep or part.messages:  # else only the partitions notified
                        part.messages = False
                        await part.pickup()
                    if part.inputs or (sweep and self._turns % (4 * _SWEEP) == 0):
                        part.inputs = False
                        await self._take_inputs(part)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):
                        await self._wake.wait()
                self._wake.clear()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never a process that neither owns nor may take over
            log.critical("%s: sharing the partitions failed: %s", self.front.id, exc, exc_info=exc)
            self.on_lost()

    async def live(self) -> list[int]:
        """Backend PIDs of the sessions of the institution's live processes, in order."""
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1"
            " AND objid::bigint = $2 AND objsubid = 2 AND granted AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid",
            self._base,
            _MEMBER,
        )
        return [int(r[0]) for r in rows]

    def wanted(self, live: Sequence[int]) -> set[int]:
        """The partitions this process should own when ``live`` are the live processes."""
        rank, count = live.index(self._pid), len(live)
        return {k for k in range(self.partitions) if k % count == rank}

    async def _balance(self) -> bool:
        """Give up and take partitions as the live processes say; False if this process is
        no longer one of them (its session, and with it its locks, is gone)."""
        live = await self.live()
        if self._pid not in live:
            log.critical("%s: this process's journal session is gone", self.front.id)
            return False
        wanted = self.wanted(live)
        for number in sorted(set(self.parts) - wanted):
            await self._release(number)
        for number in sorted(wanted - set(self.parts)):
            if await self._conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", self._base, number):
                await self._acquire(number)
        return True

    async def _acquire(self, number: int) -> None:
        """Own partition ``number`` (its lock held): claim its epoch, rebuild its desk from
        the journal and run it."""
        front = self.front
        journal = await PostgresJournal.open(
            self.journal.url,
            synchronous_commit=self.synchronous_commit,
            readers=2,
            partition=number,
        )
        try:
            epoch = await journal.claim_partition(front.id, self.holder, on_fenced=self.on_lost)
            catch_up(front.clock, await self.journal_time())  # moved while another owned it
            node = self._partition_node(number, journal)
            node.active = False
            node.started = True
            await node.activate()
            # the requests a stopped owner had taken and not answered took no effect (D280)
            again = await journal.requeue_taken(front.id, forget_after=_FORGET)
        except BaseException:
            await journal.close()
            await self._conn.execute("SELECT pg_advisory_unlock($1, $2)", self._base, number)
            raise
        self.parts[number] = _Part(number, node, journal)
        log.warning(
            "%s: this process (%s) owns partition %d now (epoch %d)",
            front.id,
            self.holder,
            number,
            epoch,
        )
        if again:
            log.warning(
                "%s: partition %d: %d request(s) its last owner took and did not run, queued"
                " again: %s",
                front.id,
                number,
                len(again),
                ", ".join(map(str, again)),
            )

    def _partition_node(self, number: int, journal: PostgresJournal) -> Institution:
        from eessi.node.institution import Institution

        front = self.front
        ids: IdGenerator = (
            RandomIds()
            if self.seed is None
            else SeededIds(institution_seed(self.seed, f"{front.id}#{number}"))
        )
        observed: Any = journal
        if self.metrics is not None:  # what this partition's desk does counts in /metrics
            from eessi.ops.observe import ObservedJournal

            observed = ObservedJournal(journal, front.id, self.metrics)
        node = Institution(
            front.entry,
            front.directory,
            observed,
            front.make_desk,
            clock=front.clock,
            ids=ids,
            options=front.options,
            host=self.host,
            transport=self.transport,
        )
        node.inbound_from_journal = True
        return node

    async def _release(self, number: int) -> None:
        """Give partition ``number`` up: stop its desk (its checkpoint written), then unlock."""
        part = self.parts.pop(number)
        for task in part.tasks:
            task.cancel()
        for task in list(part.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await part.node.stop()
        await part.node.transport.stop()
        await part.journal.close()
        if self._conn is not None and not self._conn.is_closed():
            # (a cut session took its locks with it)
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await self._conn.execute("SELECT pg_advisory_unlock($1, $2)", self._base, number)
        log.warning("%s: this process gave partition %d up", self.front.id, number)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        institution, _, number = payload.rpartition(":")
        if institution != self.front.id:
            return
        part = self.parts.get(int(number)) if number.isdigit() else None
        if part is not None:
            if _channel == INPUT_CHANNEL:
                part.inputs = True
            else:
                part.messages = True
            self._wake.set()

    def _finished(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        done = self._done.get(int(payload)) if payload.isdigit() else None
        if done is not None:
            done.set()

    # -- routing ----------------------------------------------------------------------------
    async def route(self, conn: Any, record: MessageRecord) -> int:
        """The partition of an inbound message being accepted (on the accepting connection):
        its case's, else its household's, else its case ID's (module docstring)."""
        known = await self.journal.partition_of_case(conn, record.conversation_id)
        if known is not None:
            return known
        key = self._household_of(record) or record.conversation_id
        return partition_of(key, self.partitions)

    def _household_of(self, record: MessageRecord) -> str | None:
        """The household an S071 opening a case at the CNS is about (``None``: not one, or
        no household the CNS knows)."""
        desk = self.front.desk
        if record.sed_type != "S071" or not isinstance(desk, CnsDesk):
            return None
        try:
            sed = from_xml(record.payload)
        except EessiError:
            return None
        if not isinstance(sed, S071):
            return None
        registry = desk.registry
        pin = main_insured_pin(sed.status)
        entry = registry.by_main_pin(pin) if pin else None
        if entry is not None:
            return entry.key
        own = sed.person.pin_for("LU")
        hit = registry.by_member_pin(own.number) if own is not None else None
        return hit[0].key if hit is not None else None

    async def partitions_for(self, value: SubmitInput) -> list[int]:
        """The partitions an input goes to: the time passing to all, anything else to the
        partition of the household (or case) it names."""
        if isinstance(value, TimePassed):
            return list(range(self.partitions))
        key: str | None = None
        desk = self.front.desk
        pin = getattr(value, "main_insured_pin", None)
        if isinstance(pin, str):
            entry = desk.registry.by_main_pin(pin) if isinstance(desk, CnsDesk) else None
            key = entry.key if entry is not None else pin  # unknown: the desk refuses it
        elif isinstance(getattr(value, "household", None), str):
            key = value.household  # type: ignore[union-attr]
        elif isinstance(getattr(value, "person", None), str):
            key = value.person.split("/", 1)[0]  # type: ignore[union-attr]
        elif isinstance(getattr(value, "case_id", None), str):
            case_id: str = value.case_id  # type: ignore[union-attr]
            known = await self.journal.partition_of_case(None, case_id)
            if known is not None:
                return [known]
            key = case_id
        return [partition_of(key or "", self.partitions)]

    # -- admin requests ---------------------------------------------------------------------
    async def submit(self, value: SubmitInput, messages: list[str] | None) -> Step:
        """Run an input on its partitions' desks, here or at their owners (module docstring)."""
        numbers = await self.partitions_for(value)
        if len(numbers) == 1:
            return await self._submit_to(numbers[0], value, messages)
        steps = await asyncio.gather(*(self._submit_to(k, value, messages) for k in numbers))
        total = Step()
        for step in steps:
            total = total + step
        return total

    async def _submit_to(self, number: int, value: SubmitInput, messages: list[str] | None) -> Step:
        part = self.parts.get(number)
        if part is not None:
            return await part.node.submit(value, messages=messages)
        step, drawn = pickle.loads(await self._ask(number, value, REMOTE_TIMEOUT))
        if messages is not None:
            messages.extend(drawn)
        assert isinstance(step, Step)
        return step

    async def _ask(self, number: int, value: object, within: float) -> bytes:
        """Queue ``value`` for the owner of partition ``number``; its pickled answer (an
        error it raised is raised here)."""
        ident = await self.journal.queue_input(self.front.id, number, pickle.dumps(value))
        done = self._done[ident] = asyncio.Event()
        try:
            async with asyncio.timeout(within):
                while True:
                    got = await self.journal.input_result(ident)
                    if got is not None and got[0] in ("done", "failed"):
                        break
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await done.wait()
                    done.clear()
        except TimeoutError:
            raise EessiError(
                f"partition {number} of {self.front.id} did not answer within"
                f" {within:g} s; the request may or may not have been carried out",
                code="node.partition-timeout",
                where=self.front.id,
                hint="check the case (GET /api/cases) before sending it again; is a process"
                " of the institution running? (docs/deployment.md)",
            ) from None
        finally:
            del self._done[ident]
        status, result = got
        assert result is not None
        if status == "failed":
            raise _decode_error(result)
        return result

    # -- the institution's clock (eessi.node.shared_clock) ------------------------------------
    async def journal_time(self) -> datetime | None:
        """The institution's time as last moved by any of its processes (None: never): the
        latest time of its clock log, found by the server, not read whole (D281)."""
        return await self.journal.latest_event_time(CLOCK_LOG)

    async def _record_time(self, when: datetime) -> None:
        async with self.journal.transaction() as tx:
            await tx.append_event(CLOCK_LOG, "clock-moved", {"now": when.isoformat()}, at=when)

    async def move_clock(self, move: MoveClock) -> list[ClockMoved]:
        """Move every partition's desk to ``move.to``: here, or by its owner."""

        async def one(number: int) -> ClockMoved:
            part = self.parts.get(number)
            if part is not None:
                return await move.run(part.node)
            moved = pickle.loads(await self._ask(number, move, REMOTE_TIMEOUT))
            assert isinstance(moved, ClockMoved)
            return moved

        return list(await asyncio.gather(*(one(k) for k in range(self.partitions))))

    # -- the institution's desk views (eessi.node.shared_views) -------------------------------
    async def ask_desks(self, question: AskDesk) -> list[DeskView]:
        """Every partition's answer to ``question``: this process's desks directly, the
        others' through their owners (bounded by :data:`VIEW_TIMEOUT`)."""

        async def one(number: int) -> DeskView:
            part = self.parts.get(number)
            if part is not None:
                return question.answer(part.node)
            view = pickle.loads(await self._ask(number, question, VIEW_TIMEOUT))
            assert isinstance(view, DeskView)
            return view

        return list(await asyncio.gather(*(one(k) for k in range(self.partitions))))

    async def gauges(self) -> DeskGauges:
        """The institution's desk gauges: open cases and parked documents from every
        partition's desk, the outbox depth from the journal."""
        views = await self.ask_desks(AskDesk())
        cases: dict[tuple[str, str], int] = {}
        for view in views:
            for key, n in view.open_cases.items():
                cases[key] = cases.get(key, 0) + n
        counts = await self.journal.message_counts()
        return DeskGauges(
            open_cases=cases,
            parked=sum(v.parked for v in views),
            outbox=sum(counts.get(status, 0) for status in _PENDING_OUT),
            owned=len(self.parts),
        )

    async def registrations(self) -> dict[Any, Any]:
        """Every partition's desk's registrations (each household is in one partition)."""
        merged: dict[Any, Any] = {}
        for view in await self.ask_desks(AskDesk(registrations=True)):
            merged.update(view.registrations)
        return merged

    async def _take_inputs(self, part: _Part) -> None:
        for ident, data in await part.journal.take_inputs(self.front.id, taker=self.holder):
            task = asyncio.create_task(self._run_input(part, ident, data))
            part.tasks.add(task)
            task.add_done_callback(part.tasks.discard)

    async def _run_input(self, part: _Part, ident: int, data: bytes) -> None:
        """Run a request another process queued, and store its result for it. Pickled: both
        ends are this institution's processes of the same code, through its own journal (as
        the checkpoint, D51)."""
        messages: list[str] = []
        answered = False

        async def store_answer(tx: Any, step: Step, ids: list[str]) -> None:
            nonlocal answered  # with its effect, in the step's transaction (D280)
            await tx.finish_input(ident, result=pickle.dumps((step, ids)))
            answered = True

        crash_point(part.node.options, "remote-input-taken", None, self.front.id)  # (tests)
        try:
            value = pickle.loads(data)
            if isinstance(value, AskDesk | MoveClock):  # a desk view; the clock moved
                answer = value.answer(part.node) if isinstance(value, AskDesk) else None
                moved = await value.run(part.node) if isinstance(value, MoveClock) else None
                result = pickle.dumps(answer if moved is None else moved)
                await part.journal.finish_input(ident, ok=True, result=result)
                return
            step = await part.node.submit(value, messages=messages, answer=store_answer)
            crash_point(part.node.options, "remote-input", None, self.front.id)  # (tests)
        except EessiError as exc:
            await part.journal.finish_input(ident, ok=False, result=_encode_error(exc))
            return
        if not answered:  # the step committed nothing (the time passing, nothing due)
            await part.journal.finish_input(ident, ok=True, result=pickle.dumps((step, messages)))
