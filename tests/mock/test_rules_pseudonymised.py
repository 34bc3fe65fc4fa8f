"""``eessi trace export --pseudonymise`` leaves no personal data in a mock fund's rules (issue
12 leftover): the PIN a person rule names, the PIN in an XPath's literal and the record key are
replaced, each as the same value is in the documents and households, so the rules still name
the same (pseudonymised) person."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from eessi.cli import main
from eessi.node.inputs import RequestEntitlement
from eessi.node.network import journal_file_name
from eessi.trace.format import read_trace

from .kit import CNS, FR, MARIE

#: Luc Martin's matricule: the main insured named in the S071 and S072 about Marie.
PIN = "1985080812345"
PIN_XPATH = f"//*[local-name()='personalIdentificationNumber'][.='{PIN}']"


async def test_the_pseudonymised_export_replaces_the_personal_data_in_mock_rules(
    eessi_network: Any, tmp_path: Path
) -> None:
    async with eessi_network(mocks=[FR]) as net:
        net.add_rule(FR, {"id": "by-key", "match": {"person": MARIE, "sed": "S072"},
                          "effect": "silent"})  # fmt: skip
        net.add_rule(FR, {"id": "by-pin", "match": {"person": PIN, "sed": "X009"},
                          "effect": "close"})  # fmt: skip
        net.add_rule(FR, {"id": "by-xpath", "match": {"xpath": PIN_XPATH, "sed": "X001"},
                          "effect": "silent"})  # fmt: skip
        await net.submit(FR, RequestEntitlement(MARIE, to=CNS))
        sent = [(m.direction.value, m.sed_type) for m in await net[FR].journal.messages()]
        assert sent == [("out", "S071"), ("in", "S072")]  # the person rule held the S073 back
    run = tmp_path / "eessi-network-1"
    out = tmp_path / "shared.jsonl"
    export = ["trace", "export", "--pseudonymise", "-o", str(out)]
    for ir_id in (CNS, FR):
        export += ["--journal", str(run / journal_file_name(ir_id))]
    assert await asyncio.to_thread(main, export) == 0  # the CLI runs its own event loop

    text = out.read_text(encoding="utf-8")
    assert PIN not in text
    assert MARIE not in text
    trace = read_trace(out)
    changes = trace.header.config["mocks"][FR]["changes"]
    rules = {c["data"]["rule"]["id"]: c["data"]["rule"]["match"] for c in changes}
    assert set(rules) == {"by-pin", "by-key", "by-xpath"}
    # The same pseudonym as in the documents: the rule still names that person.
    s072 = next(m.record.payload for m in trace.messages if m.record.sed_type == "S072")
    found = re.search(rb"personalIdentificationNumber>(\d+)<", s072)
    assert found is not None
    pseudo_pin = found.group(1).decode()
    assert rules["by-pin"]["person"] == pseudo_pin != PIN
    assert rules["by-xpath"]["xpath"] == PIN_XPATH.replace(PIN, pseudo_pin)
    household, member = rules["by-key"]["person"].split("/")
    households = trace.header.config["households"]
    ours = [h for h in households if h["id"] == household]
    assert len(ours) == 1  # the household of the pseudonymised configuration
    assert member in [m["id"] for m in ours[0]["members"]]
