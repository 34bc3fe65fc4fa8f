"""A mock fund's per-case state is bounded (D470): an open case keeps its counters, a finished
one (closed or completed at the fund's desk) keeps them while it is among the last
``keep_finished`` finished cases, then they are dropped; the book's memory stays flat however
many cases a long demo or a soak run goes through."""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from eessi.mock.behaviour import KEEP_FINISHED, Behaviours, Trigger, parse_rule
from eessi.node.inputs import RequestEntitlement
from eessi.sed.examples import example
from eessi.transport.client import RetryPolicy, Sender
from eessi.transport.envelope import UserMessage
from eessi.transport.server import Inbound, InboundEndpoint, Outcome

from .kit import CNS, MARIE, World, world

FR = "FR:CPAM5701"  # the kit's FR


def doc(case: str, mid: str, sed: str = "S072") -> Trigger:
    return Trigger(fund=FR, case=case, sed=sed, buc="S_BUC_01A", message_id=mid)


class Desk:
    """Which cases the fund's desk holds as finished (the question the book asks)."""

    def __init__(self) -> None:
        self.finished: set[str] = set()
        self.known: set[str] = set()

    def __call__(self, case: str) -> bool | None:
        return (case in self.finished) if case in self.known else None


def answer(book: Behaviours, desk: Desk, case: str, mid: str, *, finish: bool) -> None:
    """The desk handled a document of ``case`` (finishing it or not), then the fund answers."""
    desk.known.add(case)
    if finish:
        desk.finished.add(case)
    book.on_document(doc(case, mid))


def test_an_open_cases_counters_stay_however_many_cases_finish_after_it() -> None:
    desk = Desk()
    book = Behaviours(FR, keep_finished=10, finished=desk)
    answer(book, desk, "LU-open", "m-open-1", finish=False)
    for i in range(500):
        answer(book, desk, f"LU-{i}", f"m-{i}", finish=True)
    assert book.state("LU-open") == {"case": "LU-open", "seen": {"S072": 1}, "failures": {}}
    assert book.on_document(doc("LU-open", "m-open-2")).occurrence == 2  # nth goes on
    assert book.held == (1, 10)


def test_the_last_finished_cases_keep_their_counters_older_ones_are_dropped() -> None:
    desk = Desk()
    book = Behaviours(FR, keep_finished=3, finished=desk)
    for i in range(5):
        answer(book, desk, f"LU-{i}", f"m-{i}", finish=True)
    assert book.cases() == ("LU-2", "LU-3", "LU-4")
    assert book.state("LU-4")["seen"] == {"S072": 1}
    assert book.state("LU-0") == {"case": "LU-0", "seen": {}, "failures": {}}
    # A recent finished case that sees another document counts on (and is the newest again);
    # one dropped from the ring counts afresh.
    assert book.on_document(doc("LU-2", "m-2b", "X009")).occurrence == 1
    assert book.on_document(doc("LU-2", "m-2c", "X009")).occurrence == 2
    assert book.state("LU-2")["seen"] == {"S072": 1, "X009": 2}
    answer(book, desk, "LU-5", "m-5", finish=True)
    assert book.cases() == ("LU-2", "LU-4", "LU-5")
    assert book.on_document(doc("LU-0", "m-0b")).occurrence == 1


def test_a_case_the_peer_closed_without_an_answer_is_found_by_later_cases() -> None:
    desk = Desk()
    book = Behaviours(FR, keep_finished=0, finished=desk)
    answer(book, desk, "LU-asked", "m-1", finish=False)  # the fund's S071, awaiting a reply
    desk.finished.add("LU-asked")  # the CNS closed it (X001): nothing for the fund to answer
    for i in range(3):
        answer(book, desk, f"LU-{i}", f"m-{i}", finish=False)
    assert "LU-asked" not in book.cases()
    assert book.held == (3, 0)


def test_a_case_named_by_a_rule_keeps_its_state_and_a_reset_forgets_it() -> None:
    desk = Desk()
    quiet = parse_rule({"match": {"case": "LU-7"}, "effect": "silent"}, default_id="quiet")
    book = Behaviours(FR, [quiet], keep_finished=0, finished=desk)
    answer(book, desk, "LU-7", "m-7", finish=True)
    for i in range(5):
        answer(book, desk, f"LU-{i}", f"m-{i}", finish=True)
    assert book.state("LU-7")["seen"] == {"S072": 1}
    book.reset_case("LU-7")
    assert book.cases() == ()
    assert book.held == (0, 0)


def test_a_book_without_a_desk_keeps_every_case_as_before() -> None:
    book = Behaviours(FR, keep_finished=0)
    for i in range(20):
        book.on_document(doc(f"LU-{i}", f"m-{i}"))
    assert book.held == (20, 0)
    assert KEEP_FINISHED == 1000


def _mock_bytes(run: Callable[[], None]) -> int:
    """Bytes still allocated from ``eessi/mock`` code after ``run`` (tracemalloc, every frame
    of each allocation's stack looked at)."""
    gc.collect()
    before = tracemalloc.take_snapshot()
    run()
    gc.collect()
    after = tracemalloc.take_snapshot()
    only = [tracemalloc.Filter(True, "*/eessi/mock/*", all_frames=True)]
    stats = after.filter_traces(only).compare_to(before.filter_traces(only), "filename")
    return sum(s.size_diff for s in stats)


def test_the_books_memory_stays_flat_over_many_finished_cases() -> None:
    desk = Desk()
    book = Behaviours(FR, keep_finished=100, finished=desk)
    served = 0

    def cases(n: int) -> Callable[[], None]:
        def run() -> None:
            nonlocal served
            for _ in range(n):
                case = f"LU-{served:08d}"
                answer(book, desk, case, f"{case}-m", finish=True)
                served += 1
            desk.known.clear()  # the test's own record of the desk must not count
            desk.finished.clear()

        return run

    tracemalloc.start(8)
    try:
        cases(500)()  # the ring is full
        first = _mock_bytes(cases(1_000))
        second = _mock_bytes(cases(4_000))
    finally:
        tracemalloc.stop()
    # Kept, a case's state is ~0.45 KB: 1,000 cases would add 0.45 MB, 4,000 1.8 MB.
    assert first < 2048, f"{first} B more after 1,000 cases"
    assert second < 2048, f"{second} B more after 4,000 cases"
    assert book.held == (0, 100)


# ---- a serving mock fund, over HTTP


class Cns:
    """The CNS as a system under test: it sends the fund unasked S072s (S_BUC_01A) and takes
    the fund's answers (a bare endpoint that accepts every authenticated message)."""

    def __init__(self, w: World, session: aiohttp.ClientSession) -> None:
        self.w = w
        self.received: list[str] = []
        self.sender = Sender(
            session,
            credential=w.directory.get(CNS).credential,
            rng=random.Random(1),
            policy=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
            peer_credentials=w.directory.credential,
        )
        self.sent = 0

    async def on_message(self, inbound: Inbound) -> Outcome:
        self.received.append(inbound.message.sed_type)
        return Outcome.accepted()

    async def s072(self) -> str:
        """One unasked S072 in a new case; the case ID."""
        n = self.sent
        self.sent += 1
        payload = example("S072", "4.4", seed=n % 64).to_xml()
        case = f"LU-soak-{n:06d}"
        message = UserMessage.for_payload(
            payload,
            message_id=f"cns-{n:06d}",
            timestamp=self.w.clock.now(),
            from_party=CNS,
            to_party=FR,
            conversation_id=case,
            sed_type="S072",
            sed_version="4.4",
        )
        result = await self.sender.send(self.w.directory.get(FR).endpoint, message, payload)
        assert result.ok, result.reason
        return case

    async def cases(self, n: int) -> list[str]:
        """``n`` S072s, 8 in flight; the cases, once the fund has answered all of them."""
        cases: list[str] = []
        for _ in range(0, n, 8):
            cases += await asyncio.gather(*(self.s072() for _ in range(min(8, n - len(cases)))))
        await self.w.settle()
        return cases


@asynccontextmanager
async def cns_facing(w: World) -> AsyncIterator[Cns]:
    async with aiohttp.ClientSession() as session:
        cns = Cns(w, session)
        entry = w.directory.get(CNS)
        endpoint = InboundEndpoint(
            cns.on_message,
            w.directory.credential,
            CNS,
            accept_versions=entry.versions,
            clock=w.clock,
        )
        runner = web.AppRunner(endpoint.app())
        await runner.setup()
        url = urlsplit(entry.endpoint)
        await web.TCPSite(runner, url.hostname, url.port).start()
        try:
            yield cns
        finally:
            await runner.cleanup()


async def get(session: aiohttp.ClientSession, w: World, path: str) -> Any:
    async with session.get(f"{w[FR].url}/api/mock{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_the_admin_api_shows_an_open_case_and_the_last_finished_ones_as_before(
    tmp_path: Path,
) -> None:
    async with (
        world(tmp_path, ids=(FR,), external_cns=True, keep_finished=5) as w,
        cns_facing(w) as cns,
        aiohttp.ClientSession() as http,
    ):
        # An open case: the fund asks the CNS for Marie's S072, which does not answer (yet).
        asked = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
        await w.settle()
        open_before = await get(http, w, f"/cases/{asked}")
        assert open_before["seen"] == {"S071": 1}
        assert [e["sent"] for e in open_before["log"]] == ["S071"]

        cases = await cns.cases(30)  # each answered (S073, or X001): finished at the desk

        assert await get(http, w, f"/cases/{asked}") == open_before
        last = await get(http, w, f"/cases/{cases[-1]}")
        # Its S072 answered with an S073, or closed with the fund's own X001 (not confirmed).
        assert [(e["what"], e["sent"]) for e in last["log"]] in (
            [("send", "S073")],
            [("send", "X001")],
        )
        reacted = last["log"][0]["reacting_to"]
        assert (last["seen"], last["failures"], last["rules"]) == ({reacted: 1}, {}, [])
        listed = await get(http, w, "/cases")
        assert [c["case"] for c in listed["cases"]] == sorted([asked, *cases[-5:]])
        # An older finished case's counters are dropped; the journal keeps what arrived.
        oldest = await get(http, w, f"/cases/{cases[0]}")
        assert (oldest["seen"], oldest["failures"]) == ({}, {})
        received = await get(http, w, f"/received?case={cases[0]}")
        assert [m["sed_type"] for m in received["received"]] == ["S072"]
        assert len(cns.received) == 31  # the S071, then one answer per S072
        assert w.mocks.book(FR).held == (1, 5)


async def _mock_bytes_over(run: Callable[[], Awaitable[object]]) -> int:
    """Bytes still allocated from ``eessi/mock`` code after ``run`` (see :func:`_mock_bytes`)."""
    gc.collect()
    before = tracemalloc.take_snapshot()
    await run()
    gc.collect()
    after = tracemalloc.take_snapshot()
    only = [tracemalloc.Filter(True, "*/eessi/mock/*", all_frames=True)]
    stats = after.filter_traces(only).compare_to(before.filter_traces(only), "filename")
    return sum(s.size_diff for s in stats)


@pytest.mark.slow
async def test_a_serving_mock_funds_memory_per_case_stays_flat(tmp_path: Path) -> None:
    async with (
        world(tmp_path, ids=(FR,), external_cns=True, keep_finished=20, log_limit=20) as w,
        cns_facing(w) as cns,
    ):
        tracemalloc.start(6)
        try:
            await cns.cases(30)  # the ring of finished cases and the log are full
            first = await _mock_bytes_over(lambda: cns.cases(30))
            second = await _mock_bytes_over(lambda: cns.cases(120))
        finally:
            tracemalloc.stop()
        # Kept, a case's state is ~0.45 KB (30 cases: 13 KB, 120: 54 KB). Bounded, what the
        # mock holds is the same after 30 and after 120 more cases, give or take a dict's
        # table being resized (a few hundred bytes).
        assert first < 2048, f"{first} B more after 30 cases"
        assert second < 2048, f"{second} B more after 120 cases"
        assert w.mocks.book(FR).held == (0, 20)
        assert len(w.mocks.log(FR)) == 20
        assert len(cns.received) == 180
