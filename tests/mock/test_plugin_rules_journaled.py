"""A rule a test adds with the pytest plugin's ``net.add_rule`` is journaled like one set over
the admin API (issue 12.4): a node started again on the fund's journal still applies it, ``GET
/api/mock/rules`` says it came from a test, and ``eessi trace export`` carries it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from eessi.cli import main
from eessi.directory import load_default_directory
from eessi.mock.wiring import enable_mock, mock_controller
from eessi.node.inputs import RequestEntitlement
from eessi.node.network import journal_file_name, loopback_directory, open_institution
from eessi.trace.format import read_trace

from .kit import CNS, FR, MARIE

SILENT_S072 = {"id": "quiet", "match": {"sed": "S072"}, "effect": "silent"}


async def test_a_rule_added_with_net_add_rule_survives_a_restart_and_is_in_the_export(
    eessi_network: Any, tmp_path: Path
) -> None:
    async with eessi_network(mocks=[FR]) as net:
        net.add_rule(FR, SILENT_S072)
        await net.submit(FR, RequestEntitlement(MARIE, to=CNS))
        sent = [(m.direction.value, m.sed_type) for m in await net[FR].journal.messages()]
        assert sent == [("out", "S071"), ("in", "S072")]  # silent: no S073
    db = tmp_path / "eessi-network-1" / journal_file_name(FR)

    # The fund started again on its journal, with nothing kept in memory (a new process).
    directory = loopback_directory(load_default_directory(), [FR])
    node = await open_institution(directory.get(FR), directory, db, seed=0)
    try:
        enable_mock(node, mock_controller())
        await node.start()
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/mock/rules") as r:
            rules = (await r.json())["rules"]
        assert [(r["id"], r["origin"], r["effect"]) for r in rules] == [
            ("quiet", "test", {"kind": "silent"})
        ]
        assert rules[0]["added_at"] is not None
    finally:
        await node.stop()
        await node.journal.close()

    out = tmp_path / "run.jsonl"
    export = ["trace", "export", "--journal", str(db), "-o", str(out)]
    assert await asyncio.to_thread(main, export) == 0  # the CLI runs its own event loop
    changes = read_trace(out).header.config["mocks"][FR]["changes"]
    assert [(c["kind"], c["data"]["rule"]["id"], c["data"]["rule"]["origin"]) for c in changes] == [
        ("rule-added", "quiet", "test")
    ]
