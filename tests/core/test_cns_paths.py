"""The CNS desk on the paths other than R17: R13-R15 cross-border, R5 S040/S041, R18."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from process_world import CNS_ID, DE_FUND, FR_FUND, World, de_records, muller

from eessi.core.buc_table import CaseState
from eessi.core.facts import DocumentKind
from eessi.core.fund import FundPolicy, FundRecord
from eessi.core.household import FamilyMember, FormerInsurance, Household, MainInsured, Relation
from eessi.core.messages import (
    CaseOpened,
    Channel,
    CoInsuranceRegistered,
    CoInsuranceRequested,
    DecisionMade,
    DocumentProvided,
    DocumentRefused,
    DocumentsRequested,
    MemberRef,
    ReferredToService,
    RequestEntitlement,
    ServiceDecision,
)
from eessi.core.registry import RegistryEntry
from eessi.sed.documents import S040, S041, S072, InsurancePeriod, InsuranceType, S041Reply
from eessi.sed.model import Address, OpenPeriod, OpenPeriodType

MARIE = MemberRef("martin", "marie")
NOAH = MemberRef("martin", "noah")
SOFIA = MemberRef("muller", "sofia")
EVA = MemberRef("weber", "eva")
LUC_PIN = "1985080812345"
MARC_PIN = "1979041512345"
PAUL_PIN = "1955021212345"


def test_R14_cross_border_spouse_in_rnpp_gets_the_s072_at_once_and_is_registered_on_s073() -> None:
    w = World()
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("marie", CNS_ID)), FR_FUND)
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.member == MARIE
    assert {"R13", "R14", "R1"} <= set(reg.rules)


def test_R15_member_not_in_rnpp_documents_requested_then_provided_then_s072_sent() -> None:
    w = World()
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("noah", CNS_ID)), FR_FUND)
    assert not [o for o in w.sent if isinstance(o.sed, S072)]
    (asked,) = w.events(DocumentsRequested, CNS_ID)
    assert asked.member == NOAH
    assert asked.rule == "R15"
    assert asked.party == "main_insured"
    assert set(asked.kinds) == {DocumentKind.BIRTH_CERTIFICATE, DocumentKind.HOUSEHOLD_COMPOSITION}

    w.run(w.cns.handle(DocumentProvided(LUC_PIN, "noah", DocumentKind.BIRTH_CERTIFICATE)), CNS_ID)
    assert not [o for o in w.sent if isinstance(o.sed, S072)]
    assert len(w.events(DocumentsRequested)) == 1  # asked once, not again

    w.run(
        w.cns.handle(DocumentProvided(LUC_PIN, "noah", DocumentKind.HOUSEHOLD_COMPOSITION)), CNS_ID
    )
    (s072,) = [o.sed for o in w.sent if isinstance(o.sed, S072)]
    assert s072.confirmed
    assert s072.period is not None
    assert s072.period.start == date(2026, 2, 10)  # born then; the father affiliated long before
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.member == NOAH
    assert {"R13", "R15", "R14"} <= set(reg.rules)


def test_R13_certificate_handed_in_by_the_insured_is_refused_and_cited() -> None:
    w = World()
    step = w.cns.handle(
        DocumentProvided(LUC_PIN, "marie", DocumentKind.ENTITLEMENT_CERTIFICATE_FROM_INSURED)
    )
    (refused,) = step.of(DocumentRefused)
    assert refused.rule == "R13"
    (decided,) = step.of(DecisionMade)
    assert "R13" in decided.rules
    assert decided.decision.outcome.value == "pending"  # still waits for the fund's S071
    assert not step.of(CoInsuranceRegistered)
    assert not step.outgoing


def test_R5_request_opens_s_buc_24_with_the_former_fund_and_the_s041_registers() -> None:
    w = World()
    w.run(w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia")), CNS_ID)
    (opened,) = [e for e in w.events(CaseOpened, CNS_ID) if e.buc == "S_BUC_24"]
    assert opened.peer == DE_FUND
    assert opened.member == SOFIA
    (s040,) = [o.sed for o in w.sent if isinstance(o.sed, S040)]
    pin = s040.person.pin_for("DE")
    assert pin is not None
    assert pin.number == "A123456789"
    assert pin.institution is not None
    assert pin.institution.id == DE_FUND
    (s041,) = [o.sed for o in w.sent if isinstance(o.sed, S041)]
    assert s041.reply is S041Reply.PERIODS_CONFIRMED
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.member == SOFIA
    assert reg.start == date(2026, 1, 15)  # the day after the last German insured day
    assert {"R3", "R5", "R1"} <= set(reg.rules)
    assert reg.case_id is None  # no S072/S073 on this path
    assert w.cns.case(opened.case_id).state is CaseState.COMPLETED


def test_R5_s041_with_no_periods_asks_for_a_declaration_on_honour_then_registers() -> None:
    (rec,) = de_records()
    bare = FundRecord(rec.key, rec.person, rec.address, rec.status)  # known, no periods
    w = World(de_records=[bare])
    w.run(w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia")), CNS_ID)
    (s041,) = [o.sed for o in w.sent if isinstance(o.sed, S041)]
    assert s041.reply is S041Reply.NO_PERIODS
    (asked,) = w.events(DocumentsRequested, CNS_ID)
    assert asked.rule == "R5"
    assert asked.kinds == (DocumentKind.DECLARATION_ON_HONOUR,)
    assert not w.events(CoInsuranceRegistered)
    w.run(
        w.cns.handle(DocumentProvided(MARC_PIN, "sofia", DocumentKind.DECLARATION_ON_HONOUR)),
        CNS_ID,
    )
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.member == SOFIA


def test_R5_person_unknown_at_the_former_fund_gives_s041_03_and_the_member_stays_pending() -> None:
    w = World(de_records=[])
    w.run(w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia")), CNS_ID)
    (s041,) = [o.sed for o in w.sent if isinstance(o.sed, S041)]
    assert s041.reply is S041Reply.CANNOT_CONFIRM
    last = w.events(DecisionMade, CNS_ID)[-1]
    assert last.decision.outcome.value == "pending"
    assert "R5" in last.rules
    assert SOFIA not in w.cns.registrations


def test_R5_R15_member_not_in_rnpp_is_asked_for_documents_and_s040_in_the_same_step() -> None:
    w = World(entries=(muller(rnpp=False),))
    step = w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia"))
    assert [o.sed.code for o in step.outgoing] == ["S040"]
    rules = {e.rule for e in step.of(DocumentsRequested)}
    assert rules == {"R15"}


def test_R18_request_is_referred_to_the_service_whose_decision_registers() -> None:
    w = World()
    step = w.cns.handle(CoInsuranceRequested(PAUL_PIN, "eva"))
    (referred,) = step.of(ReferredToService)
    assert referred.rule == "R18"
    assert referred.member == EVA
    assert not step.outgoing
    step = w.cns.handle(ServiceDecision(PAUL_PIN, "eva", approved=True))
    (reg,) = step.of(CoInsuranceRegistered)
    assert reg.main_insured == "paul"
    assert "R18" in reg.rules


def test_R18_service_refusal_is_a_not_eligible_decision_citing_R18() -> None:
    w = World()
    w.cns.handle(CoInsuranceRequested(PAUL_PIN, "eva"))
    step = w.cns.handle(ServiceDecision(PAUL_PIN, "eva", approved=False))
    (decided,) = step.of(DecisionMade)
    assert decided.decision.outcome.value == "not_eligible"
    assert decided.decision.reasons[-1].rule == "R18"
    assert EVA not in w.cns.registrations


def test_R5_a_second_request_does_not_send_a_second_s040() -> None:
    w = World(policies={DE_FUND: FundPolicy(answer_s040=False)})
    first = w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia"))
    second = w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia", Channel.PHONE))
    assert [o.sed.code for o in first.outgoing] == ["S040"]
    assert not second.outgoing


def test_R5_s041_with_an_open_period_starts_on_arrival() -> None:
    (rec,) = de_records()
    open_period = InsurancePeriod(
        period=OpenPeriod(type=OpenPeriodType.END_UNKNOWN, start=date(2015, 1, 1)),
        insurance=InsuranceType.COMPULSORY,
    )
    w = World(de_records=[replace(rec, insurance_periods=(open_period,))])
    w.run(w.cns.handle(CoInsuranceRequested(MARC_PIN, "sofia")), CNS_ID)
    (reg,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert reg.start == date(2026, 1, 15)  # arrived_on; the S041 gives no end


def test_R11_refused_authorisation_leaves_the_decision_pending() -> None:
    w = World()
    step = w.cns.handle(
        ServiceDecision(PAUL_PIN, "eva", approved=False, kind=DocumentKind.CNS_AUTHORISATION)
    )
    (decided,) = step.of(DecisionMade)
    assert decided.decision.outcome.value == "pending"
    assert not step.of(CoInsuranceRegistered)


def _one_household(main: MainInsured, member: FamilyMember) -> RegistryEntry:
    return RegistryEntry(
        Household(id="h", main_insured=(main,), members=(member,)),
        address=Address(town="Arlon", country=main.country_of_residence),
    )


def test_R16_bl1_from_the_belgian_mutual_registers_the_spouse() -> None:
    jan = MainInsured(
        id="jan",
        pin="1982010112345",
        name="Jan Peeters",
        date_of_birth=date(1982, 1, 1),
        affiliated_since=date(2015, 1, 1),
        country_of_residence="BE",
        belgian_mutual="BE:MC000200",
    )
    els = FamilyMember(
        id="els",
        name="Els Peeters",
        relation=Relation.SPOUSE,
        date_of_birth=date(1984, 2, 2),
        relation_since=date(2010, 6, 1),
        country_of_residence="BE",
        rnpp_registered=True,
    )
    w = World(entries=(_one_household(jan, els),))
    step = w.cns.handle(CoInsuranceRequested(jan.pin, "els"))
    (asked,) = step.of(DocumentsRequested)
    assert (asked.rule, asked.party, asked.kinds) == ("R16", "belgian_mutual", (DocumentKind.BL1,))
    step = w.cns.handle(DocumentProvided(jan.pin, "els", DocumentKind.BL1))
    (reg,) = step.of(CoInsuranceRegistered)
    assert "R16" in reg.rules


def test_R4_request_before_the_ccss_exit_notice_is_premature_and_must_be_renewed() -> None:
    marc = MainInsured(
        id="marc",
        pin="1979041512345",
        name="Marc Hoffmann",
        date_of_birth=date(1979, 4, 15),
        affiliated_since=date(2008, 1, 1),
    )
    lisa = FamilyMember(
        id="lisa",
        name="Lisa Hoffmann",
        relation=Relation.SPOUSE,
        date_of_birth=date(1981, 9, 9),
        relation_since=date(2009, 9, 9),
        rnpp_registered=True,
        former_insurance=FormerInsurance(country="LU", until=date(2026, 2, 28)),
    )
    w = World(entries=(_one_household(marc, lisa),))
    step = w.cns.handle(CoInsuranceRequested(marc.pin, "lisa"))
    (asked,) = step.of(DocumentsRequested)
    assert (asked.rule, asked.party) == ("R4", "ccss")
    w.clock.advance(timedelta(days=1))
    step = w.cns.handle(DocumentProvided(marc.pin, "lisa", DocumentKind.CCSS_EXIT_NOTICE))
    (renew,) = step.of(DocumentsRequested)
    assert (renew.rule, renew.kinds) == ("R4", (DocumentKind.CO_INSURANCE_REQUEST,))
    assert not step.of(CoInsuranceRegistered)
    step = w.cns.handle(CoInsuranceRequested(marc.pin, "lisa", Channel.EMAIL))
    (reg,) = step.of(CoInsuranceRegistered)
    assert reg.start == date(2026, 3, 1)
    assert {"R3", "R4"} <= set(reg.rules)
