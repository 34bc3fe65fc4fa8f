"""The CNS desk refuses illegal steps without changing, and never raises on unknown people."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from process_world import CNS_ID, DE_FUND, FR_FUND, PT_FUND, World, fund_records, silva

from eessi.core.fund import FundPolicy
from eessi.core.messages import (
    CaseOpened,
    CoInsuranceRegistered,
    CoInsuranceRequested,
    DocumentReceived,
    EntitlementAnswered,
    InvalidateDocument,
    MemberRef,
    NotRegistered,
    PersonUnknown,
    RegistrationWithdrawn,
    RejectDocument,
    RequestEntitlement,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import DomainError, ProtocolError
from eessi.sed.documents import (
    S041,
    S071,
    S072,
    S073,
    X008,
    X010,
    InsuredStatus,
    NotConfirmedReason,
    ReminderReply,
    S041Reply,
    StatusFamilyMember,
    StatusPerson,
)
from eessi.sed.model import OpenPeriod, OpenPeriodType, Person, Pin


def _s071(person: Person | None = None, main_pin: str | None = None) -> S071:
    rec = fund_records(silva(), "PT", "ana")[0]
    status = rec.status
    assert isinstance(status, StatusFamilyMember)
    if main_pin is not None:
        main = replace(status.main_insured, pins=(Pin(country="LU", number=main_pin),))
        status = replace(status, main_insured=main)
    return S071(
        person=person or rec.person,
        address=rec.address,
        status=status,
        period=OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=date(2026, 3, 1)),
    )


def _noah_case(w: World) -> str:
    """An S_BUC_01 case where the CNS owes the S072 (R15 documents missing)."""
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("noah", CNS_ID)), FR_FUND)
    return w.events(CaseOpened, CNS_ID)[0].case_id


def test_s073_before_any_s072_is_a_protocol_error_and_changes_nothing() -> None:
    w = World()
    case_id = _noah_case(w)
    before = w.cns.snapshot()
    rec = fund_records(silva(), "PT", "ana")[0]
    s073 = S073(person=rec.person, registered=True, registration_date=date(2026, 3, 1))
    msg = DocumentReceived(case_id, "S_BUC_01", FR_FUND, w.cns.ids.uuid(), s073)
    with pytest.raises(ProtocolError) as err:
        w.cns.handle(msg)
    assert "S073" in str(err.value)
    assert w.cns.snapshot() == before
    assert w.cns.snapshot() is before


def test_a_reply_in_the_wrong_case_is_a_protocol_error_and_changes_nothing() -> None:
    w = World()
    case_id = _noah_case(w)
    before = w.cns.snapshot()
    s041 = S041(person=_s071().person, reply=S041Reply.NO_PERIODS)
    with pytest.raises(ProtocolError):
        w.cns.handle(DocumentReceived(case_id, "S_BUC_01", FR_FUND, "d-1", s041))
    with pytest.raises(ProtocolError) as err:  # right document type, wrong sender
        w.cns.handle(DocumentReceived(case_id, "S_BUC_01", DE_FUND, "d-2", _s071()))
    assert err.value.code == "protocol.wrong-sender"
    with pytest.raises(ProtocolError) as err:
        w.cns.handle(DocumentReceived("PT-404", "S_BUC_24", PT_FUND, "d-3", s041))
    assert err.value.code == "protocol.unknown-case"
    assert w.cns.snapshot() is before


def test_s071_for_an_unknown_main_insured_is_answered_person_unknown() -> None:
    w = World()
    msg = DocumentReceived("PT-1", "S_BUC_01", PT_FUND, "d-1", _s071(main_pin="1999999999999"))
    step = w.cns.handle(msg)
    (unknown,) = step.of(PersonUnknown)
    assert "1999999999999" in unknown.why
    (out,) = step.outgoing
    assert isinstance(out.sed, S072)
    assert not out.sed.confirmed
    assert out.sed.not_confirmed is not None
    assert out.sed.not_confirmed.reason is NotConfirmedReason.PERSON_UNKNOWN
    assert out.answers == "d-1"
    assert not w.cns.registrations


def test_s071_for_an_unknown_member_of_a_known_main_insured_is_answered_person_unknown() -> None:
    w = World()
    stranger = replace(_s071().person, forename="Carla", birth_date=date(1990, 1, 1))
    step = w.cns.handle(DocumentReceived("PT-1", "S_BUC_01", PT_FUND, "d-1", _s071(stranger)))
    (answered,) = step.of(EntitlementAnswered)
    assert answered.member is None
    assert answered.reason == NotConfirmedReason.PERSON_UNKNOWN.value


def test_R17_s071_from_a_fund_of_another_country_is_not_confirmed_citing_R17() -> None:
    w = World()
    step = w.cns.handle(DocumentReceived("DE-1", "S_BUC_01", DE_FUND, "d-1", _s071()))
    (out,) = step.outgoing
    assert isinstance(out.sed, S072)
    assert not out.sed.confirmed
    assert out.sed.not_confirmed is not None
    assert out.sed.not_confirmed.reason is NotConfirmedReason.OTHER
    assert "R17" in (out.sed.not_confirmed.details or "")


def test_withdrawing_an_s072_that_was_never_sent_is_refused_and_changes_nothing() -> None:
    w = World()
    case_id = _noah_case(w)
    before = w.cns.snapshot()
    with pytest.raises(ProtocolError):
        w.cns.handle(WithdrawEntitlement(case_id))
    assert w.cns.snapshot() is before


def test_R17_cns_invalidating_its_s072_withdraws_the_registration_and_holds_the_case() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    case_id = w.events(CaseOpened, CNS_ID)[0].case_id
    assert w.cns.registrations
    w.run(w.cns.handle(WithdrawEntitlement(case_id, "wrong person")), CNS_ID)
    (withdrawn,) = w.events(RegistrationWithdrawn, CNS_ID)
    assert withdrawn.case_id == case_id
    assert not w.cns.registrations
    assert isinstance(w.sent[-1].sed, X008)
    assert w.cns.case(case_id).suspended  # no new S072 sent on its own
    assert [type(o.sed) for o in w.sent].count(S072) == 1
    assert case_id not in w.funds[PT_FUND].snapshot().registered


def test_R17_fund_rejecting_the_s072_leaves_nothing_registered_and_holds_the_case() -> None:
    # The fund does not answer the CNS's X012 (issue 16.2): the case stays on hold.
    w = World(policies={PT_FUND: FundPolicy(auto_register=False, answer_clarifications=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    fund_case = w.events(CaseOpened, PT_FUND)[0].case_id
    w.run(w.funds[PT_FUND].handle(RejectDocument(fund_case)), PT_FUND)
    assert not w.cns.registrations
    assert w.cns.case(fund_case).suspended
    assert [type(o.sed) for o in w.sent].count(S072) == 1


def test_s073_that_does_not_confirm_registration_registers_nothing_and_says_why() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    case_id = w.events(CaseOpened, CNS_ID)[0].case_id
    s072_id = next(o.document_id for o in w.sent if isinstance(o.sed, S072))
    rec = fund_records(silva(), "PT", "ana")[0]
    s073 = S073(person=rec.person, registered=False, additional_information="already insured")
    step = w.cns.handle(
        DocumentReceived(case_id, "S_BUC_01", PT_FUND, w.cns.ids.uuid(), s073, s072_id)
    )
    (nope,) = step.of(NotRegistered)
    assert "did not register" in nope.why
    assert not w.cns.registrations


def test_s073_after_a_refused_s072_registers_nothing() -> None:
    w = World(policies={PT_FUND: FundPolicy(close_after_refusal=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("bia", CNS_ID)), PT_FUND)
    case_id = w.events(CaseOpened, CNS_ID)[0].case_id
    rec = fund_records(silva(), "PT", "bia")[0]
    s073 = S073(person=rec.person, registered=True, registration_date=date(2026, 3, 2))
    step = w.cns.handle(DocumentReceived(case_id, "S_BUC_01", PT_FUND, w.cns.ids.uuid(), s073))
    (nope,) = step.of(NotRegistered)
    assert "did not confirm" in nope.why
    assert not step.of(CoInsuranceRegistered)


def test_s071_for_an_insured_person_is_answered_not_confirmed_other() -> None:
    w = World()
    s071 = replace(_s071(), status=StatusPerson(status=InsuredStatus.INSURED_PERSON))
    step = w.cns.handle(DocumentReceived("PT-1", "S_BUC_01", PT_FUND, "d-1", s071))
    (answered,) = step.of(EntitlementAnswered)
    assert answered.reason == NotConfirmedReason.OTHER.value


def test_s071_naming_an_unknown_main_insured_finds_the_member_by_their_own_lu_pin() -> None:
    entry = replace(silva(), member_pins={"ana": "1980030912345"})
    w = World(entries=(entry,))
    ana = replace(_s071().person, pins=(Pin(country="LU", number="1980030912345"),))
    s071 = _s071(ana, main_pin="1999999999999")
    step = w.cns.handle(DocumentReceived("PT-1", "S_BUC_01", PT_FUND, "d-1", s071))
    (answered,) = step.of(EntitlementAnswered)
    assert answered.member == MemberRef("silva", "ana")
    assert answered.confirmed


def test_R1_main_insured_no_longer_affiliated_gives_not_confirmed_not_insured() -> None:
    entry = silva()
    joao = replace(entry.household.main_insured[0], affiliation_end=date(2026, 1, 31))
    entry = replace(entry, household=replace(entry.household, main_insured=(joao,)))
    w = World(entries=(entry,))
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (s072,) = [o.sed for o in w.sent if isinstance(o.sed, S072)]
    assert s072.not_confirmed is not None
    assert s072.not_confirmed.reason is NotConfirmedReason.NOT_INSURED
    assert "R1" in (s072.not_confirmed.details or "")


def test_a_request_for_someone_not_in_the_registry_is_a_domain_error_and_changes_nothing() -> None:
    w = World()
    before = w.cns.snapshot()
    with pytest.raises(DomainError):
        w.cns.handle(CoInsuranceRequested("1999999999999", "ana"))
    with pytest.raises(DomainError):
        w.cns.handle(CoInsuranceRequested("1978072712345", "nobody"))
    assert w.cns.snapshot() is before


def test_a_reminder_on_a_held_case_is_answered_cannot_be_sent() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False, answer_clarifications=False)})
    fund = w.funds[PT_FUND]
    w.run(fund.handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (case_id,) = fund.snapshot().cases
    # the fund refuses the S072: the CNS holds the case
    w.run(fund.handle(RejectDocument(case_id)), PT_FUND)
    w.clock.advance(timedelta(days=61))
    w.run(fund.handle(TimePassed(w.clock.now())), PT_FUND)
    (x010,) = [o.sed for o in w.sent if isinstance(o.sed, X010)]
    assert x010.reply is ReminderReply.CANNOT_BE_SENT


def test_R17_two_requests_for_one_member_register_them_once() -> None:
    w = World()
    for _ in range(2):
        w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    # One S072 per person: the second S071 is rejected (X011 05), see test_cns_repeated_requests.
    assert [type(o.sed) for o in w.sent].count(S073) == 1
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.member == MemberRef("silva", "ana")
    first = reg.case_id
    # The first case's S073 is invalidated: nothing else backs the registration any more.
    w.run(w.funds[PT_FUND].handle(InvalidateDocument(first, "S073")), PT_FUND)
    (withdrawn,) = w.events(RegistrationWithdrawn)
    assert withdrawn.case_id == first
    assert MemberRef("silva", "ana") not in w.cns.registrations
