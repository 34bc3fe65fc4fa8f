"""Eligibility when someone lives abroad: R12-R14 (cross-border), R15/R16 (Belgium), R17, R18."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from household_builders import ON, child, fact, facts, household, main, partner, request, spouse

from eessi.core.eligibility import Action, Outcome, Party, decide
from eessi.core.facts import DocumentKind as D
from eessi.core.household import FamilyMember, Household, MainInsuredKind

FR_FUND = "FR:CPAM5701"


def _frontalier(*members: FamilyMember, **kw: Any) -> Household:
    return household(*members, mains=(main(country="FR", **kw),))


# --- R12 / R13: cross-border worker, family abroad ------------------------------------------


def test_R12_cross_border_decisions_remind_that_changes_go_to_both_funds() -> None:
    d = decide(_frontalier(spouse(country_of_residence="FR")), "eva", on=ON)
    r12 = next(r for r in d.reasons if r.rule == "R12")
    assert "FR" in r12.explanation
    assert "CNS" in r12.explanation


@pytest.mark.parametrize(
    ("member", "what"),
    [
        (child(dob=date(2026, 1, 5), country_of_residence="FR"), "birth on 2026-01-05"),
        (
            spouse(relation_since=date(2025, 7, 1), country_of_residence="FR"),
            "marriage on 2025-07-01",
        ),
        (
            partner(relation_since=date(2024, 2, 1), country_of_residence="FR"),
            "partnership on 2024-02-01",
        ),
    ],
    ids=["birth", "marriage", "partnership"],
)
def test_R12_change_of_situation_after_the_affiliation_is_named(
    member: FamilyMember, what: str
) -> None:
    d = decide(_frontalier(member), member.id, on=ON)
    r12 = next(r for r in d.reasons if r.rule == "R12")
    assert what in r12.explanation


def test_R12_applies_to_belgian_cross_border_workers_too() -> None:
    d = decide(_belgian(spouse(country_of_residence="BE")), "eva", on=ON)
    assert d.rules.index("R12") < d.rules.index("R16")


def test_R13_without_S071_the_cns_waits_for_the_fund_of_residence() -> None:
    d = decide(_frontalier(spouse(country_of_residence="FR")), "eva", on=ON)
    assert d.outcome is Outcome.PENDING
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action) == (
        D.S071,
        "R13",
        Party.RESIDENCE_FUND,
        Action.WAIT_FOR_S071,
    )
    assert "R3" not in d.rules  # no request to the CNS: the fund of residence asks


def test_R13_certificate_of_entitlement_handed_in_by_the_insured_is_refused() -> None:
    f = facts(fact(D.ENTITLEMENT_CERTIFICATE_FROM_INSURED, "eva"))
    d = decide(_frontalier(spouse(country_of_residence="FR")), "eva", on=ON, facts=f)
    assert d.outcome is Outcome.PENDING
    assert [m.kind for m in d.missing] == [D.S071]
    assert any("refused" in r.explanation for r in d.reasons if r.rule == "R13")


def test_R13_S071_must_come_from_a_fund_of_the_members_country_of_residence() -> None:
    f = facts(fact(D.S071, "eva", institution="DE:TKK00001"))
    d = decide(_frontalier(spouse(country_of_residence="FR")), "eva", on=ON, facts=f)
    assert [m.kind for m in d.missing] == [D.S071]
    assert "not a fund of FR" in d.render()


def test_R13_main_insured_living_outside_the_agreement_countries_is_not_eligible() -> None:
    h = household(spouse(country_of_residence="US"), mains=(main(country="US"),))
    d = decide(h, "eva", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules[-1] == "R13"


def test_R13_member_personally_insured_in_the_country_of_residence_is_not_eligible() -> None:
    sp = spouse(country_of_residence="FR", insured_in_country_of_residence=True)
    d = decide(_frontalier(sp), "eva", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE


def test_R13_residence_law_decides_so_the_R9_age_limit_is_not_applied_abroad() -> None:
    kid = child(dob=date(1990, 1, 1), country_of_residence="FR", monthly_resources=Decimal(5000))
    f = facts(fact(D.S071, "lea", institution=FR_FUND), fact(D.S073, "lea"))
    d = decide(_frontalier(kid), "lea", on=ON, facts=f)
    assert d.outcome is Outcome.ELIGIBLE
    assert "R9" not in d.rules
    assert "R11" not in d.rules


# --- R14: in the RNPP: S072 out, S073 in ----------------------------------------------------


def test_R14_member_in_the_rnpp_the_cns_sends_S072_then_waits_for_S073() -> None:
    h = _frontalier(spouse(country_of_residence="FR"))
    s071 = fact(D.S071, "eva", institution=FR_FUND, on=date(2026, 2, 1))
    d = decide(h, "eva", on=ON, facts=facts(s071))
    (m,) = d.missing
    assert (m.kind, m.rule, m.action, m.institution) == (D.S073, "R14", Action.SEND_S072, FR_FUND)
    d2 = decide(h, "eva", on=ON, facts=facts(s071, fact(D.S072, "eva")))
    assert d2.missing[0].action is Action.WAIT_FOR_S073
    d3 = decide(h, "eva", on=ON, facts=facts(s071, fact(D.S072, "eva"), fact(D.S073, "eva")))
    assert d3.outcome is Outcome.ELIGIBLE
    assert d3.rules[-1] == "R14"
    assert "R1" in d3.rules


# --- R15: not in the RNPP: documents first --------------------------------------------------


def test_R15_cross_border_member_not_in_rnpp_needs_documents_before_the_S072() -> None:
    kid = child(country_of_residence="FR", rnpp_registered=False)
    h = _frontalier(kid)
    s071 = fact(D.S071, "lea", institution=FR_FUND)
    d = decide(h, "lea", on=ON, facts=facts(s071))
    assert [(m.kind, m.rule) for m in d.missing] == [
        (D.BIRTH_CERTIFICATE, "R15"),
        (D.HOUSEHOLD_COMPOSITION, "R15"),
    ]
    docs = facts(s071, fact(D.BIRTH_CERTIFICATE, "lea"), fact(D.HOUSEHOLD_COMPOSITION, "lea"))
    d2 = decide(h, "lea", on=ON, facts=docs)
    assert [m.kind for m in d2.missing] == [D.S073]


def test_R15_cross_border_partner_not_in_rnpp_needs_the_luxembourg_partnership_certificate() -> (
    None
):
    p = partner(country_of_residence="FR", partnership_registered_in="FR", rnpp_registered=False)
    f = facts(fact(D.S071, "alex", institution=FR_FUND))
    d = decide(_frontalier(p), "alex", on=ON, facts=f)
    assert [m.kind for m in d.missing] == [D.LU_PARTNERSHIP_CERTIFICATE]


# --- R16: Belgian cross-border worker ---------------------------------------------------------

BE_MUTUAL = "BE:MC000200"


def _belgian(*members: FamilyMember, mutual: str | None = BE_MUTUAL) -> Household:
    return household(*members, mains=(main(country="BE", since=date(2021, 10, 1), mutual=mutual),))


def test_R16_family_of_a_belgian_worker_is_added_on_the_BL1() -> None:
    sp = spouse(country_of_residence="BE", relation_since=date(2010, 1, 1))
    d = decide(_belgian(sp), "eva", on=ON)
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action, m.institution) == (
        D.BL1,
        "R16",
        Party.BELGIAN_MUTUAL,
        Action.SEND_BL1,
        BE_MUTUAL,
    )
    ok = decide(_belgian(sp), "eva", on=ON, facts=facts(fact(D.BL1, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE
    assert "R16" in ok.rules


def test_R16_without_a_known_mutual_the_BL1_goes_to_the_insured() -> None:
    sp = spouse(country_of_residence="BE")
    d = decide(_belgian(sp, mutual=None), "eva", on=ON)
    assert d.missing[0].institution is None
    assert "to the insured" in d.missing[0].hint


def test_R16_change_of_situation_after_affiliation_needs_a_BL6() -> None:
    baby = child(dob=date(2025, 12, 5), country_of_residence="BE", lives_with=("marc",))
    d = decide(_belgian(baby), "lea", on=ON, facts=facts(fact(D.BL1, "lea")))
    assert [(m.kind, m.action) for m in d.missing] == [(D.BL6, Action.WAIT_FOR_BL6)]
    ok = decide(_belgian(baby), "lea", on=ON, facts=facts(fact(D.BL6, "lea")))
    assert ok.outcome is Outcome.ELIGIBLE


def test_R16_spouse_not_in_rnpp_may_give_a_birth_certificate_instead_of_a_marriage_one() -> None:
    sp = spouse(country_of_residence="BE", rnpp_registered=False)
    f = facts(fact(D.BL1, "eva"), fact(D.HOUSEHOLD_COMPOSITION, "eva"))
    d = decide(_belgian(sp), "eva", on=ON, facts=f)
    assert [(m.kind, m.rule) for m in d.missing] == [(D.MARRIAGE_CERTIFICATE, "R16")]
    assert "birth certificate" in d.missing[0].hint
    ok = decide(_belgian(sp), "eva", on=ON, facts=f.with_(fact(D.BIRTH_CERTIFICATE, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE


def test_R16_is_only_for_a_family_living_in_belgium() -> None:
    sp = spouse(country_of_residence="FR")
    d = decide(_belgian(sp), "eva", on=ON)
    assert "R16" not in d.rules
    assert "R13" in d.rules


# --- R17: main insured in Luxembourg, family abroad ------------------------------------------

PT_FUND = "PT:ISS00001"


def test_R17_family_abroad_needs_the_S071_from_the_fund_of_residence() -> None:
    sp = spouse(country_of_residence="PT")
    d = decide(household(sp), "eva", on=ON, facts=facts(request("eva")))
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action) == (
        D.S071,
        "R17",
        Party.RESIDENCE_FUND,
        Action.WAIT_FOR_S071,
    )


def test_R17_S071_then_S072_then_S073_makes_the_family_eligible() -> None:
    h = household(spouse(country_of_residence="PT"))
    s071 = fact(D.S071, "eva", institution=PT_FUND)
    d = decide(h, "eva", on=ON, facts=facts(s071))
    assert (d.missing[0].kind, d.missing[0].action) == (D.S073, Action.SEND_S072)
    ok = decide(h, "eva", on=ON, facts=facts(s071, fact(D.S072, "eva"), fact(D.S073, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE
    assert ok.rules[:2] == ("R2", "R1")
    assert "R17" in ok.rules


def test_R17_family_insured_in_its_country_of_residence_is_not_eligible() -> None:
    sp = spouse(country_of_residence="PT", insured_in_country_of_residence=True)
    d = decide(household(sp), "eva", on=ON, facts=facts(fact(D.S071, "eva")))
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules[-1] == "R17"


@pytest.mark.parametrize(
    ("country", "ok"), [("RS", True), ("CH", True), ("US", False), ("UK", False)]
)
def test_R17_family_abroad_only_in_eu_eea_ch_or_a_bilateral_country(country: str, ok: bool) -> None:
    d = decide(household(spouse(country_of_residence=country)), "eva", on=ON)
    assert (d.outcome is Outcome.PENDING) is ok
    assert "R17" in d.rules


def test_R17_certificate_from_the_insured_does_not_replace_the_S071() -> None:
    sp = spouse(country_of_residence="PT")
    f = facts(fact(D.ENTITLEMENT_CERTIFICATE_FROM_INSURED, "eva"))
    d = decide(household(sp), "eva", on=ON, facts=f)
    assert [m.kind for m in d.missing] == [D.S071]


# --- R18: main insured abroad, family in Luxembourg ------------------------------------------


def _pensioner(*members: FamilyMember) -> Household:
    return household(*members, mains=(main(country="DE", kind=MainInsuredKind.CNAP_PENSIONER),))


def test_R18_needs_a_request_then_the_cns_service_decides() -> None:
    sp = spouse()
    d = decide(_pensioner(sp), "eva", on=ON)
    assert [(m.kind, m.rule) for m in d.missing] == [
        (D.CO_INSURANCE_REQUEST, "R18"),
        (D.CNS_SERVICE_DECISION, "R18"),
    ]
    d2 = decide(_pensioner(sp), "eva", on=ON, facts=facts(request("eva")))
    (m,) = d2.missing
    assert (m.kind, m.from_party, m.action) == (
        D.CNS_SERVICE_DECISION,
        Party.CNS_SERVICE,
        Action.REFER_TO_SERVICE,
    )
    assert "CNAP pensioner" in d2.render()


@pytest.mark.parametrize(
    ("approved", "outcome"), [(True, Outcome.ELIGIBLE), (False, Outcome.NOT_ELIGIBLE)]
)
def test_R18_the_cns_service_decision_settles_it(approved: bool, outcome: Outcome) -> None:
    f = facts(
        request("eva"),
        fact(D.CNS_SERVICE_DECISION, "eva", approved=approved, on=date(2026, 2, 20)),
    )
    d = decide(_pensioner(spouse()), "eva", on=ON, facts=f)
    assert d.outcome is outcome
    assert d.rules[-1] == "R18"
    assert "2026-02-20" in d.reasons[-1].explanation


def test_R18_member_otherwise_insured_in_luxembourg_is_not_eligible() -> None:
    d = decide(_pensioner(spouse(insured_in_country_of_residence=True)), "eva", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE


def test_R18_main_insured_outside_the_agreement_countries_is_not_eligible() -> None:
    h = household(spouse(), mains=(main(country="CA"),))
    assert decide(h, "eva", on=ON).rules[-1] == "R18"


def test_R18_family_in_luxembourg_still_follows_the_R9_child_limits() -> None:
    kid = child(dob=date(2000, 1, 1), monthly_resources=Decimal("9000"))
    d = decide(_pensioner(kid), "lea", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules[-1] == "R9"


def test_R18_partner_must_still_be_registered_in_luxembourg() -> None:
    p = partner(partnership_registered_in="DE")
    d = decide(_pensioner(p), "alex", on=ON, facts=facts(request("alex")))
    assert D.LU_PARTNERSHIP_CERTIFICATE in [m.kind for m in d.missing]
