"""Bench: the co-insurance desks in process, per input, as the number of cases grows.

N complete R17 flows run between the CNS desk and one foreign fund desk, no XML: the fund asks
(S071), the CNS answers (S072), the fund registers (S073), the CNS registers the member; every
``--tick-every`` flows both desks are told that time passed (nothing is due: the cost of
looking). The SED dataclasses are handed over directly. The cost per input should not depend
on N (the goal: flat µs per input for N = 500, 2,000, 10,000).

Baseline in the same run: building the SED dataclasses of one flow (S071, S072, S073), which
is what any desk must at least do per flow.

    .venv/bin/python bench/desk.py [--sizes 500 2000 10000] [--tick-every 50] [--rounds 2]

Times are CPU time of this process (``time.process_time``), best of ``--rounds``: on a shared
machine that is steadier than wall time.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, date, datetime, timedelta

from eessi.clock import VirtualClock
from eessi.core.cns import CnsDesk
from eessi.core.fund import FundDesk, FundRecord
from eessi.core.household import FamilyMember, Household, MainInsured, Relation
from eessi.core.mapping import entitlement_parts
from eessi.core.messages import Outgoing, RequestEntitlement, TimePassed
from eessi.core.registry import CnsRegistry, RegistryEntry
from eessi.ids import SeededIds
from eessi.sed.documents import S071, S072, S073, SedReference
from eessi.sed.model import Address, EuAddress, Institution, OpenPeriod, OpenPeriodType, Sex

CNS_ID = "LU:CNS00001"
CNS = Institution(id=CNS_ID, name="Caisse nationale de santé")
FUND_ID = "PT:ISS00001"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def household(i: int) -> RegistryEntry:
    key = f"h{i:06d}"
    main = MainInsured(
        id="main",
        pin=f"1978{i:09d}",
        name=f"Joao Silva{i}",
        date_of_birth=date(1978, 7, 27),
        affiliated_since=date(2025, 9, 1),
    )
    spouse = FamilyMember(
        id="spouse",
        name=f"Ana Silva{i}",
        relation=Relation.SPOUSE,
        date_of_birth=date(1980, 3, 9),
        relation_since=date(2003, 10, 11),
        country_of_residence="PT",
        rnpp_registered=True,
    )
    home = EuAddress(street="Rua das Flores 12", town="Braga", postal_code="4700-001", country="PT")
    return RegistryEntry(
        Household(id=key, main_insured=(main,), members=(spouse,)),
        address=Address(
            street="rue de la Gare 3", town="Luxembourg", postal_code="1611", country="LU"
        ),
        member_addresses={"spouse": home},
        sexes={"main": Sex.MALE, "spouse": Sex.FEMALE},
    )


def run(n: int, tick_every: int) -> tuple[float, int, int]:
    """Seconds, inputs handled, registrations at the end."""
    entries = [household(i) for i in range(n)]
    records = []
    for e in entries:
        person, address, status = entitlement_parts(e, "spouse", CNS)
        records.append(FundRecord(key=e.key, person=person, address=address, status=status))
    clock = VirtualClock(START)
    cns = CnsDesk(CNS_ID, CnsRegistry(entries), clock, SeededIds(1))
    fund = FundDesk(FUND_ID, records, clock, SeededIds(2))
    inputs = 0
    gc.collect()
    t = time.process_time()
    for i, rec in enumerate(records):
        pending: list[tuple[str, Outgoing]] = [
            (FUND_ID, o) for o in fund.handle(RequestEntitlement(rec.key, CNS_ID)).outgoing
        ]
        inputs += 1
        while pending:
            sender, out = pending.pop(0)
            if out.receiver == CNS_ID:
                step = cns.handle(out.received_by_peer(sender))
                pending.extend((CNS_ID, o) for o in step.outgoing)
            else:
                step = fund.handle(out.received_by_peer(sender))
                pending.extend((FUND_ID, o) for o in step.outgoing)
            inputs += 1
        if (i + 1) % tick_every == 0:
            clock.advance(timedelta(minutes=1))
            cns.handle(TimePassed(clock.now()))
            fund.handle(TimePassed(clock.now()))
            inputs += 2
    elapsed = time.process_time() - t
    return elapsed, inputs, len(cns.registrations)


def baseline(rounds: int) -> float:
    """Seconds per flow to build its three SEDs (the bare minimum of a flow)."""
    e = household(0)
    person, address, status = entitlement_parts(e, "spouse", CNS)
    period = OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=date(2026, 3, 2))
    ref = SedReference(
        sed_type="S072", sed_id="0f8fad5b-d9cb-469f-a165-70867728950e", sed_version=1
    )
    t = time.process_time()
    for _ in range(rounds):
        s071 = S071(person=person, address=address, status=status, period=period)
        S072(
            version=s071.version,
            person=person,
            address=address,
            status=status,
            confirmed=True,
            period=period,
        )
        S073(
            version=s071.version,
            person=person,
            reference=ref,
            registered=True,
            registration_date=period.start,
        )
    return (time.process_time() - t) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2_000, 10_000])
    parser.add_argument("--tick-every", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = min(baseline(20_000) for _ in range(args.rounds))
    print(f"baseline: build the SEDs of one flow: {base * 1e6:.1f} µs/flow")
    print(f"{'cases':>8} {'inputs':>8} {'µs/input':>9} {'flows/s':>9} {'x baseline':>10}")
    for n in args.sizes:
        elapsed, inputs, registered = min(run(n, args.tick_every) for _ in range(args.rounds))
        assert registered == n, f"only {registered} of {n} members registered"
        per_flow = elapsed / n
        print(
            f"{n:>8,} {inputs:>8,} {elapsed / inputs * 1e6:>9.1f} {n / elapsed:>9,.0f}"
            f" {per_flow / base:>10.1f}"
        )


if __name__ == "__main__":
    main()
