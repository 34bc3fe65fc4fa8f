"""The mock controller: the behaviours of every mock fund of a process, and what they received.

One :class:`MockController` serves all the mock funds of a process (``eessi up`` runs several);
:meth:`MockController.attach` plugs it into one running node (see
:mod:`eessi.mock.interceptors`). It keeps, per fund:

* its :class:`~eessi.mock.behaviour.Behaviours` (the profile's rules, plus the ones set at run
  time; per-case state keyed by case ID), with an RNG seeded from the profile; rules changed
  through :meth:`MockController.add_rules`, ``remove_rule`` and ``reset_rules`` (the admin
  API) are journaled in the fund's journal and restored at each start of its node
  (:mod:`eessi.mock.rules_log`);
* a bounded log of what the interceptors did (failed deliveries, how each SED was answered):
  the fund's newest :data:`LOG_LIMIT` entries (D471);
* a way to **wait** for a document: :meth:`MockController.wait_received` looks in the fund's
  journal first, then waits for new deliveries. A document that arrived before the test
  started waiting is found in the journal: nothing is lost to the race between "the peer sent
  it" and "the test waits for it" (the Test Bed's best-known race), per case.

Queries are namespace-aware XPath (:mod:`eessi.mock.journal_query`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

from aiohttp import web

from eessi.errors import ConfigError
from eessi.journal import Direction, Journal, MessageRecord, MessageStatus
from eessi.mock.behaviour import KEEP_FINISHED, Behaviours, Rule
from eessi.mock.interceptors import DeskView, MockInbound, MockOutbound, desk_lookup
from eessi.mock.journal_query import compile_xpath, matches
from eessi.mock.profiles import Profile
from eessi.mock.rules_log import journal_change, replay
from eessi.trace.runlog import note_mock

_Look = TypeVar("_Look")

__all__ = ["LOG_LIMIT", "MockController", "MockHost"]

#: Entries the log of what the interceptors did keeps per fund (the newest; D471).
LOG_LIMIT: Final = 1000


class MockHost(Protocol):
    """What the controller needs of a node (``eessi.node.institution.Institution``)."""

    @property
    def id(self) -> str: ...

    journal: Journal
    app: web.Application
    outbound_policy: Any
    inbound_interceptor: Any
    delivery_listeners: list[Any]
    start_hooks: list[Any]
    desk: Any
    clock: Any


class MockController:
    """Behaviours and journals of the mock funds of one process (see the module docstring)."""

    def __init__(
        self,
        profiles: Mapping[str, Profile] | None = None,
        *,
        stall_seconds: float = 30.0,
        log_limit: int = LOG_LIMIT,
        keep_finished: int = KEEP_FINISHED,
        seed: int | None = None,
    ) -> None:
        self.profiles: dict[str, Profile] = dict(profiles or {})
        self.stall_seconds = stall_seconds
        self._seed = seed
        self._books: dict[str, Behaviours] = {}
        self._nodes: dict[str, MockHost] = {}
        self._logs: dict[str, deque[dict[str, Any]]] = {}
        self._log_limit = log_limit
        self._keep_finished = keep_finished
        self._arrivals: dict[str, asyncio.Event] = {}
        #: Rules added at once (:meth:`add_rule_now`) whose journaling is under way.
        self._pending: dict[str, set[asyncio.Task[None]]] = {}

    # ---- behaviours

    def book(self, fund: str) -> Behaviours:
        """The behaviours of ``fund`` (created from its profile on first use)."""
        book = self._books.get(fund)
        if book is None:
            profile = self.profiles.get(fund)
            rules = profile.rules if profile is not None else ()
            rng = random.Random(self._book_seed(fund))
            book = self._books[fund] = Behaviours(
                fund, rules, rng=rng, keep_finished=self._keep_finished
            )
        return book

    def _book_seed(self, fund: str) -> int:
        """The seed of ``fund``'s behaviours' RNG: its profile's, mixed with the run's."""
        profile = self.profiles.get(fund)
        seed = profile.seed if profile is not None else 0
        return seed ^ self._seed if self._seed is not None else seed

    def attach(self, node: MockHost) -> None:
        """Plug the behaviours of ``node``'s fund into it. Call before ``await node.start()``
        (``enable_mock`` adds routes, which a running application does not take)."""
        fund = node.id
        book = self.book(fund)
        self._nodes[fund] = node
        view = DeskView(lambda: node.desk)
        book.finished = view.finished  # bounds the book's per-case state (D470)
        node.outbound_policy = MockOutbound(fund, book, desk_lookup(lambda: node.desk), self, view)
        inbound = MockInbound(fund, book, self, stall_seconds=self.stall_seconds, view=view)
        node.inbound_interceptor = inbound
        node.delivery_listeners.append(inbound.delivered)

        async def restore() -> None:
            await self.restore(fund)

        node.start_hooks.append(restore)

    # ---- rule changes, journaled (eessi.mock.rules_log)

    async def restore(self, fund: str) -> int:
        """Apply the rule changes journaled by ``fund``'s node to its book (done at each start
        of the node, before it processes anything); how many were applied."""

        def failed(rule_id: str, reason: str) -> None:
            self.record(fund, "rule-restore-failed", rule=rule_id, reason=reason)

        await self.flush(fund)  # a rule added at once is journaled before the start note
        node, book = self.node(fund), self.book(fund)
        profile = self.profiles.get(fund)
        await note_mock(  # what a replay of this fund starts from (eessi.trace.runlog)
            node.journal,
            fund,
            # the rules in force from the start: those added later (over the API, by a
            # test's net.add_rule) are journaled as changes (a reset may still hold some)
            rules=[r for r in book.rules if r.added_at is None],
            seed=self._book_seed(fund),
            policy=profile.policy if profile is not None else None,
            stall_seconds=self.stall_seconds,
            at=node.clock.now(),
        )
        return await replay(node.journal, book, failed=failed)

    async def add_rules(self, fund: str, rules: Sequence[Rule]) -> list[Rule]:
        """Journal, then add ``rules`` (stamped with the node's time): they survive a restart
        of the node on the same journal. The rules as added."""
        node = self.node(fund)
        at = node.clock.now()
        stamped = [dataclasses.replace(r, added_at=at.isoformat()) for r in rules]
        await journal_change(
            node.journal, [("rule-added", {"rule": r.to_dict()}) for r in stamped], at=at
        )
        book = self.book(fund)
        for rule in stamped:
            book.add(rule)
        return stamped

    def add_rule_now(self, fund: str, rule: Rule) -> Rule:
        """Add ``rule`` at once, for a caller that cannot wait (a test's ``net.add_rule`` of
        the pytest plugin), and journal it as :meth:`add_rules` does, right after (in a task:
        :meth:`flush` waits for it, and so does the node's next start): it survives a restart
        and a trace export has it. A rule added before the fund's node is attached is one the
        fund starts with (its start note journals those). The rule as added."""
        book = self.book(fund)
        node = self._nodes.get(fund)
        if node is None:
            return book.add(rule)
        at = node.clock.now()
        stamped = book.add(dataclasses.replace(rule, added_at=at.isoformat()))
        change = [("rule-added", {"rule": stamped.to_dict()})]
        task = asyncio.get_running_loop().create_task(
            journal_change(node.journal, change, at=at), name=f"{fund}: journal {stamped.id}"
        )
        self._pending.setdefault(fund, set()).add(task)
        task.add_done_callback(lambda t: self._journaled(fund, t))
        return stamped

    def _journaled(self, fund: str, task: asyncio.Task[None]) -> None:
        self._pending.get(fund, set()).discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.record(fund, "rule-journal-failed", reason=str(task.exception()))

    async def flush(self, fund: str | None = None) -> None:
        """Wait until the rules :meth:`add_rule_now` added (of ``fund``, or of every fund) are
        journaled."""
        funds = [fund] if fund is not None else list(self._pending)
        tasks = [t for f in funds for t in self._pending.get(f, ())]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def remove_rule(self, fund: str, rule_id: str) -> bool:
        """Journal, then remove one rule; ``False`` (and nothing journaled) if it is unknown."""
        book = self.book(fund)
        if not any(r.id == rule_id for r in book.rules):
            return False
        node = self.node(fund)
        await journal_change(node.journal, [("rule-removed", {"id": rule_id})], at=node.clock.now())
        return book.remove(rule_id)

    async def reset_rules(self, fund: str, *, case: str | None = None) -> None:
        """Journal, then :meth:`reset` (the fund back to its profile, or one case forgotten)."""
        node = self.node(fund)
        await journal_change(node.journal, [("reset", {"case": case})], at=node.clock.now())
        self.reset(fund, case=case)

    def node(self, fund: str) -> MockHost:
        node = self._nodes.get(fund)
        if node is None:
            raise ConfigError(
                f"{fund} is not a mock fund of this process",
                code="mock.unknown-fund",
                hint=f"mock funds here: {', '.join(sorted(self._nodes)) or '(none)'}",
            )
        return node

    @property
    def funds(self) -> tuple[str, ...]:
        return tuple(sorted(self._nodes))

    # ---- the log (Recorder)

    def record(self, fund: str, what: str, **data: Any) -> None:
        log = self._logs.setdefault(fund, deque(maxlen=self._log_limit))
        log.append({"what": what, **data})

    def delivered(self, fund: str) -> None:
        """A message was journaled for ``fund``: wake whoever waits (one event per round, so a
        waiter that looked at the journal before this delivery is woken by it)."""
        event = self._arrivals.pop(fund, None)
        if event is not None:
            event.set()

    def arrival(self, fund: str) -> asyncio.Event:
        """The event the next message journaled for ``fund`` sets: take it *before* looking
        in the journal, so that a delivery after the look wakes the waiter."""
        return self._arrivals.setdefault(fund, asyncio.Event())

    def log(self, fund: str, *, case: str | None = None) -> list[dict[str, Any]]:
        """What the interceptors did for ``fund`` (oldest first), optionally for one case."""
        items = list(self._logs.get(fund, ()))
        return [i for i in items if case is None or i.get("case") == case]

    def reset(self, fund: str, *, case: str | None = None) -> None:
        """Reset one case (its rules, counters and log) or the whole fund (to its profile)."""
        book = self.book(fund)
        if case is None:
            book.reset()
            self._logs.pop(fund, None)
            return
        book.reset_case(case)
        log = self._logs.get(fund)
        if log is not None:
            kept = [i for i in log if i.get("case") != case]
            log.clear()
            log.extend(kept)

    async def retry_failed(self, fund: str, *, case: str | None = None) -> list[str]:
        """Hand the documents ``fund``'s node failed to process (``processing_failed``, e.g.
        under a rule that could not apply) to its desk again, those of ``case`` only if given;
        their message IDs. The admin API's resets do this after :meth:`reset`."""
        retry = getattr(self.node(fund), "retry_failed", None)
        if retry is None:
            return []
        return list(await retry(case=case))

    # ---- what a fund received

    async def received(
        self,
        fund: str,
        *,
        case: str | None = None,
        sed: str | None = None,
        xpath: str | None = None,
        namespaces: Mapping[str, str] | None = None,
        statuses: Sequence[MessageStatus] | None = None,
    ) -> list[MessageRecord]:
        """Inbound messages of ``fund``'s journal (oldest first) that match every filter."""
        if xpath is not None:
            compile_xpath(xpath)
        node = self.node(fund)
        records = await node.journal.messages(
            case=case, direction=Direction.IN, status=list(statuses) if statuses else None
        )
        return [
            r
            for r in records
            if (sed is None or r.sed_type == sed)
            and (xpath is None or matches(r.payload, xpath, namespaces))
        ]

    async def wait_received(
        self,
        fund: str,
        *,
        case: str | None = None,
        sed: str | None = None,
        xpath: str | None = None,
        namespaces: Mapping[str, str] | None = None,
        count: int = 1,
        within: float = 10.0,
    ) -> list[MessageRecord]:
        """Wait until ``fund`` has received at least ``count`` matching messages (already
        received ones count); a :class:`TimeoutError` after ``within`` seconds."""
        found = await self.look_until(
            fund,
            lambda: self.received(fund, case=case, sed=sed, xpath=xpath, namespaces=namespaces),
            lambda found: len(found) >= count,
            within,
        )
        if len(found) < count:
            raise TimeoutError(
                f"{fund} received {len(found)} of the {count} awaited message(s)"
                f" (case={case}, sed={sed}, xpath={xpath}) within {within:g} s"
            )
        return found

    async def look_until(
        self,
        fund: str,
        look: Callable[[], Awaitable[_Look]],
        enough: Callable[[_Look], bool],
        within: float,
    ) -> _Look:
        """``look()`` again after each message journaled for ``fund`` until ``enough`` of what
        it found, for at most ``within`` seconds: the last look (the caller tells a time-out by
        ``enough`` of it being false)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            # Take the event before looking: a delivery after the look sets this very event.
            arrival = self.arrival(fund)
            found = await look()
            remaining = deadline - loop.time()
            if enough(found) or remaining <= 0:
                return found
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), remaining)
