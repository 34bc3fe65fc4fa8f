"""The admin API of real institutions exchanging over loopback: requests in, messages out."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from admin_support import CNS, FR, T0
from node_kit import free_ports

from eessi.clock import VirtualClock
from eessi.directory import Directory, load_default_directory
from eessi.ids import SeededIds
from eessi.journal import open_journal
from eessi.node.desk_factory import desk_factory
from eessi.node.households import load_households
from eessi.node.institution import Institution

PERSON = "martin-thionville/marie"
DE = "DE:TKK00001"


def _directory() -> Directory:
    """The default directory with the CNS, the French and German funds on free loopback ports."""
    entries = []
    ports = iter(free_ports(3))  # held together: three distinct ports
    for e in load_default_directory():
        if e.id in (CNS, FR, DE):
            port = next(ports)
            e = dataclasses.replace(
                e, endpoint=f"http://127.0.0.1:{port}/as4", admin=f"http://127.0.0.1:{port}/api"
            )
        entries.append(e)
    return Directory(tuple(entries))


@dataclasses.dataclass
class Network:
    cns: Institution
    fund: Institution
    de: Institution
    http: aiohttp.ClientSession

    async def settle(self) -> None:
        """Wait until neither side has anything in flight (bounded: a hang fails the test)."""
        async with asyncio.timeout(30):
            while True:
                for node in (self.fund, self.cns, self.de):
                    await node.idle()
                if self.fund.busy == 0 and self.cns.busy == 0 and self.de.busy == 0:
                    return

    async def call(
        self, node: Institution, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        assert node.url is not None
        async with self.http.request(method, node.url + path, json=body) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.read()

    async def request(self, node: Institution, body: Any) -> Any:
        """``POST /api/requests`` of ``body`` to ``node``: its answer, which must be a 202."""
        status, result = await self.call(node, "POST", "/api/requests", body)
        assert status == 202, result
        return result


def messages_of(case: Any) -> list[tuple[str, str, str]]:
    """The messages of a case's timeline: (direction, SED type, status), in order."""
    return [
        (item["direction"], item["sed_type"], item["status"])
        for item in case["timeline"]
        if item["type"] == "message"
    ]


@pytest.fixture
async def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    directory = _directory()
    households = load_households()
    clock = VirtualClock(T0)
    nodes = []
    for n, ir_id in enumerate((CNS, FR, DE)):
        entry = directory.get(ir_id)
        journal = await open_journal(tmp_path / f"{ir_id[:2]}.sqlite", synchronous="NORMAL")
        nodes.append(
            Institution(
                entry,
                directory,
                journal,
                desk_factory(entry, directory, households),
                clock=clock,
                ids=SeededIds(n + 1),
                rng=random.Random(n),
            )
        )
    for node in nodes:
        await node.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Network(nodes[0], nodes[1], nodes[2], http)
    finally:
        for node in nodes:
            await node.stop()
            await node.journal.close()


async def test_a_fund_request_is_accepted_and_its_s071_is_visible_on_both_sides(
    network: Network,
) -> None:
    net = network
    result = await net.request(net.fund, {"kind": "request_entitlement", "person": PERSON})
    assert result["kind"] == "request_entitlement"
    [case_id] = result["cases"]
    [message_id] = result["messages"]
    assert result["outgoing"][0]["sed"] == "S071"
    assert result["outgoing"][0]["receiver"] == CNS

    # The outgoing message is in the fund's journal at once, byte-exact and schema-valid.
    status, message = await net.call(net.fund, "GET", f"/api/messages/{message_id}")
    assert status == 200
    assert message["direction"] == "out"
    assert message["sed_type"] == "S071"
    assert message["case_id"] == case_id
    # (outbound only: the CNS's S072 may already have arrived, and the fund's S073 with it
    # when the CNS answered at once)
    status, listed = await net.call(net.fund, "GET", f"/api/messages?case={case_id}&direction=out")
    assert [m["message_id"] for m in listed["items"] if m["sed_type"] == "S071"] == [message_id]
    assert {m["sed_type"] for m in listed["items"]} <= {"S071", "S073"}
    status, report = await net.call(net.fund, "GET", f"/api/messages/{message_id}/validation")
    assert report["ok"] is True

    await net.settle()

    # The exchange ran: the CNS received the S071 and answered with an S072; the fund
    # registered and confirmed with an S073 (R17).
    status, fund_case = await net.call(net.fund, "GET", f"/api/cases/{case_id}")
    assert status == 200
    seds = [m[:2] for m in messages_of(fund_case)]
    # The virtual clock never moved: every entry has the same time, and causality orders them.
    timeline = fund_case["timeline"]
    assert len({item["at"] for item in timeline}) == 1
    at = {
        (item["type"], item.get("sed_type") or item["kind"], item.get("direction")): n
        for n, item in reversed(list(enumerate(timeline)))
    }
    assert at[("event", "case-opened", None)] == 0
    assert at[("event", "case-state-changed", None)] < at[("message", "S071", "out")]
    s072 = at[("message", "S072", "in")]
    caused = [
        n
        for n, item in enumerate(timeline)
        if item["message_id"] == timeline[s072]["message_id"] and item["type"] == "event"
    ]
    assert caused
    assert min(caused) > s072
    assert at[("message", "S073", "out")] > s072
    assert seds == [("out", "S071"), ("in", "S072"), ("out", "S073")]
    assert fund_case["counterparty"] == CNS
    assert fund_case["buc"] == "S_BUC_01"

    status, cns_case = await net.call(net.cns, "GET", f"/api/cases/{case_id}")
    assert status == 200
    assert cns_case["role"] == "CP"
    assert cns_case["state"] == fund_case["state"]
    status, raw_cns = await net.call(net.cns, "GET", f"/api/messages/{message_id}/raw")
    status, raw_fund = await net.call(net.fund, "GET", f"/api/messages/{message_id}/raw")
    assert raw_cns == raw_fund  # the same bytes on both sides
    status, envelope = await net.call(
        net.cns, "GET", f"/api/messages/{message_id}/raw?part=envelope"
    )
    assert status == 200
    assert message_id.encode() in envelope

    status, health = await net.call(net.cns, "GET", "/api/health")
    assert health["messages_by_status"]["processed"] == 2  # S071 and S073
    assert health["messages_by_status"]["acknowledged"] == 1  # its S072


async def test_a_cns_request_for_an_unknown_person_is_422_and_changes_nothing(
    network: Network,
) -> None:
    net = network
    body = {"kind": "co_insurance_request", "main_insured_pin": "1900010100000", "member": "x"}
    status, result = await net.call(net.cns, "POST", "/api/requests", body)
    assert status == 422, result
    assert result["error"]["code"] == "domain.unknown-person"
    status, listed = await net.call(net.cns, "GET", "/api/messages")
    assert listed["items"] == []


async def test_a_fund_request_for_a_person_the_fund_does_not_know_is_refused(
    network: Network,
) -> None:
    net = network
    body = {"kind": "request_entitlement", "person": "nobody/none"}
    status, result = await net.call(net.fund, "POST", "/api/requests", body)
    assert status == 422, result
    assert result["error"]["hint"]


async def test_a_fund_does_not_take_the_cnss_requests(network: Network) -> None:
    net = network
    body = {"kind": "co_insurance_request", "main_insured_pin": "1985080812345", "member": "marie"}
    status, result = await net.call(net.fund, "POST", "/api/requests", body)
    assert status == 400
    assert result["error"]["code"] == "admin.wrong-desk"
    assert result["error"]["where"] == "/kind"


async def test_closing_a_closed_case_is_409(network: Network) -> None:
    net = network
    result = await net.request(net.fund, {"kind": "request_entitlement", "person": PERSON})
    [case_id] = result["cases"]
    await net.settle()
    result = await net.request(net.fund, {"kind": "close_case", "case_id": case_id})
    status, result = await net.call(
        net.fund, "POST", "/api/requests", {"kind": "close_case", "case_id": case_id}
    )
    assert status == 409, result
    assert result["error"]["code"] == "protocol.illegal-step"


async def test_households_and_records_list_who_each_side_knows(network: Network) -> None:
    net = network
    status, households = await net.call(net.cns, "GET", "/api/households?limit=100")
    assert status == 200
    keys = [h["key"] for h in households["items"]]
    assert "martin-thionville" in keys
    status, records = await net.call(net.fund, "GET", "/api/records")
    assert status == 200
    assert [r["key"] for r in records["items"]] == [PERSON, "martin-thionville/noah"]


async def test_tick_runs_the_timers_and_answers_what_they_did(network: Network) -> None:
    status, result = await network.call(network.cns, "POST", "/api/tick")
    assert status == 200, result
    assert result["kind"] == "tick"
    assert result["messages"] == []


async def test_a_cns_request_sends_an_s040_visible_under_messages_and_answered(
    network: Network,
) -> None:
    # Julia (muller-esch) was insured in Germany: the CNS asks her former fund for her
    # periods of insurance (R5) with an S040.
    net = network
    body = {"kind": "co_insurance_request", "main_insured_pin": "1984031212345", "member": "julia"}
    result = await net.request(net.cns, body)
    [message_id] = result["messages"]
    [case_id] = result["cases"]
    assert [o["sed"] for o in result["outgoing"]] == ["S040"]
    assert "decision-made" in [e["kind"] for e in result["events"]]
    _, listed = await net.call(net.cns, "GET", "/api/messages?direction=out&sed=S040")
    assert [m["message_id"] for m in listed["items"]] == [message_id]
    assert listed["items"][0]["receiver"] == DE
    await net.settle()
    _, case = await net.call(net.cns, "GET", f"/api/cases/{case_id}")
    assert case["counterparty"] == DE
    assert messages_of(case) == [("out", "S040", "acknowledged"), ("in", "S041", "processed")]
    _, listed = await net.call(net.cns, "GET", "/api/cases?counterparty=DE:TKK00001")
    assert [c["case_id"] for c in listed["items"]] == [case_id]


async def test_the_cnss_decisions_and_document_requests_are_listed_as_desk_events(
    network: Network,
) -> None:
    net = network
    body = {"kind": "co_insurance_request", "main_insured_pin": "1983100312345", "member": "amina"}
    result = await net.request(net.cns, body)
    assert result["messages"] == []
    _, events = await net.call(net.cns, "GET", "/api/events")
    kinds = [e["kind"] for e in events["items"]]
    assert "decision-made" in kinds
    assert "documents-requested" in kinds
    _, only = await net.call(net.cns, "GET", "/api/events?kind=documents-requested")
    assert {e["kind"] for e in only["items"]} == {"documents-requested"}


async def test_a_batch_starts_each_request_and_answers_each_refusal_with_its_pointer(
    network: Network,
) -> None:
    net = network
    batch = [
        {"kind": "request_entitlement", "person": PERSON},
        {"kind": "request_entitlement"},  # no person: 400 at /1/person
        {"kind": "request_entitlement", "person": "nobody/none"},  # unknown: 422
    ]
    status, answer = await net.call(net.fund, "POST", "/api/requests/batch", batch)
    assert status == 202, answer
    assert (answer["accepted"], answer["refused"]) == (1, 2)
    first, second, third = answer["results"]
    assert first["status"] == 202
    [message_id] = first["result"]["messages"]
    status, message = await net.call(net.fund, "GET", f"/api/messages/{message_id}")
    assert message["sed_type"] == "S071"
    assert second["status"] == 400
    assert second["error"]["where"] == "/1/person"
    assert third["status"] == 422
    assert third["pointer"] == "/2"
    await net.settle()


async def test_a_batch_that_is_not_a_list_is_400(network: Network) -> None:
    net = network
    body = {"kind": "request_entitlement", "person": PERSON}
    status, answer = await net.call(net.fund, "POST", "/api/requests/batch", body)
    assert status == 400
    assert answer["error"]["code"] == "admin.bad-batch"


async def test_S_BUC_01A_issue_entitlement_sends_the_S072_unasked_and_the_fund_confirms(
    network: Network,
) -> None:
    # Luc Martin, a cross-border worker living in Moselle: the CNS sends his S072 straight to
    # the CPAM (the only French institution of the directory), which answers with an S073.
    net = network
    body = {"kind": "issue_entitlement", "person": "martin-thionville/luc"}
    result = await net.request(net.cns, body)
    [case_id] = result["cases"]
    assert [(o["sed"], o["receiver"]) for o in result["outgoing"]] == [("S072", FR)]
    assert "entitlement-issued" in [e["kind"] for e in result["events"]]
    await net.settle()
    status, case = await net.call(net.cns, "GET", f"/api/cases/{case_id}")
    assert case["buc"] == "S_BUC_01A"
    assert messages_of(case) == [("out", "S072", "acknowledged"), ("in", "S073", "processed")]
    # One S072 per person: a second one is refused while the first stands.
    status, result = await net.call(net.cns, "POST", "/api/requests", body)
    assert status == 422, result
    assert result["error"]["code"] == "domain.already-issued"


async def test_R14_a_second_s071_for_a_registered_member_is_rejected_as_duplicate(
    network: Network,
) -> None:
    """Issue 16.3 over the network: the fund asks twice for Marie's S072; the CNS answers the
    first (S072, S073: registered) and rejects the second with an X011 05 naming the first."""
    net = network
    cases = []
    for _ in range(2):
        body = {"kind": "request_entitlement", "person": PERSON}
        result = await net.request(net.fund, body)
        cases += result["cases"]
        await net.settle()
    first, second = cases
    status, cns_case = await net.call(net.cns, "GET", f"/api/cases/{second}")
    assert status == 200
    items = [
        (item["type"], item.get("sed_type") or item["kind"], item.get("direction"))
        for item in cns_case["timeline"]
    ]
    assert ("message", "X011", "out") in items
    assert ("message", "S072", "out") not in items
    (rejected,) = [
        item["data"]
        for item in cns_case["timeline"]
        if item["type"] == "event" and item["kind"] == "request-rejected"
    ]
    assert rejected["other_case"] == first
    assert rejected["reason"] == "05"
    assert rejected["rules"] == ["R14"]
    status, fund_case = await net.call(net.fund, "GET", f"/api/cases/{second}")
    assert fund_case["state"] == "rejected"
    status, first_case = await net.call(net.cns, "GET", f"/api/cases/{first}")
    assert first_case["state"] == "completed"
