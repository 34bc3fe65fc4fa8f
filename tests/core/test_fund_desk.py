"""The foreign fund's desk: the mirror of the CNS (S071 out, S073 back, S041 from its records)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from process_world import CNS, CNS_ID, DE_FUND, PT_FUND, START, World, de_records

from eessi.clock import VirtualClock
from eessi.core.buc_table import CaseState
from eessi.core.fund import FundDesk, FundPolicy
from eessi.core.messages import (
    AskAgain,
    CaseOpened,
    CoInsuranceRequested,
    DocumentReceived,
    EntitlementRecorded,
    InvalidateDocument,
    RegisterEntitlement,
    ReminderSent,
    RequestEntitlement,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import DomainError, ProtocolError
from eessi.ids import SeededIds
from eessi.sed.documents import (
    S040,
    S041,
    S071,
    S072,
    X010,
    BenefitType,
    NotConfirmed,
    NotConfirmedReason,
    PeriodKind,
    ReminderReply,
    S041Reply,
    StatusFamilyMember,
)
from eessi.sed.model import FixedPeriod, OpenPeriod, Person, Pin, Sex


def _fund(**policy: bool) -> FundDesk:
    return FundDesk(DE_FUND, de_records(), VirtualClock(START), SeededIds(3), FundPolicy(**policy))


def _s040(person: Person) -> S040:
    return S040(
        person=person,
        benefit=BenefitType.SICKNESS,
        period_kinds=(PeriodKind.INSURANCE,),
        requested_periods=(FixedPeriod(start=date(2021, 1, 1), end=date(2026, 1, 14)),),
    )


def _sofia(pins: tuple[Pin, ...]) -> Person:
    return Person(
        family_name="Muller",
        forename="Sofia",
        birth_date=date(1983, 6, 2),
        sex=Sex.FEMALE,
        pins=pins,
    )


def test_request_entitlement_opens_s_buc_01_with_an_s071_for_the_record() -> None:
    w = World()
    step = w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID, start=date(2026, 4, 1)))
    (opened,) = step.of(CaseOpened)
    assert opened.buc == "S_BUC_01"
    assert opened.role.value == "PO"
    assert opened.case_id.startswith("PT-")
    (out,) = step.outgoing
    assert out.receiver == CNS_ID
    assert isinstance(out.sed, S071)
    assert out.sed.person.forename == "Ana"
    assert isinstance(out.sed.status, StatusFamilyMember)
    pin = out.sed.status.main_insured.pin_for("LU")
    assert pin is not None
    assert pin.number == "1978072712345"
    assert pin.sector == "06"
    assert pin.institution == CNS
    assert isinstance(out.sed.period, OpenPeriod)
    assert out.sed.period.start == date(2026, 4, 1)


def test_request_for_a_record_the_fund_does_not_have_is_refused_and_changes_nothing() -> None:
    fund = _fund()
    before = fund.snapshot()
    with pytest.raises(DomainError):
        fund.handle(RequestEntitlement("nobody", CNS_ID))
    assert fund.snapshot() is before


@pytest.mark.parametrize(
    ("pins", "reply"),
    [
        ((Pin(country="DE", number="A123456789"),), S041Reply.PERIODS_CONFIRMED),
        ((), S041Reply.PERIODS_CONFIRMED),  # found by name and date of birth
        ((Pin(country="DE", number="Z999"),), S041Reply.CANNOT_CONFIRM),
    ],
)
def test_R5_s040_is_answered_from_the_records(pins: tuple[Pin, ...], reply: S041Reply) -> None:
    fund = _fund()
    step = fund.handle(DocumentReceived("LU-1", "S_BUC_24", CNS_ID, "d-1", _s040(_sofia(pins))))
    (out,) = step.outgoing
    assert isinstance(out.sed, S041)
    assert out.sed.reply is reply
    assert out.answers == "d-1"
    if reply is S041Reply.PERIODS_CONFIRMED:
        (period,) = out.sed.insurance_periods
        assert isinstance(period.period, FixedPeriod)
        assert period.period.end == date(2026, 1, 14)
    assert fund.case("LU-1").state is CaseState.COMPLETED


def test_R5_known_person_without_periods_gets_s041_01() -> None:
    (rec,) = de_records()
    fund = FundDesk(DE_FUND, [replace(rec, insurance_periods=())], VirtualClock(START), SeededIds())
    step = fund.handle(DocumentReceived("LU-1", "S_BUC_24", CNS_ID, "d-1", _s040(_sofia(()))))
    assert isinstance(step.outgoing[0].sed, S041)
    assert step.outgoing[0].sed.reply is S041Reply.NO_PERIODS


def test_silent_fund_is_reminded_by_the_cns_and_says_the_s041_will_be_sent() -> None:
    w = World(policies={DE_FUND: FundPolicy(answer_s040=False)})
    w.run(w.cns.handle(CoInsuranceRequested("1979041512345", "sofia")), CNS_ID)
    assert not [o for o in w.sent if isinstance(o.sed, S041)]
    w.clock.advance(timedelta(days=61))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    assert w.events(ReminderSent, CNS_ID)[0].awaited_sed == "S041"
    (x010,) = [o.sed for o in w.sent if isinstance(o.sed, X010)]
    assert x010.reply is ReminderReply.WILL_BE_SENT


def test_register_refuses_a_not_confirmed_s072_and_changes_nothing() -> None:
    w = World(policies={PT_FUND: FundPolicy(close_after_refusal=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("bia", CNS_ID)), PT_FUND)
    fund = w.funds[PT_FUND]
    (case_id,) = fund.snapshot().cases
    assert fund.snapshot().refused[case_id] == NotConfirmedReason.ALREADY_COVERED.value
    before = fund.snapshot()
    with pytest.raises(ProtocolError):
        fund.handle(RegisterEntitlement(case_id))
    assert fund.snapshot() is before


def test_confirmed_s072_registers_the_person_with_the_start_date() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (recorded,) = w.events(EntitlementRecorded, PT_FUND)
    assert recorded.person == "ana"
    assert recorded.start == date(2025, 9, 1)
    assert w.funds[PT_FUND].snapshot().registered == {recorded.case_id: date(2025, 9, 1)}


def test_fund_refuses_an_s072_for_a_case_it_does_not_have() -> None:
    fund = _fund()
    s072 = S072(
        person=_sofia(()),
        address=de_records()[0].address,
        status=de_records()[0].status,
        confirmed=False,
        not_confirmed=NotConfirmed(reason=NotConfirmedReason.OTHER),
    )
    before = fund.snapshot()
    with pytest.raises(ProtocolError):
        fund.handle(DocumentReceived("LU-9", "S_BUC_01", CNS_ID, "d-1", s072))
    assert fund.snapshot() is before


def test_two_records_with_one_key_are_refused() -> None:
    rec = de_records()[0]
    with pytest.raises(DomainError):
        FundDesk(DE_FUND, [rec, rec], VirtualClock(START), SeededIds())


def test_fund_withdrawing_its_s071_then_asking_again_gets_a_fresh_s072() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False)})
    fund = w.funds[PT_FUND]
    w.run(fund.handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (case_id,) = fund.snapshot().cases
    w.run(fund.handle(InvalidateDocument(case_id, "S071")), PT_FUND)
    assert w.cns.case(case_id).state is CaseState.WITHDRAWN
    w.run(fund.handle(AskAgain(case_id)), PT_FUND)
    assert [type(o.sed) for o in w.sent].count(S072) == 2
    assert w.cns.case(case_id).state is CaseState.AWAITING_CONFIRMATION
    w.run(fund.handle(RegisterEntitlement(case_id)), PT_FUND)
    assert w.cns.registrations


def test_asking_again_while_the_request_stands_is_refused() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False)})
    fund = w.funds[PT_FUND]
    w.run(fund.handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (case_id,) = fund.snapshot().cases
    before = fund.snapshot()
    with pytest.raises(ProtocolError):
        fund.handle(AskAgain(case_id))
    assert fund.snapshot() is before


def test_a_refusal_invalidated_by_the_cns_is_forgotten_by_the_fund() -> None:
    w = World(policies={PT_FUND: FundPolicy(close_after_refusal=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("bia", CNS_ID)), PT_FUND)
    (case_id,) = w.funds[PT_FUND].snapshot().refused
    w.run(w.cns.handle(WithdrawEntitlement(case_id)), CNS_ID)
    assert not w.funds[PT_FUND].snapshot().refused
    assert w.funds[PT_FUND].case(case_id).state is CaseState.AWAITING_REPLY
