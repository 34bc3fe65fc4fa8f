"""Export, then replay, reproduces (issue 12.9): a plain ``eessi trace export`` of a run of
``eessi up``, of every shipped scenario, and of a pytest plugin network (tests/plugin/
test_tester_journey.py) carries what a replay needs, and ``eessi replay`` finds no divergence.
Replaying twice against the same live target says that it dropped the duplicates."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from scenarios import CNS, PT, r17_demo
from up_process import eessi_up_process

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import load_as4
from eessi.as4.wire import is_entity
from eessi.clock import VirtualClock
from eessi.directory import load_default_directory
from eessi.node.network import Network, directory_on_ports, free_port_run
from eessi.trace.as4peers import target_network
from eessi.trace.export import export_journals
from eessi.trace.format import read_trace
from eessi.trace.replay import replay_against, replay_trace

FR = "FR:CPAM5701"
START = "2026-01-05T09:00:00+00:00"

pytestmark = pytest.mark.slow


@asynccontextmanager
async def eessi_up(db: Path, base: int, *extra: str) -> AsyncIterator[None]:
    async with eessi_up_process(
        "--port-base", str(base), "--db-dir", str(db),
        "--institution", CNS, "--institution", FR, "--institution", PT, "--tick", "0", *extra,
    ):  # fmt: skip
        yield


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with http.post(url, json=body) as resp:
        answer = await resp.json()
        assert resp.status < 300, (url, answer)
        return answer


async def until_listed(http: aiohttp.ClientSession, query: str, count: int) -> None:
    """Wait (bounded) until the admin API lists ``count`` messages for ``query``."""
    items: list[Any] = []
    async with asyncio.timeout(30):
        while len(items) < count:
            async with http.get(query) as resp:
                assert resp.status == 200, (query, await resp.text())
                items = (await resp.json())["items"]
            if len(items) < count:
                await asyncio.sleep(0.05)
    assert len(items) == count, (query, items)


async def test_a_plain_export_of_eessi_up_replays_every_side_without_divergence(
    tmp_path: Path,
) -> None:
    """The CNS and two mock funds, seeded, on a virtual clock: two R17 flows, a rule making the
    CPAM silent (R14: the CNS reminds it with an X009 once the clock moved), a reset in the
    middle; exported with no option but the journals."""
    db, base = tmp_path / "db", free_port_run(6)
    directory = directory_on_ports(load_default_directory(), base)
    url = {i: "http://" + directory.get(i).endpoint.split("/")[2] for i in (CNS, FR, PT)}
    async with (
        eessi_up(db, base, "--seed", "4", "--virtual-clock", START),
        aiohttp.ClientSession() as http,
    ):
        first = {"kind": "request_entitlement", "person": "martin-thionville/noah"}
        await post(http, f"{url[FR]}/api/requests", first)
        await post(http, f"{url[CNS]}/api/reset", {})  # the run starts again from here
        await post(
            http, f"{url[FR]}/api/mock/rules", {"match": {"sed": "S072"}, "effect": "silent"}
        )
        for fund, person in ((FR, "martin-thionville/marie"), (PT, "silva-luxembourg/ana")):
            await post(
                http, f"{url[fund]}/api/requests", {"kind": "request_entitlement", "person": person}
            )
        # the clock moves once both S072s are acknowledged and the PT's S073 processed: moved
        # earlier, the silent fund's S072 would be sent after the move and no X009 fall due
        await until_listed(http, f"{url[CNS]}/api/messages?sed=S072&status=acknowledged", 2)
        await until_listed(http, f"{url[CNS]}/api/messages?sed=S073&status=processed", 1)
        await post(http, f"{url[CNS]}/api/clock", {"advance": "P3M"})
    trace_path = tmp_path / "up.jsonl"
    journals = sorted(db.glob("*.sqlite"))
    await export_journals(
        trace_path, journals, directory, created=datetime(2026, 1, 5, tzinfo=UTC)
    )  # what `eessi trace export --journal ...` does, without --households, --seed or --config
    recorded = read_trace(trace_path)
    config = recorded.header.config
    assert config["seed"] == 4
    assert "martin-thionville" in [h["id"] for h in config["households"]]
    (change,) = config["mocks"][FR]["changes"]
    assert change["data"]["rule"]["effect"] == {"kind": "silent"}
    seds = [(m.record.sender, m.record.sed_type) for m in recorded.messages]
    assert (CNS, "X009") in seds  # the reminder the clock move caused
    assert (FR, "S073") not in seds
    assert (PT, "S073") in seds
    result = await replay_trace(recorded)
    assert result.ok, [d.describe() for d in result.comparison.divergences] + list(result.notes)
    assert sorted(result.sides) == sorted([CNS, FR, PT])
    assert result.comparison.recorded == result.comparison.paired > 0
    # Without what the journals noted, the replay diverges (the CNS knows nobody).
    bare = await replay_trace(recorded, config={})
    assert not bare.ok


@pytest.fixture(scope="module")
def scenario_journals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = tmp_path_factory.mktemp("scenarios")
    done = subprocess.run(
        # over secured eDelivery AS4: the journals keep the MIME packages as on the wire
        [sys.executable, "-m", "eessi", "scenario", "run", "all", "--keep", str(keep),
         "--transport", "as4"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return keep


SHIPPED = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "eessi/scenario/data").glob("*.toml")
)


@pytest.mark.parametrize("name", SHIPPED)
async def test_every_shipped_scenario_exported_replays_without_divergence(
    scenario_journals: Path, name: str, tmp_path: Path
) -> None:
    """Each scenario carries its household inline: the export takes it from the journals."""
    journals = sorted((scenario_journals / name).glob("*.sqlite"))
    assert journals
    trace_path = tmp_path / f"{name}.jsonl"
    await export_journals(
        trace_path, journals, load_default_directory(), created=datetime(2026, 1, 5, tzinfo=UTC)
    )
    recorded = read_trace(trace_path)
    assert recorded.header.config["households"]
    assert all(is_entity(m.record.envelope) for m in recorded.messages)  # as on the wire
    result = await replay_trace(recorded)
    assert result.ok, [d.describe() for d in result.comparison.divergences] + list(result.notes)


async def test_replaying_twice_against_one_live_target_says_it_dropped_the_duplicates(
    tmp_path: Path,
) -> None:
    """The target speaks secured eDelivery AS4 with its own PKI; the replay's stand-in peers
    use that PKI (as ``eessi replay --target URL --pki DIR`` does)."""
    recorded = await r17_demo(tmp_path / "rec")
    directory = directory_on_ports(load_default_directory(), free_port_run(6))
    as4 = load_as4(directory, pki_dir=None, default_pki_dir=tmp_path / "target-pki")
    clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # the recording's
    async with Network(
        directory, tmp_path / "target", ids=[CNS], seed=1, clock=clock,
        transport=as4_transport(as4),
    ) as target:  # fmt: skip
        url = target[CNS].endpoint_url
        assert url is not None
        peers = target_network(directory, pki=tmp_path / "target-pki")
        first = await replay_against(
            recorded, side=CNS, url=url, directory=directory, as4=peers, wait=2
        )
        assert first.ok, [d.describe() for d in first.comparison.divergences]
        assert first.duplicates == ()
        # what the target sent the stand-ins arrived over AS4 (the journaled MIME package)
        assert all(is_entity(m.record.envelope) for m in first.output.messages)
        second = await replay_against(
            recorded, side=CNS, url=url, directory=directory, as4=peers, wait=1
        )
    fed = [
        m.record.message_id
        for m in recorded.messages
        if m.observer == CNS and m.record.direction.value == "in"
    ]
    assert sorted(second.duplicates) == sorted(fed)
    assert [d.kind for d in second.comparison.divergences] == []  # none reported missing
    (note,) = second.notes
    assert f"already had {len(fed)} of the {len(fed)} message(s) fed" in note
    assert "dropped them as duplicates" in note
    assert not second.ok  # nothing of the target's behaviour was checked this time
