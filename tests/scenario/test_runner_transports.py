"""A scenario runs on the in-memory twin without a port, and the same as over loopback HTTP."""

from __future__ import annotations

from typing import Any

from eessi.scenario.format import load_scenario, shipped_scenarios_dir
from eessi.scenario.runner import run_scenario
from eessi.scenario.world import LoopbackNetwork
from eessi.transport.http import HttpTransport
from eessi.transport.twin import TwinTransport

#: Mock behaviours (a refusal, fail-then-recover...) and the R17 flow between the CNS and funds.
SCENARIOS = ("r17-family-abroad.toml",)


def _flows(report: Any) -> list[tuple[str, str, str, int]]:
    return [(x.flow(), x.status, x.sent_status, x.attempts) for x in report.exchanges]


async def test_R17_scenario_on_the_twin_needs_no_port_and_matches_the_http_run() -> None:
    path = shipped_scenarios_dir() / SCENARIOS[0]
    seen: dict[str, Any] = {}

    async def observe(kind: str, value: Any) -> None:
        if kind == "start":
            assert isinstance(value, LoopbackNetwork)
            seen["transports"] = {i: n.transport for i, n in value.nodes.items()}
            seen["urls"] = {i: n.url for i, n in value.nodes.items()}

    twin = await run_scenario(load_scenario(path), observer=observe)
    assert twin.passed, twin.to_dict()
    assert all(isinstance(t, TwinTransport) for t in seen["transports"].values())
    assert all(t.http is None for t in seen["transports"].values())  # nothing listens
    assert set(seen["urls"].values()) == {None}

    http = await run_scenario(load_scenario(path), observer=observe, transport="http")
    assert http.passed
    assert all(isinstance(t, HttpTransport) for t in seen["transports"].values())
    assert _flows(twin) == _flows(http)
