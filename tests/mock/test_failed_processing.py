"""Issue 9.5: a mock rule whose overrides cannot apply. Refused when it is made (422, the field
and what it takes); one that fails anyway when applied leaves no document silently stuck: it is
marked failed with the reason (journal, case, mock log, health), a reset retries it, and the
other inputs of its batch go through."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from eessi.core.messages import CloseCase
from eessi.errors import EessiError
from eessi.journal import Direction, MessageRecord, MessageStatus
from eessi.mock.behaviour import Answer, Match, Rule
from eessi.node.inputs import RequestEntitlement

from .kit import CNS, FR, MARIE, NOAH, World


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, **params: Any
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, params=params or None) as resp:
        return resp.status, await resp.json() if resp.content_type == "application/json" else None


def url(w: World, path: str) -> str:
    assert w[FR].url is not None
    return f"{w[FR].url}/api{path}"


async def inbound(w: World, ir_id: str, sed: str, case: str) -> MessageRecord:
    (found,) = [m for m in await w.messages(ir_id, Direction.IN, case=case) if m.sed_type == sed]
    return found


@pytest.mark.parametrize(
    ("overrides", "key", "says", "allowed"),
    [
        (
            {"registration_date": "yesterday"},
            "effect.overrides.registration_date",
            "'yesterday' is not a value of S073.registration_date",
            "a date YYYY-MM-DD",
        ),
        ({"colour": "red"}, "effect.overrides.colour", "no field 'colour'", "registration_date"),
        (
            {"registered": "maybe"},
            "effect.overrides.registered",
            "S073.registered",
            "true or false",
        ),
    ],
)
async def test_a_bad_override_is_refused_when_the_rule_is_created_with_422_and_what_is_allowed(
    w: World, http: aiohttp.ClientSession, overrides: Any, key: str, says: str, allowed: str
) -> None:
    rule = {"match": {"sed": "S072"}, "effect": {"kind": "answer", "overrides": overrides}}
    status, body = await call(http, "POST", url(w, "/mock/rules"), rule)
    assert status == 422
    error = body["error"]
    assert error["code"] == "mock.bad-override"
    assert error["where"] == f"rule #1, key {key!r}"
    assert says in error["message"]
    assert allowed in error["hint"]
    assert allowed in error["details"]["allowed"]
    _, listed = await call(http, "GET", url(w, "/mock/rules"))
    assert listed["rules"] == []


async def test_an_override_for_any_sed_is_checked_against_every_sed_a_fund_sends(
    w: World, http: aiohttp.ClientSession
) -> None:
    bad = {"match": {}, "effect": {"kind": "answer", "overrides": {"registration_date": "soon"}}}
    status, body = await call(http, "POST", url(w, "/mock/rules"), bad)
    assert (status, body["error"]["details"]["sed"]) == (422, "S073")
    good = {"match": {}, "effect": {"kind": "answer", "overrides": {"registration_date": None}}}
    status, _ = await call(http, "POST", url(w, "/mock/rules"), good)
    assert status == 201


async def test_a_rule_failing_when_applied_marks_the_document_failed_and_a_reset_retries_it(
    w: World, http: aiohttp.ClientSession
) -> None:
    # Made in Python, the rule skips the API's checks: it fails when the S073 is built.
    w.mocks.book(FR).add(Rule("bad-date", Match(sed="S072"), Answer({"registration_date": "x"})))
    case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()

    s072 = await inbound(w, FR, "S072", case)
    assert s072.status is MessageStatus.PROCESSING_FAILED
    assert s072.last_error is not None
    assert "S073.registration_date" in s072.last_error
    # The case shows it ...
    status, got = await call(http, "GET", url(w, f"/cases/{case}"))
    assert status == 200
    shown = [e for e in got["timeline"] if e.get("message_id") == s072.message_id]
    assert [(e["type"], e["status"]) for e in shown] == [("message", "processing_failed")]
    assert shown[0]["last_error"] == s072.last_error
    # ... the mock's log says which rule failed and why ...
    _, log = await call(http, "GET", url(w, "/mock/log"), case=case)
    (failed,) = [e for e in log["log"] if e["what"] == "rule-failed"]
    assert (failed["rule"], failed["reacting_to"]) == ("bad-date", "S072")
    assert "S073.registration_date" in failed["reason"]
    # ... and health is degraded, with the reason.
    _, health = await call(http, "GET", url(w, "/health"))
    assert health["status"] == "degraded"
    (problem,) = health["problems"]
    assert (problem["message_id"], problem["case_id"]) == (s072.message_id, case)
    assert problem["reason"] == s072.last_error
    assert [m.sed_type for m in await w.messages(CNS, Direction.IN, case=case)] == ["S071"]

    # The reset drops the rule and hands the S072 to the desk again: the S073 goes out.
    status, reset = await call(http, "POST", url(w, "/mock/reset"), {})
    assert (status, reset["retried"]) == (200, [s072.message_id])
    await w.settle()
    assert (await inbound(w, FR, "S072", case)).status is MessageStatus.PROCESSED
    assert (await inbound(w, CNS, "S073", case)).status is MessageStatus.PROCESSED
    _, health = await call(http, "GET", url(w, "/health"))
    assert (health["status"], "problems" in health) == ("ok", False)


async def test_the_failed_mark_survives_a_restart_and_a_case_reset_retries_only_that_case(
    w: World, http: aiohttp.ClientSession
) -> None:
    w.mocks.book(FR).add(Rule("bad-date", Match(sed="S072"), Answer({"registration_date": "x"})))
    case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()
    await w.restart(FR)
    await w.settle()
    assert (await inbound(w, FR, "S072", case)).status is MessageStatus.PROCESSING_FAILED
    _, health = await call(http, "GET", url(w, "/health"))
    assert health["status"] == "degraded"
    status, reset = await call(http, "POST", url(w, "/mock/reset"), {"case": "FR-OTHER"})
    assert (status, reset["retried"]) == (200, [])
    w.mocks.book(FR).remove("bad-date")
    status, reset = await call(http, "POST", url(w, "/mock/reset"), {"case": case})
    assert len(reset["retried"]) == 1
    await w.settle()
    assert (await inbound(w, CNS, "S073", case)).status is MessageStatus.PROCESSED


async def test_a_failing_input_does_not_take_the_healthy_ones_of_its_batch_down(
    w: World,
) -> None:
    first = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()
    # Closing this case makes an X001 with a reason that is no code: it cannot be built.
    w.mocks.book(FR).add(Rule("bad-close", Match(case=first), Answer({"reason": "no-code"})))
    # Both inputs are queued before the worker runs: one batch.
    close, second = await asyncio.gather(
        w[FR].submit(CloseCase(first)),
        w[FR].submit(RequestEntitlement(NOAH)),
        return_exceptions=True,
    )
    assert isinstance(close, EessiError)
    assert close.code == "node.step-failed"
    assert "no-code" in close.message
    assert not isinstance(second, BaseException)
    case = second.outgoing[0].case_id
    await w.settle()
    assert await w.summary(FR, case) == [("out", "S071", "acknowledged")]
    assert await w.summary(CNS, case) == [("in", "S071", "processed")]
    assert "X001" not in [m.sed_type for m in await w.messages(CNS, Direction.IN, case=first)]


async def test_the_node_admin_api_retries_failed_messages_once_the_cause_is_gone(
    w: World, http: aiohttp.ClientSession
) -> None:
    w.mocks.book(FR).add(Rule("bad-date", Match(sed="S072"), Answer({"registration_date": "x"})))
    case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()
    status, body = await call(http, "POST", url(w, "/retry-failed"), {"case": 7})
    assert (status, body["error"]["where"]) == (400, "/case")
    w.mocks.book(FR).remove("bad-date")  # the cause, gone; the node's own route retries
    status, body = await call(http, "POST", url(w, "/retry-failed"), {"case": case})
    s072 = await inbound(w, FR, "S072", case)
    assert (status, body["retried"]) == (202, [s072.message_id])
    await w.settle()
    assert (await inbound(w, FR, "S072", case)).status is MessageStatus.PROCESSED
    assert (await inbound(w, CNS, "S073", case)).status is MessageStatus.PROCESSED
    status, body = await call(http, "POST", url(w, "/retry-failed"))
    assert (status, body["retried"]) == (202, [])
