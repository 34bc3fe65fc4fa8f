"""The loopback network: free ports, closed ports for the others, one stable message order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eessi.directory import Directory, load_default_directory
from eessi.node.households import load_households
from eessi.node.inputs import RequestEntitlement
from eessi.node.network import Network, loopback_directory
from eessi.scenario.format import parse_scenario, shipped_scenarios_dir
from eessi.scenario.runner import run_scenario
from eessi.scenario.world import LoopbackNetwork

CNS, FR = "LU:CNS00001", "FR:CPAM5701"


def test_served_institutions_get_fresh_ports_the_others_a_closed_one() -> None:
    base = load_default_directory()
    moved = loopback_directory(base, [CNS, FR])
    assert moved.get(CNS).endpoint != base.get(CNS).endpoint
    assert moved.get(CNS).endpoint.startswith("http://127.0.0.1:")
    assert moved.get("DE:TKK00001").endpoint == "http://127.0.0.1:9/as4"
    assert all(e.admin is None for e in moved)
    assert moved.ids == base.ids


def test_an_external_system_keeps_its_url_in_the_loopback_directory() -> None:
    base = load_default_directory()
    tester = Directory(
        tuple(
            dataclasses.replace(e, kind="external", endpoint="http://127.0.0.1:18999/ap")
            if e.id == CNS
            else e
            for e in base
        ),
        source="tester.toml",
    )
    moved = loopback_directory(tester, [FR])
    assert moved.get(CNS).endpoint == "http://127.0.0.1:18999/ap"  # where the mock sends
    assert moved.get(FR).endpoint != base.get(FR).endpoint


async def test_R5_a_document_to_a_fund_that_does_not_run_fails_and_the_member_waits() -> None:
    path = shipped_scenarios_dir() / "r5-former-fund-s040-s041.toml"
    import tomllib

    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc["scenario"]["institutions"] = [CNS]
    doc["expect"] = {"messages": [{"flow": f"{CNS} -> DE:TKK00001 S040", "status": "failed"}]}
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    assert report.passed, report.render()
    assert report.members["julia"]["outcome"] == "pending"
    assert report.members["julia"]["missing"] == ["S041"]


async def test_messages_filter_by_sed_case_and_xpath(tmp_path: Path) -> None:
    people = [h for h in load_households() if h.id == "martin-thionville"]
    async with LoopbackNetwork([CNS, FR], people, workdir=tmp_path) as net:
        await net[FR].submit(RequestEntitlement("martin-thionville/marie"))
        await net.idle()
        (case,) = [c for c, _buc, _state in net.cases(FR, "marie")]
        assert net.case_state(CNS, case) == "completed"
        assert [x.sed for x in await net.messages(case=case)] == ["S071", "S072", "S073"]
        assert [x.index for x in await net.exchanges()] == [1, 2, 3]
        forename = "/sed:S072/Person/PersonIdentification/forename = 'Marie'"
        (s072,) = await net.messages(sed="S072", xpath=forename)
        assert s072.sender == CNS
        assert await net.messages(xpath="/sed:S072/Person/PersonIdentification/forename='X'") == []
        await net.wait_case_state(FR, case, "completed", within=1)


async def test_a_scenario_network_draws_the_ids_eessi_up_draws_with_the_same_seed(
    tmp_path: Path,
) -> None:
    """One network builder: a scenario's fund and ``eessi up --seed 5``'s open the same case."""
    people = [h for h in load_households() if h.id == "martin-thionville"]
    async with LoopbackNetwork([FR], people, workdir=tmp_path / "scenario", seed=5) as net:
        in_scenario = await net[FR].submit(RequestEntitlement("martin-thionville/marie"))
    live = loopback_directory(load_default_directory(), [FR])
    async with Network(live, tmp_path / "up", ids=[FR], households=people, seed=5) as up:
        in_up = await up[FR].submit(RequestEntitlement("martin-thionville/marie"))
    assert in_scenario.outgoing[0].case_id == in_up.outgoing[0].case_id
