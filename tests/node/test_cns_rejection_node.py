"""Issue 16.2 through real institutions on loopback: the fund rejects the CNS's S072 over the
admin API, and the CNS's admin API shows what it did and what the member's decision says."""

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
from eessi.core import FundPolicy
from eessi.directory import Directory, load_default_directory
from eessi.ids import SeededIds
from eessi.journal import open_journal
from eessi.node.desk_factory import desk_factory
from eessi.node.households import load_households
from eessi.node.institution import Institution

PERSON = "martin-thionville/marie"


@dataclasses.dataclass
class Pair:
    cns: Institution
    fund: Institution
    http: aiohttp.ClientSession

    async def settle(self) -> None:
        async with asyncio.timeout(30):
            while True:
                for node in (self.fund, self.cns):
                    await node.idle()
                if self.fund.busy == 0 and self.cns.busy == 0:
                    return

    async def call(self, node: Institution, method: str, path: str, body: Any = None) -> Any:
        assert node.url is not None
        async with self.http.request(method, node.url + path, json=body) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()


@pytest.fixture
async def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Pair]:
    """The CNS and the French fund; the fund neither registers nor answers X012 by itself."""
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    ports = iter(free_ports(2))
    entries = []
    for e in load_default_directory():
        if e.id in (CNS, FR):
            port = next(ports)
            e = dataclasses.replace(
                e, endpoint=f"http://127.0.0.1:{port}/as4", admin=f"http://127.0.0.1:{port}/api"
            )
        entries.append(e)
    directory = Directory(tuple(entries))
    households = load_households()
    clock = VirtualClock(T0)
    policy = FundPolicy(auto_register=False, answer_clarifications=False)
    nodes = []
    for n, ir_id in enumerate((CNS, FR)):
        entry = directory.get(ir_id)
        journal = await open_journal(tmp_path / f"{ir_id[:2]}.sqlite", synchronous="NORMAL")
        make = desk_factory(entry, directory, households, fund_policy=policy)
        nodes.append(
            Institution(
                entry,
                directory,
                journal,
                make,
                clock=clock,
                ids=SeededIds(n + 1),
                rng=random.Random(n),
            )
        )
    for node in nodes:
        await node.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Pair(nodes[0], nodes[1], http)
    finally:
        for node in nodes:
            await node.stop()
            await node.journal.close()


async def test_R14_the_decision_after_a_rejected_s072_names_the_rejection_and_the_next_step(
    pair: Pair,
) -> None:
    body = {"kind": "request_entitlement", "person": PERSON}
    (case_id,) = (await pair.call(pair.fund, "POST", "/api/requests", body))["cases"]
    await pair.settle()
    body = {"kind": "reject_document", "case_id": case_id, "sed": "S072"}
    await pair.call(pair.fund, "POST", "/api/requests", body)
    await pair.settle()

    cns_case = await pair.call(pair.cns, "GET", f"/api/cases/{case_id}")
    seds = [
        (item["direction"], item["sed_type"])
        for item in cns_case["timeline"]
        if item["type"] == "message"
    ]
    assert seds == [("in", "S071"), ("out", "S072"), ("in", "X011"), ("out", "X012")]
    assert cns_case["state"] == "awaiting-reply"

    # The decision is journalled with the case whose input made it (its timeline).
    decisions = [
        item["data"]["decision"]
        for item in cns_case["timeline"]
        if item["type"] == "event" and item["kind"] == "decision-made"
    ]
    decision = decisions[-1]
    assert decision["member"] == "marie"
    assert decision["outcome"] == "pending"
    note = decision["reasons"][-1]
    assert note["rule"] == "R14"
    assert f"{FR} rejected the S072 of the CNS in case {case_id}" in note["explanation"]
    assert "reason 04 content incorrect" in note["explanation"]
    assert "X012" in note["explanation"]
    (s073,) = [m for m in decision["missing"] if m["kind"] == "S073"]
    assert s073["hint"].startswith("S072 rejected: ")
