"""Every behaviour exercised against the real CNS on loopback, and the CNS's reaction asserted
through its journal (issue 5): silence, failures then recovery, malformed XML, duplicates,
unsupported versions, refusals, delays, per-case isolation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from eessi.core.messages import IssueEntitlement, WithdrawEntitlement
from eessi.journal import Direction, MessageRecord, MessageStatus
from eessi.mock.behaviour import parse_rule
from eessi.node.inputs import RequestEntitlement

from .kit import ANA, CNS, FAST, FR, MARIE, PT, World, world


def rule(match: dict[str, Any], effect: Any, rid: str | None = None) -> Any:
    data: dict[str, Any] = {"match": match, "effect": effect}
    if rid is not None:
        data["id"] = rid
    return parse_rule(data, default_id="test")


async def request(w: World, person: str = MARIE) -> str:
    step = await w[FR].submit(RequestEntitlement(person))
    return step.outgoing[0].case_id


async def outbound_when_there(w: World, ir_id: str, sed: str) -> MessageRecord:
    """The first outbound ``sed`` of ``ir_id`` once it is journaled (the node may be busy)."""
    async with asyncio.timeout(5):
        while True:
            found = [m for m in await w.messages(ir_id, Direction.OUT) if m.sed_type == sed]
            if found:
                return found[0]
            await asyncio.sleep(0.02)


async def test_default_behaviour_follows_the_buc_rules(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        case = await request(w)
        await w.settle()
        assert await w.summary(CNS) == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
            ("in", "S073", "processed"),
        ]
        (s072,) = await w.mocks.received(FR, case=case, sed="S072")
        assert s072.status is MessageStatus.PROCESSED


async def test_silent_fund_gets_an_X009_reminder_after_the_deadline(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, "silent"))
        case = await request(w)
        await w.settle()
        assert [m.sed_type for m in await w.messages(CNS, Direction.IN)] == ["S071"]
        await w[CNS].tick()
        await w.settle()
        assert not await w.mocks.received(FR, sed="X009")  # not before the deadline
        w.clock.advance(timedelta(days=61))
        await w[CNS].tick()
        await w.settle()
        (x009,) = await w.mocks.wait_received(FR, case=case, sed="X009", within=5)
        out = [m.sed_type for m in await w.messages(CNS, Direction.OUT, case=case)]
        assert out == ["S072", "X009"]
        kinds = [e.kind for e in await w[CNS].journal.case_events(case)]
        assert "reminder-sent" in kinds
        assert any(e.get("effect") == "silent" for e in w.mocks.log(FR, case=case))
        # The fund's desk believes it answered (a silent mock lies), so it turns the reminder
        # down; what the CNS does is what is under test.
        assert x009.status in (MessageStatus.PROCESSED, MessageStatus.REJECTED)


@pytest.mark.parametrize("mode", ["http500", "reset", "timeout"])
async def test_fail_twice_then_recover_the_CNS_retries_until_acknowledged(
    tmp_path: Path, mode: str
) -> None:
    # A timeout holds the request longer than the CNS waits for one attempt.
    options = replace(FAST, retry=replace(FAST.retry, attempt_timeout=1.0))
    async with world(tmp_path, options=options, stall_seconds=2.0) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, {"kind": "fail", "times": 2, "mode": mode}))
        case = await request(w)
        await w.settle()
        (s072,) = await w.messages(CNS, Direction.OUT, case=case)
        assert s072.status is MessageStatus.ACKNOWLEDGED
        assert s072.attempts == 3
        failed = [e for e in w.mocks.log(FR, case=case) if e["what"] == "failed-delivery"]
        assert [(e["mode"], e["attempt"]) for e in failed] == [(mode, 1), (mode, 2)]
        # Received and processed once; the case went on (S073 back to the CNS).
        assert len(await w.mocks.received(FR, case=case, sed="S072")) == 1
        assert ("in", "S073", "processed") in await w.summary(CNS, case)


@pytest.mark.parametrize("kind", ["truncated", "not-xml", "schema-invalid"])
async def test_malformed_xml_is_refused_by_the_CNS_with_an_EBMS_error(
    tmp_path: Path, kind: str
) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S071"}, {"kind": "malformed", "malformed": kind}))
        case = await request(w)
        await w.settle()
        (incoming,) = await w.messages(CNS, Direction.IN)
        assert incoming.status is MessageStatus.REFUSED
        assert incoming.conversation_id == case
        assert not await w.messages(CNS, Direction.OUT)
        (sent,) = await w.messages(FR, Direction.OUT)
        assert sent.status is MessageStatus.FAILED
        assert sent.attempts == 1  # an EBMS error is not retried
        assert sent.last_error is not None
        assert "EBMS:0004" in sent.last_error or "EBMS:0009" in sent.last_error


async def test_a_duplicate_is_receipted_and_processed_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S071"}, {"kind": "duplicate", "times": 3}))
        case = await request(w)
        await w.settle()
        assert w[CNS].stats["duplicates"] == 2
        assert [m.sed_type for m in await w.messages(CNS, Direction.IN, case=case)] == [
            "S071",
            "S073",
        ]
        assert [m.sed_type for m in await w.messages(CNS, Direction.OUT, case=case)] == ["S072"]


async def test_an_unsupported_version_is_refused_listing_the_supported_ones(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S071"}, {"kind": "wrong_version", "version": "3.9"}))
        await request(w)
        await w.settle()
        (sent,) = await w.messages(FR, Direction.OUT)
        assert sent.sed_version == "3.9"
        assert sent.status is MessageStatus.FAILED
        assert sent.last_error is not None
        assert "4.3" in sent.last_error
        assert "4.4" in sent.last_error
        (incoming,) = await w.messages(CNS, Direction.IN)
        assert incoming.status is MessageStatus.REFUSED


async def test_another_supported_version_is_accepted(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S071"}, {"kind": "wrong_version", "version": "4.3"}))
        case = await request(w)
        await w.settle()
        (incoming, *_) = await w.messages(CNS, Direction.IN, case=case)
        assert (incoming.sed_version, incoming.status) == ("4.3", MessageStatus.PROCESSED)


async def test_a_refusal_with_X011_rejects_the_S072_in_the_CNS_case(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, {"kind": "refuse", "x011": "04"}))
        case = await request(w)
        await w.settle()
        summary = await w.summary(CNS, case)
        assert summary[:3] == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
            ("in", "X011", "processed"),
        ]
        # Reason 04: the CNS asks about the S071 (X012, docs/cns-desk.md) and the mock answers
        # (X013). The mock's desk believes it sent its S073 (the rule replaced it with the
        # X011), so it refuses the new S072 the CNS then sends.
        assert summary[3:5] == [("out", "X012", "acknowledged"), ("in", "X013", "processed")]
        assert not w[CNS].desk.registrations  # never registered on a rejected S072
        snapshot = await w[CNS].journal.case(case)
        assert snapshot is not None
        assert snapshot.state["state"] != "completed"


async def test_a_refusal_code_makes_the_S073_say_not_registered(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, {"kind": "refuse", "code": "01"}))
        case = await request(w)
        await w.settle()
        kinds = [e.kind for e in await w[CNS].journal.case_events(case)]
        assert "not-registered" in kinds
        assert not w[CNS].desk.registrations


async def test_close_answers_with_an_X001(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, "close"))
        case = await request(w)
        await w.settle()
        assert ("in", "X001", "processed") in await w.summary(CNS, case)


async def test_answer_overrides_change_the_answer_that_travels(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        info = {"kind": "answer", "overrides": {"additional_information": "checked by hand"}}
        w.mocks.book(FR).add(rule({"sed": "S072"}, info))
        case = await request(w)
        await w.settle()
        (s073,) = [
            m for m in await w.messages(CNS, Direction.IN, case=case) if m.sed_type == "S073"
        ]
        assert b"checked by hand" in s073.payload
        assert s073.status is MessageStatus.PROCESSED


async def test_an_overridden_answer_to_a_4_3_only_fund_stays_4_3(tmp_path: Path) -> None:
    # The Portuguese fund and the CNS talk 4.3 (the directory): overrides and refusals too.
    async with world(tmp_path, ids=(CNS, PT)) as w:
        info = {"kind": "answer", "overrides": {"additional_information": "vérifié"}}
        w.mocks.book(PT).add(rule({"sed": "S072"}, info))
        step = await w[PT].submit(RequestEntitlement(ANA))
        await w.settle()
        case = step.outgoing[0].case_id
        (s073,) = [
            m for m in await w.messages(CNS, Direction.IN, case=case) if m.sed_type == "S073"
        ]
        assert (s073.sed_version, s073.status) == ("4.3", MessageStatus.PROCESSED)
        assert b"/ns/4_3/S073" in s073.payload


async def test_a_delayed_answer_is_held_until_the_virtual_clock_passes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mocks.book(FR).add(rule({"sed": "S072"}, {"kind": "delay", "seconds": 3600}))
        case = await request(w)
        await w.mocks.wait_received(FR, case=case, sed="S072", within=5)
        held = await outbound_when_there(w, FR, "S073")
        assert held.status is MessageStatus.QUEUED
        assert held.next_attempt_at == w.clock.now() + timedelta(seconds=3600)
        assert [m.sed_type for m in await w.messages(CNS, Direction.IN)] == ["S071"]
        # On a virtual clock the node holds it until a tick finds the clock past its time.
        await w[FR].tick()
        await w.settle()
        assert [m.sed_type for m in await w.messages(CNS, Direction.IN)] == ["S071"]
        w.clock.advance(timedelta(seconds=3601))
        await w[FR].tick()
        await w.settle()
        assert ("in", "S073", "processed") in await w.summary(CNS, case)


async def test_behaviours_are_isolated_per_case(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        first = await request(w, MARIE)
        await w.settle()
        # A second case with the same fund: Luc's S072 sent unasked (S_BUC_01A). (A second S071
        # for Marie would be rejected: one S072 per person, docs/cns-desk.md.)
        step = await w[CNS].submit(IssueEntitlement("martin-thionville", "luc"))
        (second,) = {o.case_id for o in step.outgoing}
        await w.settle()
        book = w.mocks.book(FR)
        book.add(rule({"case": first}, {"kind": "fail", "times": 2, "mode": "http500"}, "a"))
        book.add(rule({"case": second}, {"kind": "fail", "times": 1, "mode": "reset"}, "b"))
        for case in (first, second):  # the CNS withdraws both S072 (X008)
            await w[CNS].submit(WithdrawEntitlement(case))
        await w.settle()
        attempts = {}
        for case in (first, second):
            (x008,) = [
                m for m in await w.messages(CNS, Direction.OUT, case=case) if m.sed_type == "X008"
            ]
            assert x008.status is MessageStatus.ACKNOWLEDGED
            attempts[case] = x008.attempts
        assert attempts == {first: 3, second: 2}
        assert book.state(first)["failures"] != book.state(second)["failures"]
        w.mocks.reset(FR, case=first)
        assert [r.match.case for r in book.rules] == [second]
        assert book.state(first)["failures"] == {}


async def test_a_document_that_arrived_before_the_test_waits_is_not_lost(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        case = await request(w)
        await w.settle()  # the S072 is long there
        found = await w.mocks.wait_received(
            FR, case=case, xpath="/sed:S072/confirmed = 'yes' or /sed:S072", within=0.5
        )
        assert [m.sed_type for m in found] == ["S072"]
        with pytest.raises(TimeoutError, match="received 0 of the 1"):
            await w.mocks.wait_received(FR, case=case, sed="X009", within=0.3)
