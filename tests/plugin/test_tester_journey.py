"""A tester's journey, from the docs alone (issue 12, "Done when"): their own CNS, in its own
process and not importing ``eessi`` (``tests/sut/cns.py``: eDelivery AS4 without WS-Security,
so an unsecured ``pmodes.toml`` beside the shared directory), is pointed at ``eessi up`` (AS4,
its default) and at the pytest plugin. It completes R17 with a mock fund (S071, its S072, the
fund's S073), meets a fund made silent for one person by a per-person rule and sends its X009
once ``POST /api/clock`` moved the network's clock (and the test moved the system's own test
clock to match), and the run, exported with ``eessi trace export``, replays with ``eessi
replay`` without divergence."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from test_external_system import SUT, directory_with_external_cns, logged
from up_process import eessi_up_process, unsecured_pmodes_beside

from eessi.directory import load_directory
from eessi.pytest_plugin import NetworkFactory

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
START = "2026-01-05T09:00:00+00:00"
HOUSEHOLD = "martin-thionville"
#: The per-person rule: the fund never answers Noah's S072 (no S073), so the CNS reminds.
SILENT_FOR_NOAH = {"match": {"person": f"{HOUSEHOLD}/noah", "sed": "S072"}, "effect": "silent"}

pytestmark = pytest.mark.slow


@asynccontextmanager
async def system_under_test(directory: Path, log: Path) -> AsyncIterator[str]:
    """The tester's CNS in its own process, its test clock at START; yields its base URL."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SUT / "cns.py"), "--directory", str(directory), "--clock", START,
            stdout=out, stderr=out,
        )  # fmt: skip
    endpoint = urlsplit(load_directory(directory).get(CNS).endpoint)
    try:
        await logged(log, "listening on")
        yield f"http://{endpoint.netloc}"
    finally:
        proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()


@asynccontextmanager
async def eessi_up(directory: Path, db: Path) -> AsyncIterator[None]:
    """``eessi up`` of the tester's directory (the CNS is theirs: only the fund runs here)."""
    async with eessi_up_process(
        "--directory", str(directory), "--institution", FR,
        "--db-dir", str(db), "--virtual-clock", START, "--tick", "0", "--seed", "3",
    ):  # fmt: skip
        yield


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    async with http.request(method, url, json=body) as resp:
        answer = await resp.json()
        assert resp.status < 300, (url, resp.status, answer)
        return answer


async def eventually(check: Any, within: float = 30.0) -> Any:
    async with asyncio.timeout(within):
        # another process's state, over HTTP: nothing to wait on but asking again
        while not (found := await check()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return found


async def the_journey(http: aiohttp.ClientSession, fund: str, sut: str, log: Path) -> None:
    """What the tester does over HTTP, as docs/admin-api.md and docs/mock-behaviours.md say:
    a per-person rule, two requests, the clock moved, the system's reminder."""
    rule = await call(http, "POST", f"{fund}/api/mock/rules", SILENT_FOR_NOAH)
    assert rule["added"][0]["match"]["person"] == f"{HOUSEHOLD}/noah"
    cases = {}
    for member in ("marie", "noah"):
        body = {"kind": "request_entitlement", "person": f"{HOUSEHOLD}/{member}", "to": CNS}
        cases[member] = (await call(http, "POST", f"{fund}/api/requests", body))["cases"][0]
    for case in cases.values():
        await logged(log, f"received S071 {case} from {FR}")
        await logged(log, f"sent S072 {case} to {FR}")

    async def completed() -> bool:
        return (await call(http, "GET", f"{fund}/api/cases/{cases['marie']}"))["state"] == (
            "completed"
        )

    await eventually(completed)  # R17: Marie's S073 went back to the system
    await logged(log, f"received S073 {cases['marie']} from {FR}")

    moved = await call(http, "POST", f"{fund}/api/clock", {"advance": "P61D"})
    assert moved["now"].startswith("2026-03-07")
    reminded = await call(http, "POST", f"{sut}/test/clock", {"now": moved["now"]})
    assert reminded["reminded"] == [cases["noah"]]  # Marie's S073 came: only Noah is reminded
    await logged(log, f"sent X009 {cases['noah']} to {FR}")

    async def x009_in() -> bool:
        page = await call(http, "GET", f"{fund}/api/messages?case={cases['noah']}&direction=in")
        return "X009" in [m["sed_type"] for m in page["items"]]

    await eventually(x009_in)
    page = await call(http, "GET", f"{fund}/api/messages?case={cases['noah']}&direction=out")
    assert [m["sed_type"] for m in page["items"]] == ["S071"]  # silent: no S073 for Noah


def export_and_replay(journals: list[Path], directory: Path, where: Path) -> dict[str, Any]:
    """``eessi trace export`` then ``eessi replay --json``, as a tester types them."""
    import subprocess

    trace = where / "journey.jsonl"
    export = [sys.executable, "-m", "eessi", "trace", "export", "--directory", str(directory)]
    for journal in journals:
        export += ["--journal", str(journal)]
    done = subprocess.run([*export, "-o", str(trace)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    header = json.loads(trace.read_text(encoding="utf-8").splitlines()[0])
    config = header["config"]
    assert HOUSEHOLD in [h["id"] for h in config["households"]]
    changes = config["mocks"][FR]["changes"]
    assert [c["data"]["rule"]["match"] for c in changes if c["kind"] == "rule-added"] == [
        SILENT_FOR_NOAH["match"]
    ] or any(r["match"] == SILENT_FOR_NOAH["match"] for r in config["mocks"][FR]["rules"])
    replay = subprocess.run(
        [sys.executable, "-m", "eessi", "replay", str(trace), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(replay.stdout)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    # The fund's rules are what the replay needed: without them Noah's S073 is sent now.
    no_rules = where / "no-rules.json"
    no_rules.write_text(json.dumps({"mocks": {}}), encoding="utf-8")
    bare = subprocess.run(
        [sys.executable, "-m", "eessi", "replay", str(trace), "--json", "--config", str(no_rules)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bare.returncode == 1, bare.stdout + bare.stderr
    extra = [d for d in json.loads(bare.stdout)["divergences"] if d["kind"] == "extra"]
    assert [(d["sed"], d["sender"]) for d in extra] == [("S073", FR)]
    return result


async def test_journey_against_eessi_up_R17_X009_after_POST_api_clock_per_person_rule_replayed(
    tmp_path: Path,
) -> None:
    directory = directory_with_external_cns(tmp_path)
    unsecured_pmodes_beside(directory)  # the tester's CNS speaks AS4 without WS-Security
    fund = "http://" + urlsplit(load_directory(directory).get(FR).endpoint).netloc
    log, db = tmp_path / "sut.log", tmp_path / "journals"
    async with (
        system_under_test(directory, log) as sut,
        eessi_up(directory, db),
        aiohttp.ClientSession() as http,
    ):
        await the_journey(http, fund, sut, log)
    result = await asyncio.to_thread(
        export_and_replay, [db / "FR-CPAM5701.sqlite"], directory, tmp_path
    )
    assert result["ok"] is True
    assert result["divergences"] == []
    # Every document the fund sent was sent again: S071 x2, S073 for Marie (and its answer to
    # the X009, if its policy answers one).
    assert result["recorded_messages"] == result["paired"] >= 3
    assert result["sides"] == [FR]


async def test_journey_against_the_pytest_plugin_R17_X009_per_person_rule_replayed(
    eessi_network: NetworkFactory, tmp_path: Path
) -> None:
    from datetime import datetime

    from eessi.node.inputs import RequestEntitlement

    directory = directory_with_external_cns(tmp_path)
    unsecured_pmodes_beside(directory)  # the tester's CNS speaks AS4 without WS-Security
    log = tmp_path / "sut.log"
    async with system_under_test(directory, log) as sut:
        network = eessi_network(
            cns=False,
            mocks=[FR],
            households=["cross-border-france"],
            behaviours={FR: [SILENT_FOR_NOAH]},  # the per-person rule, as docs/pytest-plugin.md
            directory=directory,
            fixed_ports=True,
            external_within=30,
            start=datetime.fromisoformat(START),
        )
        async with network as net, aiohttp.ClientSession() as http:
            for member in ("marie", "noah"):
                await net.submit(FR, RequestEntitlement(f"{HOUSEHOLD}/{member}", to=CNS))
            marie, noah = (net.case_of(FR, m) for m in ("marie", "noah"))
            await net.wait_case_state(FR, marie, "completed", within=30)  # R17
            await logged(log, f"received S073 {marie} from {FR}")
            await logged(log, f"sent S072 {noah} to {FR}")
            fund = "http://" + urlsplit(net.url(FR)).netloc
            moved = await call(http, "POST", f"{fund}/api/clock", {"advance": "P61D"})
            reminded = await call(http, "POST", f"{sut}/test/clock", {"now": moved["now"]})
            assert reminded["reminded"] == [noah]
            (x009,) = await net.mocks.wait_received(FR, case=noah, sed="X009", within=30)
            assert x009.sender == CNS
            await net.idle()
            assert [x.sed for x in await net.messages(case=noah, sender=FR)] == ["S071"]
            workdir = net.world.workdir
    result = await asyncio.to_thread(
        export_and_replay, sorted(workdir.glob("*.sqlite")), directory, tmp_path
    )
    assert result["ok"] is True
    assert result["divergences"] == []
    assert result["recorded_messages"] == result["paired"] >= 3
