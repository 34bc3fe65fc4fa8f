"""The desk views of a shared institution, the same on every process (issue 17, D195): two
``eessi serve --shared`` processes of the CNS on one PostgreSQL journal, each on its own port,
own two partitions each; requests about eight households (in every partition) go to one of
them. Asked of either process, ``GET /api/households`` shows every household's registration,
``/metrics`` the institution's open cases and outbox depth (and the process's own share of the
partitions), and ``GET /api/cases`` every case: not only what the partitions the process owns
hold. Real processes, a real server; nothing here times performance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_process import call
from serve_support import CNS, cross_border_households, start_shared

from eessi.node.partitions import partition_of

pytestmark = pytest.mark.slow

HOUSEHOLDS = 8
PARTS = 4  # two each


def scrape(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_every_process_answers_the_institutions_desk_views(
    tmp_path: Path, postgres_url: str
) -> None:
    households = cross_border_households(tmp_path, HOUSEHOLDS)
    assert len({partition_of(f"ops-{n:05d}", PARTS) for n in range(HOUSEHOLDS)}) == PARTS
    nodes = await start_shared(
        tmp_path, postgres_url, PARTS, "--households", households,
        "--retry-attempts", "50", "--retry-delay", "0.5",
    )  # fmt: skip
    asked = nodes[0]
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(HOUSEHOLDS):  # all to one process: half run by the other's desks
                for body in (
                    {"kind": "issue_entitlement", "person": f"ops-{n:05d}/main"},
                    {
                        "kind": "co_insurance_request",
                        "main_insured_pin": f"19800101{n:05d}",
                        "member": "spouse",
                    },
                    {  # the main insured lives abroad: the service decides (R18)
                        "kind": "service_decision",
                        "main_insured_pin": f"19800101{n:05d}",
                        "member": "spouse",
                        "approved": True,
                    },
                ):
                    status, answer = await call(session, "POST", asked.url + "/api/requests", body)
                    assert status == 202, answer
            views: list[dict[str, Any]] = []
            for node in nodes:
                status, page = await call(session, "GET", node.url + "/api/households?limit=500")
                assert status == 200, page
                status, cases = await call(session, "GET", node.url + "/api/cases?limit=500")
                assert status == 200, cases
                async with session.get(node.url + "/metrics") as resp:
                    assert resp.status == 200, await resp.text()
                    metrics = scrape(await resp.text())
                views.append({"households": page, "cases": cases, "metrics": metrics})
    finally:
        for node in nodes:
            code, _ = await node.terminate()
            assert code == 0, node.output()

    for view in views:
        registered = {
            hh["key"]: [m["registration"] for m in hh["members"]]
            for hh in view["households"]["items"]
            if hh["key"].startswith("ops-")
        }
        assert len(registered) == HOUSEHOLDS
        # every spouse's registration, whichever process's desk decided it
        assert all(regs[0] is not None for regs in registered.values()), registered
        assert len(view["cases"]["items"]) == HOUSEHOLDS  # one S_BUC_01A case each
        open_cases = view["metrics"]["eessi_open_cases"]
        assert sum(open_cases.values()) == HOUSEHOLDS, open_cases
        assert view["metrics"]["eessi_outbox_depth"] == {(("institution", CNS),): HOUSEHOLDS}
        assert view["metrics"]["eessi_partitions_owned"] == {(("institution", CNS),): PARTS / 2}
    assert views[0]["households"] == views[1]["households"]
    assert views[0]["metrics"]["eessi_open_cases"] == views[1]["metrics"]["eessi_open_cases"]
