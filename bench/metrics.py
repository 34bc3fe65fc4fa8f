"""Benchmark: what the logs-and-metrics layer costs, in CPU per SED, metrics on against off.

Run: ``.venv/bin/python bench/metrics.py [--cases N] [--rounds R]``.

The CNS and the French mock fund run in this process (an :class:`eessi.node.network.Network`
on loopback ports, SQLite journals with ``synchronous=NORMAL`` in a temporary directory),
``N`` generated households (R17: a spouse living in France, in the RNPP) given to both. The
fund asks for each spouse's S072 (``RequestEntitlement``, all submitted at once); each case is
the fund's S071, the CNS's S072 and the fund's automatic S073, validated, journaled and
receipted on both sides. A round is over when the network is idle.

* **off** (the bare baseline, same run): the nodes as ``eessi serve`` builds them without
  :func:`eessi.ops.observe.instrument`;
* **on**: every node instrumented as ``eessi serve``/``eessi up`` do (the observed journal,
  counters and histograms, ``/metrics``), at the default log level (``WARNING``: the message
  lines are built only when enabled, so this is the metrics' cost).

CPU is this process's user + system time from ``/proc/self/stat`` (both nodes, the client and
the journal threads), from the first request to idle, divided by the SEDs exchanged (3 per
case). The modes alternate, ``R`` rounds each (default 3); printed: min/median/max per mode,
and the ratio on/off of the medians. After each "on" round the scraped counters are checked
against the journals (each SED counted once out, once in).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exchange import write_households
from prometheus_client.parser import text_string_to_metric_families

from eessi.directory import load_default_directory
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import Institution, NodeOptions
from eessi.node.network import Network, directory_on_ports, free_port_run
from eessi.ops.logs import configure_logging
from eessi.ops.metrics import NodeMetrics
from eessi.ops.observe import instrument

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
SEDS_PER_CASE = 3


def cpu_seconds() -> float:
    """User + system CPU of this process so far, from /proc (all its threads)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


async def one_round(cases: int, households: Path, metrics_on: bool) -> float:
    """CPU seconds per SED of ``cases`` R17 cases between the CNS and the French fund."""
    directory = load_default_directory()
    directory = directory_on_ports(directory, free_port_run(len(directory)))
    scraped: list[NodeMetrics] = []

    def prepare(inst: Institution) -> None:
        if metrics_on:
            scraped.append(instrument(inst))

    with tempfile.TemporaryDirectory(prefix="eessi-bench-metrics-") as tmp:
        network = Network(
            directory,
            tmp,
            ids=[CNS, FR],
            households_dir=households,
            seed=7,
            options=NodeOptions(),
            synchronous="NORMAL",
            prepare=prepare,
        )
        await network.start()
        try:
            fund = network[FR]
            before = cpu_seconds()
            await asyncio.gather(
                *(fund.submit(RequestEntitlement(f"bench-{i:05d}/spouse")) for i in range(cases))
            )
            async with asyncio.timeout(600):
                await network.idle()
            spent = cpu_seconds() - before
            for ir_id in (CNS, FR):
                statuses = {m.status.value for m in await network[ir_id].journal.messages()}
                assert statuses <= {"processed", "acknowledged"}, (ir_id, statuses)
        finally:
            await network.stop()
    if metrics_on:
        counted = 0.0
        for m in scraped:
            for family in text_string_to_metric_families(m.exposition().decode()):
                if family.name == "eessi_messages":
                    counted += sum(s.value for s in family.samples if s.name.endswith("_total"))
        assert counted == 2 * SEDS_PER_CASE * cases, counted  # each SED out once, in once
    return spent / (SEDS_PER_CASE * cases)


def summary(values: list[float]) -> str:
    us = [v * 1e6 for v in values]
    return f"min {min(us):7.1f}  median {statistics.median(us):7.1f}  max {max(us):7.1f} µs"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING")
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="eessi-bench-households-") as tmp:
        households = write_households(Path(tmp), args.cases)
        await one_round(min(20, args.cases), households, True)  # warm-up: imports, schemas
        for _ in range(args.rounds):
            for on in (False, True):
                results[on].append(await one_round(args.cases, households, on))
    print(
        f"metrics cost: {args.cases} R17 cases ({SEDS_PER_CASE * args.cases} SEDs) per round,"
        f" {args.rounds} rounds per mode, CPU of the whole process per SED"
    )
    print(f"  metrics off (baseline): {summary(results[False])}")
    print(f"  metrics on:             {summary(results[True])}")
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(f"  ratio on/off (medians): {on / off:.3f}  ({(on - off) * 1e6:+.1f} µs per SED)")


if __name__ == "__main__":
    asyncio.run(main())
