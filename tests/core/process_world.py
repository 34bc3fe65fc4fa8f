"""A small world for the co-insurance process tests: the CNS, three foreign funds, households,
and a synchronous in-memory loop that hands each desk's outgoing documents to the other."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from eessi.clock import VirtualClock
from eessi.core.cns import CnsDesk, CnsParams
from eessi.core.fund import FundDesk, FundPolicy, FundRecord
from eessi.core.household import (
    ChildKind,
    FamilyMember,
    FormerInsurance,
    Household,
    MainInsured,
    MainInsuredKind,
    Relation,
)
from eessi.core.mapping import entitlement_parts
from eessi.core.messages import Event, Outgoing, Step, Timer
from eessi.core.registry import CnsRegistry, RegistryEntry
from eessi.ids import SeededIds
from eessi.sed.documents import InsurancePeriod, InsuranceType
from eessi.sed.model import Address, EuAddress, FixedPeriod, Institution, Pin, Sex

CNS_ID = "LU:CNS00001"
CNS = Institution(id=CNS_ID, name="Caisse nationale de santé")
PT_FUND = "PT:ISS00001"
FR_FUND = "FR:CPAM5701"
DE_FUND = "DE:TKK00001"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = START.date()


def silva() -> RegistryEntry:
    """R17: main insured in Luxembourg, family in Portugal."""
    household = Household(
        id="silva",
        main_insured=(
            MainInsured(
                id="joao",
                pin="1978072712345",
                name="João Silva",
                date_of_birth=date(1978, 7, 27),
                affiliated_since=date(2025, 9, 1),
            ),
        ),
        members=(
            FamilyMember(
                id="ana",
                name="Ana Silva",
                relation=Relation.SPOUSE,
                date_of_birth=date(1980, 3, 9),
                relation_since=date(2003, 10, 11),
                country_of_residence="PT",
                rnpp_registered=True,
            ),
            FamilyMember(
                id="rui",
                name="Rui Silva",
                relation=Relation.CHILD,
                child_kind=ChildKind.LEGITIMATE,
                date_of_birth=date(2012, 5, 5),
                country_of_residence="PT",
                maintained_by=("joao",),
            ),
            FamilyMember(
                id="bia",
                name="Beatriz Silva",
                relation=Relation.CHILD,
                child_kind=ChildKind.LEGITIMATE,
                date_of_birth=date(2004, 1, 20),
                country_of_residence="PT",
                maintained_by=("joao",),
                insured_in_country_of_residence=True,
            ),
        ),
    )
    home = EuAddress(street="Rua das Flores 12", town="Braga", postal_code="4700-001", country="PT")
    return RegistryEntry(
        household,
        address=Address(
            street="rue de la Gare 3", town="Luxembourg", postal_code="1611", country="LU"
        ),
        member_addresses={"ana": home, "rui": home, "bia": home},
        sexes={"joao": Sex.MALE, "ana": Sex.FEMALE, "rui": Sex.MALE, "bia": Sex.FEMALE},
    )


def martin() -> RegistryEntry:
    """R12-R15: cross-border worker living in France, spouse in the RNPP, baby not."""
    household = Household(
        id="martin",
        main_insured=(
            MainInsured(
                id="luc",
                pin="1985080812345",
                name="Luc Martin",
                date_of_birth=date(1985, 8, 8),
                affiliated_since=date(2015, 3, 1),
                country_of_residence="FR",
            ),
        ),
        members=(
            FamilyMember(
                id="marie",
                name="Marie Martin",
                relation=Relation.SPOUSE,
                date_of_birth=date(1986, 1, 30),
                relation_since=date(2012, 9, 1),
                country_of_residence="FR",
                rnpp_registered=True,
            ),
            FamilyMember(
                id="noah",
                name="Noah Martin",
                relation=Relation.CHILD,
                child_kind=ChildKind.LEGITIMATE,
                date_of_birth=date(2026, 2, 10),
                country_of_residence="FR",
                lives_with=("luc",),
            ),
        ),
    )
    return RegistryEntry(
        household,
        address=Address(
            street="rue Nationale 8", town="Thionville", postal_code="57100", country="FR"
        ),
        sexes={"luc": Sex.MALE, "marie": Sex.FEMALE, "noah": Sex.MALE},
    )


def muller(*, rnpp: bool = True) -> RegistryEntry:
    """R5: the spouse arrived from Germany on 2026-01-15, insured there personally."""
    household = Household(
        id="muller",
        main_insured=(
            MainInsured(
                id="marc",
                pin="1979041512345",
                name="Marc Muller",
                date_of_birth=date(1979, 4, 15),
                affiliated_since=date(2008, 1, 1),
            ),
        ),
        members=(
            FamilyMember(
                id="sofia",
                name="Sofia Muller",
                relation=Relation.SPOUSE,
                date_of_birth=date(1983, 6, 2),
                relation_since=date(2020, 5, 16),
                arrived_on=date(2026, 1, 15),
                rnpp_registered=rnpp,
                former_insurance=FormerInsurance(
                    country="DE",
                    fund_id=DE_FUND,
                    foreign_number="A123456789",
                    until=date(2026, 1, 14),
                ),
            ),
        ),
    )
    return RegistryEntry(
        household,
        address=Address(
            street="route d'Arlon 20", town="Strassen", postal_code="8008", country="LU"
        ),
        sexes={"marc": Sex.MALE, "sofia": Sex.FEMALE},
    )


def weber() -> RegistryEntry:
    """R18: a CNAP pensioner living in France, his wife living in Luxembourg."""
    household = Household(
        id="weber",
        main_insured=(
            MainInsured(
                id="paul",
                pin="1955021212345",
                name="Paul Weber",
                date_of_birth=date(1955, 2, 12),
                affiliated_since=date(2020, 3, 1),
                kind=MainInsuredKind.CNAP_PENSIONER,
                country_of_residence="FR",
            ),
        ),
        members=(
            FamilyMember(
                id="eva",
                name="Eva Weber",
                relation=Relation.SPOUSE,
                date_of_birth=date(1960, 8, 1),
                relation_since=date(1985, 6, 1),
                rnpp_registered=True,
            ),
        ),
    )
    return RegistryEntry(
        household,
        address=Address(street="rue des Jardins 4", town="Yutz", postal_code="57970", country="FR"),
        member_addresses={"eva": EuAddress(street="Grand-Rue 1", town="Remich", country="LU")},
    )


def registry(*entries: RegistryEntry) -> CnsRegistry:
    return CnsRegistry(entries or [silva(), martin(), muller(), weber()])


def fund_records(entry: RegistryEntry, country: str, *members: str) -> list[FundRecord]:
    """What the fund of residence knows of these members (same people, its own view)."""
    out = []
    for m in members:
        person, address, status = entitlement_parts(entry, m, CNS)
        out.append(FundRecord(key=m, person=person, address=address, status=status))
    return out


def de_records() -> list[FundRecord]:
    """The former German fund knows Sofia, insured compulsorily until her departure."""
    entry = muller()
    person, address, status = entitlement_parts(entry, "sofia", CNS)
    person = type(person)(
        family_name=person.family_name,
        forename=person.forename,
        birth_date=person.birth_date,
        sex=person.sex,
        pins=(Pin(country="DE", number="A123456789", sector="06"),),
    )
    period = InsurancePeriod(
        period=FixedPeriod(start=date(2015, 1, 1), end=date(2026, 1, 14)),
        insurance=InsuranceType.COMPULSORY,
    )
    return [FundRecord("sofia", person, address, status, insurance_periods=(period,))]


@dataclass
class World:
    """The CNS and the funds on one virtual clock, with an in-memory delivery loop."""

    clock: VirtualClock = field(default_factory=lambda: VirtualClock(START))
    cns: CnsDesk = field(init=False)
    funds: dict[str, FundDesk] = field(init=False)
    #: Everything each desk emitted, in order: (institution ID, event).
    log: list[tuple[str, Event]] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)
    #: Timers the CNS asked for.
    cns_timers: list[Timer] = field(default_factory=list)
    cns_params: CnsParams | None = None
    policies: dict[str, FundPolicy] = field(default_factory=dict)
    seed: int = 1
    #: Replaces the default registry's households (e.g. a variant of Muller).
    entries: tuple[RegistryEntry, ...] = ()
    #: Replaces the German fund's records.
    de_records: list[FundRecord] | None = None
    #: Deliver without ``answers``, as a runtime that only has the XML would: the desks must
    #: find what a document answers from its own reference blocks.
    strip_answers: bool = False

    def __post_init__(self) -> None:
        reg = registry(*self.entries)
        self.cns = CnsDesk(CNS_ID, reg, self.clock, SeededIds(self.seed), self.cns_params)
        records = {
            PT_FUND: fund_records(silva(), "PT", "ana", "rui", "bia"),
            FR_FUND: fund_records(martin(), "FR", "marie", "noah"),
            DE_FUND: de_records() if self.de_records is None else self.de_records,
        }
        self.funds = {
            fid: FundDesk(
                fid, recs, self.clock, SeededIds(self.seed + i + 1), self.policies.get(fid)
            )
            for i, (fid, recs) in enumerate(sorted(records.items()))
        }

    def desk(self, institution_id: str) -> Any:
        return self.cns if institution_id == CNS_ID else self.funds[institution_id]

    def run(self, step: Step, sender: str) -> list[tuple[str, Event]]:
        """Record ``step`` of ``sender`` and deliver its documents until nothing is left."""
        start = len(self.log)
        queue: deque[tuple[str, Step]] = deque([(sender, step)])
        while queue:
            who, st = queue.popleft()
            self.log.extend((who, e) for e in st.events)
            if who == CNS_ID:
                self.cns_timers.extend(st.timers)
            for out in st.outgoing:
                self.sent.append(out)
                msg = out.received_by_peer(who)
                if self.strip_answers:
                    msg = replace(msg, answers=None)
                reply = self.desk(out.receiver).handle(msg)
                queue.append((out.receiver, reply))
        return self.log[start:]

    def events(self, kind: type[Any], who: str | None = None) -> list[Any]:
        return [e for w, e in self.log if isinstance(e, kind) and (who is None or w == who)]
