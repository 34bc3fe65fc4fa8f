"""Eligibility, resident main insured and family living in Luxembourg: R1-R11, R15."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from household_builders import ON, child, fact, facts, household, main, partner, request, spouse

from eessi.core.eligibility import Action, Outcome, Party, decide
from eessi.core.facts import DocumentKind as D
from eessi.core.facts import S041Reply, S041Summary
from eessi.core.household import ChildKind, FamilyMember, FormerInsurance, InsuranceBasis, Relation
from eessi.core.rules import DatedAmount, DatedAmounts, RuleParameters

# --- R1: co-insurance derives from a valid affiliation ---------------------------------------


def test_R1_eligible_decision_cites_R1_and_attaches_to_the_main_insured() -> None:
    d = decide(household(child(born_in_lu=True)), "lea", on=ON)
    assert d.outcome is Outcome.ELIGIBLE
    assert d.attaches_to == "marc"
    assert "R1" in d.rules
    assert "free" in next(r.explanation for r in d.reasons if r.rule == "R1")


@pytest.mark.parametrize(
    ("end", "outcome"),
    [
        (date(2026, 3, 1), Outcome.NOT_ELIGIBLE),  # ended the day before
        (date(2026, 3, 2), Outcome.ELIGIBLE),  # last day of affiliation is still covered
        (None, Outcome.ELIGIBLE),
    ],
)
def test_R1_main_insured_whose_affiliation_ended_is_not_an_anchor(
    end: date | None, outcome: Outcome
) -> None:
    h = household(child(born_in_lu=True), mains=(main(end=end),))
    d = decide(h, "lea", on=ON)
    assert d.outcome is outcome
    if outcome is Outcome.NOT_ELIGIBLE:
        assert d.reasons[-1].rule == "R1"
        assert "ended on 2026-03-01" in " ".join(r.explanation for r in d.reasons)
    else:
        assert d.end == end or (end is None and d.end is not None)  # child's R9 end date


def test_R1_main_insured_not_yet_affiliated_is_not_an_anchor() -> None:
    h = household(child(born_in_lu=True), mains=(main(since=date(2026, 4, 1)),))
    d = decide(h, "lea", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert "only from 2026-04-01" in d.render()


def test_R1_member_still_personally_insured_in_luxembourg_cannot_be_co_insured() -> None:
    own = FormerInsurance("LU", until=date(2026, 6, 30))
    d = decide(household(spouse(former_insurance=own)), "eva", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules[-1] == "R1"


def test_R1_when_one_parent_lost_the_affiliation_the_other_parent_is_the_anchor() -> None:
    mains = (main("old", dob=date(1960, 1, 1), end=date(2025, 12, 31)), main("young"))
    kid = child(lives_with=("old", "young"), born_in_lu=True)
    d = decide(household(kid, mains=mains), "lea", on=ON)
    assert d.outcome is Outcome.ELIGIBLE
    assert d.attaches_to == "young"


# --- R2: who may be co-insured ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ChildKind))
def test_R2_every_child_kind_qualifies_with_a_tax_moderation(kind: ChildKind) -> None:
    kid = child(kind=kind, tax_moderation=True, born_in_lu=True)
    assert decide(household(kid), "lea", on=ON).outcome is Outcome.ELIGIBLE


def test_R2_child_taken_in_without_tax_moderation_is_not_eligible() -> None:
    kid = child(kind=ChildKind.TAKEN_IN, tax_moderation=False, born_in_lu=True)
    d = decide(household(kid), "lea", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules == ("R2",)


def test_R2_other_relatives_are_never_co_insured() -> None:
    granny = FamilyMember("oma", "Oma", Relation.OTHER, date(1950, 1, 1))
    d = decide(household(granny), "oma", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules == ("R2",)


def test_R2_unregistered_partner_is_not_a_partner() -> None:
    d = decide(household(partner(partnership_registered_in=None)), "alex", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules == ("R2",)


def test_R2_member_not_born_yet_is_not_eligible() -> None:
    d = decide(household(child(dob=date(2026, 3, 3), born_in_lu=True)), "lea", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert "after 2026-03-02" in d.reasons[-1].explanation


# --- R3: spouse, partner, adult child need a request ----------------------------------------


@pytest.mark.parametrize(
    "member",
    [spouse(), partner(), child(dob=date(2000, 1, 1), born_in_lu=True)],
    ids=["spouse", "partner", "adult-child"],
)
def test_R3_spouse_partner_adult_child_are_never_automatic(member: FamilyMember) -> None:
    h = household(member)
    d = decide(h, member.id, on=ON)
    assert d.outcome is Outcome.PENDING
    assert [(m.kind, m.rule, m.from_party) for m in d.missing] == [
        (D.CO_INSURANCE_REQUEST, "R3", Party.MAIN_INSURED)
    ]
    with_request = decide(h, member.id, on=ON, facts=facts(request(member.id)))
    assert with_request.outcome is Outcome.ELIGIBLE


def test_R3_child_turns_adult_on_the_18th_birthday() -> None:
    kid = child(dob=date(2008, 3, 2), born_in_lu=True)
    assert decide(household(kid), "lea", on=date(2026, 3, 1)).outcome is Outcome.ELIGIBLE
    assert decide(household(kid), "lea", on=date(2026, 3, 2)).outcome is Outcome.PENDING


def test_R3_minor_not_born_in_luxembourg_needs_a_request() -> None:
    d = decide(household(child(born_in_lu=False)), "lea", on=ON)
    assert d.outcome is Outcome.PENDING
    assert d.missing[0].kind is D.CO_INSURANCE_REQUEST
    assert d.missing[0].rule == "R3"  # R9 only says why it is not automatic


# --- R4: after an own Luxembourg affiliation, wait for the CCSS exit notice -----------------

_OWN = FormerInsurance("LU", until=date(2026, 1, 31))


def test_R4_request_without_ccss_exit_notice_is_pending_on_the_ccss() -> None:
    d = decide(household(spouse(former_insurance=_OWN)), "eva", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.PENDING
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action) == (
        D.CCSS_EXIT_NOTICE,
        "R4",
        Party.CCSS,
        Action.WAIT_FOR_CCSS,
    )
    assert "premature" in d.render()


def test_R4_request_before_the_exit_notice_is_premature_and_must_be_renewed() -> None:
    f = facts(
        request("eva", on=date(2026, 2, 5)),
        fact(D.CCSS_EXIT_NOTICE, "eva", on=date(2026, 2, 12)),
    )
    d = decide(household(spouse(former_insurance=_OWN)), "eva", on=ON, facts=f)
    assert d.outcome is Outcome.PENDING
    assert [(m.kind, m.rule) for m in d.missing] == [(D.CO_INSURANCE_REQUEST, "R4")]
    renewed = f.with_(request("eva", on=date(2026, 2, 13)))
    d2 = decide(household(spouse(former_insurance=_OWN)), "eva", on=ON, facts=renewed)
    assert d2.outcome is Outcome.ELIGIBLE
    assert d2.start == date(2026, 2, 1)  # the day after the own affiliation ended


def test_R4_request_on_the_day_of_the_exit_notice_is_accepted() -> None:
    day = date(2026, 2, 12)
    f = facts(request("eva", on=day), fact(D.CCSS_EXIT_NOTICE, "eva", on=day))
    d = decide(household(spouse(former_insurance=_OWN)), "eva", on=ON, facts=f)
    assert d.outcome is Outcome.ELIGIBLE
    assert "R4" in d.rules


# --- R5: arrived from EU/EEA/CH/UK -----------------------------------------------------------

_DE = FormerInsurance("DE", InsuranceBasis.PERSONAL, "DE:TKK00001", "65020787M004", None)


def test_R5_personally_insured_in_an_eu_country_needs_the_S041_and_the_cns_asks_for_it() -> None:
    d = decide(household(spouse(former_insurance=_DE)), "eva", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.PENDING
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action, m.institution) == (
        D.S041,
        "R5",
        Party.FORMER_FUND,
        Action.SEND_S040,
        "DE:TKK00001",
    )


def test_R5_without_the_former_fund_details_the_cns_asks_the_insured_for_them() -> None:
    former = FormerInsurance("FR", InsuranceBasis.PERSONAL)
    d = decide(household(spouse(former_insurance=former)), "eva", on=ON, facts=facts(request()))
    assert [(m.kind, m.action) for m in d.missing] == [
        (D.FORMER_FUND_DETAILS, Action.ASK_MAIN_INSURED)
    ]


def test_R5_confirmed_S041_makes_the_spouse_eligible_from_the_day_after_the_last_period() -> None:
    s041 = fact(
        D.S041,
        "eva",
        institution="DE:TKK00001",
        s041=S041Summary(S041Reply.CONFIRMED, date(2026, 1, 31)),
    )
    d = decide(household(spouse(former_insurance=_DE)), "eva", on=ON, facts=facts(request(), s041))
    assert d.outcome is Outcome.ELIGIBLE
    assert d.start == date(2026, 2, 1)


def test_R5_confirmed_S041_without_an_end_date_keeps_the_other_start_dates() -> None:
    s041 = fact(D.S041, "eva", s041=S041Summary(S041Reply.CONFIRMED))
    sp = spouse(former_insurance=_DE, arrived_on=date(2026, 2, 10))
    d = decide(household(sp), "eva", on=ON, facts=facts(request(), s041))
    assert d.start == date(2026, 2, 10)
    assert "confirms periods until None" in d.render()
    assert "S041 from DE" in d.render()  # no sender recorded: the country is named


@pytest.mark.parametrize("reply", [S041Reply.NO_PERIODS, S041Reply.CANNOT_CONFIRM])
def test_R5_S041_without_confirmed_periods_falls_back_to_a_declaration_on_honour(
    reply: S041Reply,
) -> None:
    s041 = fact(D.S041, "eva", s041=S041Summary(reply))
    h = household(spouse(former_insurance=_DE))
    d = decide(h, "eva", on=ON, facts=facts(request(), s041))
    assert [(m.kind, m.rule) for m in d.missing] == [(D.DECLARATION_ON_HONOUR, "R5")]
    d2 = decide(h, "eva", on=ON, facts=facts(request(), s041, fact(D.DECLARATION_ON_HONOUR, "eva")))
    assert d2.outcome is Outcome.ELIGIBLE


@pytest.mark.parametrize("country", ["DE", "NO", "IS", "LI", "CH", "UK", "EL"])
def test_R5_co_insured_in_a_listed_country_needs_a_certificate_of_co_insurance(
    country: str,
) -> None:
    former = FormerInsurance(country, InsuranceBasis.CO_INSURED)
    h = household(spouse(former_insurance=former))
    d = decide(h, "eva", on=ON, facts=facts(request()))
    assert [(m.kind, m.rule) for m in d.missing] == [(D.CO_INSURANCE_CERTIFICATE, "R5")]
    ok = decide(h, "eva", on=ON, facts=facts(request(), fact(D.CO_INSURANCE_CERTIFICATE, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE


def test_R5_applies_to_an_adult_child_but_not_to_a_minor() -> None:
    former = FormerInsurance("BE", InsuranceBasis.CO_INSURED)
    adult = child(dob=date(2004, 1, 1), former_insurance=former)
    minor = child("kid", dob=date(2015, 1, 1), former_insurance=former)
    h = household(adult, minor)
    assert "R5" in decide(h, "lea", on=ON, facts=facts(request())).rules
    d = decide(h, "kid", on=ON, facts=facts(request()))
    assert "R5" not in d.rules
    assert d.outcome is Outcome.ELIGIBLE


# --- R6: bilateral agreement -----------------------------------------------------------------


@pytest.mark.parametrize("country", ["BA", "CV", "MA", "ME", "TN", "TR", "MK", "RS"])
def test_R6_personally_insured_in_a_bilateral_country_needs_the_104_form(country: str) -> None:
    former = FormerInsurance(country, InsuranceBasis.PERSONAL)
    h = household(spouse(former_insurance=former))
    d = decide(h, "eva", on=ON, facts=facts(request()))
    assert [(m.kind, m.rule, m.action) for m in d.missing] == [
        (D.BILATERAL_104, "R6", Action.ASK_MAIN_INSURED)
    ]
    assert "CNS may ask the fund itself" in d.missing[0].hint
    ok = decide(h, "eva", on=ON, facts=facts(request(), fact(D.BILATERAL_104, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE


def test_R6_co_insured_in_a_bilateral_country_needs_a_certificate_of_co_insurance() -> None:
    former = FormerInsurance("TN", InsuranceBasis.CO_INSURED, until=date(2026, 2, 14))
    h = household(spouse(former_insurance=former))
    d = decide(h, "eva", on=ON, facts=facts(request()))
    assert [(m.kind, m.rule) for m in d.missing] == [(D.CO_INSURANCE_CERTIFICATE, "R6")]
    ok = decide(h, "eva", on=ON, facts=facts(request(), fact(D.CO_INSURANCE_CERTIFICATE, "eva")))
    assert ok.start == date(2026, 2, 15)


def test_R6_country_list_is_a_parameter() -> None:
    former = FormerInsurance("MA", InsuranceBasis.PERSONAL)
    h = household(spouse(former_insurance=former))
    params = RuleParameters().with_(r6_countries=frozenset())
    d = decide(h, "eva", on=ON, facts=facts(request()), params=params)
    assert d.missing[0].rule == "R7"  # Morocco without the agreement: no agreement at all


# --- R7: no agreement ------------------------------------------------------------------------


@pytest.mark.parametrize("basis", list(InsuranceBasis))
def test_R7_arrived_from_a_country_without_agreement_needs_a_declaration_on_honour(
    basis: InsuranceBasis,
) -> None:
    h = household(spouse(former_insurance=FormerInsurance("BR", basis)))
    d = decide(h, "eva", on=ON, facts=facts(request()))
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party, m.action) == (
        D.DECLARATION_ON_HONOUR,
        "R7",
        Party.FAMILY_MEMBER,
        Action.SEND_DECLARATION_ON_HONOUR,
    )
    ok = decide(h, "eva", on=ON, facts=facts(request(), fact(D.DECLARATION_ON_HONOUR, "eva")))
    assert ok.outcome is Outcome.ELIGIBLE
    assert "R7" in ok.rules


# --- R8: partnership registered abroad ---------------------------------------------------------


def test_R8_partnership_registered_abroad_must_be_registered_in_luxembourg() -> None:
    p = partner(partnership_registered_in="FR")
    d = decide(household(p), "alex", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.PENDING
    (m,) = d.missing
    assert (m.kind, m.rule, m.from_party) == (
        D.LU_PARTNERSHIP_CERTIFICATE,
        "R8",
        Party.CIVIL_REGISTER,
    )
    assert "Parquet général" in m.hint


@pytest.mark.parametrize("how", ["flag", "certificate", "registered-in-lu"])
def test_R8_luxembourg_registration_makes_it_a_luxembourg_partnership(how: str) -> None:
    p = partner(
        partnership_registered_in="LU" if how == "registered-in-lu" else "BE",
        partnership_registered_in_lu=how == "flag",
    )
    f = facts(request())
    if how == "certificate":
        f = f.with_(fact(D.LU_PARTNERSHIP_CERTIFICATE, "alex"))
    assert decide(household(p), "alex", on=ON, facts=f).outcome is Outcome.ELIGIBLE


def test_R8_partner_not_in_rnpp_is_asked_for_the_certificate_only_once() -> None:
    p = partner(partnership_registered_in="FR", rnpp_registered=False)
    d = decide(household(p), "alex", on=ON, facts=facts(request()))
    assert [m.kind for m in d.missing] == [D.LU_PARTNERSHIP_CERTIFICATE]
    assert d.rules[-1] == "R15"


# --- R9: children up to 29 inclusive, resources below the threshold -------------------------


def test_R9_child_born_and_living_in_luxembourg_is_co_insured_automatically() -> None:
    d = decide(household(child(born_in_lu=True)), "lea", on=ON)
    assert d.outcome is Outcome.ELIGIBLE
    assert d.missing == ()
    assert d.start == date(2015, 5, 5)
    assert any("automatically" in r.explanation for r in d.reasons)


@pytest.mark.parametrize(
    ("on", "outcome", "rule"),
    [
        (date(2026, 6, 14), Outcome.ELIGIBLE, "R9"),  # aged 29, the day before the 30th birthday
        (date(2026, 6, 15), Outcome.NOT_ELIGIBLE, "R11"),  # 30th birthday: R11, not a student
    ],
)
def test_R9_child_aged_29_inclusive_and_30_on_the_exact_birthday(
    on: date, outcome: Outcome, rule: str
) -> None:
    kid = child(dob=date(1996, 6, 15), born_in_lu=True)
    d = decide(household(kid), "lea", on=on, facts=facts(request()))
    assert d.outcome is outcome
    assert rule in d.rules
    if outcome is Outcome.ELIGIBLE:
        assert d.end == date(2026, 6, 14)


@pytest.mark.parametrize(
    ("dob", "on", "age_rule"),
    [
        (date(1996, 2, 29), date(2026, 2, 28), "R9"),  # common year: still 29 on 28 February
        (date(1996, 2, 29), date(2026, 3, 1), "R11"),  # the birthday is 1 March in a common year
        (date(1992, 2, 29), date(2022, 2, 28), "R9"),  # (a 30th birthday is never a leap day)
        (date(1992, 2, 29), date(2022, 3, 1), "R11"),
    ],
)
def test_R9_child_born_on_29_february_turns_30_on_1_march_in_common_years(
    dob: date, on: date, age_rule: str
) -> None:
    kid = child(dob=dob, born_in_lu=True, higher_education=True)
    d = decide(household(kid), "lea", on=on, facts=facts(request()))
    assert age_rule in d.rules


@pytest.mark.parametrize(
    ("resources", "outcome"),
    [
        (Decimal("1699.99"), Outcome.ELIGIBLE),
        (Decimal("1700.00"), Outcome.NOT_ELIGIBLE),  # "beneath" the threshold: equal is too much
        (Decimal("2500"), Outcome.NOT_ELIGIBLE),
    ],
)
def test_R9_child_resources_must_be_strictly_below_the_threshold_in_force(
    resources: Decimal, outcome: Outcome
) -> None:
    kid = child(dob=date(2003, 1, 1), monthly_resources=resources)
    d = decide(household(kid), "lea", on=date(2026, 3, 2), facts=facts(request()))
    assert d.outcome is outcome
    if outcome is Outcome.NOT_ELIGIBLE:
        assert d.reasons[-1].rule == "R9"
        assert "1700.00" in d.reasons[-1].explanation


def test_R9_threshold_is_looked_up_on_the_decision_date() -> None:
    kid = child(dob=date(2003, 1, 1), monthly_resources=Decimal("1620"))
    h = household(kid)
    f = facts(request())
    assert decide(h, "lea", on=date(2024, 12, 31), facts=f).outcome is Outcome.NOT_ELIGIBLE
    assert decide(h, "lea", on=date(2025, 1, 1), facts=f).outcome is Outcome.ELIGIBLE


def test_R9_changing_the_threshold_parameter_changes_the_decision() -> None:
    kid = child(dob=date(2003, 1, 1), monthly_resources=Decimal("1500"))
    h = household(kid)
    lower = RuleParameters().with_(
        resources_threshold=DatedAmounts((DatedAmount(date(2000, 1, 1), Decimal("1400")),))
    )
    f = facts(request())
    assert decide(h, "lea", on=ON, facts=f).outcome is Outcome.ELIGIBLE
    assert decide(h, "lea", on=ON, facts=f, params=lower).outcome is Outcome.NOT_ELIGIBLE


# --- R10: one main insured; the older parent -------------------------------------------------


def _two_parents(
    dob_a: date, dob_b: date, *, pin_a: str, pin_b: str, lives_with: tuple[str, ...]
) -> tuple[str | None, str]:
    mains = (main("a", dob=dob_a, pin=pin_a), main("b", dob=dob_b, pin=pin_b))
    kid = child(lives_with=lives_with, maintained_by=("a", "b"), born_in_lu=True)
    d = decide(household(kid, mains=mains), "lea", on=ON)
    return d.attaches_to, next(r.explanation for r in d.reasons if r.rule == "R10")


def test_R10_child_qualifying_with_both_parents_goes_to_the_older_parent() -> None:
    who, why = _two_parents(
        date(1975, 5, 1), date(1974, 5, 1), pin_a="1975050100001", pin_b="1974050100009",
        lives_with=("a", "b"),
    )  # fmt: skip
    assert who == "b"
    assert "older" in why


def test_R10_tie_break_same_birthday_goes_to_the_parent_the_child_lives_with() -> None:
    same = date(1975, 5, 1)
    who, why = _two_parents(
        same, same, pin_a="1975050100001", pin_b="1975050100009", lives_with=("b",)
    )
    assert who == "b"
    assert "lives with" in why


def test_R10_tie_break_same_birthday_and_same_home_goes_to_the_lower_matricule() -> None:
    same = date(1975, 5, 1)
    who, why = _two_parents(
        same, same, pin_a="1975050100009", pin_b="1975050100001", lives_with=("a", "b")
    )
    assert who == "b"
    assert "lower matricule" in why


def test_R10_only_the_parent_the_child_lives_with_or_who_maintains_it_qualifies() -> None:
    mains = (main("old", dob=date(1950, 1, 1)), main("young", dob=date(1990, 1, 1)))
    kid = child(lives_with=("young",), born_in_lu=True)
    d = decide(household(kid, mains=mains), "lea", on=ON)
    assert d.attaches_to == "young"


def test_R10_child_linked_to_no_main_insured_is_not_eligible() -> None:
    kid = child(lives_with=(), born_in_lu=True)
    d = decide(household(kid), "lea", on=ON)
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.rules == ("R2", "R10")


# --- R11: from 30, higher education and the CNS's authorisation -----------------------------


def test_R11_from_30_without_higher_education_is_not_eligible() -> None:
    kid = child(dob=date(1990, 1, 1))
    d = decide(household(kid), "lea", on=ON, facts=facts(request()))
    assert d.outcome is Outcome.NOT_ELIGIBLE
    assert d.reasons[-1].rule == "R11"


def test_R11_from_30_in_higher_education_waits_for_the_cns_authorisation() -> None:
    kid = child(dob=date(1990, 1, 1), higher_education=True)
    d = decide(household(kid), "lea", on=ON, facts=facts(request()))
    assert [(m.kind, m.rule, m.from_party, m.action) for m in d.missing] == [
        (D.CNS_AUTHORISATION, "R11", Party.CNS_SERVICE, Action.REFER_TO_SERVICE)
    ]


@pytest.mark.parametrize("via", ["member", "fact"])
def test_R11_from_30_in_higher_education_with_authorisation_is_eligible(via: str) -> None:
    kid = child(dob=date(1990, 1, 1), higher_education=True, cns_authorisation=via == "member")
    f = facts(request())
    if via == "fact":
        f = f.with_(fact(D.CNS_AUTHORISATION, "lea"))
    d = decide(household(kid), "lea", on=ON, facts=f)
    assert d.outcome is Outcome.ELIGIBLE
    assert "R11" in d.rules
    assert d.end is None  # no R9 age limit once R11 applies


# --- R15 for residents: civil-status documents when not in the RNPP -------------------------


@pytest.mark.parametrize(
    ("member", "needed"),
    [
        (
            child(rnpp_registered=False),  # born abroad: born in LU would be in the RNPP
            [D.BIRTH_CERTIFICATE, D.HOUSEHOLD_COMPOSITION],
        ),
        (spouse(rnpp_registered=False), [D.MARRIAGE_CERTIFICATE, D.HOUSEHOLD_COMPOSITION]),
        (partner(rnpp_registered=False), [D.LU_PARTNERSHIP_CERTIFICATE]),
    ],
    ids=["child", "spouse", "partner"],
)
def test_R15_member_not_in_the_rnpp_needs_civil_status_documents(
    member: FamilyMember, needed: list[D]
) -> None:
    h = household(member)
    d = decide(h, member.id, on=ON, facts=facts(request()))
    assert [m.kind for m in d.missing] == needed
    assert {m.rule for m in d.missing} == {"R15"}
    docs = facts(request(), *(fact(k, member.id) for k in needed))
    assert decide(h, member.id, on=ON, facts=docs).outcome is Outcome.ELIGIBLE


def test_R15_documents_listed_on_the_member_count_as_provided() -> None:
    kid = child(
        rnpp_registered=False,
        documents=frozenset({D.BIRTH_CERTIFICATE, D.HOUSEHOLD_COMPOSITION}),
    )
    assert decide(household(kid), "lea", on=ON, facts=facts(request())).eligible


def test_R15_household_wide_fact_counts_for_every_member() -> None:
    kid = child(rnpp_registered=False)
    f = facts(request(), fact(D.HOUSEHOLD_COMPOSITION), fact(D.BIRTH_CERTIFICATE, "lea"))
    assert decide(household(kid), "lea", on=ON, facts=f).outcome is Outcome.ELIGIBLE


def test_resident_start_date_is_the_latest_of_affiliation_marriage_and_arrival() -> None:
    sp = spouse(relation_since=date(2026, 1, 10), arrived_on=date(2026, 2, 1))
    d = decide(
        household(sp, mains=(main(since=date(2025, 6, 1)),)), "eva", on=ON, facts=facts(request())
    )
    assert d.start == date(2026, 2, 1)
    sp2 = spouse(relation_since=date(2026, 1, 10))
    d2 = decide(
        household(sp2, mains=(main(since=date(2025, 6, 1)),)), "eva", on=ON, facts=facts(request())
    )
    assert d2.start == date(2026, 1, 10)
