"""``eessi up`` as a real process: it prints the dashboard's URL, and that one page lists every
institution it runs, the mock funds with their routes (stopped with SIGINT, it exits 0)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from up_process import eessi_up_process

from eessi.node.network import free_port_run

pytestmark = pytest.mark.slow

CNS, FR, PT = "LU:CNS00001", "FR:CPAM5701", "PT:ISS00001"


async def test_eessi_up_prints_one_dashboard_url_for_the_whole_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    async with eessi_up_process(
        "--port-base", str(free_port_run(8)), "--db-dir", str(tmp_path), "--tick", "0",
        "--institution", CNS, "--institution", FR, "--institution", PT,
    ) as lines:  # fmt: skip
        [url] = [ln.split()[1] for ln in lines if ln.split()[:1] == ["dashboard:"]]
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200
                assert "<title>eessi-sim dashboard</title>" in await resp.text()
            async with http.get(url + "data/network") as resp:
                network = await resp.json()
            async with http.get(url + "static/app.js") as resp:
                assert resp.status == 200  # served from the package: nothing fetched elsewhere
        assert [(i["id"], i["mock_api"]) for i in network["institutions"]] == [
            (CNS, False),
            (FR, True),
            (PT, True),
        ]
