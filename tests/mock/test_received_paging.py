"""``GET /api/mock/received`` a page at a time over real HTTP: a fund that received more than one
page gives every message exactly once across the pages, in arrival order, with and without
filters; a bad ``limit`` or ``after`` is a structured 400 (D490)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from eessi.journal import Direction, MessageRecord, MessageStatus
from eessi.mock.received_page import DEFAULT_LIMIT, MAX_LIMIT
from eessi.node.inputs import RequestEntitlement
from eessi.sed.examples import example_xml

from .kit import CNS, FR, MARIE, START, World


async def received(http: aiohttp.ClientSession, w: World, **params: Any) -> tuple[int, Any]:
    async with http.get(f"{w[FR].url}/api/mock/received", params=params or None) as resp:
        return resp.status, await resp.json()


async def walk(http: aiohttp.ClientSession, w: World, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page from the first, following ``next``."""
    pages: list[list[dict[str, Any]]] = []
    after: int | None = None
    while True:
        status, got = await received(
            http, w, **params, **({"after": str(after)} if after is not None else {})
        )
        assert status == 200, got
        pages.append(got["received"])
        if got["next"] is None:
            return pages
        assert got["next"] == got["received"][-1]["seq"]  # the cursor: the last one's seq
        after = got["next"]


async def _cases(w: World, *people: str) -> list[str]:
    """The fund asks the CNS for these people's S072 (each answered), one case each."""
    cases = []
    for person in people:
        done = await w[FR].submit(RequestEntitlement(person))
        cases.append(done.outgoing[0].case_id)
    await w.settle()
    return cases


async def test_a_funds_messages_come_once_across_pages_in_arrival_order(
    w: World, http: aiohttp.ClientSession
) -> None:
    cases = await _cases(w, MARIE, MARIE)
    journal = [m.message_id for m in await w.messages(FR, Direction.IN)]
    assert len(journal) == 2

    pages = await walk(http, w, limit="1")
    assert [m["message_id"] for p in pages for m in p] == journal
    assert [len(p) for p in pages] == [1, 1]  # the first page knew one more followed
    # One page when it all fits (the default limit), and no next.
    status, whole = await received(http, w)
    assert (status, whole["next"]) == (200, None)
    assert [m["message_id"] for m in whole["received"]] == journal
    # A case pages the same way.
    pages = await walk(http, w, case=cases[1], limit="1")
    in_case = [m.message_id for m in await w.messages(FR, Direction.IN, case=cases[1])]
    assert [m["message_id"] for p in pages for m in p] == in_case
    assert [m["case"] for p in pages for m in p] == [cases[1]]


def _inbound(i: int) -> MessageRecord:
    sed = ("S072", "X009", "S073")[i % 3]
    at = START + timedelta(seconds=i)
    return MessageRecord(
        message_id=f"m{i:04d}",
        direction=Direction.IN,
        sender=CNS,
        receiver=FR,
        conversation_id=f"LU-{i % 4}",
        ref_to_message_id=None,
        sed_type=sed,
        sed_version="4.4",
        service="BusinessMessaging",
        action="Send",
        created_at=at,
        received_at=at,
        envelope=b"<env/>",
        payload=example_xml(sed, seed=i),
        status=MessageStatus.RECEIVED,
    )


async def test_a_journal_longer_than_a_page_is_walked_whole_and_once(
    w: World, http: aiohttp.ClientSession
) -> None:
    n = 2 * DEFAULT_LIMIT + 37
    for i in range(n):  # what a long run leaves in the fund's journal
        assert await w[FR].journal.accept_inbound(_inbound(i))
    everything = [m.message_id for m in await w.messages(FR, Direction.IN)]
    assert len(everything) == n

    status, first = await received(http, w)
    assert (status, len(first["received"])) == (200, DEFAULT_LIMIT)  # a page, not the lot
    pages = await walk(http, w)
    assert [len(p) for p in pages] == [DEFAULT_LIMIT, DEFAULT_LIMIT, 37]
    assert [m["message_id"] for p in pages for m in p] == everything
    seqs = [m["seq"] for p in pages for m in p]
    assert seqs == sorted(set(seqs))  # rising, none twice

    # Filters page the same way: a case, a SED type, an XPath (checked here, not by the
    # journal: the pages still hold limit matches and end where the matches end).
    in_case = [m.message_id for m in await w.messages(FR, Direction.IN, case="LU-1")]
    pages = await walk(http, w, case="LU-1", limit="25")
    assert [m["message_id"] for p in pages for m in p] == in_case
    pages = await walk(http, w, sed="X009", limit="30")
    assert [m["message_id"] for p in pages for m in p] == everything[1::3]
    pages = await walk(http, w, xpath="/sed:S073", limit="40")
    assert [len(p) for p in pages] == [40, 39]
    assert [m["message_id"] for p in pages for m in p] == everything[2::3]
    pages = await walk(http, w, xpath="/sed:S041", limit="10")
    assert pages == [[]]


async def test_a_cursor_stays_valid_while_messages_keep_arriving(
    w: World, http: aiohttp.ClientSession
) -> None:
    await _cases(w, MARIE)
    status, first = await received(http, w)
    assert status == 200
    cursor = first["received"][-1]["seq"]
    status, none = await received(http, w, after=str(cursor))
    assert (status, none["received"], none["next"]) == (200, [], None)

    # Long-poll for what comes after the cursor: only the newer messages answer it.
    waiting = asyncio.create_task(received(http, w, after=str(cursor), wait="5"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await _cases(w, MARIE)
    status, newer = await waiting
    assert status == 200
    assert [m["sed_type"] for m in newer["received"]] == ["X011"]  # Marie asked twice
    assert newer["received"][0]["seq"] > cursor
    older = {m["message_id"] for m in first["received"]}
    assert not older & {m["message_id"] for m in newer["received"]}


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"limit": "0"}, "query limit"),
        ({"limit": str(MAX_LIMIT + 1)}, "query limit"),
        ({"limit": "ten"}, "query limit"),
        ({"limit": "2.5"}, "query limit"),
        ({"after": "-1"}, "query after"),
        ({"after": "FR-123"}, "query after"),
        ({"wait": "1", "count": "5", "limit": "2"}, "query count"),
    ],
)
async def test_a_bad_limit_or_cursor_is_a_structured_400(
    w: World, http: aiohttp.ClientSession, params: dict[str, str], where: str
) -> None:
    status, err = await received(http, w, **params)
    assert status == 400
    error = err["error"]
    assert (error["code"], error["where"]) == ("admin.bad-query", where)
    assert repr(next(iter(params.values())))[1:-1] in error["message"] or "count" in where
    assert error["hint"]  # what to do


async def test_the_limit_above_the_maximum_names_it_and_says_to_follow_next(
    w: World, http: aiohttp.ClientSession
) -> None:
    status, err = await received(http, w, limit=str(MAX_LIMIT + 1))
    assert status == 400
    assert f"from 1 to {MAX_LIMIT}" in err["error"]["message"]
    assert "next" in err["error"]["hint"]
    status, ok = await received(http, w, limit=str(MAX_LIMIT))
    assert (status, ok["next"]) == (200, None)
