"""Bench: one CNS desk holding 1,000 and 100,000 open cases: CPU per input and memory.

Goal (issue 13, "Scale"): with 100,000 open cases in one node, the CPU per input within 20 %
of the CPU per input with 1,000 open cases, and the process's resident memory under 300 MB.

    .venv/bin/python bench/scale.py [--sizes 1000,100000] [--runs 3] [--inputs 2000]

**What runs.** Each run is a fresh process (so its memory is its own). It builds the CNS's
registry of N + ``--inputs`` households (R17: main insured in LU, spouse living in Portugal,
in the RNPP; the registry keeps them, the bench keeps no copy: it makes a household again
when the fund needs it) and the CNS desk (:class:`~eessi.core.cns.CnsDesk`, the desk a CNS
node runs),
then opens N cases: for each household a fund desk (:class:`~eessi.core.fund.FundDesk`, one
per thousand households, dropped afterwards: it stands for the foreign node) asks with an
S071, the CNS receives it and answers with an S072; the fund never confirms, so each case
stays open at the CNS, awaiting the S073 with a reminder due. No XML and no journal: the SED
dataclasses are handed over as decoded documents (what the node gives its desk), so the figures
are the desk's and its state's, the part of a node that grows with the cases it holds.
**Measured:** the resident memory (``VmRSS``, ``/proc/self/status``) once the N cases are open
(after a full ``gc.collect()``), and what it was before the first case (code and registry):
the difference per open case; then ``--inputs`` whole flows more (S071 in, S072 out, the
fund registers, S073 in; a ``TimePassed`` every 50 flows, nothing due: the cost of looking),
timing the CNS desk's ``handle`` calls only (``time.process_time``: this process's user +
system CPU, the counters of ``/proc/self/stat``), per input.

**Baseline, same run:** the same with 1,000 open cases; ratio = CPU per input at N / at 1,000
(goal at most 1.2). Figures are min / median / max of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.desk import CNS, CNS_ID, FUND_ID, START, household  # noqa: E402
from eessi.clock import VirtualClock  # noqa: E402
from eessi.core.cns import CnsDesk  # noqa: E402
from eessi.core.fund import FundDesk, FundPolicy, FundRecord  # noqa: E402
from eessi.core.mapping import entitlement_parts  # noqa: E402
from eessi.core.messages import RequestEntitlement, TimePassed  # noqa: E402
from eessi.core.registry import CnsRegistry  # noqa: E402
from eessi.ids import SeededIds  # noqa: E402

#: Households per fund desk (a fund desk is dropped once its S071s are out).
CHUNK = 1_000
TICK_EVERY = 50
#: Flows run first, untimed (their cases end completed, not open).
WARM_UP = 200


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def one(n: int, inputs: int) -> dict[str, float]:
    """One run (in this process): open ``n`` cases, then time ``inputs`` more."""
    clock = VirtualClock(START)
    registry = CnsRegistry(household(i) for i in range(n + inputs + WARM_UP))
    cns = CnsDesk(CNS_ID, registry, clock, SeededIds(1))
    policy = FundPolicy(auto_register=False)

    def records(first: int, last: int) -> list[FundRecord]:
        """The fund's records of households ``first`` to ``last`` (the fund's, not the CNS's:
        made per chunk, from the households made again, and dropped with the fund desk)."""
        out = []
        for e in (household(i) for i in range(first, last)):
            person, address, status = entitlement_parts(e, "spouse", CNS)
            out.append(FundRecord(key=e.key, person=person, address=address, status=status))
        return out

    gc.collect()
    before = rss_bytes()  # the registry, the code; the warm-up's few cases come after

    def open_cases(first: int, last: int) -> None:
        """Cases ``first`` to ``last``: S071 in, S072 out, left open (the fund never answers)."""
        for start in range(first, last, CHUNK):
            chunk = records(start, min(start + CHUNK, last))
            fund = FundDesk(FUND_ID, chunk, clock, SeededIds(1_000 + start), policy)
            for rec in chunk:
                (out,) = fund.handle(RequestEntitlement(rec.key, CNS_ID)).outgoing
                cns.handle(out.received_by_peer(FUND_ID))

    def timed_flows(first: int, last: int) -> tuple[float, int]:
        """Whole flows for households ``first`` to ``last`` (S071, S072, S073: the fund
        registers), a ``TimePassed`` every 50: the CNS's CPU seconds and inputs."""
        cpu, handled = 0.0, 0
        for start in range(first, last, CHUNK):
            chunk = records(start, min(start + CHUNK, last))
            fund = FundDesk(FUND_ID, chunk, clock, SeededIds(1_000 + start))
            for i, rec in enumerate(chunk, start):
                pending = [o for o in fund.handle(RequestEntitlement(rec.key, CNS_ID)).outgoing]
                while pending:
                    out = pending.pop(0)
                    if out.receiver == CNS_ID:
                        t = time.process_time()
                        step = cns.handle(out.received_by_peer(FUND_ID))
                        cpu += time.process_time() - t
                        handled += 1
                    else:
                        step = fund.handle(out.received_by_peer(CNS_ID))
                    pending.extend(step.outgoing)
                if (i + 1) % TICK_EVERY == 0:
                    clock.advance(timedelta(seconds=1))
                    t = time.process_time()
                    cns.handle(TimePassed(clock.now()))
                    cpu += time.process_time() - t
                    handled += 1
        return cpu, handled

    timed_flows(n + inputs, n + inputs + WARM_UP)  # caches warm, as in a running node
    open_cases(0, n)
    gc.collect()
    held = rss_bytes()
    cases = len(cns.snapshot().cases)
    cpu, handled = timed_flows(n, n + inputs)
    open_now = sum(1 for cf in cns.snapshot().cases.values() if cf.state.value != "completed")
    return {
        "cases": cases,
        "open": open_now,
        "inputs": handled,
        "cpu_per_input": cpu / handled,
        "rss_before": before,
        "rss": held,
    }


def run_one(n: int, inputs: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(n), "--inputs", str(inputs)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def figures(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=2_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.inputs)))
        return
    load = os.getloadavg()
    print(f"scale benchmark: load average {load[0]:.2f} {load[1]:.2f}, {os.cpu_count()} CPUs")
    print(
        f"{'open':>8}  {'µs CPU per input: min / median / max':>38}  {'ratio':>5}"
        f"  {'RSS MB: min / median / max':>28}  {'KB per open case':>16}"
    )
    baseline: float | None = None
    for n in (int(s) for s in args.sizes.split(",")):
        runs = [run_one(n, args.inputs) for _ in range(args.runs)]
        if any(r["open"] < n for r in runs):
            raise SystemExit(f"fewer than {n} cases stayed open: {runs}")
        cpu = [r["cpu_per_input"] * 1e6 for r in runs]
        median = statistics.median(cpu)
        baseline = baseline or median
        rss = [r["rss"] / 1e6 for r in runs]
        per_case = [(r["rss"] - r["rss_before"]) / n / 1e3 for r in runs]
        print(
            f"{n:>8,}  {figures(cpu, '.1f'):>38}  {median / baseline:>5.2f}"
            f"  {figures(rss, '.0f'):>28}  {figures(per_case, '.2f'):>16}",
            flush=True,
        )
    print(
        f"baseline: the first size ({args.sizes.split(',')[0]} open cases) in the same run;"
        " goal: ratio at most 1.20 and RSS under 300 MB at 100,000 open cases"
    )


if __name__ == "__main__":
    main()
