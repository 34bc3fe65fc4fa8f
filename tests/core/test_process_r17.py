"""R17 end to end: the fund of residence asks (S071), the CNS answers one S072 per member, the
fund confirms (S073), the CNS registers the co-insurance; both desks run against each other."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from process_world import CNS_ID, PT_FUND, World, silva

from eessi.core.buc_table import CaseState
from eessi.core.messages import (
    CaseOpened,
    CoInsuranceRegistered,
    DecisionMade,
    EntitlementAnswered,
    EntitlementRecorded,
    EntitlementRefused,
    MemberRef,
    RequestEntitlement,
)
from eessi.sed.documents import S072, S073, NotConfirmedReason, StatusFamilyMember
from eessi.sed.model import OpenPeriod, OpenPeriodType

ANA = MemberRef("silva", "ana")
RUI = MemberRef("silva", "rui")
BIA = MemberRef("silva", "bia")


def test_R17_s071_per_member_gets_one_s072_each_then_s073_registers_them() -> None:
    w = World()
    fund = w.funds[PT_FUND]
    for key in ("ana", "rui"):
        w.run(fund.handle(RequestEntitlement(key, CNS_ID)), PT_FUND)

    s072s = [o for o in w.sent if isinstance(o.sed, S072)]
    assert len(s072s) == 2
    assert all(o.sed.confirmed for o in s072s)
    assert {o.sed.person.forename for o in s072s} == {"Ana", "Rui"}
    for o in s072s:
        assert o.receiver == PT_FUND
        assert isinstance(o.sed.period, OpenPeriod)
        assert o.sed.period.type is OpenPeriodType.OPEN_ENDED
    # Ana's start: the main insured's affiliation (2025-09-01) is the latest candidate.
    ana_s072 = next(o for o in s072s if o.sed.person.forename == "Ana")
    assert ana_s072.sed.period is not None
    assert ana_s072.sed.period.start == date(2025, 9, 1)
    assert [type(o.sed) for o in w.sent].count(S073) == 2

    registered = w.events(CoInsuranceRegistered, CNS_ID)
    assert {r.member for r in registered} == {ANA, RUI}
    for r in registered:
        assert r.main_insured == "joao"
        assert {"R1", "R17"} <= set(r.rules)
        assert r.case_id is not None
        assert w.cns.case(r.case_id).state is CaseState.COMPLETED
    assert set(w.cns.registrations) == {ANA, RUI}
    assert len(w.events(EntitlementRecorded, PT_FUND)) == 2


def test_R17_cns_decides_with_rules_before_answering() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    decisions = [d for d in w.events(DecisionMade, CNS_ID) if d.member == ANA]
    assert decisions[0].decision.outcome.value == "pending"  # waits for the S072 to be sent
    assert "R17" in decisions[0].rules
    assert decisions[-1].decision.eligible
    answered = w.events(EntitlementAnswered, CNS_ID)
    assert answered[0].confirmed
    assert answered[0].start == date(2025, 9, 1)
    assert "R17" in answered[0].rules
    opened = w.events(CaseOpened, CNS_ID)
    assert opened[0].buc == "S_BUC_01"
    assert opened[0].role.value == "CP"


def test_R17_member_insured_in_country_of_residence_is_not_confirmed_with_the_rule() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("bia", CNS_ID)), PT_FUND)
    (s072,) = [o.sed for o in w.sent if isinstance(o.sed, S072)]
    assert not s072.confirmed
    assert s072.not_confirmed is not None
    assert s072.not_confirmed.reason is NotConfirmedReason.ALREADY_COVERED
    assert s072.not_confirmed.details is not None
    assert "R17" in s072.not_confirmed.details
    assert "insured in the country of residence" in s072.not_confirmed.details
    assert BIA not in w.cns.registrations
    assert not w.events(CoInsuranceRegistered)
    refused = w.events(EntitlementRefused, PT_FUND)
    assert refused[0].reason == NotConfirmedReason.ALREADY_COVERED.value
    # The fund closes the case after the refusal (X001); no S073 is ever sent.
    assert not any(isinstance(o.sed, S073) for o in w.sent)
    case_id = w.events(CaseOpened, CNS_ID)[0].case_id
    assert w.cns.case(case_id).state is CaseState.CLOSED


def test_R17_registration_date_is_the_start_of_the_s072() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("rui", CNS_ID)), PT_FUND)
    (s073,) = [o.sed for o in w.sent if isinstance(o.sed, S073)]
    assert s073.registered
    assert s073.registration_date == date(2025, 9, 1)
    assert s073.reference is not None
    assert s073.reference.sed_type == "S072"


def test_R10_s072_names_the_older_parent_and_adds_the_childs_lu_pin() -> None:
    entry = silva()
    joao = entry.household.main_insured[0]
    maria = replace(
        joao, id="maria", pin="1975020212345", name="Maria Silva", date_of_birth=date(1975, 2, 2)
    )
    rui = replace(entry.household.member("rui"), maintained_by=("joao", "maria"))
    household = replace(
        entry.household,
        main_insured=(joao, maria),
        members=(rui,),
    )
    entry = replace(entry, household=household, member_pins={"rui": "2012050512345"})
    w = World(entries=(entry,))
    # The fund's record names the father (the first main insured) and no PIN for the child.
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("rui", CNS_ID)), PT_FUND)
    (s072,) = [o.sed for o in w.sent if isinstance(o.sed, S072)]
    assert isinstance(s072.status, StatusFamilyMember)
    main_pin = s072.status.main_insured.pin_for("LU")
    assert main_pin is not None
    assert main_pin.number == "1975020212345"  # Maria, the older parent
    own = s072.person.pin_for("LU")
    assert own is not None
    assert own.number == "2012050512345"
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.main_insured == "maria"
    assert "R10" in reg.rules
