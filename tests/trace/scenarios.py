"""Recorded demo scenarios for the replay tests (not a test module)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eessi.clock import VirtualClock
from eessi.core.messages import CoInsuranceRequested
from eessi.directory import load_default_directory
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution
from eessi.trace.format import Trace
from eessi.trace.record import record
from eessi.trace.runconfig import run_config

ROOT = Path(__file__).resolve().parents[2]
CNS = "LU:CNS00001"
PT = "PT:ISS00001"
DE = "DE:TKK00001"


def example_households() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "examples" / "households").glob("*.json"))
    ]


async def _r17(insts: Mapping[str, Institution], clock: VirtualClock) -> None:
    del clock
    await insts[PT].submit(RequestEntitlement(person="silva-luxembourg/ana"))
    await insts[PT].submit(RequestEntitlement(person="silva-luxembourg/rui"))


async def r17_demo(workdir: Path) -> Trace:
    """The Portuguese fund asks the CNS for Ana's and Rui's S072 (R17); S073s come back."""
    return await record(
        load_default_directory(), run_config(example_households(), seed=1), _r17, workdir
    )


#: A resident student son (22) who arrived from Germany, with 1000 EUR/month of resources:
#: under the default R9 threshold, so the CNS asks the German fund for his periods (S040).
STUDENT: dict[str, Any] = {
    "format": "eessi-household/1",
    "id": "weber-strassen",
    "main_insured": [
        {
            "id": "paul",
            "pin": "1975020312345",
            "name": "Paul Weber",
            "date_of_birth": "1975-02-03",
            "affiliated_since": "2005-01-01",
        }
    ],
    "members": [
        {
            "id": "ben",
            "name": "Ben Weber",
            "relation": "child",
            "child_kind": "legitimate",
            "date_of_birth": "2004-05-01",
            "monthly_resources": "1000.00",
            "arrived_on": "2026-01-15",
            "rnpp_registered": True,
            "lives_with": ["paul"],
            "former_insurance": {
                "country": "DE",
                "basis": "personal",
                "fund_id": DE,
                "foreign_number": "B123456789",
                "until": "2026-01-14",
            },
        }
    ],
}


async def _r5(insts: Mapping[str, Institution], clock: VirtualClock) -> None:
    del clock
    await insts[CNS].submit(CoInsuranceRequested(main_insured_pin="1975020312345", member="ben"))


async def r5_student(workdir: Path) -> Trace:
    """R5/R9: the CNS asks the former German fund (S040), which answers (S041)."""
    return await record(load_default_directory(), run_config([STUDENT], seed=2), _r5, workdir)


def silva_clones(n: int) -> list[dict[str, Any]]:
    """``n`` copies of the R17 household (other IDs and PINs), for busier recordings."""
    base = json.loads(
        (ROOT / "examples/households/resident-with-family-abroad.json").read_text(encoding="utf-8")
    )
    out = []
    for i in range(n):
        h = json.loads(json.dumps(base))
        h["id"] = f"silva-{i:05d}"
        h.pop("facts", None)
        h["main_insured"][0]["pin"] = f"1978072{i:06d}"
        out.append(h)
    return out


async def busy_r17(workdir: Path, n: int = 6) -> Trace:
    """``2 n`` R17 cases asked for back to back: receipts and desk steps interleave."""

    async def script(insts: Mapping[str, Institution], clock: VirtualClock) -> None:
        del clock
        for i in range(n):
            await insts[PT].submit(RequestEntitlement(person=f"silva-{i:05d}/ana"))
            await insts[PT].submit(RequestEntitlement(person=f"silva-{i:05d}/rui"))

    return await record(
        load_default_directory(),
        run_config(silva_clones(n), seed=5),
        script,
        workdir,
        ids=[CNS, PT],
    )
